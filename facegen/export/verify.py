"""Verified identities: an identity embedder (facegen.models.embedder) inside the export.

- An identity's *reference* is the unit mean embedding of REFERENCE_IMAGES observations of it, drawn with their
  own keys (identities.REFERENCE_STREAM) and never exported.
- *Separation* and *no leakage*: identity candidates 0, 1, 2, ... are examined in order; a candidate is
  accepted when its reference's cosine to every accepted identity's reference is at most --max-similarity and
  to every training identity's mean embedding at most --max-leakage. Label k is the k-th accepted candidate
  and takes that candidate's keys for its images. Each decision depends only on earlier candidates, and each
  candidate's reference images sit at a fixed position of a fixed block, so every shard, batch size and
  resume computes the same plan.
- *Consistency*: an image whose cosine to its identity's reference is below --min-consistency is redrawn
  like one below --min-realism (facegen.export.render), keyed by attempt.

The limits default to the embedder's own held-out calibration (its report.json: facegen.training.embedder).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from facegen.config import ExportConfig, FacegenError
from facegen.export.capacity import ESTIMATE_AT, fit, rejection, shortfall_message
from facegen.export.identities import IdentityPlan
from facegen.models.embedder import REFERENCE_IMAGES, Embedder
from facegen.models.embedders import load_embedder

if TYPE_CHECKING:  # the attribute shares --balance asks for live with the attribute labels
    from facegen.export.attributes import Balance


@dataclass(frozen=True)
class IdentityCheck:
    """The embedder, its resolved limits and the training identities' mean embeddings."""

    embedder: Embedder
    min_consistency: float
    max_similarity: float
    max_leakage: float
    train_means: np.ndarray  # the GAN's training people's unit means by `embedder` [n, d] (training.people)


@dataclass(frozen=True)
class Acceptance:
    """The accepted identities: candidate per label, their references, and what was drawn to find them."""

    candidates: np.ndarray  # label -> candidate
    references: np.ndarray  # [K, d] unit
    drawn: int  # candidates examined
    too_similar: int  # rejected: another accepted identity's reference within --max-similarity
    leaked: int  # rejected: a training identity's mean within --max-leakage
    attributes: np.ndarray | None = None  # [K, a] mean attribute probabilities of the reference images
    unbalanced: int = 0  # rejected: would overshoot a --balance share
    ambiguous: int = 0  # rejected: a balanced attribute's probability between 1 - confidence and confidence

    def record(self) -> dict:
        return {"identities": int(len(self.candidates)), "candidates_drawn": self.drawn,
                "rejected_too_similar": self.too_similar, "rejected_leaked": self.leaked,
                "rejected_for_balance": self.unbalanced, "rejected_ambiguous": self.ambiguous,
                "candidates_per_identity": round(self.drawn / max(1, len(self.candidates)), 3)}


def resolve_check(cfg: ExportConfig, run_dir: str | os.PathLike) -> tuple[ExportConfig, IdentityCheck | None]:
    """The identity check of a config whose limits are resolved (facegen.export.request.resolve_config), with the
    embedder at the export's precision (G's policy) and the people run_dir's GAN learned from as it sees them
    (facegen.training.people: whatever people the embedder itself trained on)."""
    if not cfg.embedder:
        return cfg, None
    from facegen.training.people import training_people

    embedder = load_embedder(cfg.embedder, cfg.precision)
    cfg = dataclasses.replace(cfg, embedder=os.path.abspath(cfg.embedder))
    return cfg, IdentityCheck(embedder, cfg.min_consistency, cfg.max_similarity, cfg.max_leakage,
                              training_people(run_dir, embedder))


def accept_identities(renderer, plan: IdentityPlan, check: IdentityCheck | None, max_candidates: int,
                      blocks_per_call: int, balance: Balance | None = None) -> Acceptance:
    """Examine candidates in order until plan.identities are accepted (see the module doc). With `balance`, a
    candidate is also rejected when taking it would overshoot a target count (of identities with, or without,
    an attribute): deterministic, and exact when enough candidates come."""
    per_block = max(1, renderer.block // REFERENCE_IMAGES)
    want, cap = plan.identities, plan.identities * max_candidates
    dim = check.train_means.shape[1] if check else 1
    references = np.full((want, dim), np.nan, np.float32)
    attributes: list[np.ndarray] = []
    candidates: list[int] = []
    too_similar = leaked = unbalanced = ambiguous = examined = 0
    have = np.zeros(len(balance.names) if balance else 0, np.int64)
    targets = balance.targets(want) if balance else have
    block = 0
    curve, seen, seen_leak = [], [], []  # the acceptance curve so far, for the early capacity check
    while len(candidates) < want and examined < cap:
        # As many reference blocks as the acceptance rate so far says the rest needs (with a margin), at most a
        # dispatch: rendering the candidates after the last accepted one is wasted work. Each candidate's reference
        # is rendered in its fixed block whatever the grouping, so this changes no byte.
        wanted = blocks_per_call
        if examined:
            rate = max(len(candidates), 1) / examined
            wanted = min(blocks_per_call, max(1, math.ceil(1.25 * (want - len(candidates)) / rate / per_block)))
        blocks = list(range(block, min(block + wanted, -(-cap // per_block))))
        block = blocks[-1] + 1
        refs, attrs = reference_outputs(renderer, plan, blocks, per_block)
        leak = leakage(refs, check.train_means if check is not None else np.zeros((0, refs.shape[1])))
        if check is not None:
            seen.append(refs)
            seen_leak.append(leak)
        for j, c in enumerate(range(blocks[0] * per_block, (blocks[-1] + 1) * per_block)):
            if len(candidates) == want or c >= cap:
                break
            for at, share in ESTIMATE_AT if check is not None and cap > examined else ():
                if examined == at:
                    _check_capacity(np.array(curve), np.concatenate(seen)[:examined],
                                    np.concatenate(seen_leak)[:examined], check, want, max_candidates, share)
            examined += 1
            why = None if check is None else rejection(refs[j], leak[j], references[:len(candidates)],
                                                       check.max_similarity, check.max_leakage)
            if why == "leaked":
                leaked += 1
            elif why == "too_similar":
                too_similar += 1
            elif balance is not None and not balance.decided(attrs[j]):
                ambiguous += 1
            elif balance is not None and _overshoots(attrs[j][balance.columns] > 0.5, have, targets,
                                                     want - len(candidates)):
                unbalanced += 1
            else:
                references[len(candidates)] = refs[j]
                attributes.append(attrs[j])
                candidates.append(c)
                if balance is not None:
                    have += attrs[j][balance.columns] > 0.5
            curve.append(len(candidates))
    if len(candidates) < want:
        reached = (", ".join(f"{n}={have[i] / max(1, len(candidates)):.2f} of {s:g} asked" for i, (n, s)
                             in enumerate(zip(balance.names, balance.shares))) if balance else "")
        raise FacegenError(
            f"only {len(candidates)} of {want} identities passed in {examined} candidates ({too_similar} too similar "
            f"to an accepted one, {leaked} too close to a training identity, {unbalanced} over a --balance share, "
            f"{ambiguous} unclear for --balance"
            + (f"; reached {reached}" if reached else "") + "): ask for fewer --identities, raise --max-candidates "
            "or loosen the limits" + (" (--balance-confidence)" if ambiguous else "")
            + (f"; the checkpoint makes {fit(np.array(curve), check.max_similarity, check.max_leakage).text()}"
               if check is not None and curve else ""))
    return Acceptance(np.array(candidates, np.int64), references, examined, too_similar, leaked,
                      np.array(attributes, np.float32), unbalanced, ambiguous)


def _check_capacity(curve: np.ndarray, references: np.ndarray, leak: np.ndarray, check: IdentityCheck, want: int,
                    max_candidates: int, share: float) -> None:
    """Stop an export that the acceptance curve so far says cannot find `share` of `want` identities (capacity.py)."""
    estimate = fit(curve, check.max_similarity, check.max_leakage)
    if estimate.expected(want * max_candidates) < share * want:
        raise FacegenError(shortfall_message(estimate, references, leak, want, max_candidates))


def _overshoots(value: np.ndarray, have: np.ndarray, targets: np.ndarray, left: int) -> bool:
    """Would accepting an identity with these attribute values make a target unreachable? (With `left` places
    to fill, each attribute needs at most targets - have more with it and left - (targets - have) without.)"""
    need_with = targets - have
    return bool(np.any(value & (need_with <= 0)) or np.any(~value & (need_with >= left)))


def identity_attributes(renderer, plan: IdentityPlan, blocks_per_call: int) -> np.ndarray:
    """[K, a]: each label's mean attribute probabilities over its reference images (no embedder: label k is
    candidate k), rendered in the same fixed reference blocks as accept_identities uses."""
    return first_candidates(renderer, plan, plan.identities, blocks_per_call)[1]


def first_candidates(renderer, plan: IdentityPlan, n: int, blocks_per_call: int,
                     bar=None) -> tuple[np.ndarray, np.ndarray]:
    """reference_outputs of candidates 0..n-1, in the fixed reference blocks accept_identities renders them in."""
    per_block = max(1, renderer.block // REFERENCE_IMAGES)
    n_blocks = -(-n // per_block)
    refs, attrs = [], []
    for start in range(0, n_blocks, blocks_per_call):
        blocks = list(range(start, min(start + blocks_per_call, n_blocks)))
        r, a = reference_outputs(renderer, plan, blocks, per_block)
        refs.append(r)
        attrs.append(a)
        if bar is not None:
            bar.update(min(n, (blocks[-1] + 1) * per_block) - blocks[0] * per_block)
    return np.concatenate(refs)[:n], np.concatenate(attrs)[:n]


def leakage(references: np.ndarray, train_means: np.ndarray) -> np.ndarray:
    """Each reference's highest cosine to a training identity's mean (-1 where there are none)."""
    return (references @ train_means.T).max(axis=1) if len(train_means) else np.full(len(references), -1.0)


def reference_outputs(renderer, plan: IdentityPlan, blocks: list[int], per_block: int) -> tuple[np.ndarray, np.ndarray]:
    """(unit reference embeddings, mean attribute probabilities) of the candidates of reference blocks `blocks`
    (per_block candidates each, block-major). Each is NaN where the renderer does not compute it."""
    z = np.zeros((len(blocks), renderer.block, plan.input_dim), np.float32)
    for k, b in enumerate(blocks):
        cands = np.arange(b * per_block, (b + 1) * per_block)
        z[k, :per_block * REFERENCE_IMAGES] = plan.reference_latents(cands, REFERENCE_IMAGES)
    rendered = renderer(z)
    emb, attr = rendered.output("embedding"), rendered.output("attributes")

    def mean(x):
        return x[:, :per_block * REFERENCE_IMAGES].reshape(len(blocks) * per_block, REFERENCE_IMAGES, -1).mean(axis=1)

    emb = mean(emb)
    return (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32), mean(attr).astype(np.float32)


def reference_embeddings(renderer, plan: IdentityPlan, blocks: list[int], per_block: int) -> np.ndarray:
    """Unit references of the candidates of reference blocks `blocks`."""
    return reference_outputs(renderer, plan, blocks, per_block)[0]


def similarities(embeddings: np.ndarray, labels: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Cosine of each image's embedding [..., d] to its label's reference (labels < 0: padding, NaN)."""
    out = np.full(labels.shape, np.nan, np.float32)
    ok = labels >= 0
    out[ok] = np.sum(embeddings[ok] * references[labels[ok]], axis=-1)
    return out
