"""An export's bookkeeping while it runs: manifest rows, the append-only journal of finished blocks and the state
that marks an unfinished export (the folder's schema and reader are layout's). No TensorFlow."""

from __future__ import annotations

import contextlib
import csv
import io
import os
from pathlib import Path

import numpy as np

from facegen.atomic import write_bytes
from facegen.export import layout
from facegen.export.layout import COLUMNS, EXPORT_JSON, EXPORT_STATE, LST, MANIFEST, labels_writer, read_manifest

STATE_DIR = EXPORT_STATE  # the journal's folder while an export runs; removed when it completes
__all__ = ["COLUMNS", "EXPORT_JSON", "LST", "MANIFEST", "STATE_DIR", "Journal", "read_manifest"]


def manifest_row(path: str, label: int, index: int, global_index: int, seed: int, variation: float,
                 attempt: int, realism: float | None, realism_logit: float | None, checkpoint: str, step: int,
                 identity_similarity: float | None = None) -> dict:
    """One image's manifest row, in COLUMNS' terms."""
    return {"path": path, "identity": path.split("/")[0], "label": label, "index": index,
            "global_index": global_index, "seed": seed, "variation": variation, "attempt": attempt,
            "realism": _number(realism), "realism_logit": _number(realism_logit),
            "identity_similarity": _number(identity_similarity), "checkpoint": checkpoint, "step": step}


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def check_out_folder(out: Path, overwrite: bool) -> None:
    """A one-line error for an --out that cannot hold an export: a file, or a non-empty folder that is no facegen
    export (without --overwrite). Whether an export there is *this* export is decided later (prepare_out)."""
    layout.check_out_folder(out, "export", (out / EXPORT_JSON).exists() or (out / STATE_DIR).exists(), overwrite)


def stored_settings(out: Path) -> dict | None:
    """The settings of the export `out` holds, unfinished or complete (None for a new folder)."""
    return layout.stored_settings(out, out / STATE_DIR, out / EXPORT_JSON)


def prepare_out(out: Path, settings: dict, overwrite: bool) -> Path | None:
    """The state folder to journal into; None if `out` already holds this exact export, complete."""
    return layout.prepare_state(out, "export", out / STATE_DIR, out / EXPORT_JSON, settings, overwrite)


def to_csv_text(rows: list[dict], columns: list[str] = COLUMNS) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, columns, lineterminator="\n")
    w.writerows(rows)
    return buf.getvalue()


class Journal:
    """Append-only CSV of manifest rows, written one finished block at a time and fsynced.

    A kill can tear at most the last line; opening the journal cuts a line without its newline, and
    that image is simply generated again (its bytes are the same). Opening it also drops repeated rows of
    one image, which two processes writing one folder at once (before `exclusive` refused the second) left.
    """

    def __init__(self, path: Path, extra_columns: list[str] | None = None) -> None:
        # The export's own columns (attribute labels: facegen.export.attributes) come after COLUMNS.
        self.path, self.columns = path, COLUMNS + list(extra_columns or [])
        self._cut_torn_tail()
        self._drop_repeats()

    def _cut_torn_tail(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    def _drop_repeats(self) -> None:
        indices = self.global_indices()
        if len(np.unique(indices)) == len(indices):
            return
        first = np.zeros(len(indices), bool)
        first[np.unique(indices, return_index=True)[1]] = True  # an image's rows are alike: its bytes are fixed
        with open(self.path, "rb") as f:
            lines = f.readlines()
        write_bytes(self.path, b"".join(line for line, keep in zip(lines, first) if keep))

    def global_indices(self) -> np.ndarray:
        """The global image index of every journaled row, read as one column (8 bytes a row)."""
        if not self.path.exists():
            return np.empty(0, np.int64)
        col = COLUMNS.index("global_index")
        with open(self.path, newline="") as f:
            return np.fromiter((int(row[col]) for row in csv.reader(f)), dtype=np.int64)

    def write_manifest(self, root: Path) -> int:
        """manifest.csv, im2rec.lst and metadata.csv from the journal, sorted by global index (= label, then index),
        streaming: memory holds two 8-byte numbers a row, not the rows. An empty shard has no journal and
        writes both files with no rows."""
        col = COLUMNS.index("global_index")
        keys, offsets = [], []
        if self.path.exists():
            with open(self.path, "rb") as f:
                while True:
                    offset = f.tell()
                    line = f.readline()
                    if not line:
                        break
                    offsets.append(offset)
                    keys.append(int(next(csv.reader([line.decode()]))[col]))
        order = np.argsort(np.asarray(keys, np.int64), kind="stable")
        offsets_arr = np.asarray(offsets, np.int64)
        with labels_writer(root, self.columns) as labels, contextlib.ExitStack() as stack:
            src = stack.enter_context(open(self.path, "rb")) if len(order) else None
            for i in order:
                src.seek(int(offsets_arr[i]))
                labels.add_line(src.readline().decode())
        return len(order)

    def count_below(self, threshold: float, column: str = "realism") -> int:
        """Journaled images whose `column` (calibrated realism, identity similarity) is below `threshold`:
        the draws ran out for them."""
        if not self.path.exists():
            return 0
        col = COLUMNS.index(column)
        with open(self.path, newline="") as f:
            return sum(1 for row in csv.reader(f) if row[col] and float(row[col]) < threshold)

    def append(self, rows: list[dict]) -> None:
        with open(self.path, "a", newline="") as f:
            f.write(to_csv_text(rows, self.columns))
            f.flush()
            os.fsync(f.fileno())
