"""FID/KID on the FID Inception's 2048-d pool features: preprocessing, feature extraction, cached real stats."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from facegen.atomic import write_bytes
from facegen.metrics.distances import frechet_distance, gaussian_stats, kernel_inception_distance
from facegen.metrics.inception import INPUT_SIZE, cache_path, load_inception

PROTOCOL = ("FID Inception (2015-12-05 graph, 2048-d pool3), uint8 images resized bilinear (half-pixel "
            "centres) to 299x299, scaled (x - 128) / 128")


def to_inception_input(images: np.ndarray) -> tf.Tensor:
    """uint8 [n, h, w, 3] -> float [n, 299, 299, 3] in [-1, 0.992], the FID graph's input convention."""
    x = tf.cast(tf.convert_to_tensor(images), tf.float32)
    if x.shape[1] != INPUT_SIZE or x.shape[2] != INPUT_SIZE:
        x = tf.image.resize(x, [INPUT_SIZE, INPUT_SIZE], method="bilinear", antialias=False)
    return (x - 128.0) / 128.0


class FeatureExtractor:
    """Batched, tf.function-compiled Inception features."""

    def __init__(self, model=None, batch_size: int = 50) -> None:
        self.model = model or load_inception()
        self.batch_size = batch_size
        self._embed = tf.function(lambda x: self.model(to_inception_input(x), training=False),
                                  input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])

    def __call__(self, images: np.ndarray, progress: bool = False, desc: str = "features") -> np.ndarray:
        out = []
        for i in tqdm(range(0, len(images), self.batch_size), desc=desc, unit="batch", disable=not progress):
            out.append(self._embed(images[i:i + self.batch_size]).numpy())
        return np.concatenate(out).astype(np.float64)


def reference_inputs() -> np.ndarray:
    """Two fixed 64x64 inputs (a gradient and a seeded noise image) for checking the port."""
    yy, xx = np.mgrid[0:64, 0:64]
    gradient = np.stack([xx * 4, yy * 4, (xx + yy) * 2], -1).astype(np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    return np.stack([gradient, noise])


def fid_kid(fake: np.ndarray, real_stats: tuple[np.ndarray, np.ndarray], real_features: np.ndarray,
            kid_subsets: int = 100) -> dict:
    mu, sigma = gaussian_stats(fake)
    kid, kid_std = kernel_inception_distance(fake, real_features, subsets=kid_subsets)
    return {"fid": frechet_distance(mu, sigma, *real_stats), "kid": kid, "kid_std": kid_std}


def stats_cache_key(paths: list[str], resolution: int, crop: int) -> str:
    """A data set's identity for the feature cache: its absolute file list, crop and size."""
    h = hashlib.sha256(f"{resolution}:{crop}:{len(paths)}".encode())
    for p in paths:
        h.update(os.path.abspath(p).encode())
    return h.hexdigest()[:16]


def real_features(images: np.ndarray, key: str, cache_dir: Path, extractor: FeatureExtractor,
                  progress: bool = True) -> np.ndarray:
    """Features of the real images, cached per data set (file list, crop, size) in cache_dir."""
    path = cache_dir / f"real_features_{key}_{len(images)}.npy"
    if path.exists():
        return np.load(path)
    feats = extractor(images, progress=progress, desc="real features")
    cache_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.save(buf, feats)
    write_bytes(path, buf.getvalue())
    return feats


def data_features(images: np.ndarray, paths: list[str], resolution: int, crop: int, extractor: FeatureExtractor,
                  progress: bool = True) -> np.ndarray:
    """A data set's real features, as `facegen evaluate` compares against: cached per data set beside the
    converted Inception, not in the data folder (which may be read-only or shared)."""
    key = stats_cache_key(paths, resolution, crop)
    return real_features(images, key, cache_path().parent / "real-features", extractor, progress)
