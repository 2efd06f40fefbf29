"""Does the article's model (`--preset paper`) train? `paper` and `small` on the same data, seed and number of
images seen: losses, D(x) and D(G(z)) against step, FID/KID (in-training, --eval-n generated images against
a fixed real subset) every --eval-every steps, and a strip of sample grids.

    python experiments/paper_convergence.py --data data/celeba-sample --steps 600 --work /tmp/paper-bench

Training is the CLI's own (`facegen train`, float32 unless --mixed-precision, the defaults otherwise: the
article's 2e-4 for both) and resumable, so re-running with the same --work reuses finished runs and finishes
interrupted ones. --before-steps also trains `paper` at 2.5e-5, 1/8 of the article's step (the preset's rate
before 2026-12-01, which never left one z-independent texture), for the before curves. Writes
paper_convergence.png (curves) and <run>_grids.jpg (samples at four steps) into --figures and prints a
markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import machine  # noqa: E402

PRESETS = ("paper", "small")
BEFORE_RATE = "2.5e-05"  # `paper`'s former preset rate (1/8 of the article's): the stalled before-run
BEFORE = f"paper-{BEFORE_RATE}"


def train(data: str, out: Path, preset: str, steps: int, every: int, eval_n: int, seed: int, precision: str,
          *extra: str) -> None:
    cmd = ["facegen", "train", "--data", data, "--out", str(out), "--preset", preset, "--steps", str(steps),
           "--seed", str(seed), "--mixed-precision", precision, "--eval-every", str(every), "--eval-n", str(eval_n),
           "--sample-every", str(every), "--keep", "2", "--quiet", *extra]
    print("$", " ".join(cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"training {out} failed:\n{r.stderr[-2000:]}")


def scalars(run: Path) -> dict[str, dict[int, float]]:
    """{tag: {step: value}} from the run's TensorBoard event files (the last value wins on a resumed step)."""
    import tensorflow as tf

    out: dict[str, dict[int, float]] = {}
    for path in sorted((run / "logs").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for v in event.summary.value:
                if v.metadata.plugin_data.plugin_name == "scalars":
                    out.setdefault(v.tag, {})[int(event.step)] = float(tf.make_ndarray(v.tensor))
    return out


def plot(curves: dict[str, dict], path: Path) -> None:
    from facegen import plots

    def series(tags):
        return {f"{preset} {tag}": (sorted(s[tag]), [s[tag][k] for k in sorted(s[tag])])
                for preset, s in curves.items() for tag in tags}

    x = "step (64 images each)"
    plots.save(plots.side_by_side([
        plots.line_chart(series(("d_loss", "g_loss")), "losses (log scale)", x, log_y=True),
        plots.line_chart(series(("d_real", "d_fake")), "D(x) and D(G(z)), batch means", x),
        plots.line_chart(series(("fid",)), "FID (in-training)", x, markers=True)]), path)


def grid_strip(run: Path, steps: list[int], path: Path, cells: int = 4) -> None:
    """The top-left cells x cells of each sample grid, side by side, one column per step."""
    from PIL import Image

    tiles = []
    for step in steps:
        grid = np.asarray(Image.open(run / "samples" / f"step_{step:07d}.png").convert("RGB"))
        side = grid.shape[0] // 8 * cells
        tiles.append(np.pad(grid[:side, :side], ((0, 0), (0, 8), (0, 0)), constant_values=255))
    Image.fromarray(np.concatenate(tiles, axis=1)).save(path, quality=90)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/celeba-sample")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--every", type=int, default=100, help="steps between FID checks and sample grids")
    p.add_argument("--eval-n", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mixed-precision", default="off",
                   help="training precision of every run (off = float32; bfloat16 halves `paper`'s time on AMX)")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--figures", type=Path, default=ROOT / "bench")
    p.add_argument("--before-steps", type=int, default=100,
                   help=f"also train `paper` at {BEFORE_RATE} this long ({BEFORE}: the before curves); 0 = skip")
    args = p.parse_args()
    for preset in PRESETS:
        train(args.data, args.work / preset, preset, args.steps, args.every, args.eval_n, args.seed,
              args.mixed_precision)
    runs = list(PRESETS)
    if args.before_steps:
        every = min(args.every, args.before_steps)
        train(args.data, args.work / BEFORE, "paper", args.before_steps, every, args.eval_n, args.seed,
              args.mixed_precision, "--learning-rate", BEFORE_RATE)
        runs.append(BEFORE)

    curves = {run: scalars(args.work / run) for run in runs}
    plot(curves, args.figures / "paper_convergence.png")
    for preset in runs:
        fids = sorted(curves[preset]["fid"])
        picks = [fids[i] for i in sorted(set(np.linspace(0, len(fids) - 1, 4).round().astype(int)))]
        grid_strip(args.work / preset, picks, args.figures / f"{preset}_grids.jpg")

    print(f"# paper_convergence — {dt.date.today()} — {machine()}")
    precision = "float32" if args.mixed_precision == "off" else args.mixed_precision
    print(f"{args.data}, batch 64, seed {args.seed}, {precision}; FID/KID: {args.eval_n} generated images against the "
          "run's fixed real subset (in-training evaluation)")
    steps = sorted(curves["paper"]["fid"])
    print("| step | images seen | " + " | ".join(f"{pr} FID | {pr} KID x 1000 | {pr} D(x) | {pr} D(G(z))"
                                              for pr in runs) + " |")
    print("|---" * (2 + 4 * len(runs)) + "|")
    for step in sorted(set(steps) | set(curves.get(BEFORE, {}).get("fid", {}))):
        cells = []
        for pr in runs:
            s = curves[pr]
            if step > max(s["d_real"]):
                cells += ["-"] * 4
                continue
            near = min(s["d_real"], key=lambda k: abs(k - step))
            cells += [f"{s['fid'].get(step, float('nan')):.1f}", f"{1000 * s['kid'].get(step, float('nan')):.1f}",
                      f"{s['d_real'][near]:.2f}", f"{s['d_fake'][near]:.2f}"]
        print(f"| {step} | {64 * step:,} | " + " | ".join(cells) + " |")
    for pr in runs:
        rate = curves[pr].get("images_per_second", {})
        if rate:
            print(f"{pr}: {np.median(list(rate.values())):.1f} images/s (median over log windows)")


if __name__ == "__main__":
    main()
