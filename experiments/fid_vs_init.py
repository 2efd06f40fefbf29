"""FID/KID of a trained run against the same model at step 0 (its initial weights), same protocol and n.

    python experiments/fid_vs_init.py --run runs/quickstart --data data/celeba-sample --n 1000
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from common import machine  # noqa: E402

import facegen  # noqa: E402,F401
from facegen._env import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()
from facegen.metrics.evaluate import evaluate  # noqa: E402
from facegen.metrics.fid import PROTOCOL, FeatureExtractor  # noqa: E402
from facegen.run import read_run_config  # noqa: E402
from facegen.training.loop import init_run  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--run", required=True, type=Path)
    p.add_argument("--data", required=True)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--n-real", type=int, default=0)
    args = p.parse_args()
    init = init_run(Path(tempfile.mkdtemp()) / "step0", read_run_config(args.run))
    extractor = FeatureExtractor()
    rows = []
    for name, run in (("step 0 (initial weights)", init), ("trained", args.run)):
        r = evaluate(args.data, Path(tempfile.mkdtemp()), run_dir=run, n=args.n, n_real=args.n_real,
                     extractor=extractor)
        rows.append((name, r.metrics["step"], r.metrics["metrics"], r.metrics["n_real"]))
    print(f"# fid_vs_init — {dt.date.today()} — {machine()}")
    print(f"protocol: {PROTOCOL}; {args.n} generated vs {rows[0][3]} real images of {args.data}")
    print("| model | step | FID | KID x 1000 |")
    print("|---|---|---|---|")
    for name, step, m, _ in rows:
        print(f"| {name} | {step} | {m['fid']:.1f} | {1000 * m['kid']:.1f} ± {1000 * m['kid_std']:.1f} |")


if __name__ == "__main__":
    main()
