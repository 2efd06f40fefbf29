"""A trained generator loaded from a run folder: seeds/latents -> uint8 images, realism scores, walks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from facegen.config import FacegenError, ModelConfig, RunConfig
from facegen.models.dcgan import POLICIES, build_discriminator, build_generator, build_pair_discriminator
from facegen.models.identity_space import IDENTITY_SPACE_FILE, IdentitySpace
from facegen.run import read_run_config, restore


def latents_for_seed(seed: int, n: int, latent_dim: int) -> np.ndarray:
    """`n` standard-normal latents, a pure function of `seed`."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)


def prior_latents(seed: int, n: int, cfg: ModelConfig, space: IdentitySpace | None = None) -> np.ndarray:
    """`n` latents from the prior G trained on: standard normal, with an embedding-mode model's z_id an identity
    drawn from its identity space (the same draws, mapped: facegen.models.identity_space)."""
    z = latents_for_seed(seed, n, cfg.latent_dim)
    return _in_space(z, cfg, space)


def identity_sheet_latents(seed: int, identities: int, observations: int, cfg: ModelConfig,
                           space: IdentitySpace | None = None) -> np.ndarray:
    """[identities * observations, latent]: row i shares z_id i, column j shares z_obs j (identity and
    embedding modes)."""
    rng = np.random.default_rng(seed)
    z_id = rng.standard_normal((identities, 1, cfg.identity_dim))
    z_obs = rng.standard_normal((1, observations, cfg.latent_dim - cfg.identity_dim))
    z = np.concatenate([np.broadcast_to(z_id, (identities, observations, cfg.identity_dim)),
                        np.broadcast_to(z_obs, (identities, observations, z_obs.shape[-1]))], axis=-1)
    return _in_space(z.reshape(-1, cfg.latent_dim).astype(np.float32), cfg, space)


def _in_space(z: np.ndarray, cfg: ModelConfig, space: IdentitySpace | None) -> np.ndarray:
    if not cfg.conditioned:
        return z
    if space is None:
        raise FacegenError("an embedding-mode model draws its identities from its identity space; none given")
    z = z.copy()
    z[:, :cfg.identity_dim] = space.latent(space.unit(z[:, :cfg.identity_dim]))
    return z


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation: stays at the Gaussian's typical radius, unlike a straight line."""
    a_n, b_n = a / np.linalg.norm(a), b / np.linalg.norm(b)
    omega = np.arccos(np.clip(np.dot(a_n, b_n), -1.0, 1.0))
    if omega < 1e-6:
        return np.outer(1 - t, a) + np.outer(t, b)
    so = np.sin(omega)
    return (np.outer(np.sin((1 - t) * omega) / so, a) + np.outer(np.sin(t * omega) / so, b)).astype(np.float32)


@dataclass
class Generator:
    """The EMA generator (and the discriminator, for realism scores) of a run's latest checkpoint."""

    config: RunConfig
    generator: tf.keras.Model
    discriminator: tf.keras.Model
    checkpoint_path: str
    step: int
    precision: str = "off"  # compute policy of G and D: off (float32) or bfloat16 (float32 weights either way)
    space: IdentitySpace | None = None  # an embedding-mode run's identity space; None otherwise

    @classmethod
    def from_run(cls, run_dir: str | Path, checkpoint: str | None = None,
                 strategy: tf.distribute.Strategy | None = None, precision: str = "off") -> "Generator":
        """Load the latest (or the given) checkpoint; with a strategy, the models are mirrored on its devices.
        `precision` "bfloat16" computes in bfloat16 (faster where native; see facegen.hardware)."""
        run_dir = Path(run_dir)
        cfg = read_run_config(run_dir)
        policy = POLICIES[precision]
        with (strategy or tf.distribute.get_strategy()).scope():
            g = build_generator(cfg.model, name="ema_generator", dtype=policy)
            d = (build_pair_discriminator if cfg.model.identity_dim else build_discriminator)(cfg.model, dtype=policy)
            step = tf.Variable(0, dtype=tf.int64)
        path = restore(tf.train.Checkpoint(ema_generator=g, discriminator=d, step=step), run_dir, checkpoint,
                       partial=True)
        if path is None:
            raise FacegenError(f"{run_dir} has no checkpoint yet; train it first")
        space = IdentitySpace.load(run_dir / IDENTITY_SPACE_FILE) if cfg.model.conditioned else None
        return cls(cfg, g, d, path, int(step.numpy()), precision, space)

    @property
    def latent_dim(self) -> int:
        return self.config.model.latent_dim

    def generate(self, z: np.ndarray) -> np.ndarray:
        """Latents [n, latent_dim] -> uint8 images [n, r, r, 3] (BN in inference mode: per-image, batch-free)."""
        return to_uint8(self.generator(tf.convert_to_tensor(z, tf.float32), training=False)).numpy()

    def realism_logits(self, images) -> tf.Tensor:
        """D's raw logit per float image in [-1, 1]; identity mode scores each image paired with itself.
        facegen.export.realism turns logits into the calibrated 0..1 score."""
        images = tf.convert_to_tensor(images, tf.float32)
        if self.config.model.identity_dim:
            images = tf.stack([images, images], axis=1)
        return tf.cast(self.discriminator(images, training=False), tf.float32)[:, 0]

    def prior(self, seed: int, n: int) -> np.ndarray:
        """`n` latents of G's prior (prior_latents), a pure function of `seed`."""
        return prior_latents(seed, n, self.config.model, self.space)

    def sample(self, seed: int, n: int) -> np.ndarray:
        return self.generate(self.prior(seed, n))

    def walk(self, seed_a: int, seed_b: int, steps: int) -> np.ndarray:
        """A latent-space walk from seed_a's latent to seed_b's (Radford et al. section 6)."""
        a, b = self.prior(seed_a, 1)[0], self.prior(seed_b, 1)[0]
        return self.generate(slerp(a, b, np.linspace(0.0, 1.0, steps)))


def to_uint8(images: tf.Tensor) -> tf.Tensor:
    """[-1, 1] -> uint8 on the device, rounding to nearest (the same rule as images.float_to_uint8)."""
    return tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0), tf.uint8)
