"""`facegen pack`: a finished dataset (export, merged export, mix) in the packed forms recognition trainers read.
Each format is one module registered in facegen.export.packers (rec: MXNet RecordIO for arcface_torch and DALI;
webdataset: tar shards; tfrecord: tf.train.Example files). This module checks the request and the dataset, keeps
the pack resumable and records it; the dataset folder only gains `packs.json` and its card. No TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

import facegen
from facegen.atomic import write_json
from facegen.config import FacegenError, Interrupted, read_json
from facegen.export.layout import Dataset, check_files, open_dataset, prepare_state, record_pack
from facegen.export.packers import PACKERS
from facegen.results import PackResult

PACK_JSON = "pack.json"  # written last: its presence marks a finished pack
PACK_STATE = ".facegen-pack"


@dataclass(frozen=True)
class PackConfig:
    to: str  # a key of PACKERS
    shuffle_seed: int | None = None  # None: manifest order (identity by identity); else a seeded permutation
    shard_images: int = 10_000  # webdataset and tfrecord: samples per shard
    prefix: str = "faces"  # webdataset and tfrecord: shard file names PREFIX-000000.tar, PREFIX-00000-of-N.tfrecord

    def __post_init__(self) -> None:
        if self.to not in PACKERS:  # the registry's names
            raise FacegenError(f"--to must be one of {', '.join(PACKERS)}, got {self.to!r}")
        if self.shard_images < 1:
            raise FacegenError("--shard-images must be at least 1")
        if not self.prefix or any(c in self.prefix for c in "./{}"):
            raise FacegenError(f"--prefix must be a plain name without '.', '/' or braces, got {self.prefix!r}")

    def order(self, n: int) -> np.ndarray:
        """Which manifest row goes to key 0, 1, ...: the manifest's order, or a permutation fixed by the seed."""
        return order_of(n, self.shuffle_seed)


def order_of(n: int, shuffle_seed: int | None) -> np.ndarray:
    """Which manifest row goes to key 0, 1, ...: the manifest's order, or a permutation fixed by the seed."""
    return np.arange(n) if shuffle_seed is None else np.random.default_rng(shuffle_seed).permutation(n)


def pack(dataset: str | Path, out: str | Path, cfg: PackConfig, command: str = "", progress: bool = True) -> PackResult:
    """Pack `dataset` into `out` (resuming an interrupted pack of the same settings); returns what it wrote, with
    pack.json's record."""
    ds = open_dataset(dataset)
    out = Path(out)
    _check_out(ds, out)
    fmt = PACKERS[cfg.to]
    settings = {"dataset": str(ds.root.resolve()), "to": cfg.to, "shuffle_seed": cfg.shuffle_seed,
                "images": len(ds.frame), **{name: getattr(cfg, name) for name in fmt.options}}
    if not (out / PACK_JSON).exists() or read_json(out / PACK_JSON).get("settings") != settings:
        # Only what this run will read: a resumed pack re-checks the images it has not packed yet.
        todo = cfg.order(len(ds.frame))[~fmt.packed(out, out / PACK_STATE, cfg, len(ds.frame))]
        check_files(ds, np.sort(todo), progress=progress)
    state = prepare_state(out, "pack", out / PACK_STATE, out / PACK_JSON, settings)
    if state is None:
        return result(read_json(out / PACK_JSON))
    if not len(ds.frame):
        raise FacegenError(f"{ds.root} holds no images (an empty shard?); pack the merged export instead")
    try:
        files, extra = fmt.write(ds, out, state, cfg, progress)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; re-run the same command to continue the pack in {out}") from None
    except OSError as e:
        raise FacegenError(f"cannot pack into {out}: {e.strerror or e}; re-running the same command continues") \
            from None
    with Image.open(ds.root / ds.frame["path"].iloc[0]) as im:
        size = im.size
    record = {"kind": "pack", "facegen_version": facegen.__version__, "settings": settings, "command": command,
              "out": str(out.resolve()), "files": files, "num_image": len(ds.frame),
              "num_classes": int(ds.frame["label"].nunique()), "image_size": list(size), **extra}
    write_json(out / PACK_JSON, record)
    for leftover in state.iterdir():
        leftover.unlink()
    state.rmdir()
    record_pack(ds.root, {"format": cfg.to, **{k: record[k] for k in ("out", "files", "num_image", "num_classes")},
                          **{k: extra[k] for k in extra if k == "pattern"}})  # what each format's card reads
    return result(record)


def _check_out(ds: Dataset, out: Path) -> None:
    o, d = out.resolve(), ds.root.resolve()
    if o == d or d in o.parents or o in d.parents:
        raise FacegenError(f"--out {out} overlaps the dataset {ds.root}; pack into a folder beside it "
                           "(a train.* file inside the dataset would also hide its images from Hugging Face)")
    if out.exists() and not out.is_dir():
        raise FacegenError(f"--out {out} is a file, not a folder")


def result(record: dict) -> PackResult:
    """A pack.json record as the typed result, with its format's next steps (what a trainer's config needs)."""
    fmt = record["settings"]["to"]
    return PackResult(Path(record["out"]), fmt, tuple(record["files"]), int(record["num_image"]),
                      int(record["num_classes"]), tuple(PACKERS[fmt].describe(record)), record)
