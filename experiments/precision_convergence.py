"""bfloat16 against float32 training, side by side: same preset, data, seed and steps; speed and the quality
reached (FID/KID on the FID Inception, sliced Wasserstein distance on pixels), each against the real images.

    python experiments/precision_convergence.py --data data/celeba-sample --preset small --steps 2000

The question `--mixed-precision auto` must answer before it may pick bfloat16 for training: does the faster
policy reach the same quality within noise? Runs in --work are reused when complete (training is idempotent).
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import machine  # noqa: E402


def train(data: str, out: Path, preset: str, steps: int, precision: str, seed: int) -> float | None:
    """Train (or finish) the run; returns images/s as the CLI reports it (None for a run already complete)."""
    r = subprocess.run(["facegen", "train", "--data", data, "--out", str(out), "--preset", preset, "--steps",
                        str(steps), "--mixed-precision", precision, "--seed", str(seed), "--quiet"], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"training {out} failed:\n{r.stderr[-2000:]}")
    first = r.stdout.strip().splitlines()[0]
    return float(first.split("; ")[-1].split(" img/s")[0]) if "img/s" in first else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/celeba-sample")
    p.add_argument("--preset", default="small")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--n", type=int, default=1000, help="generated images per FID/KID")
    p.add_argument("--seed", type=int, default=0, help="training seed (the same for both policies)")
    p.add_argument("--work", type=Path, default=None)
    args = p.parse_args()
    work = args.work or Path(tempfile.mkdtemp())
    speed = {pr: train(args.data, work / pr, args.preset, args.steps, pr, args.seed) for pr in ("off", "bfloat16")}

    import facegen  # noqa: F401
    from facegen._env import import_tensorflow_quietly

    import_tensorflow_quietly()
    from facegen.config import DataConfig
    from facegen.data import TrainingData, discover
    from facegen.metrics.distances import sliced_wasserstein
    from facegen.metrics.evaluate import evaluate
    from facegen.metrics.fid import FeatureExtractor
    from facegen.models.generator import Generator

    extractor = FeatureExtractor()
    real = TrainingData(discover(args.data, "all"), DataConfig(path=args.data), progress=False).images
    print(f"# precision_convergence — {dt.date.today()} — {machine()}")
    print(f"preset {args.preset}, {args.steps} steps, batch 64, seed {args.seed}; FID/KID: {args.n} generated vs all "
          f"{len(real)} real images; SWD: 1000 generated vs 1000 real, 16x16")
    print("| training precision | images/s | FID | KID x 1000 | SWD |")
    print("|---|---|---|---|---|")
    for pr in ("off", "bfloat16"):
        m = evaluate(args.data, work / f"eval-{pr}", run_dir=work / pr, n=args.n, extractor=extractor,
                     progress=False).metrics["metrics"]
        swd = sliced_wasserstein(Generator.from_run(work / pr).sample(3, 1000), real[:1000])
        name = "float32" if pr == "off" else pr
        rate = "(reused run)" if speed[pr] is None else f"{speed[pr]:.0f}"
        print(f"| {name} | {rate} | {m['fid']:.1f} | {1000 * m['kid']:.1f} ± {1000 * m['kid_std']:.1f} | "
              f"{swd:.3f} |")


if __name__ == "__main__":
    main()
