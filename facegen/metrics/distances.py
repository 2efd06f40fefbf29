"""Distances between image or feature sets (numpy): sliced Wasserstein on pixels, Fréchet and KID on features."""

from __future__ import annotations

import numpy as np


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


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) of feature rows, in float64 as FID needs."""
    f = np.asarray(features, np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2), with the trace of the root taken as the sum of
    square roots of the eigenvalues of S1^1/2 S2 S1^1/2 (symmetric, so numerically stable)."""
    w, v = np.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root1 @ sigma2 @ root1
    tr_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_root)


def kernel_inception_distance(a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): unbiased MMD^2 with the kernel (x.y / d + 1)^3, mean and std over
    random subsets of both sets."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError("KID needs at least 2 images on each side")
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        values.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                      - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))
