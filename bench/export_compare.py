"""Export speed of two checkouts of facegen on the same untrained run, best of interleaved rounds: the
before/after figure for a change to the export's hot path.

    git worktree add /tmp/before 15c4572
    python bench/export_compare.py --before /tmp/before [--preset paper --count 640]

Rows: the old checkout's export (as it runs by default), this checkout's default export, and this
checkout's `--realism` export (D on every image; its calibration is computed first and not timed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import machine, run_json  # noqa: E402

ONE = r"""
import json, sys, tempfile, time
from pathlib import Path
import facegen
from facegen._env import import_tensorflow_quietly
import_tensorflow_quietly()
from facegen.config import ExportConfig
try:
    from facegen.export.render import export
except ImportError:  # checkouts before the package was grouped into folders
    from facegen.export import export
run, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
kw = dict(identities=n // 20, per_identity=20)
if mode == "scored":
    from facegen.export.realism import load_or_calibrate
    from facegen.models.generator import Generator
    kw["realism"] = True
    load_or_calibrate(Generator.from_run(run), Path(run))
t = time.perf_counter()
export(run, Path(tempfile.mkdtemp()) / "s", ExportConfig(**kw), progress=False)
print(json.dumps({"images_per_second": n / (time.perf_counter() - t)}))
"""


def timed(tree: Path, run: Path, mode: str, count: int) -> float:
    # `python -c` puts the working folder first on sys.path, so the checkout under test is also the cwd.
    return run_json(["-c", ONE, str(run), mode, str(count)], env={"PYTHONPATH": str(tree)},
                    cwd=str(tree))["images_per_second"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", type=Path, required=True, help="a checkout of the earlier commit")
    p.add_argument("--preset", default="small")
    p.add_argument("--count", type=int, default=4000, help="images per export (a multiple of 20)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    import facegen  # noqa: F401
    from facegen.config import DataConfig, RunConfig, TrainConfig, preset
    from facegen.training.loop import init_run

    run = init_run(Path(tempfile.mkdtemp()) / args.preset, RunConfig(
        model=preset(args.preset), data=DataConfig(path="none"), train=TrainConfig(preset=args.preset)))
    rows = {"before": (args.before, "plain"), "after, default": (ROOT, "plain"), "after, --realism": (ROOT, "scored")}
    best = {name: 0.0 for name in rows}
    for _ in range(args.repeats):
        for name, (tree, mode) in rows.items():
            best[name] = max(best[name], timed(tree, run, mode, args.count))
    print(f"# export_compare — {machine()}; preset {args.preset}, {args.count} images, best of {args.repeats}")
    print("| export | images/s | vs before |")
    print("|---|---|---|")
    for name, v in best.items():
        print(f"| {name} | {v:.0f} | {v / best['before']:.2f} |")


if __name__ == "__main__":
    main()
