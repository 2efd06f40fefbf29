"""Attribute labels in an export (`--attributes`): each image's probability of every attribute the classifier
knows (named as in CelebA), and for attributes that belong to a person (Male, Eyeglasses, hair colour, beard…)
each identity's value, decided once from its reference observations (facegen.export.verify) so that every
shard and resume labels an identity alike; image attributes (Smiling, Mouth_Slightly_Open) stay per image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facegen.config import FacegenError
from facegen.models.attributes import IDENTITY_ATTRIBUTES

IDENTITY_PREFIX = "identity_"  # manifest column of an identity-level attribute: identity_Male, …


@dataclass(frozen=True)
class AttributeLabels:
    names: list[str]  # the classifier's attributes: one probability column each
    identity_names: list[str]  # those that belong to a person: one 0/1 column each, per identity
    identity_values: np.ndarray  # [K, len(identity_names)] bool

    @classmethod
    def from_references(cls, names: list[str], reference_probabilities: np.ndarray) -> "AttributeLabels":
        """Identity values: the mean probability over the identity's reference images, thresholded at 0.5."""
        identity_names = [n for n in names if n in IDENTITY_ATTRIBUTES]
        idx = [names.index(n) for n in identity_names]
        return cls(list(names), identity_names, reference_probabilities[:, idx] > 0.5)

    @property
    def columns(self) -> list[str]:
        return self.names + [IDENTITY_PREFIX + n for n in self.identity_names]

    def row(self, label: int, probabilities: np.ndarray) -> dict:
        d = {n: f"{p:.6f}" for n, p in zip(self.names, probabilities)}
        d.update({IDENTITY_PREFIX + n: int(v) for n, v in zip(self.identity_names, self.identity_values[label])})
        return d

    def shares(self) -> dict[str, float]:
        """Share of identities with each identity-level attribute."""
        return {n: float(self.identity_values[:, i].mean()) for i, n in enumerate(self.identity_names)}


@dataclass(frozen=True)
class Balance:
    """--balance: shares of identity-level attributes the accepted identities must hit, by the classifier's
    value for each identity (its reference images' mean probability > 0.5).

    Only identities the classifier is sure of count (`confidence`): an identity read at 0.6 from four reference
    images is as likely as not to show the attribute on its exported images, and choosing among such candidates
    favours the ones the classifier over-reads, so an independent judge would see the shares fall short.
    """

    columns: list[int]  # the attributes' positions in the classifier's outputs
    names: list[str]
    shares: list[float]
    confidence: float  # counted only at probability >= confidence (has) or <= 1 - confidence (has not)

    def decided(self, probabilities: np.ndarray) -> bool:
        """Whether every balanced attribute of an identity with these mean probabilities is clear."""
        p = probabilities[self.columns]
        return bool(np.all((p >= self.confidence) | (p <= 1.0 - self.confidence)))

    def targets(self, identities: int) -> np.ndarray:
        """How many accepted identities must have each attribute (rounded to the nearest count)."""
        return np.rint(np.asarray(self.shares) * identities).astype(np.int64)


def balance_for(balance: tuple[tuple[str, float], ...], classifier, confidence: float) -> Balance:
    """--balance against the classifier's attributes: one-line errors for unknown or per-image attributes."""
    names = [n for n, _ in balance]
    unknown = [n for n in names if n not in classifier.names]
    if unknown:
        raise FacegenError(f"--balance: {', '.join(unknown)} is not an attribute of {classifier.folder} (it has "
                           f"{', '.join(classifier.names)})")
    per_image = [n for n in names if n not in IDENTITY_ATTRIBUTES]
    if per_image:
        raise FacegenError(f"--balance: {', '.join(per_image)} belongs to an image, not a person; balance identity "
                           "attributes (Male, Eyeglasses, hair colour, beard…)")
    return Balance([classifier.names.index(n) for n in names], names, [s for _, s in balance], confidence)
