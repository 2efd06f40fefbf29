"""`facegen mix`: real identities and synthetic ones (facegen exports) in one labeled dataset folder.

    M/000000-real-10123/000001.png      real identity (CelebA id 10123), cropped and resized like training
    M/000412-synth1-id_00007/000003.png  identity id_00007 of the first --synth export (linked or copied)
    M/manifest.csv, im2rec.lst, metadata.csv, mix.json, README.md, preview.jpg

Labels are contiguous, real first then each export in order, and folder names start with the zero-padded
label, so sorted folder order (Keras, ImageFolder) is the manifest's label order. Selection is a pure
function of the inputs and --seed; every file is written atomically and skipped when present, so an
interrupted mix re-run with the same command finishes to the same bytes.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

import facegen
from facegen.atomic import replacing, write_bytes
from facegen.config import FacegenError, MixConfig, read_json
from facegen.data.pipeline import load_image
from facegen.data.sources import check_data_path, discover, split_identities
from facegen.export.layout import (EXPORT_JSON, MIX_JSON, MIX_STATE, check_files, finish, labels_writer, open_dataset,
                                   prepare_state)
from facegen.images import check_decodes, encode
from facegen.results import MixResult

__all__ = ["MIX_COLUMNS", "MIX_JSON", "MIX_STATE", "mix"]
MIX_COLUMNS = ["path", "identity", "label", "source", "source_identity", "source_path"]


@dataclass(frozen=True)
class _Item:
    dest: str  # relative to the mix folder
    label: int
    source: str  # "real" or the export's folder
    source_identity: str
    source_path: str  # absolute


def mix(cfg: MixConfig, out: Path, command: str = "", progress: bool = True) -> MixResult:
    """Write (or finish) the mix in `out`; returns what it holds, with its record (mix.json)."""
    started = dt.datetime.now(dt.timezone.utc)
    out = Path(out)
    if cfg.takes_real:
        check_data_path(cfg.real)  # before anything is written
    synth = [_check_export(Path(s)) for s in cfg.synth]
    _check_paths(out, ([Path(cfg.real)] if cfg.takes_real else []) + [s for s, _ in synth])
    size, fmt = _shape(cfg, synth)
    settings = cfg.settings(size, fmt)
    if prepare_state(out, "mix", out / MIX_STATE, out / MIX_JSON, settings) is None:
        return MixResult.from_record(out, read_json(out / MIX_JSON))
    real_items, real_ids, crop = _real_items(cfg, fmt) if cfg.takes_real else ([], 0, 0)
    items, synth_counts = list(real_items), []
    for k, (folder, frame) in enumerate(synth):
        chosen = _choose(sorted(frame["identity"].unique()), cfg.synth_identities, cfg.seed + 1 + k)
        synth_counts.append(len(chosen))
        frame = frame[frame["identity"].isin(set(chosen))]
        first = max((i.label for i in items), default=-1) + 1
        label_of = {name: first + j for j, name in enumerate(chosen)}
        items += [_Item(f"{label_of[ident]:06d}-synth{k + 1}-{_safe(ident)}/{Path(p).name}", label_of[ident],
                        str(folder), ident, str(folder / p)) for p, ident in zip(frame["path"], frame["identity"])]
    if not items:
        raise FacegenError("the mix would be empty: take some real or synthetic identities")
    _write_files(items, out, size, crop, fmt, cfg.link, progress)
    frame = pd.DataFrame([{"path": i.dest, "identity": i.dest.split("/")[0], "label": i.label, "source": i.source,
                           "source_identity": i.source_identity, "source_path": i.source_path} for i in items],
                         columns=MIX_COLUMNS)
    with labels_writer(out, MIX_COLUMNS) as labels:
        labels.add_frame(frame)
    record = {"facegen_version": facegen.__version__, "settings": settings, "command": command, "counts": {
        "real_identities": real_ids, "real_images": len(real_items), "synth_identities": synth_counts,
        "synth_images": len(items) - len(real_items), "identities": int(frame["label"].nunique()),
        "images": len(items)}, "started": started.isoformat(),
        "ended": dt.datetime.now(dt.timezone.utc).isoformat()}
    finish(out, "mix", record, frame)
    shutil.rmtree(out / MIX_STATE)
    return MixResult.from_record(out, read_json(out / MIX_JSON))


def _check_export(folder: Path) -> tuple[Path, pd.DataFrame]:
    if not folder.is_dir() or not (folder / EXPORT_JSON).exists():
        raise FacegenError(f"--synth {folder} is not a finished facegen export (no {EXPORT_JSON})")
    dataset = open_dataset(folder, "--synth")
    check_files(dataset, flag="--synth")
    return folder.resolve(), dataset.frame


def _check_paths(out: Path, inputs: list[Path]) -> None:
    """--out is a new folder apart from every input: never one of them, inside one, or holding one."""
    o = out.resolve()
    for src in inputs:
        s = src.resolve()
        if o == s or s in o.parents or o in s.parents:
            raise FacegenError(f"--out {out} overlaps the input {src}; pick a folder outside the inputs")
    if out.exists() and not out.is_dir():
        raise FacegenError(f"--out {out} is a file, not a folder")


def _shape(cfg: MixConfig, synth: list[tuple[Path, pd.DataFrame]]) -> tuple[int, str]:
    """The one image side and format of the mix: the exports' (real images are made to match), else --size."""
    if not synth:
        return cfg.size, cfg.format or "png"
    shapes = {}
    for folder, frame in synth:
        first = folder / frame["path"].iloc[0]
        try:
            with Image.open(first) as im:
                shapes[folder] = (im.size[0], "jpg" if im.format == "JPEG" else "png")
        except OSError as e:
            raise FacegenError(f"{first} does not decode ({e})") from None
    if len({s for s, _ in shapes.values()}) > 1:
        raise FacegenError("the --synth exports have different image sizes (" + ", ".join(
            f"{f.name}: {s}px" for f, (s, _) in shapes.items()) + "); export them with the same --size")
    size, fmt = next(iter(shapes.values()))
    if cfg.size and cfg.size != size:
        raise FacegenError(f"--size {cfg.size}: the exports are {size}px and are not resized; export them at "
                           f"--size {cfg.size} instead")
    if cfg.format and cfg.format != fmt:
        raise FacegenError(f"--format {cfg.format}: the exports are {fmt} and are not re-encoded")
    return size, fmt


def _choose(names: list, n: int | None, seed: int) -> list:
    """n of the sorted names (all when n is None or more than there are), picked by seed, in sorted order."""
    if n is None or n >= len(names):
        return list(names)
    pick = np.sort(np.random.default_rng(seed).choice(len(names), n, replace=False))
    return [names[i] for i in pick]


def _real_items(cfg: MixConfig, fmt: str) -> tuple[list[_Item], int, int]:
    """The chosen real identities' images, labelled 0.., with how many identities and the training crop."""
    source = discover(check_data_path(cfg.real), cfg.partition)
    if cfg.held_out_every and source.layout != "celeba" and source.frame["identity"].notna().any():
        source = split_identities(source, cfg.held_out_every)[0]
    if source.frame["identity"].isna().all():
        raise FacegenError(f"--real {cfg.real} has no identity labels: give CelebA (with identity_CelebA.txt) or "
                           "one sub-folder per identity")
    frame = source.frame.dropna(subset=["identity"])
    names = "identity_name" if source.layout == "identity-folders" else "identity"
    ids = _choose(sorted(frame["identity"].astype(int).unique()), cfg.real_identities, cfg.seed)
    label_of = {ident: j for j, ident in enumerate(ids)}
    frame = frame[frame["identity"].astype(int).isin(set(ids))]
    items = []
    for path, ident, name in zip(frame["path"], frame["identity"].astype(int), frame[names]):
        label = label_of[ident]
        items.append(_Item(f"{label:06d}-real-{_safe(str(name))}/{Path(path).stem}.{fmt}", label, "real", str(name),
                           str(path)))
    return sorted(items, key=lambda i: (i.label, i.dest)), len(ids), source.default_crop


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64]


def _write_files(items: list[_Item], out: Path, size: int, crop: int, fmt: str, link: bool, progress: bool) -> None:
    """Every item's file, in parallel; present files (an interrupted run's, complete: written by rename) stay."""

    def one(item: _Item) -> None:
        dest = out / item.dest
        if dest.exists():
            return
        dest.parent.mkdir(exist_ok=True)
        if item.source != "real":
            check_decodes(item.source_path)
            _link_or_copy(Path(item.source_path), dest, link)
            return
        image = load_image(item.source_path, size, crop)  # the training crop, at the synthetic images' size
        if image is None:
            raise FacegenError(f"{item.source_path} does not decode; remove it from --real or replace it")
        write_bytes(dest, encode(image, fmt), durable=False)

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        for _ in tqdm(pool.map(one, items), total=len(items), desc="mixing", unit="img", disable=not progress):
            pass


def _link_or_copy(src: Path, dest: Path, link: bool) -> None:
    with replacing(dest, durable=False) as tmp:
        try:
            if not link:
                raise OSError("copy asked for")
            os.link(src, tmp)
        except OSError:  # another file system, or links not allowed: a copy
            shutil.copyfile(src, tmp)
