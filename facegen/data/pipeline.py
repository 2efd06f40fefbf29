"""Decoding and the training stream: images -> cropped uint8 arrays -> a tf.data pipeline that is a pure
function of (seed, step), and the same-identity pairs of identity mode."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import numpy as np
from PIL import Image, ImageFile
from tqdm import tqdm

from facegen.config import DataConfig, FacegenError
from facegen.data.sources import ImageSource

log = logging.getLogger("facegen")

# A truncated file must fail to decode, not come back half grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False


def load_image(path: str, resolution: int, crop: int = 0) -> np.ndarray | None:
    """Decode one file into a `resolution`² RGB uint8 array (centre crop, then resize); None if unreadable.

    `crop` 0 takes the largest centred square; a crop larger than the image's short side takes the short side.
    """
    try:
        with Image.open(path) as im:
            im.load()
            rgb = _to_rgb(im)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    w, h = rgb.size
    side = min(w, h) if crop <= 0 else min(crop, w, h)
    left, top = (w - side) // 2, (h - side) // 2
    rgb = rgb.crop((left, top, left + side, top + side))
    if side != resolution:
        rgb = rgb.resize((resolution, resolution), Image.Resampling.BICUBIC)
    return np.asarray(rgb, dtype=np.uint8)


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB: 16-bit scaled (not clipped), alpha composited on white, CMYK converted."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        scale = 65535.0 if im.mode != "F" and a.max() > 255 else 255.0
        if im.mode == "F":
            scale = max(1.0, float(a.max()))
        return Image.fromarray(np.clip(a / scale * 255.0 + 0.5, 0, 255).astype(np.uint8), "L").convert("RGB")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


class SkipCounter:
    """Counts files that failed to decode and warns once per file with the running total."""

    def __init__(self) -> None:
        self.count = 0

    def skipped(self, path: str) -> None:
        self.count += 1
        log.warning("skipped unreadable image %s (%d skipped so far)", path, self.count)


def decode_all(paths: list[str], resolution: int, crop: int, workers: int = 0,
               skips: SkipCounter | None = None, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Decode every file once (threads: PIL releases the GIL while decoding).

    Returns (images uint8 [n_ok, r, r, 3], indices of the decoded files into `paths`).
    """
    skips = skips or SkipCounter()
    workers = workers or os.cpu_count() or 1
    images = np.empty((len(paths), resolution, resolution, 3), dtype=np.uint8)
    ok = np.zeros(len(paths), dtype=bool)
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(lambda p: load_image(p, resolution, crop), paths, chunksize=64)
        for i, arr in enumerate(tqdm(results, total=len(paths), desc="decoding images", unit="img",
                                     disable=not progress, leave=False)):
            if arr is None:
                skips.skipped(paths[i])
            else:
                images[i] = arr
                ok[i] = True
    kept = np.flatnonzero(ok)
    if len(kept) == 0:
        raise FacegenError(f"none of the {len(paths)} images could be decoded")
    return (images if len(kept) == len(paths) else images[kept]), kept


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The shuffled order of epoch `epoch`: a pure function of (seed, epoch), so a resumed run sees the same data."""
    return np.random.default_rng([seed, epoch, 0xDA7A]).permutation(n)


def index_stream(seed: int, n: int, start: int = 0) -> Iterator[int]:
    """Positions into the data, epoch after epoch, from global stream position `start`."""
    epoch, offset = divmod(start, n)
    while True:
        yield from epoch_order(seed, epoch, n)[offset:].tolist()
        epoch, offset = epoch + 1, 0


def to_float(images):
    """uint8 [0, 255] -> float32 [-1, 1], the range of G's tanh."""
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 127.5 - 1.0


class TrainingData:
    """A decoded-or-streamed data set that yields float batches from any step onwards."""

    def __init__(self, source: ImageSource, cfg: DataConfig, progress: bool = True) -> None:
        self.source = source
        self.cfg = cfg
        self.crop = cfg.crop or source.default_crop
        self.skips = SkipCounter()
        self.paths = source.paths
        self.images: np.ndarray | None = None
        if cfg.cache:
            self.images, kept = decode_all(self.paths, cfg.resolution, self.crop, cfg.decode_workers,
                                           self.skips, progress)
            self.paths = [self.paths[i] for i in kept]

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def identities(self) -> np.ndarray:
        """Identity label of each usable image (-1 where unknown), aligned with `paths`."""
        frame = self.source.frame.set_index("path")
        return frame.loc[self.paths, "identity"].fillna(-1).to_numpy(dtype=np.int64)

    def steps_per_epoch(self, batch_size: int) -> int:
        return max(1, len(self) // batch_size)

    def dataset(self, batch_size: int, seed: int, start_step: int = 0):
        """Batches [B, r, r, 3] float32 in [-1, 1], starting with the batch that step `start_step` trains on."""
        import tensorflow as tf

        r = self.cfg.resolution
        start = start_step * batch_size
        if self.images is not None:
            images = self.images

            def batches():
                stream = index_stream(seed, len(images), start)
                while True:
                    idx = np.fromiter(stream, dtype=np.int64, count=batch_size)
                    yield images[idx]

            ds = tf.data.Dataset.from_generator(
                batches, output_signature=tf.TensorSpec([batch_size, r, r, 3], tf.uint8))
        else:
            paths = np.array(self.paths)
            skips, crop = self.skips, self.crop

            def decode(path):
                arr = load_image(path.decode(), r, crop)
                if arr is None:
                    skips.skipped(path.decode())
                    return np.zeros((r, r, 3), np.uint8), False
                return arr, True

            ds = tf.data.Dataset.from_generator(
                lambda: (paths[i] for i in index_stream(seed, len(paths), start)),
                output_signature=tf.TensorSpec([], tf.string))
            ds = ds.map(lambda p: tf.numpy_function(decode, [p], (tf.uint8, tf.bool)),
                        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            # Streaming positions count broken files too, so after a skipped file a resumed run can be
            # off by the number of skips; the cached mode (the default) drops them before the stream.
            def decoded(img, ok):
                return ok

            def image_only(img, ok):
                return tf.ensure_shape(img, [r, r, 3])

            ds = ds.filter(decoded).map(image_only)
            ds = ds.batch(batch_size, drop_remainder=True)
        return ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def identity_pairs(identities: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """One epoch of same-identity pairs [n, 2] (indices into `identities`): every image of an identity with
    at least two images appears once as the first of a pair, its partner another image of the same identity.
    A pure function of (seed, epoch); identities with one image (or none, < 0) are left out."""
    identities = np.asarray(identities)
    rng = np.random.default_rng([seed, epoch, 0xFA1C])
    order = np.argsort(identities, kind="stable")
    ids_sorted = identities[order]
    starts = np.flatnonzero(np.r_[True, ids_sorted[1:] != ids_sorted[:-1]])
    sizes = np.diff(np.r_[starts, len(ids_sorted)])
    first, second = [], []
    for start, size in zip(starts, sizes):
        if size < 2 or ids_sorted[start] < 0:
            continue
        members = order[start:start + size]
        offsets = rng.integers(1, size, size=size)  # a partner that is never the image itself
        first.append(members)
        second.append(members[(np.arange(size) + offsets) % size])
    if not first:
        raise FacegenError("identity mode needs identities with at least 2 images each; none found")
    pairs = np.stack([np.concatenate(first), np.concatenate(second)], axis=1)
    return pairs[rng.permutation(len(pairs))]


def pair_stream(identities: np.ndarray, seed: int, start: int = 0) -> Iterator[np.ndarray]:
    """Pairs epoch after epoch from global pair position `start`."""
    n = len(identity_pairs(identities, seed, 0))
    epoch, offset = divmod(start, n)
    while True:
        yield from identity_pairs(identities, seed, epoch)[offset:]
        epoch, offset = epoch + 1, 0


def pair_dataset(data: "TrainingData", batch_size: int, seed: int, start_step: int = 0,
                 conditions: np.ndarray | None = None):
    """Batches [B, 2, r, r, 3] float32 of same-identity image pairs, from the pair step `start_step` trains on.
    With `conditions` (one row per image: embedding mode's per-image identity embeddings), batches are
    (pairs, the first image's row [B, d] float32, the pair's identity [B] int32): G renders each pair's person from
    that image's embedding, and its identity loss does not count the batch's other photos of that person as others."""
    import tensorflow as tf

    if data.images is None:
        raise FacegenError("identity mode needs the in-memory cache (drop --no-cache)")
    images, ids, r = data.images, data.identities, data.cfg.resolution

    def indices():
        stream = pair_stream(ids, seed, start_step * batch_size)
        while True:
            yield np.stack([next(stream) for _ in range(batch_size)])

    pair_spec = tf.TensorSpec([batch_size, 2, r, r, 3], tf.uint8)
    if conditions is None:
        ds = tf.data.Dataset.from_generator(lambda: (images[idx] for idx in indices()), output_signature=pair_spec)
        return ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    conditions = np.asarray(conditions, np.float32)
    people = np.asarray(ids, np.int32)
    ds = tf.data.Dataset.from_generator(
        lambda: ((images[idx], conditions[idx[:, 0]], people[idx[:, 0]]) for idx in indices()),
        output_signature=(pair_spec, tf.TensorSpec([batch_size, conditions.shape[1]], tf.float32),
                          tf.TensorSpec([batch_size], tf.int32)))
    return ds.map(lambda x, c, p: (to_float(x), c, p),
                  num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
