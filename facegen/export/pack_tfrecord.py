"""`facegen pack --to tfrecord`: TFRecord shards of `tf.train.Example`s with the TFDS / Object Detection API keys
(`image/encoded`, `image/format`, `image/class/label`) plus `image/identity` and `image/filename`, which
`tf.data.TFRecordDataset` and any TFDS-style parser read. TensorFlow (facegen's own dependency) writes them, started
only when this format is packed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from facegen.atomic import replacing
import numpy as np

from facegen.export.packformat import PackFormat, progress_bar, shards_packed

if TYPE_CHECKING:
    from facegen.export.layout import Dataset
    from facegen.export.pack import PackConfig

IMAGE_FORMATS = {"png": b"png", "jpg": b"jpeg"}  # file extension -> image/format, as TFDS and the OD API spell it


def shard_name(prefix: str, k: int, n: int) -> str:
    return f"{prefix}-{k:05d}-of-{n:05d}.tfrecord"


def pack_tfrecord(ds: Dataset, out: Path, state: Path, cfg: PackConfig, progress: bool) -> tuple[list[str], dict]:
    """Shards of cfg.shard_images examples, each written whole and renamed into place: a resumed pack skips
    finished shards, and the same settings give the same bytes."""
    from facegen._env import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    frame = ds.frame
    order = cfg.order(len(frame))
    paths, labels, identities = frame["path"].tolist(), frame["label"].tolist(), frame["identity"].tolist()
    n = -(-len(frame) // cfg.shard_images)
    names = [shard_name(cfg.prefix, k, n) for k in range(n)]
    present = sum(1 for name in names if (out / name).exists())
    bar = progress_bar(len(frame), min(len(frame), present * cfg.shard_images), "packing tfrecord", progress)

    def feature(value):
        if isinstance(value, int):
            return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    for k, name in enumerate(names):
        if (out / name).exists():
            continue
        with replacing(out / name) as tmp, tf.io.TFRecordWriter(str(tmp)) as writer:
            for row in order[k * cfg.shard_images:(k + 1) * cfg.shard_images].tolist():
                path = paths[row]
                example = tf.train.Example(features=tf.train.Features(feature={
                    "image/encoded": feature((ds.root / path).read_bytes()),
                    "image/format": feature(IMAGE_FORMATS[path.rsplit(".", 1)[1]]),
                    "image/class/label": feature(int(labels[row])),
                    "image/identity": feature(str(identities[row]).encode()),
                    "image/filename": feature(path.encode())}))
                writer.write(example.SerializeToString())
                bar.update(1)
    bar.close()
    return names, {"pattern": f"{cfg.prefix}-*-of-{n:05d}.tfrecord", "shards": n}


def describe(record: dict) -> list[str]:
    return [f'tfrecord: tf.data.TFRecordDataset(tf.io.gfile.glob("{record["out"]}/{record["pattern"]}"))']


def card(entry: dict | None, ext: str) -> str:
    if entry is None:
        return ("TensorFlow: `facegen pack THIS_FOLDER --to tfrecord --out RECORDS` writes TFRecord shards of "
                "`tf.train.Example` (`image/encoded`, `image/format`, `image/class/label`, `image/identity`).")
    return f"""TensorFlow (packed by `facegen pack --to tfrecord`, in `{entry['out']}`):

```python
import tensorflow as tf
features = {{"image/encoded": tf.io.FixedLenFeature([], tf.string),
            "image/class/label": tf.io.FixedLenFeature([], tf.int64)}}
ds = tf.data.TFRecordDataset(tf.io.gfile.glob("{entry['out']}/{entry['pattern']}")).map(
    lambda r: tf.io.parse_single_example(r, features))
```"""


def packed(out: Path, state: Path, cfg: PackConfig, n: int) -> np.ndarray:
    shards = -(-n // cfg.shard_images)
    return shards_packed(out, [shard_name(cfg.prefix, k, shards) for k in range(shards)], cfg.shard_images, n)


FORMAT = PackFormat("tfrecord", "TFRecord shards of tf.train.Example: image/encoded, image/format, "
                    "image/class/label, image/identity", pack_tfrecord, describe, card, packed,
                    options=("shard_images", "prefix"))
