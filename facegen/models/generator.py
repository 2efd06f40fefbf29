"""A trained generator loaded from a run folder: seeds/latents -> uint8 images, realism scores, walks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from facegen.config import FacegenError, ModelConfig, RunConfig
from facegen.models.dcgan import POLICIES, build_discriminator, build_generator, build_pair_discriminator
from facegen.run import read_run_config, restore


def latents_for_seed(seed: int, n: int, latent_dim: int) -> np.ndarray:
    """`n` standard-normal latents, a pure function of `seed`."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)


def identity_sheet_latents(seed: int, identities: int, observations: int, cfg: ModelConfig) -> np.ndarray:
    """[identities * observations, latent]: row i shares z_id i, column j shares z_obs j (identity mode)."""
    rng = np.random.default_rng(seed)
    z_id = rng.standard_normal((identities, 1, cfg.identity_dim))
    z_obs = rng.standard_normal((1, observations, cfg.latent_dim - cfg.identity_dim))
    z = np.concatenate([np.broadcast_to(z_id, (identities, observations, cfg.identity_dim)),
                        np.broadcast_to(z_obs, (identities, observations, z_obs.shape[-1]))], axis=-1)
    return z.reshape(-1, cfg.latent_dim).astype(np.float32)


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
        return cls(cfg, g, d, path, int(step.numpy()), precision)

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

    def sample(self, seed: int, n: int) -> np.ndarray:
        return self.generate(latents_for_seed(seed, n, self.latent_dim))

    def walk(self, seed_a: int, seed_b: int, steps: int) -> np.ndarray:
        """A latent-space walk from seed_a's latent to seed_b's (Radford et al. section 6)."""
        a = latents_for_seed(seed_a, 1, self.latent_dim)[0]
        b = latents_for_seed(seed_b, 1, self.latent_dim)[0]
        return self.generate(slerp(a, b, np.linspace(0.0, 1.0, steps)))


def to_uint8(images: tf.Tensor) -> tf.Tensor:
    """[-1, 1] -> uint8 on the device, rounding to nearest (the same rule as images.float_to_uint8)."""
    return tf.cast(tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0), tf.uint8)
