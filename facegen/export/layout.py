"""The owner of a dataset folder's layout: its file names, the manifest's schema and reader, the labels files
(manifest.csv, im2rec.lst, metadata.csv), the record (export.json or mix.json, with its kind), the resume state
and the one prepare-resume-or-refuse every writer uses, and the finish (record, then card). Export, merge, mix, pack, benchmark and `evaluate`'s card update write a dataset folder
through it. No TensorFlow.

    DATASET/manifest.csv     one row per image (path relative to DATASET, identity folder, label, ...)
    DATASET/im2rec.lst       MXNet im2rec's list: index<TAB>label<TAB>path, in manifest order
    DATASET/metadata.csv     the manifest with `path` named `file_name`: Hugging Face imagefolder's per-image fields
    DATASET/export.json      the record (mix.json for a mix): settings, counts, model, times; written last
    DATASET/README.md        the dataset card, written after the record; preview.jpg beside it
    DATASET/.facegen-*/      resume state while a command writes the folder
"""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from facegen.atomic import replacing, write_json
from facegen.config import FacegenError, read_json

MANIFEST = "manifest.csv"
# Not "train.lst": Hugging Face infers splits from file names, and a train.* file beside the images is taken as the
# whole train split (it then holds no image).
LST = "im2rec.lst"
HF_METADATA = "metadata.csv"
EXPORT_JSON = "export.json"  # presence without EXPORT_STATE marks a finished export
MIX_JSON = "mix.json"  # presence without MIX_STATE marks a finished mix
EXPORT_STATE = ".facegen-export"
MIX_STATE = ".facegen-mix"
RECORDS = {"export": EXPORT_JSON, "mix": MIX_JSON}
STATES = {"export": EXPORT_STATE, "mix": MIX_STATE}
# Fields of a record that say when and how a command ran, not what the dataset is: two ways of making one dataset
# (a single export, merged shards) differ only in these.
RUN_FIELDS = ("started", "ended", "command", "merged_from")
SHARD_COUNTS = ("images", "replaced_this_run", "below_min_realism", "below_min_consistency")
# An export's manifest columns. realism (0..1, calibrated: facegen.export.realism) and realism_logit (D's raw logit)
# are empty unless the export scored them (--realism or --min-realism); identity_similarity (cosine of the image's
# embedding to its identity's reference: facegen.export.verify) unless it ran with --embedder. A score's own columns
# (attribute labels) follow these.
COLUMNS = ["path", "identity", "label", "index", "global_index", "seed", "variation", "attempt", "realism",
           "realism_logit", "identity_similarity", "checkpoint", "step"]
ADDED_COLUMNS = ("identity_similarity",)  # absent from manifests of older facegen versions: read as empty


def read_manifest(root: Path, name: str = MANIFEST) -> pd.DataFrame:
    """Read an export's manifest; refuse one with missing columns or paths that leave its folder."""
    path = Path(root) / name
    if not path.exists():
        raise FacegenError(f"{path} does not exist (not a finished facegen export?)")
    frame = pd.read_csv(path, dtype={"path": str, "identity": str, "checkpoint": str})
    for column in ADDED_COLUMNS:
        if column not in frame.columns:
            frame[column] = np.nan
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise FacegenError(f"{path} lacks columns {', '.join(missing)}")
    check_paths(frame, path, root)
    return frame


def check_paths(frame: pd.DataFrame, path: Path, root: Path) -> None:
    """Every listed path stays inside the dataset folder."""
    for p in frame["path"]:
        parts = PurePosixPath(p).parts
        if PurePosixPath(p).is_absolute() or ".." in parts or not parts:
            raise FacegenError(f"{path} lists {p!r}, which points outside {root}")


def lst_line(index: int, label: int | str, path: str) -> str:
    """One line of im2rec's list (MXNet tools/im2rec.py reads index, label, then the path last)."""
    return f"{index}\t{label}\t{path}\n"


@contextlib.contextmanager
def labels_writer(root: Path, columns: list[str]) -> Iterator["LabelsWriter"]:
    """manifest.csv, im2rec.lst and metadata.csv, written together and atomically: they appear, complete, when the
    block ends. metadata.csv holds the manifest's rows under Hugging Face's header (it reads `file_name`, and takes
    `label` from it instead of the folder names)."""
    with replacing(root / MANIFEST) as manifest_tmp, replacing(root / LST) as lst_tmp, \
            replacing(root / HF_METADATA) as hf_tmp:
        with open(manifest_tmp, "w", newline="") as man, open(lst_tmp, "w") as lst, open(hf_tmp, "w", newline="") as hf:
            man.write(",".join(columns) + "\n")
            hf.write(",".join("file_name" if c == "path" else c for c in columns) + "\n")
            yield LabelsWriter(_Tee(man, hf), lst, columns.index("path"), columns.index("label"))


class _Tee:
    def __init__(self, *files) -> None:
        self.files = files

    def write(self, text: str) -> None:
        for f in self.files:
            f.write(text)


class LabelsWriter:
    """Takes manifest rows (as CSV lines or field lists) in order and writes their train.lst lines beside them."""

    def __init__(self, manifest, lst, path_col: int, label_col: int) -> None:
        self._man, self._lst, self._path, self._label = manifest, lst, path_col, label_col
        self.rows = 0

    def add_line(self, line: str) -> None:
        """A manifest row as CSV text with its newline (a journal's or a shard manifest's, copied verbatim)."""
        row = next(csv.reader([line]))
        self._man.write(line)
        self._lst.write(lst_line(self.rows, row[self._label], row[self._path]))
        self.rows += 1

    def add_frame(self, frame: pd.DataFrame) -> None:
        buf = io.StringIO()
        frame.to_csv(buf, index=False, header=False, lineterminator="\n")
        for line in buf.getvalue().splitlines(keepends=True):
            self.add_line(line)


@dataclass(frozen=True)
class Dataset:
    """A finished dataset folder: its kind, record and manifest."""

    root: Path
    kind: str  # "export" or "mix"
    record: dict
    frame: pd.DataFrame

    @property
    def record_name(self) -> str:
        return RECORDS[self.kind]


def check_out_folder(out: Path, what: str, ours: bool, overwrite: bool | None = None) -> None:
    """A one-line error for an --out that cannot hold the command's result: a file, or a non-empty folder that is
    none of ours (`ours`: it holds this command's record or state). `overwrite` None: the command has no
    --overwrite."""
    if out.exists() and not out.is_dir():
        raise FacegenError(f"--out {out} is a file, not a folder")
    if out.exists() and any(out.iterdir()) and not ours and not overwrite:
        hint = "pass --overwrite to replace its contents or pick a new folder" if overwrite is not None else \
            "pick a new folder"
        raise FacegenError(f"--out {out} is not empty and is not a facegen {what}; {hint}")


def prepare_state(out: Path, what: str, state: Path, record: Path, settings: dict,
                  overwrite: bool | None = None) -> Path | None:
    """The resume-state folder of a command that writes `out` (an export, a mix, a pack), made if new, after the
    refusals: a file, an unfinished run with other settings, a finished one with others, a folder that is neither.
    None when `out` already holds this finished result. `overwrite` (the export's --overwrite; None where a
    command has none) empties the folder first, keeping the folder itself: `exclusive`'s lock is on it."""
    check_out_folder(out, what, record.exists() or state.exists(), overwrite)
    replace = ", pass --overwrite to replace it," if overwrite is not None else ""
    if out.exists() and any(out.iterdir()):
        if overwrite:
            for child in out.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        elif state.exists():
            saved = read_json(state / "settings.json") if (state / "settings.json").exists() else None
            if saved != settings:
                raise FacegenError(f"{out} holds an unfinished {what} with other settings; re-run that command with "
                                   f"its own settings{replace} or pick a new --out")
        elif read_json(record).get("settings") == settings:
            return None
        else:
            hint = "pass --overwrite to replace it or pick a new --out" if overwrite is not None else "pick a new --out"
            raise FacegenError(f"{out} holds a different {what}; {hint}")
    try:
        state.mkdir(parents=True, exist_ok=True)
        write_json(state / "settings.json", settings)
    except OSError as e:
        raise FacegenError(f"cannot write to {out}: {e.strerror or e}") from None
    for tmp in out.glob("*/.*.tmp"):  # half-written files of an interrupted run
        tmp.unlink()
    return state


def stored_settings(out: Path, state: Path, record: Path) -> dict | None:
    """The settings of the result `out` holds, unfinished or complete (None for a new folder)."""
    if (state / "settings.json").exists():
        return read_json(state / "settings.json")
    if record.exists():
        return read_json(record).get("settings")
    return None


def kind_of(root: Path) -> str | None:
    """"export" or "mix" for a folder holding either (finished or not), else None."""
    for kind in RECORDS:
        if (root / RECORDS[kind]).exists() or (root / STATES[kind]).exists():
            return kind
    return None


def open_dataset(root: str | Path, flag: str = "DATASET") -> Dataset:
    """A finished facegen dataset (export, merged export or mix); one-line errors for anything else."""
    root = Path(root)
    if not root.is_dir():
        raise FacegenError(f"{flag} {root} is not a folder")
    kind = kind_of(root)
    if kind is None:
        raise FacegenError(f"{flag} {root} is not a facegen dataset (no {EXPORT_JSON} or {MIX_JSON})")
    if (root / STATES[kind]).exists() or not (root / RECORDS[kind]).exists():
        raise FacegenError(f"{flag} {root} is an unfinished {kind}; re-run its {kind} command first")
    if kind == "mix":
        if not (root / MANIFEST).exists():
            raise FacegenError(f"{root / MANIFEST} does not exist")
        frame = pd.read_csv(root / MANIFEST, dtype={"path": str, "identity": str})
    else:
        frame = read_manifest(root)
    return Dataset(root, kind, read_json(root / RECORDS[kind]), frame)


def check_files(ds: Dataset, rows=None, flag: str = "DATASET", progress: bool = False) -> None:
    """Refuse, in one line naming the first bad file, a dataset a command is about to read into a derived artifact:
    a manifest whose row count is not its record's, a listed file that is missing or does not decode. `rows`: the
    manifest rows still to be read (a resumed command re-checks only those); None = all."""
    from tqdm import tqdm

    from facegen.images import check_decodes

    expected = ds.record.get("counts", {}).get("images")
    if expected is not None and expected != len(ds.frame):
        raise FacegenError(f"{flag} {ds.root}: {MANIFEST} lists {len(ds.frame)} images but its record counts "
                           f"{expected}; the dataset is damaged: export or merge it again")
    paths = ds.frame["path"].to_numpy()
    for p in tqdm(paths if rows is None else paths[rows], desc="checking images", unit="img", disable=not progress,
                  dynamic_ncols=True):
        check_decodes(ds.root / p, f"{flag} {ds.root}: ")


def finish(root: Path, kind: str, record: dict, frame: pd.DataFrame) -> None:
    """The record (with its kind), then the card: the last two writes of every command that makes a dataset."""
    from facegen.export.card import write_card

    write_json(root / RECORDS[kind], {"kind": kind, **{k: v for k, v in record.items() if k != "kind"}})
    write_card(root, RECORDS[kind], frame)


def refresh_card(root: Path) -> None:
    """Re-write a finished dataset's card from its record and files (after evaluate or pack added to them)."""
    from facegen.export.card import write_card

    ds = open_dataset(root)
    write_card(ds.root, ds.record_name, ds.frame)


def merged_record(records: list[dict], sources: list[str], command: str) -> dict:
    """The record of an export joined from its shards' records: the whole plan's settings and counts, the sections
    every shard computed alike (model, identity check, attributes) and the shards' times. It equals a single
    export's record apart from RUN_FIELDS."""
    first = records[0]
    for section in ("model", "identity_check", "attributes"):
        if any(r.get(section) != first.get(section) for r in records):
            raise FacegenError(f"the shards' {section} records differ; they are not shards of one export")
    # Per-image counts add up over the shards; the plan's are every shard's alike. A shard counts each identity
    # it touches, and two shards may share one, so the whole's identities come from the plan.
    counts = {key: (sum(r["counts"][key] for r in records) if key in SHARD_COUNTS else value)
              for key, value in first["counts"].items()}
    counts["identities"] = first["settings"]["identities"]
    merged = {k: v for k, v in first.items() if k not in RUN_FIELDS}
    merged["settings"] = {**first["settings"], "shard": [0, 1]}
    merged["counts"] = counts
    for key in ("hardware", "replicas"):
        values = [r.get(key) for r in records]
        merged[key] = values[0] if all(v == values[0] for v in values) else values
    return {**merged, "command": command, "merged_from": sources, "started": min(r["started"] for r in records),
            "ended": max(r["ended"] for r in records)}


def record_pack(root: Path, entry: dict) -> None:
    """Note a packed form of the dataset (keyed by its folder) in its packs.json and card."""
    from facegen.export.card import PACKS

    _add_to_record(root, PACKS, entry["out"], entry, "the pack")


def record_benchmark(root: Path, entry: dict) -> None:
    """Note a `facegen benchmark` of the dataset (keyed by its folder) in its benchmarks.json and card."""
    from facegen.export.card import BENCHMARKS

    _add_to_record(root, BENCHMARKS, entry["out"], entry, "the benchmark")


def record_judgement(root: Path, entry: dict) -> None:
    """Note a judge embedder's verdict on the dataset (keyed by the judge's folder) in its judgements.json and card."""
    from facegen.export.card import JUDGEMENTS

    _add_to_record(root, JUDGEMENTS, entry["judge"], entry, "the judgement")


def record_evaluation(root: Path, report: dict) -> None:
    """Note `facegen evaluate`'s report on the dataset in its evaluation.json and card (the latest replaces the
    one before), through the lock every side record takes."""
    from facegen.export.card import EVALUATION

    _write_side_record(root, EVALUATION, lambda old: report, "the metrics")


def _add_to_record(root: Path, name: str, key: str, entry: dict, what: str) -> None:
    """One entry of a side record of the dataset (keyed), then its card."""
    _write_side_record(root, name, lambda entries: {**entries, key: entry}, what)


def _write_side_record(root: Path, name: str, update, what: str) -> None:
    """A side record of the dataset (`update` maps its entries to the new ones), then its card, holding the
    dataset's lock; a read-only dataset keeps its card (the command's own output folder still says everything)."""
    import logging

    from facegen.atomic import exclusive

    try:
        with exclusive(root, "DATASET"):
            entries = read_json(root / name) if (root / name).exists() else {}
            write_json(root / name, update(entries))
            refresh_card(root)
    except OSError as e:
        logging.getLogger("facegen").warning("cannot note %s in %s's card (%s)", what, root, e.strerror or e)
