"""Image discovery: which files a data set holds and their labels (CelebA layout, flat folders, one folder per
identity). No decoding and no TensorFlow."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from facegen.config import PARTITIONS, FacegenError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
PREVIEW_NAME = "preview.jpg"  # a dataset card's preview sheet (facegen.export.card) at a dataset's root: not data
CELEBA_IMAGES = "img_align_celeba"
CELEBA_CROP = 108  # the carpedm20/DCGAN-tensorflow crop of the aligned 178x218 images


@dataclass(frozen=True)
class ImageSource:
    """The images of one data set: absolute paths in a stable order, plus a frame of labels."""

    root: Path
    layout: str  # "celeba", "identity-folders" or "flat"
    frame: pd.DataFrame  # one row per image: image, path, identity (<NA> if unknown), partition, attributes

    @property
    def paths(self) -> list[str]:
        return self.frame["path"].tolist()

    @property
    def default_crop(self) -> int:
        return CELEBA_CROP if self.layout == "celeba" else 0

    def __len__(self) -> int:
        return len(self.frame)


def check_data_path(path: str | os.PathLike) -> Path:
    """The data folder, or a one-line error for a missing path or a file: cheap, so the CLI asks it before
    TensorFlow starts."""
    root = Path(path).expanduser()
    if not root.exists():
        raise FacegenError(f"data folder {root} does not exist")
    if not root.is_dir():
        raise FacegenError(f"data path {root} is not a folder")
    return root


def discover(path: str | os.PathLike, partition: str = "all") -> ImageSource:
    """Find the images under `path` and their labels (`partition` as checked by DataConfig). Raises
    FacegenError for a missing or empty folder."""
    root = check_data_path(path)
    celeba_root = root if (root / CELEBA_IMAGES).is_dir() else (root.parent if root.name == CELEBA_IMAGES else None)
    if celeba_root is not None:
        source = _discover_celeba(celeba_root, partition)
    else:
        source = _discover_folder(root)
    if len(source) == 0:
        raise FacegenError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {root}")
    return source


def read_celeba_list(path: Path, value_name: str) -> pd.Series:
    """`000001.jpg 2880` lines (identity or partition files) as an int Series indexed by image name."""
    df = pd.read_csv(path, sep=r"\s+", header=None, names=["image", value_name], dtype={"image": str},
                     encoding="utf-8-sig", engine="python")
    return df.set_index("image")[value_name].astype(int)


def read_celeba_attributes(path: Path) -> pd.DataFrame:
    """`list_attr_celeba.txt`: a count line, a names line, then whitespace-padded -1/1 rows."""
    with open(path, encoding="utf-8-sig") as f:
        f.readline()
        names = f.readline().split()
        df = pd.read_csv(f, sep=r"\s+", header=None, names=["image", *names], dtype={"image": str},
                         engine="python")
    return df.set_index("image").astype(int)


def _discover_celeba(root: Path, partition: str) -> ImageSource:
    images_dir = root / CELEBA_IMAGES
    names = sorted(p.name for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    frame = pd.DataFrame({"image": names})
    frame["path"] = [str(images_dir / n) for n in names]
    frame = frame.set_index("image", drop=False)
    if (root / "identity_CelebA.txt").exists():
        frame["identity"] = read_celeba_list(root / "identity_CelebA.txt", "identity").reindex(frame.index).astype("Int64")
    else:
        frame["identity"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    if (root / "list_eval_partition.txt").exists():
        frame["partition"] = read_celeba_list(root / "list_eval_partition.txt", "partition").reindex(frame.index).astype("Int64")
    elif partition != "all":
        raise FacegenError(f"partition {partition!r} needs {root / 'list_eval_partition.txt'}, which is missing")
    if (root / "list_attr_celeba.txt").exists():
        frame = frame.join(read_celeba_attributes(root / "list_attr_celeba.txt"))
    if partition != "all":
        frame = frame[frame["partition"] == PARTITIONS[partition]]
    return ImageSource(root, "celeba", frame.reset_index(drop=True))


def _discover_folder(root: Path) -> ImageSource:
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts)
                   and p.relative_to(root) != Path(PREVIEW_NAME))
    nested = [p for p in files if p.parent != root]
    if nested and len(nested) == len(files):
        # One sub-folder per identity: the folder name is the identity, labels follow sorted folder names.
        folders = sorted({p.relative_to(root).parts[0] for p in files})
        label = {name: i for i, name in enumerate(folders)}
        identity = pd.array([label[p.relative_to(root).parts[0]] for p in files], dtype="Int64")
        layout = "identity-folders"
        identity_name = [p.relative_to(root).parts[0] for p in files]
    else:
        identity = pd.array([pd.NA] * len(files), dtype="Int64")
        identity_name = [None] * len(files)
        layout = "flat"
    frame = pd.DataFrame({"image": [str(p.relative_to(root)) for p in files], "path": [str(p) for p in files],
                          "identity": identity, "identity_name": identity_name})
    return ImageSource(root, layout, frame)


def split_identities(source: ImageSource, every: int) -> tuple[ImageSource, ImageSource]:
    """(training, held-out) images by identity: CelebA's train partition against val+test; identity folders
    hold out every `every`-th identity in sorted order. Images without an identity are dropped."""
    frame = source.frame.dropna(subset=["identity"])
    if frame.empty:
        raise FacegenError(f"{source.root} has no identity labels: held-out identities need CelebA's identity_CelebA.txt "
                           "or one sub-folder per identity")
    if "partition" in frame:
        held = frame["partition"] > 0
    else:
        ids = np.sort(frame["identity"].astype(int).unique())
        held = frame["identity"].astype(int).isin(set(ids[every - 1::every]))
    train, test = (ImageSource(source.root, source.layout, f.reset_index(drop=True)) for f in (frame[~held], frame[held]))
    if train.frame["identity"].nunique() < 2 or test.frame["identity"].nunique() < 2:
        raise FacegenError(f"{source.root}: need at least two training and two held-out identities")
    return train, test
