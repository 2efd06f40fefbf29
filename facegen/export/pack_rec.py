"""`facegen pack --to rec`: MXNet RecordIO for insightface's arcface_torch and DALI, written without MXNet.

RecordIO as dmlc-core's recordio.h writes it (little-endian): each chunk is the magic u32 0xCED7230A, u32
`cflag << 29 | length`, the payload part and zero padding to 4 bytes. A payload holding the magic at a 4-aligned
offset is split there (cflag 1, 2..., 3) and those 4 bytes dropped; readers put them back. The payload is an
IRHeader (`IfQQ`: flag 0, the label as float32, id = key, id2 0) then the image file's bytes unchanged.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from facegen.atomic import replacing, write_json
from facegen.config import FacegenError, read_json
from facegen.export.packformat import PackFormat, progress_bar

if TYPE_CHECKING:
    from facegen.export.layout import Dataset
    from facegen.export.pack import PackConfig

RECORD_MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", RECORD_MAGIC)
IR_HEADER = struct.Struct("<IfQQ")
REC, IDX, PROPERTY = "train.rec", "train.idx", "property"
CHECKPOINT_EVERY = 2048  # records between fsynced resume points of a .rec


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


def pack_rec(ds: Dataset, out: Path, state: Path, cfg: PackConfig, progress: bool) -> tuple[list[str], dict]:
    """train.rec, train.idx (key<TAB>offset of its first magic) and property (classes,height,width).

    The two files grow in the state folder; every CHECKPOINT_EVERY records both are fsynced and their lengths
    recorded, so a resumed pack cuts them back to the last such point and continues with the same bytes."""
    frame = ds.frame
    order = cfg.order(len(frame))
    paths, labels = frame["path"].to_numpy(), frame["label"].to_numpy()
    rec, idx, point = state / REC, state / IDX, state / "progress.json"
    done = read_json(point) if point.exists() else {"records": 0, "rec_bytes": 0, "idx_bytes": 0}
    for path, size in ((rec, done["rec_bytes"]), (idx, done["idx_bytes"])):
        with open(path, "ab") as f:
            f.truncate(size)
    bar = progress_bar(len(frame), done["records"], "packing rec", progress)
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
    a = record["arcface_torch"]
    return ["arcface_torch config:", f'  config.rec = "{a["rec"]}"', f"  config.num_classes = {a['num_classes']}",
            f"  config.num_image = {a['num_image']}"]


def card(entry: dict | None, ext: str) -> str:
    if entry is None:
        return ("insightface `recognition/arcface_torch`: `facegen pack THIS_FOLDER --to rec --out REC` writes "
                "`train.rec`, `train.idx` and `property` (no MXNet needed) and prints the config lines.")
    return f"""insightface `recognition/arcface_torch` (packed by `facegen pack --to rec`, in `{entry['out']}`):

```python
config.rec = "{entry['out']}"  # train.rec + train.idx, read by MXFaceDataset or DALI
config.num_classes = {entry['num_classes']}
config.num_image = {entry['num_image']}
```"""


def packed(out: Path, state: Path, cfg: PackConfig, n: int) -> np.ndarray:
    point = state / "progress.json"
    return np.arange(n) < (read_json(point)["records"] if point.exists() else 0)


FORMAT = PackFormat("rec", "insightface arcface_torch / DALI: train.rec, train.idx, property", pack_rec, describe,
                    card, packed)
