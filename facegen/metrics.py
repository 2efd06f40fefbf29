"""Quality metrics on image sets (numpy): colour statistics and sliced Wasserstein distance."""

from __future__ import annotations

import numpy as np


def channel_stats(images: np.ndarray) -> np.ndarray:
    """Per-channel mean and std of uint8 images [n, h, w, 3], in [0, 1] units: shape [6]."""
    x = np.asarray(images, np.float32) / 255.0
    return np.concatenate([x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2))])


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, size: int = 16, projections: int = 256, seed: int = 0) -> float:
    """Sliced Wasserstein-1 distance between two image sets, each image a point in pixel space.

    Images are box-downsampled to `size`x`size` (so the distance reflects layout and colour rather than
    pixel noise), projected on random unit directions, and the 1-D distributions compared by quantiles.
    """
    pa, pb = _points(a, size), _points(b, size)
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((pa.shape[1], projections)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    qs = np.linspace(0.0, 1.0, 101)
    qa = np.quantile(pa @ dirs, qs, axis=0)
    qb = np.quantile(pb @ dirs, qs, axis=0)
    return float(np.abs(qa - qb).mean())


def _points(images: np.ndarray, size: int) -> np.ndarray:
    x = np.asarray(images, np.float32) / 127.5 - 1.0
    n, h, w, c = x.shape
    if h % size or w % size:
        raise ValueError(f"image size {h}x{w} is not a multiple of {size}")
    x = x.reshape(n, size, h // size, size, w // size, c).mean(axis=(2, 4))
    return x.reshape(n, -1)
