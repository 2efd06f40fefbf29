"""`facegen pack --to webdataset`: tar shards that `webdataset`, Hugging Face `datasets` and any tar reader load."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

from facegen.atomic import replacing
import numpy as np

from facegen.export.packformat import PackFormat, progress_bar, shards_packed

if TYPE_CHECKING:
    from facegen.export.layout import Dataset
    from facegen.export.pack import PackConfig


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
    order = cfg.order(len(frame))
    rows = json.loads(frame.to_json(orient="records"))
    n_shards = -(-len(frame) // cfg.shard_images)
    names = [shard_name(cfg.prefix, k) for k in range(n_shards)]
    present = sum(1 for name in names if (out / name).exists())
    bar = progress_bar(len(frame), min(len(frame), present * cfg.shard_images), "packing webdataset", progress)
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


def describe(record: dict) -> list[str]:
    return [f'webdataset: wds.WebDataset("{record["out"]}/{record["pattern"]}")']


def card(entry: dict | None, ext: str) -> str:
    if entry is None:
        return ("WebDataset: `facegen pack THIS_FOLDER --to webdataset --out SHARDS` writes tar shards "
                f"(`KEY.{ext}`, `KEY.cls`, `KEY.json`).")
    return f"""WebDataset (packed by `facegen pack --to webdataset`, in `{entry['out']}`):

```python
import webdataset as wds
ds = wds.WebDataset("{entry['out']}/{entry['pattern']}").decode("pil").to_tuple("{ext} cls")
```"""


def packed(out: Path, state: Path, cfg: PackConfig, n: int) -> np.ndarray:
    names = [shard_name(cfg.prefix, k) for k in range(-(-n // cfg.shard_images))]
    return shards_packed(out, names, cfg.shard_images, n)


FORMAT = PackFormat("webdataset", "WebDataset tar shards: KEY.png|jpg, KEY.cls, KEY.json", pack_webdataset, describe,
                    card, packed, options=("shard_images", "prefix"))
