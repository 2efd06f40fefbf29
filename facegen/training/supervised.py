"""The resumable supervised loop shared by the identity embedder and the attribute classifier: a config check
on resume, deterministic batches as a pure function of (seed, step), checkpoints on a cadence and on Ctrl-C."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from facegen import hardware
from facegen.config import FacegenError, Interrupted
from facegen.data.pipeline import index_stream, to_float
from facegen.run import CONFIG_FILE, checkpoint_manager, read_folder_config, restore

log = logging.getLogger("facegen")


def check_resume(folder: Path, cfg, kind: str, what: str):
    """`cfg` with its precision resolved (`auto`: the policy a folder trains with, else the hardware's); a folder
    already holding a model of `kind` must have been trained with it (its data path aside)."""
    stored = type(cfg).from_dict(read_folder_config(folder, kind, what)) if (folder / CONFIG_FILE).exists() else None
    cfg = dataclasses.replace(cfg, mixed_precision=hardware.resolve(
        cfg.mixed_precision, "train", stored.mixed_precision if stored else None))
    if stored is None:
        return cfg
    changed = [f.name for f in dataclasses.fields(cfg) if f.name != "data" and getattr(stored, f.name)
               != getattr(cfg, f.name)]
    if changed:
        raise FacegenError(f"{folder} was trained with other settings ({', '.join(changed)}); use them to resume "
                           "or pick a new --out")
    return cfg


def batch_rows(seed: int, n: int, batch_size: int, start_step: int):
    """Yields (step, rows, flip) from `start_step` on: the rows and horizontal flips of each step's batch, a pure
    function of (seed, step), so a resumed run trains on what an uninterrupted one would."""
    stream = index_stream(seed, n, start_step * batch_size)
    s = start_step
    while True:
        rows = np.fromiter((next(stream) for _ in range(batch_size)), np.int64, batch_size)
        yield s, rows, np.random.default_rng([seed, s, 0xF11D]).random(batch_size) < 0.5
        s += 1


def shared_batch_rows(seed: int, groups: list[np.ndarray], shares: list[float], batch_size: int, start_step: int):
    """Like batch_rows, but each batch takes round(share * batch_size) rows from each group (the last group the
    rest), each group's rows in its own seeded order: a fixed share of real images whatever the groups' sizes."""
    counts = [int(round(share * batch_size)) for share in shares[:-1]]
    counts.append(batch_size - sum(counts))
    streams = [index_stream(seed + 7919 * (g + 1), len(group), start_step * c)
               for g, (group, c) in enumerate(zip(groups, counts))]
    s = start_step
    while True:
        rows = np.concatenate([group[np.fromiter((next(st) for _ in range(c)), np.int64, c)]
                               for group, st, c in zip(groups, streams, counts)])
        yield s, rows, np.random.default_rng([seed, s, 0xF11D]).random(batch_size) < 0.5
        s += 1


def fit(folder: Path, checkpoint: tf.train.Checkpoint, step: tf.Variable, steps: int, checkpoint_every: int,
        train_step: Callable[[np.ndarray, np.ndarray], tuple], seed: int, n: int, batch_size: int, desc: str,
        progress: bool, batches: Callable[[int], object] | None = None) -> bool:
    """Restore the newest checkpoint, then run train_step(rows, flip) -> (loss, metric) up to `steps`, on
    batch_rows(seed, n, batch_size, start) or `batches(start)` when given. Returns False when the folder was
    already trained to `steps` (nothing ran)."""
    tf.config.experimental.enable_op_determinism()  # same seed, same weights; a resumed run equals a straight one
    manager = checkpoint_manager(checkpoint, folder, 2)
    restore(checkpoint, folder)
    start = int(step.numpy())
    if start >= steps:
        return False
    if start:
        log.info("resuming %s at step %d of %d", folder, start, steps)
    bar = tqdm(total=steps, initial=start, desc=desc, unit="step", disable=not progress)
    try:
        for s, rows, flip in (batches(start) if batches else batch_rows(seed, n, batch_size, start)):
            if s >= steps:
                break
            loss, metric = train_step(rows, flip)
            bar.update(1)
            if (s + 1) % 25 == 0:
                bar.set_postfix(loss=f"{float(loss):.3f}", metric=f"{float(metric):.2f}")
            if (s + 1) % checkpoint_every == 0 or s + 1 == steps:
                manager.save(checkpoint_number=s + 1)
    except KeyboardInterrupt:
        manager.save(checkpoint_number=int(step.numpy()))
        raise Interrupted(f"interrupted at step {int(step.numpy())}; checkpoint saved in {folder}; re-run the same "
                          "command to resume") from None
    finally:
        bar.close()
    return True


def flipped(images: tf.Tensor, flip: tf.Tensor) -> tf.Tensor:
    """uint8 batch -> float [-1, 1], mirrored where `flip`."""
    x = to_float(images)
    return tf.where(flip[:, None, None, None], tf.reverse(x, axis=[2]), x)
