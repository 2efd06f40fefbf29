"""The identity embedder: a residual CNN mapping a face to an L2-normalised embedding (cosine = same person?),
its CosFace training head, and a trained embedder loaded from its folder.

    EMB/config.json       {"facegen_version", "kind": "embedder", ...EmbedderConfig...}
    EMB/checkpoints/      backbone, head, optimizer, step
    EMB/report.json       held-out verification: accuracy, ROC AUC, threshold at FAR 1e-3, export limits
    EMB/verification.png  same/different similarity histograms with the thresholds
    EMB/identities.npz    each training identity's mean embedding (the export's leakage check)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from facegen.config import EmbedderConfig, FacegenError, read_json
from facegen.data.pipeline import to_float
from facegen.run import read_folder_config, restore_trained

EMBEDDER_KIND = "embedder"
REPORT = "report.json"
IDENTITIES = "identities.npz"
REFERENCE_IMAGES = 4  # images averaged into an identity's reference (the report calibrates, the export checks)


def build_trunk(resolution: int, widths: tuple[int, ...], blocks: int, seed: int):
    """(image input, flat features): stem conv, one stride-2 stage per width of `blocks` basic residual blocks,
    BN, 2x2 average pooling. The embedder and the attribute classifier put their heads on it."""
    image = keras.Input((resolution, resolution, 3), name="image")
    x = layers.Conv2D(widths[0], 3, padding="same", use_bias=False, kernel_initializer=_init(seed, 0),
                      name="stem")(image)
    x = layers.ReLU()(layers.BatchNormalization(name="stem_bn")(x))
    for s, width in enumerate(widths):
        for b in range(blocks):
            x = _residual(x, width, 2 if b == 0 else 1, f"s{s}b{b}", seed * 1000 + 10 * (s * blocks + b + 1))
    x = layers.BatchNormalization(name="out_bn")(x)
    return image, layers.Flatten()(layers.AveragePooling2D(2)(x) if x.shape[1] >= 4 else x)


def build_backbone(cfg: EmbedderConfig, name: str = "embedder") -> keras.Model:
    """[b, r, r, 3] float in [-1, 1] -> [b, embedding_dim] unit vectors: the trunk, then BN -> dense -> BN
    (ArcFace's output layer) and L2 norm."""
    image, x = build_trunk(cfg.resolution, cfg.widths, cfg.blocks, cfg.seed)
    x = layers.Dense(cfg.embedding_dim, kernel_initializer=_init(cfg.seed, 999), name="embedding")(x)
    x = layers.BatchNormalization(name="embedding_bn")(x)
    unit = layers.UnitNormalization(name="unit")(x)
    return keras.Model(image, unit, name=name)


def _init(seed: int, k: int) -> keras.initializers.Initializer:
    # One seed per layer: a seeded Keras initializer returns the same values on every call.
    return keras.initializers.HeNormal(seed=seed * 1000 + k)


def _residual(x, width: int, stride: int, name: str, seed: int):
    y = layers.Conv2D(width, 3, stride, padding="same", use_bias=False, kernel_initializer=_init(seed, 1),
                      name=f"{name}_c1")(x)
    y = layers.ReLU()(layers.BatchNormalization(name=f"{name}_bn1")(y))
    y = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer=_init(seed, 2),
                      name=f"{name}_c2")(y)
    y = layers.BatchNormalization(name=f"{name}_bn2")(y)
    if stride != 1 or x.shape[-1] != width:
        x = layers.Conv2D(width, 1, stride, use_bias=False, kernel_initializer=_init(seed, 3), name=f"{name}_skip")(x)
        x = layers.BatchNormalization(name=f"{name}_skip_bn")(x)
    return layers.ReLU()(layers.Add()([x, y]))


class CosFace(keras.layers.Layer):
    """Large-margin cosine logits (Wang et al. 2018): s * (cos(theta_j) - m [j = y]), theta_j the angle between
    the unit embedding and class j's unit weight vector."""

    def __init__(self, n_classes: int, margin: float, scale: float, seed: int = 0, **kw) -> None:
        super().__init__(**kw)
        self.n_classes, self.margin, self.scale, self.seed = n_classes, margin, scale, seed

    def build(self, input_shape) -> None:
        self.w = self.add_weight(shape=(input_shape[-1], self.n_classes), name="w",
                                 initializer=keras.initializers.GlorotUniform(seed=self.seed))

    def call(self, embedding, labels):
        cos = tf.matmul(embedding, tf.math.l2_normalize(self.w, axis=0))
        return self.scale * (cos - self.margin * tf.one_hot(labels, self.n_classes))


@dataclass
class TrunkModel:
    """A trained model on the residual trunk, loaded from its folder (the embedder, the attribute classifier):
    in-graph resizing to its resolution, batched numpy calls, and its report."""

    config: object  # its TrunkConfig
    model: keras.Model
    folder: Path
    step: int

    what: ClassVar[str] = "model"  # names the command that makes one, in errors
    command: ClassVar[str] = ""

    def at_resolution(self, images: tf.Tensor) -> tf.Tensor:
        r = self.config.resolution
        return images if images.shape[1] == r else tf.image.resize(images, [r, r], method="bilinear", antialias=True)

    def batched(self, fn, images: np.ndarray, width: int, batch: int = 256) -> np.ndarray:
        """fn over uint8 images [n, s, s, 3] in batches of `batch` -> [n, width] float32."""
        out = [fn(to_float(images[i:i + batch])).numpy() for i in range(0, len(images), batch)]
        return np.concatenate(out) if out else np.zeros((0, width), np.float32)

    @property
    def report(self) -> dict:
        path = self.folder / REPORT
        if not path.exists():
            raise FacegenError(f"{self.folder} has no {REPORT}: finish `{self.command}` first")
        return read_json(path)


@dataclass
class Embedder(TrunkModel):
    """A trained embedder: images -> unit embeddings, its report and its training identities' means."""

    config: EmbedderConfig
    what: ClassVar[str] = "embedder"
    command: ClassVar[str] = "facegen embedder train"

    @classmethod
    def from_folder(cls, folder: str | Path) -> "Embedder":
        folder = Path(folder)
        cfg = EmbedderConfig.from_dict(read_folder_config(folder, EMBEDDER_KIND, "embedder"))
        model = build_backbone(cfg)
        return cls(cfg, model, folder, restore_trained(folder, "embedder", backbone=model))

    def embed_float(self, images: tf.Tensor) -> tf.Tensor:
        """Float images in [-1, 1], any square size -> unit embeddings (in-graph: the export's block calls it)."""
        return self.model(self.at_resolution(images), training=False)

    def embed(self, images: np.ndarray, batch: int = 256) -> np.ndarray:
        """uint8 images [n, s, s, 3] -> unit embeddings [n, d] float32."""
        return self.batched(self.embed_float, images, self.config.embedding_dim, batch)

    def identity_means(self) -> tuple[np.ndarray, np.ndarray]:
        """(training identity ids, their unit mean embeddings [n, d])."""
        path = self.folder / IDENTITIES
        if not path.exists():
            raise FacegenError(f"{self.folder} has no {IDENTITIES}: finish `facegen embedder train` first")
        with np.load(path) as z:
            return z["identities"], z["means"]
