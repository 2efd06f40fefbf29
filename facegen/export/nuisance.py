"""Nuisance variety: the tilt, alignment, scale and lighting each exported image gets on top of G's own face.

A recognizer trained on a set learns to ignore what varies within its people. G varies a face's pose and light
only as far as it learnt to, and at the embedding mode's `--variation 1` less than real photos do; what a team's
real test photos vary in beyond that, a recognizer trained on the set alone has never seen. `--nuisance s` moves
every exported image by a draw of its own, scaled by s (1: the ranges below, about the spread of the aligned
photos the sample draws):

    tilt      uniform in +-10 s degrees about the image centre
    shift     uniform in +-SHIFT s of the side, each axis (2 pixels at 64 and s = 1)
    scale     1 + uniform in +-0.05 s
    light     a linear brightness ramp across the image, strength uniform in [0, 0.3 s], from a uniform direction
    exposure  1 + uniform in +-0.1 s

Each draw comes from Philox keyed by the image's own key (facegen.export.identities), so the images stay exact
whatever the batch, shard or interruption; the images the verifier judges and writes are the moved ones, and an
identity's reference images (REFERENCE_STREAM) are left as G renders them: the person, not a pose of them. A
consistency redraw moves its image half as far as the attempt before (s / 2^attempt): a face G renders
recognisably only unmoved still gets a passing draw, where a fresh full-strength move would fail again.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

PARAMS = 7  # tilt, shift x, shift y, scale, light strength, light direction, exposure: uniforms in [0, 1)
COLUMNS = PARAMS + 1  # a renderer row's nuisance: the uniforms, then the strength they are applied at
TILT_DEGREES = 10.0
SHIFT = 2.0 / 64
SCALE = 0.05
LIGHT = 0.3
EXPOSURE = 0.1


def draw(rng: np.random.Generator, strength: float, attempt: int = 0) -> np.ndarray:
    """One image's nuisance row [COLUMNS]: PARAMS uniforms from the generator of its key, then its strength at
    that attempt."""
    return np.append(rng.random(PARAMS), strength * 0.5 ** attempt)


def apply(images: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
    """images [n, h, w, 3] in [-1, 1] moved by their nuisance rows [n, COLUMNS] (draw). Rows of strength 0
    (padding, reference images) are left exactly as they are."""
    import tensorflow as tf  # here, so the plan (facegen.export.identities) draws its rows without TF

    x = tf.cast(images, tf.float32)
    u = tf.cast(rows, tf.float32)
    strength = u[:, PARAMS]
    moved = strength > 0.0
    h, w = x.shape[1], x.shape[2]

    def signed(col):  # [0, 1) -> [-1, 1) at the row's strength
        return (2.0 * u[:, col] - 1.0) * strength

    tilt = signed(0) * (TILT_DEGREES * math.pi / 180)
    dx, dy = signed(1) * (SHIFT * w), signed(2) * (SHIFT * h)
    scale = 1.0 + signed(3) * SCALE
    # Output pixel (px, py) samples input (a px + b py + c, d px + e py + f): a rotation by `tilt` and a zoom by
    # `scale` about the centre, then the shift.
    cos, sin = tf.cos(tilt) / scale, tf.sin(tilt) / scale
    cx, cy = (w - 1) / 2, (h - 1) / 2
    zero = tf.zeros_like(cos)
    transforms = tf.stack([cos, sin, cx - cos * cx - sin * cy - dx, -sin, cos, cy + sin * cx - cos * cy - dy,
                           zero, zero], axis=1)
    x = tf.raw_ops.ImageProjectiveTransformV3(images=x, transforms=transforms, output_shape=[h, w],
                                              fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")
    light = u[:, 4] * strength * LIGHT
    angle = u[:, 5] * (2 * math.pi)
    xs = (tf.range(w, dtype=tf.float32) - cx) / (w / 2)
    ys = (tf.range(h, dtype=tf.float32) - cy) / (h / 2)
    ramp = tf.cos(angle)[:, None, None] * xs[None, None, :] + tf.sin(angle)[:, None, None] * ys[None, :, None]
    gain = (1.0 + light[:, None, None] * ramp) * (1.0 + signed(6) * EXPOSURE)[:, None, None]
    lit = tf.clip_by_value((x + 1.0) * gain[..., None] - 1.0, -1.0, 1.0)
    return tf.where(moved[:, None, None, None], lit, tf.cast(images, tf.float32))
