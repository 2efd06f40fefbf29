"""The DCGAN generator and discriminator of Radford et al., built from a ModelConfig (Keras functional)."""

from __future__ import annotations

import keras
from keras import layers

from facegen.config import ModelConfig

POLICIES = {"off": None, "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}  # --mixed-precision -> Keras

# The article's init: every conv and dense weight N(0, 0.02); BN gamma around 1 (the article's code drew
# it from N(0, 0.02) too, which starts every BN layer near zero output - a bug we do not copy).
WEIGHT_STD = 0.02
PAIR_EMBEDDING = 128  # identity mode: size of the Siamese D's comparison embedding


def _weights(seed: int | None):
    return keras.initializers.RandomNormal(0.0, WEIGHT_STD, seed=seed)


def _batch_norm(name: str, seed: int | None, dtype: str | None, sync: bool) -> layers.BatchNormalization:
    # synchronized=True averages batch statistics over all replicas of a tf.distribute strategy, so a
    # distributed step normalises like one device at the global batch.
    return layers.BatchNormalization(
        momentum=0.9, epsilon=1e-5, name=name, dtype=dtype, synchronized=sync,
        gamma_initializer=keras.initializers.RandomNormal(1.0, WEIGHT_STD, seed=seed))


def _seed(seed: int | None, k: int) -> int | None:
    return None if seed is None else seed * 1000 + k


def build_generator(cfg: ModelConfig, seed: int | None = None, name: str = "generator", dtype: str | None = None,
                    sync_bn: bool = False) -> keras.Model:
    """z [B, latent_dim] -> image [B, res, res, 3] in [-1, 1].

    `dtype` is a Keras dtype policy ("mixed_float16", "mixed_bfloat16"); the output stays float32.
    """
    widths = cfg.generator_widths
    z = keras.Input((cfg.latent_dim,), name="z")
    x = layers.Dense(4 * 4 * widths[0], use_bias=False, kernel_initializer=_weights(_seed(seed, 0)),
                     name="project", dtype=dtype)(z)
    x = layers.Reshape((4, 4, widths[0]), name="to_4x4", dtype=dtype)(x)
    x = _batch_norm("project_bn", _seed(seed, 1), dtype, sync_bn)(x)
    x = layers.ReLU(name="project_relu", dtype=dtype)(x)
    for i, width in enumerate(widths[1:], start=1):
        size = 4 << i
        x = layers.Conv2DTranspose(width, cfg.kernel_size, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=_weights(_seed(seed, 2 * i)), name=f"up{size}", dtype=dtype)(x)
        x = _batch_norm(f"up{size}_bn", _seed(seed, 2 * i + 1), dtype, sync_bn)(x)
        x = layers.ReLU(name=f"up{size}_relu", dtype=dtype)(x)
    x = layers.Conv2DTranspose(3, cfg.kernel_size, strides=2, padding="same", dtype=dtype,
                               kernel_initializer=_weights(_seed(seed, 99)), name=f"up{cfg.resolution}")(x)
    # tanh in float32 even under mixed precision, so images are exact in [-1, 1].
    image = layers.Activation("tanh", dtype="float32", name="image")(x)
    return keras.Model(z, image, name=name)


def _discriminator_features(image, cfg: ModelConfig, seed: int | None, dtype: str | None, sync_bn: bool):
    """D's conv stack: 5x5 stride-2 convs, LeakyReLU, BN on all but the first layer; flattened 4x4 map."""
    x = image
    size = cfg.resolution
    for i, width in enumerate(cfg.discriminator_widths):
        size //= 2
        x = layers.Conv2D(width, cfg.kernel_size, strides=2, padding="same", use_bias=(i == 0), dtype=dtype,
                          kernel_initializer=_weights(_seed(seed, 500 + 2 * i)), name=f"down{size}")(x)
        if i > 0:
            x = _batch_norm(f"down{size}_bn", _seed(seed, 501 + 2 * i), dtype, sync_bn)(x)
        x = layers.LeakyReLU(cfg.leaky_slope, name=f"down{size}_lrelu", dtype=dtype)(x)
    return layers.Flatten(name="flatten", dtype=dtype)(x)


def build_discriminator(cfg: ModelConfig, seed: int | None = None, name: str = "discriminator",
                        dtype: str | None = None, sync_bn: bool = False) -> keras.Model:
    """image [B, res, res, 3] -> one real/fake logit [B, 1]. No BN on the first layer, as in the article."""
    image = keras.Input((cfg.resolution, cfg.resolution, 3), name="image")
    x = _discriminator_features(image, cfg, seed, dtype, sync_bn)
    logit = layers.Dense(1, kernel_initializer=_weights(_seed(seed, 599)), dtype="float32", name="logit")(x)
    return keras.Model(image, logit, name=name)


def build_pair_discriminator(cfg: ModelConfig, seed: int | None = None, name: str = "discriminator",
                             dtype: str | None = None, sync_bn: bool = False) -> keras.Model:
    """SD-GAN's Siamese D: pair [B, 2, res, res, 3] -> logit [B, 1] for "a real pair of one person".

    Both images go through the same trunk (shared weights, the DCGAN D's conv stack). One dense layer on
    the concatenated features alone would score each image on its own (w1.f1 + w2.f2) and could never see
    whether the two are one person - the very thing the pair is for. So the head also gets |e1 - e2|, the
    distance between the two images in a shared learned embedding, and can reject mismatched pairs.
    """
    r = cfg.resolution
    image = keras.Input((r, r, 3), name="image")
    trunk = keras.Model(image, _discriminator_features(image, cfg, seed, dtype, sync_bn), name="trunk")
    pair = keras.Input((2, r, r, 3), name="pair")
    first = layers.Lambda(lambda p: p[:, 0], name="first", dtype=dtype)(pair)
    second = layers.Lambda(lambda p: p[:, 1], name="second", dtype=dtype)(pair)
    f1, f2 = trunk(first), trunk(second)
    # No bias: it cancels in e1 - e2.
    embed = layers.Dense(PAIR_EMBEDDING, use_bias=False, kernel_initializer=_weights(_seed(seed, 598)), dtype=dtype,
                         name="embed")
    distance = layers.Lambda(lambda e: keras.ops.abs(e[0] - e[1]), name="distance", dtype=dtype)([embed(f1), embed(f2)])
    joined = layers.Concatenate(name="joined", dtype=dtype)([f1, f2, distance])
    logit = layers.Dense(1, kernel_initializer=_weights(_seed(seed, 599)), dtype="float32", name="logit")(joined)
    return keras.Model(pair, logit, name=name)
