"""What one packed format is to `facegen pack` (facegen.export.packers registers them): its name, its help line,
the writer, the lines the CLI prints and the card's loading section. No TensorFlow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

if TYPE_CHECKING:
    from facegen.export.layout import Dataset
    from facegen.export.pack import PackConfig


@dataclass(frozen=True)
class PackFormat:
    name: str  # --to NAME
    help: str  # one line: what it writes and for which trainers (CLI help, docs table)
    # (dataset, out, state folder, config, progress) -> (files written, extra record fields). Resumable: a call
    # after an interruption with the same state folder ends with the same bytes.
    write: Callable[["Dataset", Path, Path, "PackConfig", bool], tuple[list[str], dict]]
    # A finished pack's record -> the lines the CLI prints after it (what a trainer's config needs).
    describe: Callable[[dict], list[str]]
    # (the dataset card's entry for a pack of this format, or None when the dataset has none; image extension)
    # -> the card's loading section for it.
    card: Callable[[dict | None, str], str]
    # (out, state folder, config, images) -> a mask over the pack's keys: those a resumed pack has already written
    # (their images are not read again, so not checked again either).
    packed: Callable[[Path, Path, "PackConfig", int], np.ndarray]
    options: tuple[str, ...] = ()  # PackConfig fields that decide this format's bytes besides the order


def shards_packed(out: Path, names: list[str], shard_images: int, n: int) -> np.ndarray:
    """The keys of the shards already in `out` (a sharded format writes each shard whole, then renames it)."""
    mask = np.zeros(n, bool)
    for k, name in enumerate(names):
        if (out / name).exists():
            mask[k * shard_images:(k + 1) * shard_images] = True
    return mask


def progress_bar(total: int, initial: int, desc: str, progress: bool) -> tqdm:
    return tqdm(total=total, initial=initial, desc=desc, unit="img", disable=not progress, dynamic_ncols=True)
