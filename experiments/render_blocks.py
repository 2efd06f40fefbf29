"""How many 64-image blocks an export renders, and the time inside the renderer: a count that machine noise does not
move, beside the wall clock bench/verified_speed.py measures. Runs `facegen export` in this process with the
renderer instrumented.

    python experiments/render_blocks.py --run runs/quickstart --out /tmp/blocks -- --identities 1000 \
        --per-identity 10 --no-attributes --max-similarity 0.9
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="the export's folder (replaced)")
    p.add_argument("export_args", nargs="*", help="more `facegen export` flags, after --")
    args = p.parse_args()
    from facegen._env import import_tensorflow_quietly

    import_tensorflow_quietly()
    from facegen.cli import main as facegen
    from facegen.export import render

    stats = {"dispatches": 0, "blocks": 0, "render_seconds": 0.0}
    call = render.BlockRenderer.__call__

    def counted(self, z):
        t = time.perf_counter()
        out = call(self, z)
        stats["render_seconds"] += time.perf_counter() - t
        stats["dispatches"] += 1
        stats["blocks"] += len(z)
        return out

    render.BlockRenderer.__call__ = counted
    shutil.rmtree(args.out, ignore_errors=True)
    t = time.perf_counter()
    try:
        facegen(["export", "--checkpoint", str(args.run), "--out", str(args.out), "--quiet", *args.export_args])
    except SystemExit as e:
        if e.code:
            raise
    stats["seconds"] = round(time.perf_counter() - t, 1)
    stats["render_seconds"] = round(stats["render_seconds"], 1)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
