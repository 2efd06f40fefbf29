"""`facegen merge`: verify the shards of one export and join them into a single dataset folder."""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from facegen.atomic import exclusive
from facegen.config import FacegenError, read_json
from facegen.export.layout import EXPORT_JSON, EXPORT_STATE, MANIFEST, finish, labels_writer, merged_record, read_manifest
from facegen.images import check_decodes


@dataclass(frozen=True)
class MergeResult:
    out: Path
    shards: int
    images: int
    identities: int
    judgement: dict | None  # the judge's verdict, as a single export of the same request records it


def merge(sources: list[Path], out: Path, progress: bool = True, command: str = "") -> MergeResult:
    """Join finished shard exports into `out` (moved when on the same file system, else copied), then judge it
    as the single export judges itself where the shards' record names a judge: the same files as that export.

    Refuses shards of different checkpoints, seeds or plans, missing or repeated shards, overlapping or
    missing images, files that are absent or do not decode, and manifests pointing outside their folder.
    """
    sources, out = shard_folders(sources), Path(out)
    if not sources:
        raise FacegenError("give the shard folders to merge")
    with exclusive(out):
        if any(out.iterdir()):
            raise FacegenError(f"--out {out} is not empty")
        metas, frames = _read_shards(sources)
        first = _check_plan(sources, metas, frames)
        files = [(src / p, p) for src, f in zip(sources, frames) for p in f["path"]]
        _verify_images(files, progress)
        _move(files, out, progress)
        _write_labels(sources, metas, out, first, command)
    judge, judgement = metas[0].get("judge"), None
    if judge:
        from facegen.export.pipeline import judge as judge_dataset

        judgement = judge_dataset(out, Path(judge["embedder"]), judge["identities"])
    return MergeResult(out, len(sources), first["identities"] * first["per_identity"], first["identities"], judgement)


def shard_folders(sources: list[str | Path]) -> list[Path]:
    """The shard folders the user named: folders, globs (`synth-*`) or a pattern with `{i}` (`synth-{i}`), which
    stands for every shard 0..n-1 of the export it finds; a one-line error naming a missing shard."""
    folders: list[Path] = []
    for source in map(str, sources):
        if "{i}" in source:
            found = sorted(glob.glob(source.replace("{i}", "*")))
            records = [Path(f) / EXPORT_JSON for f in found if (Path(f) / EXPORT_JSON).is_file()]
            if not records:
                raise FacegenError(f"no finished shard matches {source}")
            n = read_json(records[0])["settings"]["shard"][1]
            for i in range(n):
                folder = Path(source.replace("{i}", str(i)))
                if not folder.is_dir():
                    raise FacegenError(f"shard {i}/{n} ({folder}) is missing: run its export (--shard {i}/{n}) "
                                       "first")
                folders.append(folder)
        elif any(c in source for c in "*?["):
            found = sorted(Path(f) for f in glob.glob(source) if Path(f).is_dir())
            if not found:
                raise FacegenError(f"no folder matches {source}")
            folders += found
        else:
            folders.append(Path(source))
    return folders


def _plan_of(meta: dict) -> dict:
    """An export's settings without its shard: equal for every shard of one export."""
    s = dict(meta["settings"])
    s.pop("shard")
    return s


def _read_shards(sources: list[Path]) -> tuple[list[dict], list[pd.DataFrame]]:
    metas, frames = [], []
    for src in sources:
        if (src / EXPORT_STATE).exists():
            raise FacegenError(f"{src} is an unfinished export; re-run its export command first")
        metas.append(read_json(src / EXPORT_JSON))
        frames.append(read_manifest(src))
    return metas, frames


def _check_plan(sources: list[Path], metas: list[dict], frames: list[pd.DataFrame]) -> dict:
    """The shards are 0..n-1 of n of one export, and together list every image of its plan exactly once."""
    first = _plan_of(metas[0])
    for src, meta in zip(sources, metas):
        if _plan_of(meta) != first:
            diff = sorted(k for k in first if _plan_of(meta).get(k) != first[k])
            raise FacegenError(f"{src} was exported with other settings ({', '.join(diff)}) than {sources[0]}")
    shards = sorted(tuple(m["settings"]["shard"]) for m in metas)
    n = shards[0][1]
    if shards != [(i, n) for i in range(n)]:
        missing = sorted(set(range(n)) - {i for i, _ in shards})
        twice = sorted({i for i, _ in shards if shards.count((i, n)) > 1})
        why = "; ".join(filter(None, (f"missing {', '.join(f'{i}/{n}' for i in missing)}" if missing else "",
                                      f"given twice {', '.join(f'{i}/{n}' for i in twice)}" if twice else "")))
        raise FacegenError(f"need shards 0..{n - 1} of {n} exactly once each, got "
                           f"{', '.join(f'{i}/{k}' for i, k in shards)}" + (f" ({why})" if why else ""))
    frame = pd.concat(frames, ignore_index=True)
    total = first["identities"] * first["per_identity"]
    if frame["global_index"].duplicated().any():
        raise FacegenError("the shards overlap: some images are listed twice")
    if len(frame) != total or set(frame["global_index"]) != set(range(total)):
        raise FacegenError(f"the shards hold {len(frame)} of the plan's {total} images")
    return first


def _verify_images(files: list[tuple[Path, str]], progress: bool) -> None:
    for path, _ in tqdm(files, desc="verifying", unit="img", disable=not progress):
        check_decodes(path)


def _move(files: list[tuple[Path, str]], out: Path, progress: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for path, rel in tqdm(files, desc="merging", unit="img", disable=not progress):
        dest = out / rel
        dest.parent.mkdir(exist_ok=True)
        try:
            os.replace(path, dest)
        except OSError:
            shutil.copy2(path, dest)


def _write_labels(sources: list[Path], metas: list[dict], out: Path, first: dict, command: str) -> None:
    """manifest.csv, im2rec.lst, metadata.csv, then (last) export.json and the card. Shards are contiguous slices of the plan, so
    their sorted manifests concatenate in shard order into exactly the rows a single export writes."""
    order = sorted(range(len(sources)), key=lambda k: metas[k]["settings"]["shard"][0])
    header = (sources[order[0]] / MANIFEST).read_text().splitlines()[0]
    with labels_writer(out, header.split(",")) as labels:
        for k in order:
            for line in (sources[k] / MANIFEST).read_text().splitlines(keepends=True)[1:]:
                labels.add_line(line)
    record = merged_record([metas[k] for k in order], [str(sources[k]) for k in order], command)
    finish(out, "export", record, read_manifest(out))
