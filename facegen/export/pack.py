"""`facegen pack`: a finished dataset (export, merged export, mix) in the packed forms recognition trainers read —
MXNet RecordIO for insightface's arcface_torch and DALI (written without MXNet), WebDataset tar shards. No
TensorFlow. Each format is one function in PACKERS; the dataset folder only gains `packs.json` and its card.

RecordIO as dmlc-core's recordio.h writes it (little-endian): each chunk is the magic u32 0xCED7230A, u32
`cflag << 29 | length`, the payload part and zero padding to 4 bytes. A payload holding the magic at a 4-aligned
offset is split there (cflag 1, 2..., 3) and those 4 bytes dropped; readers put them back. The payload is an
IRHeader (`IfQQ`: flag 0, the label as float32, id = key, id2 0) then the image file's bytes unchanged.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

import facegen
from facegen.atomic import replacing, write_json
from facegen.config import FacegenError, Interrupted, read_json
from facegen.export.layout import Dataset, open_dataset, prepare_state, record_pack

RECORD_MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", RECORD_MAGIC)
IR_HEADER = struct.Struct("<IfQQ")
PACK_JSON = "pack.json"  # written last: its presence marks a finished pack
PACK_STATE = ".facegen-pack"
REC, IDX, PROPERTY = "train.rec", "train.idx", "property"
CHECKPOINT_EVERY = 2048  # records between fsynced resume points of a .rec


@dataclass(frozen=True)
class PackConfig:
    to: str  # a key of PACKERS
    shuffle_seed: int | None = None  # None: manifest order (identity by identity); else a seeded permutation
    shard_images: int = 10_000  # webdataset: samples per tar shard
    prefix: str = "faces"  # webdataset: shard file names PREFIX-000000.tar

    def __post_init__(self) -> None:
        if self.to not in PACKERS:
            raise FacegenError(f"--to must be one of {', '.join(PACKERS)}, got {self.to!r}")
        if self.shard_images < 1:
            raise FacegenError("--shard-images must be at least 1")
        if not self.prefix or any(c in self.prefix for c in "./{}"):
            raise FacegenError(f"--prefix must be a plain name without '.', '/' or braces, got {self.prefix!r}")


def chunks(payload: bytes) -> Iterator[tuple[int, bytes]]:
    """(cflag, part) of one record, split where the magic number stands at a 4-aligned offset of the payload."""
    words = np.frombuffer(payload, "<u4", count=len(payload) // 4)
    cuts = (np.flatnonzero(words == RECORD_MAGIC) * 4).tolist()
    if not cuts:
        yield 0, payload
        return
    start = 0
    for k, cut in enumerate(cuts):
        yield (1 if k == 0 else 2), payload[start:cut]
        start = cut + 4
    yield 3, payload[start:]


def record_bytes(payload: bytes) -> bytes:
    """One record as it stands in a .rec file (one chunk, or the chunks of a split record)."""
    out = bytearray()
    for cflag, part in chunks(payload):
        if len(part) >= 1 << 29:
            raise FacegenError(f"an image of {len(part)} bytes is too large for RecordIO (2^29 - 1 at most)")
        out += _MAGIC_BYTES + struct.pack("<I", cflag << 29 | len(part)) + part + b"\0" * (-len(part) % 4)
    return bytes(out)


def image_record(key: int, label: int, image: bytes) -> bytes:
    return record_bytes(IR_HEADER.pack(0, float(label), key, 0) + image)


def order_of(n: int, shuffle_seed: int | None) -> np.ndarray:
    """Which manifest row goes to key 0, 1, ...: the manifest's order, or a permutation fixed by the seed."""
    return np.arange(n) if shuffle_seed is None else np.random.default_rng(shuffle_seed).permutation(n)


def pack(dataset: str | Path, out: str | Path, cfg: PackConfig, command: str = "", progress: bool = True) -> dict:
    """Pack `dataset` into `out` (resuming an interrupted pack of the same settings); returns pack.json's record."""
    ds = open_dataset(dataset)
    out = Path(out)
    _check_out(ds, out)
    settings = {"dataset": str(ds.root.resolve()), "to": cfg.to, "shuffle_seed": cfg.shuffle_seed,
                "images": len(ds.frame), **({"shard_images": cfg.shard_images, "prefix": cfg.prefix}
                                            if cfg.to == "webdataset" else {})}
    state = prepare_state(out, "pack", out / PACK_STATE, out / PACK_JSON, settings)
    if state is None:
        return read_json(out / PACK_JSON)
    if not len(ds.frame):
        raise FacegenError(f"{ds.root} holds no images (an empty shard?); pack the merged export instead")
    try:
        files, extra = PACKERS[cfg.to](ds, out, state, cfg, progress)
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
                          **{k: extra[k] for k in extra if k == "pattern"}})
    return record


def _check_out(ds: Dataset, out: Path) -> None:
    o, d = out.resolve(), ds.root.resolve()
    if o == d or d in o.parents or o in d.parents:
        raise FacegenError(f"--out {out} overlaps the dataset {ds.root}; pack into a folder beside it "
                           "(a train.* file inside the dataset would also hide its images from Hugging Face)")
    if out.exists() and not out.is_dir():
        raise FacegenError(f"--out {out} is a file, not a folder")


def _bar(total: int, initial: int, desc: str, progress: bool) -> tqdm:
    return tqdm(total=total, initial=initial, desc=desc, unit="img", disable=not progress, dynamic_ncols=True)


def pack_rec(ds: Dataset, out: Path, state: Path, cfg: PackConfig, progress: bool) -> tuple[list[str], dict]:
    """train.rec, train.idx (key<TAB>offset of its first magic) and property (classes,height,width).

    The two files grow in the state folder; every CHECKPOINT_EVERY records both are fsynced and their lengths
    recorded, so a resumed pack cuts them back to the last such point and continues with the same bytes."""
    frame = ds.frame
    order = order_of(len(frame), cfg.shuffle_seed)
    paths, labels = frame["path"].to_numpy(), frame["label"].to_numpy()
    rec, idx, point = state / REC, state / IDX, state / "progress.json"
    done = read_json(point) if point.exists() else {"records": 0, "rec_bytes": 0, "idx_bytes": 0}
    for path, size in ((rec, done["rec_bytes"]), (idx, done["idx_bytes"])):
        with open(path, "ab") as f:
            f.truncate(size)
    bar = _bar(len(frame), done["records"], "packing rec", progress)
    with open(rec, "ab") as frec, open(idx, "ab") as fidx:
        offset = done["rec_bytes"]
        for key in range(done["records"], len(frame)):
            row = int(order[key])
            data = image_record(key, int(labels[row]), (ds.root / paths[row]).read_bytes())
            fidx.write(f"{key}\t{offset}\n".encode())
            frec.write(data)
            offset += len(data)
            bar.update(1)
            if (key + 1) % CHECKPOINT_EVERY == 0 or key + 1 == len(frame):
                for f in (frec, fidx):
                    f.flush()
                    os.fsync(f.fileno())
                write_json(point, {"records": key + 1, "rec_bytes": offset, "idx_bytes": fidx.tell()})
    bar.close()
    with Image.open(ds.root / paths[0]) as im:
        width, height = im.size
    classes = int(frame["label"].nunique())
    with replacing(out / PROPERTY) as tmp:
        tmp.write_text(f"{classes},{height},{width}\n")
    os.replace(idx, out / IDX)  # the index first: a .rec without its .idx is never mistaken for a finished one
    os.replace(rec, out / REC)
    point.unlink()
    return [REC, IDX, PROPERTY], {"arcface_torch": {"rec": str(out.resolve()), "num_classes": classes,
                                                    "num_image": len(frame)}}


def shard_name(prefix: str, k: int) -> str:
    return f"{prefix}-{k:06d}.tar"


def sample_key(path: str) -> str:
    """A WebDataset key: the manifest path without its extension, with no dot (a sample is the members that share
    the name up to the first dot) and no folder (every reader groups by the base name alike)."""
    return path.rsplit(".", 1)[0].replace(".", "_").replace("/", "__")


def pack_webdataset(ds: Dataset, out: Path, state: Path, cfg: PackConfig, progress: bool) -> tuple[list[str], dict]:
    """Tar shards of cfg.shard_images samples: KEY.png|jpg (the file's bytes), KEY.cls (the label in ASCII
    digits), KEY.json (its manifest row). Each shard is written whole and renamed into place, with fixed member
    times and owners, so a resumed pack skips finished shards and every shard has the same bytes each time."""
    frame = ds.frame
    order = order_of(len(frame), cfg.shuffle_seed)
    rows = json.loads(frame.to_json(orient="records"))
    n_shards = -(-len(frame) // cfg.shard_images)
    names = [shard_name(cfg.prefix, k) for k in range(n_shards)]
    present = sum(1 for name in names if (out / name).exists())
    bar = _bar(len(frame), min(len(frame), present * cfg.shard_images), "packing webdataset", progress)
    for k, name in enumerate(names):
        if (out / name).exists():
            continue
        chunk = order[k * cfg.shard_images:(k + 1) * cfg.shard_images]
        with replacing(out / name) as tmp, tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
            for row in chunk:
                r = rows[int(row)]
                key, ext = sample_key(r["path"]), r["path"].rsplit(".", 1)[1]
                for member, data in ((f"{key}.{ext}", (ds.root / r["path"]).read_bytes()),
                                     (f"{key}.cls", str(r["label"]).encode()),
                                     (f"{key}.json", json.dumps(r, sort_keys=True).encode())):
                    info = tarfile.TarInfo(member)
                    info.size, info.mode, info.mtime = len(data), 0o644, 0
                    tar.addfile(info, io.BytesIO(data))
                bar.update(1)
    bar.close()
    pattern = f"{cfg.prefix}-{{{0:06d}..{n_shards - 1:06d}}}.tar"
    return names, {"pattern": pattern, "shards": n_shards}


PACKERS: dict[str, Callable[[Dataset, Path, Path, PackConfig, bool], tuple[list[str], dict]]] = {
    "rec": pack_rec,
    "webdataset": pack_webdataset,
}


def read_rec(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """(offset, payload) of every record of a .rec file (split records joined): for `facegen pack`'s own checks
    and for users without MXNet; the tests read .rec files with an independent reader."""
    data = Path(path).read_bytes()
    pos, start, parts = 0, 0, []
    while pos < len(data):
        magic, lrec = struct.unpack_from("<II", data, pos)
        if magic != RECORD_MAGIC:
            raise FacegenError(f"{path}: no record magic at byte {pos} (not a RecordIO file, or torn)")
        cflag, length = lrec >> 29, lrec & ((1 << 29) - 1)
        if cflag in (0, 1):
            start, parts = pos, []
        parts.append(data[pos + 8:pos + 8 + length])
        pos += 8 + length + (-length % 4)
        if cflag in (0, 3):
            yield start, _MAGIC_BYTES.join(parts)


def describe(record: dict) -> list[str]:
    """What a user needs next, for the CLI to print."""
    lines = [f"packed {record['num_image']} images of {record['num_classes']} identities into {record['out']} "
             f"({', '.join(record['files'][:3])}{', ...' if len(record['files']) > 3 else ''})"]
    if "arcface_torch" in record:
        a = record["arcface_torch"]
        lines += ["arcface_torch config:", f'  config.rec = "{a["rec"]}"', f"  config.num_classes = {a['num_classes']}",
                  f"  config.num_image = {a['num_image']}"]
    if "pattern" in record:
        lines.append(f'webdataset: wds.WebDataset("{record["out"]}/{record["pattern"]}")')
    return lines

