"""The export manifest: columns, the append-only journal of finished blocks, atomic writes, reading and checks."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path, PurePosixPath

import pandas as pd

from facegen.config import FacegenError

COLUMNS = ["path", "identity", "label", "index", "global_index", "seed", "variation", "attempt", "realism",
           "checkpoint", "step"]
MANIFEST = "manifest.csv"
LST = "train.lst"
EXPORT_JSON = "export.json"  # written last: its presence (without STATE_DIR) marks a finished export
STATE_DIR = ".facegen-export"  # hidden journal folder while an export runs; removed when it completes


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def to_csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    w.writerows(rows)
    return buf.getvalue()


def write_manifest(root: Path, frame: pd.DataFrame, name: str = MANIFEST) -> None:
    """manifest.csv sorted by label then index, and insightface's train.lst (`1<TAB>path<TAB>label`)."""
    frame = frame.sort_values(["label", "index"], kind="stable")[COLUMNS]
    write_text_atomic(root / name, frame.to_csv(index=False, lineterminator="\n", float_format="%.6f"))
    write_text_atomic(root / LST, "".join(f"1\t{p}\t{l}\n" for p, l in zip(frame["path"], frame["label"])))


def read_manifest(root: Path, name: str = MANIFEST) -> pd.DataFrame:
    """Read a manifest; refuse one with missing columns or paths that leave its folder."""
    path = Path(root) / name
    if not path.exists():
        raise FacegenError(f"{path} does not exist (not a finished facegen export?)")
    frame = pd.read_csv(path, dtype={"path": str, "identity": str, "checkpoint": str})
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise FacegenError(f"{path} lacks columns {', '.join(missing)}")
    for p in frame["path"]:
        parts = PurePosixPath(p).parts
        if PurePosixPath(p).is_absolute() or ".." in parts or not parts:
            raise FacegenError(f"{path} lists {p!r}, which points outside {root}")
    return frame


class Journal:
    """Append-only CSV of manifest rows, written one finished block at a time and fsynced.

    A kill can tear at most the last line; opening the journal cuts a line without its newline, and
    that image is simply generated again (its bytes are the same).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cut_torn_tail()

    def _cut_torn_tail(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    def read(self) -> pd.DataFrame:
        if not self.path.exists():
            return pd.DataFrame(columns=COLUMNS)
        text = self.path.read_text()
        if not text:
            return pd.DataFrame(columns=COLUMNS)
        return pd.read_csv(io.StringIO(text), header=None, names=COLUMNS,
                           dtype={"path": str, "identity": str, "checkpoint": str})

    def append(self, rows: list[dict]) -> None:
        with open(self.path, "a", newline="") as f:
            f.write(to_csv_text(rows))
            f.flush()
            os.fsync(f.fileno())
