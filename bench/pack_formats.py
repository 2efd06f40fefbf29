"""`facegen pack` against the export it packs, in one run: export N images from an untrained checkpoint (speed
does not depend on training), then pack them to each format; time of each against the export's, bytes, files.

    python bench/pack_formats.py [--count 100000] [--preset tiny] [--work /tmp/pack-bench]

Results go to WORK/pack_formats.json as each step ends; a re-run reuses the finished export and packs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402
from export_speed import make_run  # noqa: E402


def tree_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "facegen", *args, "--quiet"], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr[-2000:])
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=100_000)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--work", default="/tmp/pack-bench")
    args = p.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results_path = work / "pack_formats.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results.update(machine=machine(), when=dt.date.today().isoformat(), count=args.count, preset=args.preset)
    run = work / "run"
    if not run.exists():
        make_run(args.preset, run)
    synth = work / "synth"
    if "export" not in results:
        seconds = timed(["export", "--checkpoint", str(run), "--count", str(args.count), "--out", str(synth)])
        size, files = tree_size(synth)
        if files < args.count:
            raise SystemExit(f"the export wrote {files} files for {args.count} images")
        results["export"] = {"seconds": round(seconds, 1), "bytes": size, "files": files}
        results_path.write_text(json.dumps(results, indent=2))
    for fmt in ("rec", "webdataset"):
        if fmt in results:
            continue
        out = work / fmt
        seconds = timed(["pack", str(synth), "--to", fmt, "--out", str(out)])
        size, files = tree_size(out)
        if not (out / "pack.json").exists():
            raise SystemExit(f"{out} holds no finished pack")
        results[fmt] = {"seconds": round(seconds, 1), "bytes": size, "files": files,
                        "time_vs_export": round(seconds / results["export"]["seconds"], 3)}
        results_path.write_text(json.dumps(results, indent=2))
    print(f"{'what':<12}{'seconds':>10}{'x export':>10}{'MB':>10}{'files':>9}")
    for name in ("export", "rec", "webdataset"):
        r = results[name]
        print(f"{name:<12}{r['seconds']:>10.1f}{r.get('time_vs_export', 1.0):>10.3f}{r['bytes'] / 1e6:>10.1f}"
              f"{r['files']:>9}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
