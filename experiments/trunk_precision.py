"""bfloat16 against float32 training of the residual trunks (the identity embedder, the attribute classifier),
side by side: same preset, data, seeds and steps; seconds per step and what each reaches on held-out data
(the embedder's verification of held-out identities and the export limits it calibrates, the classifier's
held-out accuracy).

    python experiments/trunk_precision.py --data data/celeba-sample --steps 800 --seeds 0,1

The question `--mixed-precision auto` must answer before the trunks may follow the GAN into bfloat16: does the
faster policy reach the same quality within the seeds' spread? Folders in --work are reused when complete.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import machine  # noqa: E402

POLICIES = ("off", "bfloat16")


def train(kind: str, data: str, out: Path, steps: int, precision: str, seed: int) -> tuple[dict, float | None]:
    """Train (or find finished) one trunk; returns (its report, wall seconds or None when it was already done)."""
    done = (out / "report.json").exists()
    t = time.perf_counter()
    r = subprocess.run(["facegen", kind, "train", "--data", data, "--out", str(out), "--steps", str(steps),
                        "--seed", str(seed), "--mixed-precision", precision, "--quiet"], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"training {out} failed:\n{r.stderr[-2000:]}")
    return json.loads((out / "report.json").read_text()), None if done else time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/celeba-sample")
    p.add_argument("--steps", type=int, default=800, help="embedder steps (the quickstart's)")
    p.add_argument("--attributes-steps", type=int, default=400, help="classifier steps (0: skip the classifier)")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--work", type=Path, default=None)
    args = p.parse_args()
    work = args.work or Path(tempfile.mkdtemp())
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"# trunk_precision — {dt.date.today()} — {machine()}")
    print(f"`small` trunks on {args.data}; wall seconds include start-up, decoding and the report\n")
    print("| trunk | policy | seed | steps | wall s | held-out verification | ROC AUC | consistency | separation "
          "| leakage |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for seed in seeds:
        for pr in POLICIES:
            r, wall = train("embedder", args.data, work / f"embedder-{pr}-{seed}", args.steps, pr, seed)
            lim = r["limits"]
            print(f"| embedder | {pr} | {seed} | {args.steps} | {'-' if wall is None else f'{wall:.0f}'} | "
                  f"{100 * r['verification_accuracy']:.1f}% | {r['roc_auc']:.4f} | {lim['consistency']:.3f} | "
                  f"{lim['separation']:.3f} | {lim['leakage']:.3f} |", flush=True)
    if args.attributes_steps:
        print("\n| trunk | policy | seed | steps | wall s | mean held-out accuracy | lowest |")
        print("|---|---|---|---|---|---|---|")
        for seed in seeds:
            for pr in POLICIES:
                r, wall = train("attributes", args.data, work / f"attributes-{pr}-{seed}", args.attributes_steps, pr,
                                seed)
                print(f"| attributes | {pr} | {seed} | {args.attributes_steps} | "
                      f"{'-' if wall is None else f'{wall:.0f}'} | {100 * r['mean_accuracy']:.1f}% | "
                      f"{100 * r['min_accuracy']:.1f}% |", flush=True)


if __name__ == "__main__":
    main()
