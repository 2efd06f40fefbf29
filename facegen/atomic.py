"""Atomic file writes: a hidden temp name beside the target, then one rename, so a reader (or a resumed run)
never sees half a file under the final name."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator


def temp_name(path: Path, suffix: str = "") -> Path:
    """`dir/.name.tmp`: hidden, in the same folder (a rename is only atomic within one file system), and
    recognisable, so an interrupted run can sweep its leftovers with one glob. `suffix` is for writers that
    choose a format by the file's ending."""
    return path.with_name(f".{path.name}.tmp{suffix}")


@contextlib.contextmanager
def replacing(path: str | Path, durable: bool = True, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path to write the new contents to; on success it replaces `path`, on error it goes.

    `durable` fsyncs the file before the rename, so after a crash the name holds either the old or the
    complete new contents. Export images skip it (an fsync per image costs more than the image); their
    completeness is what the fsynced journal and `merge`'s decode check stand for.
    """
    path = Path(path)
    tmp = temp_name(path, suffix)
    try:
        yield tmp
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes, durable: bool = True) -> None:
    with replacing(path, durable) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | Path, text: str, durable: bool = True) -> None:
    with replacing(path, durable) as tmp:
        with open(tmp, "w", newline="") as f:
            f.write(text)


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")
