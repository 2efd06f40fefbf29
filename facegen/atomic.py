"""Atomic file writes (a hidden temp name beside the target, then one rename, so a reader or a resumed run
never sees half a file under the final name) and one writing process per output folder."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

from facegen.config import FacegenError

try:
    import fcntl
except ImportError:  # not POSIX: no advisory locks, and no refusal of a second writer
    fcntl = None


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


@contextlib.contextmanager
def exclusive(folder: str | Path, flag: str = "--out") -> Iterator[Path]:
    """Hold `folder` (made if missing) for this process alone while the block runs.

    Two commands writing one folder at once would interleave their journals and checkpoints; the second
    one is refused with a one-line error instead. The lock is an advisory `flock` on the folder itself, so
    the kernel drops it when the process ends, however it ends: no stale lock file to clean up. A folder
    made here and still empty when the block ends (it failed before writing) is removed again.
    """
    folder = Path(folder)
    made = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY)
    except (FileExistsError, NotADirectoryError):
        raise FacegenError(f"{flag} {folder} is a file, not a folder") from None
    except OSError as e:
        raise FacegenError(f"cannot write to {folder}: {e.strerror or e}") from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise FacegenError(f"{folder} is being written by another facegen command; wait for it to end "
                                   f"or pick another {flag}") from None
        yield folder
    finally:
        os.close(fd)  # releases the lock
        if made and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
