"""Where an embedding-mode generator's identities come from: a Gaussian fitted to the conditioning embedder's
training identities' unit means, whose draws (normalised) are new people (pure numpy, no TF).

An embedding-mode generator (Vec2Face's idea at DCGAN scale) renders a face from a unit identity embedding e in
its embedder's space: its latent is [sqrt(d) e ; z_obs], so e has the norm of the Gaussian z_id identity mode
draws. Real identities do not fill that space: their means occupy a low-dimensional, off-centre region, and a
uniformly random unit vector lands far from every person G learned to render. So new identities are drawn from
the distribution the training identities occupy, as Vec2Face samples its identity features: mean + L n, n
standard normal, L the Cholesky factor of the means' covariance (with a small ridge: 80 means in 128 dimensions
span at most 79 of them), normalised to the unit sphere.

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

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    @classmethod
    def fit(cls, train_means: np.ndarray, max_similarity: float, max_leakage: float) -> "IdentitySpace":
        means = np.asarray(train_means, np.float64)
        if len(means) < 2:
            raise FacegenError("an identity space needs at least two training identities")
        centre = means.mean(axis=0)
        cov = np.cov(means, rowvar=False)
        cov += RIDGE * float(np.trace(cov)) / len(cov) * np.eye(len(cov))
        return cls(centre, np.linalg.cholesky(cov), means.astype(np.float32), float(max_similarity),
                   float(max_leakage))

    def unit(self, normal: np.ndarray) -> np.ndarray:
        """Standard-normal draws [..., d] -> unit identity embeddings in the fitted distribution."""
        x = self.mean + np.asarray(normal, np.float64) @ self.factor.T
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
            np.savez(f, mean=self.mean, factor=self.factor, train_means=self.train_means,
                     limits=np.array([self.max_similarity, self.max_leakage]))

    @classmethod
    def load(cls, path: str | Path) -> "IdentitySpace":
        path = Path(path)
        if not path.exists():
            raise FacegenError(f"{path.parent} is an embedding-mode run without its {path.name}: its training "
                               "writes it when it starts; re-run `facegen train` on it")
        with np.load(path) as z:
            return cls(z["mean"], z["factor"], z["train_means"], float(z["limits"][0]), float(z["limits"][1]))
