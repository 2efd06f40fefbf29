"""The identity embedder: a residual CNN mapping a face to an L2-normalised embedding (cosine = same person?),
its CosFace training head, and a trained embedder loaded from its folder.

    EMB/config.json       {"facegen_version", "kind": "embedder", ...EmbedderConfig...}
    EMB/checkpoints/      backbone, head, optimizer, step
    EMB/report.json       held-out verification: accuracy, ROC AUC, threshold at FAR 1e-3, export limits
    EMB/verification.png  same/different similarity histograms with the thresholds
    EMB/identities.npz    each training identity's mean embedding (the export's leakage check)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from facegen.config import REFERENCE_IMAGES, EmbedderConfig, FacegenError, read_json  # noqa: F401 (REFERENCE_IMAGES: its users import it from here)
from facegen.data.pipeline import to_float
from facegen.models.dcgan import POLICIES
from facegen.run import read_folder_config, restore_trained

EMBEDDER_KIND = "embedder"
REPORT = "report.json"
IDENTITIES = "identities.npz"
TRUNK_OUT_BN = "out_bn"


def build_trunk(resolution: int, widths: tuple[int, ...], blocks: int, seed: int, folded: bool = False,
                dtype: str | None = None):
    """(image input, flat features): stem conv, one stride-2 stage per width of `blocks` basic residual blocks,
    BN, 2x2 average pooling. The embedder and the attribute classifier put their heads on it.

    folded: the inference graph without BatchNormalization, whose frozen affine `fold_batch_norm` moves into
    the convs' biases and the head's dense layer: the same function at a lower cost, since Keras' BN is a chain
    of elementwise ops that keeps conv + bias + ReLU from fusing. dtype: a Keras policy for every layer."""
    image = keras.Input((resolution, resolution, 3), name="image")
    x = layers.Conv2D(widths[0], 3, padding="same", use_bias=folded, kernel_initializer=_init(seed, 0),
                      name="stem", dtype=dtype)(image)
    x = layers.ReLU(dtype=dtype)(_norm(x, "stem_bn", folded))
    for s, width in enumerate(widths):
        for b in range(blocks):
            x = _residual(x, width, 2 if b == 0 else 1, f"s{s}b{b}", seed * 1000 + 10 * (s * blocks + b + 1),
                          folded, dtype)
    x = _norm(x, TRUNK_OUT_BN, folded)
    return image, layers.Flatten(dtype=dtype)(layers.AveragePooling2D(2, dtype=dtype)(x) if x.shape[1] >= 4 else x)


def _norm(x, name: str, folded: bool):
    return x if folded else layers.BatchNormalization(name=name)(x)


def build_backbone(cfg: EmbedderConfig, name: str = "embedder", folded: bool = False,
                   dtype: str | None = None) -> keras.Model:
    """[b, r, r, 3] float in [-1, 1] -> [b, embedding_dim] unit vectors: the trunk, then BN -> dense -> BN
    (ArcFace's output layer) and L2 norm. folded, dtype: as in build_trunk; the norm is float32 either way."""
    image, x = build_trunk(cfg.resolution, cfg.widths, cfg.blocks, cfg.seed, folded, dtype)
    x = layers.Dense(cfg.embedding_dim, kernel_initializer=_init(cfg.seed, 999), name="embedding", dtype=dtype)(x)
    x = _norm(x, "embedding_bn", folded)
    unit = layers.UnitNormalization(name="unit")(x)
    return keras.Model(image, unit, name=name)


def _init(seed: int, k: int) -> keras.initializers.Initializer:
    # One seed per layer: a seeded Keras initializer returns the same values on every call.
    return keras.initializers.HeNormal(seed=seed * 1000 + k)


def _residual(x, width: int, stride: int, name: str, seed: int, folded: bool, dtype: str | None):
    y = layers.Conv2D(width, 3, stride, padding="same", use_bias=folded, kernel_initializer=_init(seed, 1),
                      name=f"{name}_c1", dtype=dtype)(x)
    y = layers.ReLU(dtype=dtype)(_norm(y, f"{name}_bn1", folded))
    y = layers.Conv2D(width, 3, padding="same", use_bias=folded, kernel_initializer=_init(seed, 2),
                      name=f"{name}_c2", dtype=dtype)(y)
    y = _norm(y, f"{name}_bn2", folded)
    if stride != 1 or x.shape[-1] != width:
        x = layers.Conv2D(width, 1, stride, use_bias=folded, kernel_initializer=_init(seed, 3),
                          name=f"{name}_skip", dtype=dtype)(x)
        x = _norm(x, f"{name}_skip_bn", folded)
    return layers.ReLU(dtype=dtype)(layers.Add(dtype=dtype)([x, y]))


def _conv_bn(conv_name: str) -> str:
    """The BatchNormalization that follows a trunk conv (the names _residual and build_trunk give them)."""
    if conv_name == "stem":
        return "stem_bn"
    block, part = conv_name.rsplit("_", 1)
    return f"{block}_" + {"c1": "bn1", "c2": "bn2", "skip": "skip_bn"}[part]


def _affine(bn: layers.BatchNormalization) -> tuple[np.ndarray, np.ndarray]:
    """Inference BN as y = scale * x + shift, in float64."""
    gamma, beta, mean, var = (np.asarray(w, np.float64) for w in bn.get_weights())
    scale = gamma / np.sqrt(var + bn.epsilon)
    return scale, beta - mean * scale


def fold_batch_norm(trained: keras.Model, folded: keras.Model, head: str, head_bn: str | None = None) -> None:
    """Set `folded` (the same builder with folded=True) to compute what `trained` computes at inference: each
    conv's BN into its kernel and bias; the trunk's last BN, which only average pooling and flattening separate
    from the head dense layer `head`, into that layer; `head_bn` (a BN after `head`) into it too."""
    for layer in folded.layers:
        if isinstance(layer, layers.Conv2D):
            scale, shift = _affine(trained.get_layer(_conv_bn(layer.name)))
            (kernel,) = trained.get_layer(layer.name).get_weights()
            layer.set_weights([(kernel * scale).astype(np.float32), shift.astype(np.float32)])
    kernel, bias = (np.asarray(w, np.float64) for w in trained.get_layer(head).get_weights())
    scale, shift = _affine(trained.get_layer(TRUNK_OUT_BN))
    # Flattened features are [h, w, c] with c fastest: the channel affine repeats over the h * w positions.
    positions = len(kernel) // len(scale)
    scale, shift = np.tile(scale, positions), np.tile(shift, positions)
    kernel, bias = kernel * scale[:, None], bias + shift @ kernel
    if head_bn is not None:
        scale, shift = _affine(trained.get_layer(head_bn))
        kernel, bias = kernel * scale, bias * scale + shift
    folded.get_layer(head).set_weights([kernel.astype(np.float32), bias.astype(np.float32)])


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
    its BN-folded inference graph, in-graph resizing to its resolution, batched numpy calls, and its report."""

    config: object  # its TrunkConfig
    model: keras.Model  # as trained and checkpointed
    folder: Path
    step: int
    # Inference's compute policy (as the export's G: "off" float32, or "bfloat16" where native; weights float32).
    precision: str = "off"
    inference: keras.Model = field(init=False, repr=False)  # `model` with its BN folded, at `precision`

    what: ClassVar[str] = "model"  # names the command that makes one, in errors
    command: ClassVar[str] = ""

    def __post_init__(self) -> None:
        self.inference = self.folded()
        self._graphs: dict[str, tf.types.experimental.GenericFunction] = {}

    def folded(self) -> keras.Model:
        raise NotImplementedError

    def at_resolution(self, images: tf.Tensor) -> tf.Tensor:
        r = self.config.resolution
        return images if images.shape[1] == r else tf.image.resize(images, [r, r], method="bilinear", antialias=True)

    def batched(self, fn, images: np.ndarray, width: int, batch: int = 256) -> np.ndarray:
        """fn (a float-image method) over uint8 images [n, s, s, 3] in graph mode -> [n, width] float32. The last
        batch is padded to the others' size: one trace serves every call."""
        graph = self._graphs.setdefault(fn.__name__, tf.function(fn))
        batch, out = max(1, min(batch, len(images))), []
        for i in range(0, len(images), batch):
            chunk = images[i:i + batch]
            n = len(chunk)
            if n < batch:
                chunk = np.concatenate([chunk, np.zeros((batch - n, *chunk.shape[1:]), chunk.dtype)])
            out.append(graph(to_float(chunk)).numpy()[:n])
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
    def from_folder(cls, folder: str | Path, precision: str = "off") -> "Embedder":
        folder = Path(folder)
        cfg = EmbedderConfig.from_dict(read_folder_config(folder, EMBEDDER_KIND, "embedder"))
        model = build_backbone(cfg)
        return cls(cfg, model, folder, restore_trained(folder, "embedder", backbone=model), precision)

    def folded(self) -> keras.Model:
        inference = build_backbone(self.config, self.model.name, folded=True, dtype=POLICIES[self.precision])
        fold_batch_norm(self.model, inference, "embedding", "embedding_bn")
        return inference

    def embed_float(self, images: tf.Tensor) -> tf.Tensor:
        """Float images in [-1, 1], any square size -> unit embeddings (in-graph: the export's block and the
        identity loss call it)."""
        return tf.cast(self.inference(self.at_resolution(images), training=False), tf.float32)

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
