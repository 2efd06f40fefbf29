"""The registry of `facegen pack`'s formats: one module each, registered by one line here. The CLI's --to help, the
dataset card's loading sections and the guide's format table (docs/hooks.py) are read from it."""

from __future__ import annotations

from facegen.export import pack_rec, pack_tfrecord, pack_webdataset
from facegen.export.packformat import PackFormat

PACKERS: dict[str, PackFormat] = {f.name: f for f in (pack_rec.FORMAT, pack_webdataset.FORMAT, pack_tfrecord.FORMAT)}


def format_table() -> str:
    """The guide's table of formats, as Markdown."""
    rows = [f"| `--to {f.name}` | {f.help} |" for f in PACKERS.values()]
    return "\n".join(["| format | writes |", "|---|---|", *rows])
