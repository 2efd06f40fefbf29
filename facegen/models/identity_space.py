"""Where an embedding-mode generator's identities come from: a Gaussian fitted to the conditioning embedder's
training identities' unit means, whose draws (normalised) are new people (pure numpy, no TF).

An embedding-mode generator (Vec2Face's idea at DCGAN scale) renders a face from a unit identity embedding e in
its embedder's space: its latent is [sqrt(d) e ; z_obs], so e has the norm of the Gaussian z_id identity mode
draws. Real identities do not fill that space: their means occupy a low-dimensional, off-centre region, and a
uniformly random unit vector lands far from every person G learned to render. So new identities are drawn from
the distribution the training identities occupy, as Vec2Face samples its identity features: mean + L n, n
standard normal, L the Cholesky factor of the means' covariance (with a small ridge: 80 means in 128 dimensions
span at most 79 of them), normalised to the unit sphere.

A person's photos do not share one embedding: each image's sits off its identity's mean, by pose, light and
expression as much as the embedder fails to ignore them. G is trained on those per-image embeddings, so an
exported image may render its person's point moved as a real photo's would be: `scatter` is the Cholesky factor
of the training photos' offsets from their identity's unit mean in the sphere's tangent plane there (e / (e.m)
- m, so a step t back to the sphere lands at cosine 1 / sqrt(1 + |t|^2), as the photo did), and `image_units`
draws unit embeddings around a person at a chosen share of that scatter (Vec2Face perturbs its identity features
the same way).

The space is fitted once, when the GAN's training starts, and stored in the run (identity_space.npz) with the
embedder's separation and leakage limits, so the export's identity bank (facegen.export.identities.AnchorSet)
draws and checks identities in it before a single image is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facegen.config import FacegenError

IDENTITY_SPACE_FILE = "identity_space.npz"
RIDGE = 1e-3  # added to the covariance's diagonal, relative to its mean variance


@dataclass(frozen=True)
class IdentitySpace:
    """The fitted distribution of identities, the training identities' unit means and the embedder's limits."""

    mean: np.ndarray  # [d]
    factor: np.ndarray  # [d, d] lower-triangular: covariance = factor @ factor.T
    train_means: np.ndarray  # [n, d] unit rows: who the GAN learned from (the bank's leakage check)
    max_similarity: float  # the embedder's separation limit: two bank points above it are one person
    max_leakage: float  # the embedder's leakage limit: a bank point above it to a training mean is that person
    # [d, d] lower-triangular: covariance of real images' offsets from their identity's unit mean; None in a
    # space fitted before it was stored (its exports render every image from the person's own point)
    scatter: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    @classmethod
    def fit(cls, train_means: np.ndarray, max_similarity: float, max_leakage: float,
            offsets: np.ndarray | None = None) -> "IdentitySpace":
        """`offsets` [n, d]: training photos' offsets from their identity's unit mean (the function `offsets`)."""
        means = np.asarray(train_means, np.float64)
        if len(means) < 2:
            raise FacegenError("an identity space needs at least two training identities")
        scatter = None
        if offsets is not None:
            o = np.asarray(offsets, np.float64)
            scatter = _factor(o.T @ o / len(o))
        return cls(means.mean(axis=0), _factor(np.cov(means, rowvar=False)), means.astype(np.float32),
                   float(max_similarity), float(max_leakage), scatter)

    def unit(self, normal: np.ndarray) -> np.ndarray:
        """Standard-normal draws [..., d] -> unit identity embeddings in the fitted distribution."""
        x = self.mean + np.asarray(normal, np.float64) @ self.factor.T
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    def image_units(self, unit: np.ndarray, normal: np.ndarray, noise: float) -> np.ndarray:
        """Unit identity points [n, d] moved by `noise` times real photos' scatter around their person
        (standard-normal draws `normal` [n, d]): the embeddings the images are rendered from."""
        unit = np.asarray(unit, np.float64)
        if not noise or self.scatter is None:
            return unit
        step = np.asarray(normal, np.float64) @ self.scatter.T
        step -= (step * unit).sum(-1, keepdims=True) * unit  # in the tangent plane at the person's point
        x = unit + noise * step
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    def latent(self, unit: np.ndarray) -> np.ndarray:
        """Unit embeddings -> the z_id part of G's latent (sqrt(d) e: the norm of a d-dimensional Gaussian)."""
        return np.asarray(unit, np.float64) * np.sqrt(self.dim)

    def leakage(self, unit: np.ndarray) -> np.ndarray:
        """Each point's highest cosine to a training identity's mean."""
        return (np.asarray(unit, np.float64) @ self.train_means.T.astype(np.float64)).max(axis=-1)

    def save(self, path: str | Path) -> None:
        from facegen.atomic import replacing

        with replacing(Path(path)) as tmp, open(tmp, "wb") as f:
            extra = {} if self.scatter is None else {"scatter": self.scatter}
            np.savez(f, mean=self.mean, factor=self.factor, train_means=self.train_means,
                     limits=np.array([self.max_similarity, self.max_leakage]), **extra)

    @classmethod
    def load(cls, path: str | Path) -> "IdentitySpace":
        path = Path(path)
        if not path.exists():
            raise FacegenError(f"{path.parent} is an embedding-mode run without its {path.name}: its training "
                               "writes it when it starts; re-run `facegen train` on it")
        with np.load(path) as z:
            return cls(z["mean"], z["factor"], z["train_means"], float(z["limits"][0]), float(z["limits"][1]),
                       z["scatter"] if "scatter" in z else None)


def stores_scatter(run_dir: str | Path) -> bool:
    """Whether a run's identity space holds real photos' scatter (an embedding-mode run trained before it did not)."""
    path = Path(run_dir) / IDENTITY_SPACE_FILE
    if not path.is_file():
        return False
    with np.load(path) as z:
        return "scatter" in z.files


MIN_PHOTO_COSINE = 0.2  # a photo at a right angle to its person's mean would sit at infinity in the tangent plane


def offsets(embeddings: np.ndarray, identities: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Each unit embedding's offset from its identity's unit mean (`means` in np.unique(identities) order) in the
    tangent plane there: e / (e.m) - m."""
    _, inverse = np.unique(identities, return_inverse=True)
    e, m = np.asarray(embeddings, np.float64), np.asarray(means, np.float64)[inverse]
    return e / np.maximum((e * m).sum(-1, keepdims=True), MIN_PHOTO_COSINE) - m


def _factor(cov: np.ndarray) -> np.ndarray:
    """Cholesky factor of a covariance with a small ridge (80 means in 128 dimensions span at most 79)."""
    return np.linalg.cholesky(cov + RIDGE * float(np.trace(cov)) / len(cov) * np.eye(len(cov)))
