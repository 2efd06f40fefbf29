"""`facegen data pairs`: verification pairs of held-out real identities in the LFW layout (folds of same, then
different pairs), as a CSV and as an insightface `.bin` (a pickle of the pairs' encoded images, interleaved, and
their same flags) that arcface_torch reads as a `val_targets` entry. No TensorFlow.

Held out means what `facegen embedder train` holds out: CelebA's val and test partitions, or every n-th identity
folder; no facegen model trains on them, so a recognizer tested on them is tested on people it never saw.
"""

from __future__ import annotations

import csv
import io
import pickle
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from facegen.atomic import replacing, write_json
from facegen.config import EmbedderConfig, FacegenError, at_least, read_json
from facegen.data.pipeline import load_image
from facegen.data.sources import check_data_path, discover, split_identities
from facegen.images import encode
from facegen.metrics.verification import Pairs, lfw_pairs

PAIRS_CSV, PAIRS_JSON = "pairs.csv", "pairs.json"


@dataclass(frozen=True)
class PairsConfig:
    folds: int = 10  # LFW View 2's
    per_fold: int = 300  # same pairs per fold, and as many different ones (LFW: 300 + 300)
    size: int = 112  # image side, as arcface_torch's aligned crops; match the export's --size
    seed: int = 0
    name: str = "facegen_val"  # NAME.bin: arcface_torch's config.val_targets = ["NAME"]
    held_out_every: int = EmbedderConfig.held_out_every  # identity folders: the embedder's own split

    def __post_init__(self) -> None:
        at_least(self.folds, 2, "--folds")
        at_least(self.per_fold, 1, "--per-fold")
        at_least(self.size, 8, "--size")
        if not re.fullmatch(r"[A-Za-z0-9_-]+", self.name):
            raise FacegenError(f"--name must be letters, digits, '_' or '-', got {self.name!r}")


def write_pairs(data: str | Path, out: str | Path, cfg: PairsConfig, progress: bool = True) -> dict:
    """Draw the pairs, write pairs.csv, NAME.bin and (last) pairs.json into `out`; returns the record."""
    out = Path(out)
    source = discover(check_data_path(data), "all")
    _, held = split_identities(source, cfg.held_out_every)
    frame = held.frame.assign(path=[str(Path(p).relative_to(source.root)) for p in held.frame["path"]])
    pairs = lfw_pairs(frame["identity"].to_numpy(), cfg.folds, cfg.per_fold, cfg.seed)
    used = np.unique(np.concatenate([pairs.a, pairs.b]))
    images = _encoded([str(source.root / p) for p in frame["path"].to_numpy()[used]], cfg.size, held.default_crop,
                      progress)
    blob = dict(zip(used.tolist(), images))
    out.mkdir(parents=True, exist_ok=True)
    with replacing(out / PAIRS_CSV) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["fold", "same", "path_a", "path_b", "identity_a", "identity_b"])
        for a, b, same, fold in zip(pairs.a, pairs.b, pairs.same, pairs.fold):
            w.writerow([int(fold), int(same), frame["path"].iloc[a], frame["path"].iloc[b],
                        frame["identity"].iloc[a], frame["identity"].iloc[b]])
    bins = [blob[int(i)] for ab in zip(pairs.a, pairs.b) for i in ab]
    with replacing(out / f"{cfg.name}.bin") as tmp:
        tmp.write_bytes(pickle.dumps((bins, [bool(s) for s in pairs.same]), protocol=4))
    record = {"kind": "pairs", "data": str(source.root.resolve()), "settings": asdict(cfg),
              "held_out_identities": int(frame["identity"].nunique()), "held_out_images": len(frame),
              "pairs": len(pairs), "per_fold": len(pairs) // cfg.folds // 2, "bin": f"{cfg.name}.bin"}
    write_json(out / PAIRS_JSON, record)
    return record


def _encoded(paths: list[str], size: int, crop: int, progress: bool) -> list[bytes]:
    """Each image cropped as facegen trains and resized to `size`, as PNG bytes."""

    def one(path: str) -> bytes:
        image = load_image(path, size, crop)
        if image is None:
            raise FacegenError(f"{path} does not decode; remove it from --data or replace it")
        return encode(image, "png")

    with ThreadPoolExecutor() as pool:
        return list(tqdm(pool.map(one, paths), total=len(paths), desc="pair images", unit="img",
                         disable=not progress))


def read_pairs(folder: str | Path) -> tuple[Pairs, list[str], dict]:
    """The pairs of a `facegen data pairs` folder: (pairs over the listed images, their absolute paths, the
    record)."""
    folder = Path(folder)
    if not (folder / PAIRS_JSON).exists():
        raise FacegenError(f"{folder} holds no verification pairs (no {PAIRS_JSON}); write them with "
                           "`facegen data pairs`")
    record = read_json(folder / PAIRS_JSON)
    with open(folder / PAIRS_CSV, newline="") as f:
        rows = list(csv.DictReader(f))
    paths = sorted({r[k] for r in rows for k in ("path_a", "path_b")})
    index = {p: i for i, p in enumerate(paths)}
    pairs = Pairs(np.array([index[r["path_a"]] for r in rows]), np.array([index[r["path_b"]] for r in rows]),
                  np.array([r["same"] == "1" for r in rows]), np.array([int(r["fold"]) for r in rows]))
    return pairs, [str(Path(record["data"]) / p) for p in paths], record


def read_bin(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """An insightface `.bin` as (images [2P, s, s, 3] uint8, same [P] bool): what its evaluator loads."""
    from PIL import Image

    with open(path, "rb") as f:
        bins, same = pickle.load(f, encoding="bytes")
    images = np.stack([np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in bins])
    return images, np.asarray(same, bool)


def read_verification_set(folder: str | Path) -> tuple[np.ndarray, Pairs, dict]:
    """A `facegen data pairs` folder as its evaluators read it: the `.bin`'s images [2P, s, s, 3] (pair k is
    images 2k and 2k + 1), the pairs with their equal, contiguous folds, and the record."""
    folder = Path(folder)
    if not (folder / PAIRS_JSON).exists():
        raise FacegenError(f"{folder} holds no verification pairs (no {PAIRS_JSON}); write them with "
                           "`facegen data pairs`")
    record = read_json(folder / PAIRS_JSON)
    images, same = read_bin(folder / record["bin"])
    n, folds = len(same), int(record["settings"]["folds"])
    return images, Pairs(np.arange(0, 2 * n, 2), np.arange(1, 2 * n, 2), same, np.arange(n) * folds // n), record
