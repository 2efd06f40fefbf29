"""The export's extension point: per-image scores computed inside the render graph. A score is one class with
its in-graph output, its pass test for redraws, the preference that keeps an image's best draw, its manifest
columns and its record section; `BlockRenderer` runs every registered score and returns named outputs.

    realism     D's logit, calibrated against the checkpoint's reference images (facegen.export.realism)
    identity    the embedder's embedding, its cosine to the identity's reference (facegen.export.verify)
    attributes  the classifier's probabilities, and each identity's values (facegen.export.attributes)

Adding a score: a Score subclass here (or in its own module) decorated with @register: its `build` says when an
export computes it, its `bind` takes what the identity plan decided; the manifest's columns and the record's
sections come from the registered scores.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from facegen.export.attributes import AttributeLabels
from facegen.export.realism import RealismCalibration
from facegen.export.verify import Acceptance, similarities


@dataclass(frozen=True)
class Rendered:
    """One render call: uint8 images [k, block, s, s, 3] and each score's raw output [k, block, ...] by name."""

    images: np.ndarray
    outputs: dict[str, np.ndarray]

    def output(self, name: str, width: int = 1) -> np.ndarray:
        """A score's output, NaN-filled [k, block, width] when this export does not compute it."""
        if name in self.outputs:
            return self.outputs[name]
        return np.full((*self.images.shape[:2], width), np.nan, np.float32)


class Score:
    """A per-image score. `graph` runs inside the render tf.function; the rest works on its numpy output."""

    name: ClassVar[str]  # its output's name in Rendered.outputs
    preference_rank: ClassVar[int] = 0  # the highest-ranked score with a preference picks an image's best draw

    @classmethod
    def build(cls, gen, cfg, calibration, check, classifier) -> "Score | None":
        """This score for an export (`cfg` resolved, with what it loaded), or None where the export does not
        compute it."""
        raise NotImplementedError

    def bind(self, acceptance: Acceptance | None, labels: AttributeLabels | None) -> "Score":
        """This score with what the identity plan decided (the accepted references, the identities' attributes)."""
        return self

    def graph(self, generated, pixels):
        """[block, ...] from G's float output (before resizing) and the written image's pixels in [-1, 1]."""
        raise NotImplementedError

    def shape(self) -> tuple[int, ...]:
        """The per-image shape of the graph's output (the render function's signature is fixed)."""
        return ()

    def judge(self, raw: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
        """Named per-image values [k, block] (or [k, block, n]) from the raw output; what redraws replace."""
        return {self.name: raw}

    def passes(self, judged: dict[str, np.ndarray]) -> np.ndarray | None:
        """Which images pass this score's test (None: no test, nothing is redrawn for it)."""
        return None

    def preference(self, judged: dict[str, np.ndarray]) -> np.ndarray | None:
        """Higher is a better draw (None: no opinion)."""
        return None

    def row(self, judged: dict[str, np.ndarray], k: int, pos: int, label: int) -> dict:
        """This score's manifest columns for image (k, pos)."""
        return {}

    def extra_columns(self) -> list[str]:
        """Manifest columns this score adds after manifest.COLUMNS (realism and identity similarity are among
        COLUMNS, empty when not scored, so that older manifests read alike)."""
        return []

    def record(self) -> dict:
        """This score's section(s) of export.json."""
        return {}


SCORES: list[type[Score]] = []  # the registry, in manifest-column order


def register(cls: type[Score]) -> type[Score]:
    SCORES.append(cls)
    return cls


@register
@dataclass(frozen=True)
class RealismScore(Score):
    gen: object
    calibration: RealismCalibration
    min_realism: float

    name: ClassVar[str] = "realism_logit"

    @classmethod
    def build(cls, gen, cfg, calibration, check, classifier):
        return None if calibration is None else cls(gen, calibration, cfg.min_realism)

    def graph(self, generated, pixels):
        return self.gen.realism_logits(generated)

    def judge(self, raw, labels):
        return {"realism_logit": raw, "realism": self.calibration.score(raw)}

    def passes(self, judged):
        return judged["realism"] >= self.min_realism if self.min_realism > 0 else None

    def preference(self, judged):
        return judged["realism_logit"]  # the calibration is monotone in the logit

    def row(self, judged, k, pos, label):
        return {"realism": f"{judged['realism'][k, pos]:.6f}",
                "realism_logit": f"{judged['realism_logit'][k, pos]:.6f}"}


@register
@dataclass(frozen=True)
class IdentityScore(Score):
    """The embedding in the graph; after the identity plan is accepted, the cosine to the identity's reference."""

    embedder: object
    min_consistency: float
    acceptance: Acceptance | None = None  # set once the identities are accepted (with_acceptance)

    name: ClassVar[str] = "embedding"
    preference_rank: ClassVar[int] = 1

    @classmethod
    def build(cls, gen, cfg, calibration, check, classifier):
        return None if check is None else cls(check.embedder, cfg.min_consistency)

    def bind(self, acceptance, labels):
        return dataclasses.replace(self, acceptance=acceptance)

    def graph(self, generated, pixels):
        return self.embedder.embed_float(pixels)

    def shape(self):
        return (self.embedder.config.embedding_dim,)

    def judge(self, raw, labels):
        if self.acceptance is None:
            return {"embedding": raw}
        return {"embedding": raw, "identity_similarity": similarities(raw, labels, self.acceptance.references)}

    def passes(self, judged):
        sim = judged.get("identity_similarity")
        return None if sim is None else sim >= self.min_consistency

    def preference(self, judged):
        return judged.get("identity_similarity")

    def row(self, judged, k, pos, label):
        sim = judged.get("identity_similarity")
        return {} if sim is None else {"identity_similarity": f"{sim[k, pos]:.6f}"}


@register
@dataclass(frozen=True)
class AttributeScore(Score):
    """Attribute probabilities per image; identity-level values once decided from the references (with_labels)."""

    classifier: object
    labels: AttributeLabels | None = None

    name: ClassVar[str] = "attributes"

    @classmethod
    def build(cls, gen, cfg, calibration, check, classifier):
        return None if classifier is None else cls(classifier)

    def bind(self, acceptance, labels):
        return dataclasses.replace(self, labels=labels)

    def graph(self, generated, pixels):
        return self.classifier.probabilities_float(pixels)

    def shape(self):
        return (len(self.classifier.names),)

    def row(self, judged, k, pos, label):
        return {} if self.labels is None else self.labels.row(label, judged["attributes"][k, pos])

    def extra_columns(self):
        return [] if self.labels is None else self.labels.columns

    def record(self):
        if self.labels is None:
            return {}
        return {"attributes": {"columns": self.labels.names, "identity_attributes": self.labels.identity_names,
                               "identity_shares": self.labels.shares()}}


def scores_for(gen, cfg, calibration: RealismCalibration | None, check, classifier) -> list[Score]:
    """The registered scores this export (`cfg`, resolved) computes, in registration (manifest-column) order."""
    return [score for cls in SCORES if (score := cls.build(gen, cfg, calibration, check, classifier)) is not None]


def bind(scores: list[Score], acceptance: Acceptance | None, labels: AttributeLabels | None) -> list[Score]:
    """The scores with what the identity plan decided: the accepted references and the identities' attributes."""
    return [s.bind(acceptance, labels) for s in scores]
