"""bfloat16 against float32 for what `train` runs besides the plain GAN step, in one run, as ratios: the identity
embedder's training step (the judge's and the attribute classifier's are the same trunk) and the identity-mode GAN
step with the identity loss, whose frozen embedder computes at G's policy. Each measurement runs in its own process.

    python bench/trunk_speed.py --data data/celeba-sample --embedder runs/quickstart/embedder

The embedder step is the real `facegen embedder train` loop: two trainings of --short and --long steps (after a
one-step warm-up), whose difference in time divided by the difference in steps leaves out start-up, decoding and
the report.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import gan_step_seconds, machine, run_json  # noqa: E402

POLICIES = ("off", "bfloat16")
BATCH = 64


def measure_embedder(data: str, precision: str, short: int, long: int) -> dict:
    import facegen  # noqa: F401

    from facegen.config import EmbedderConfig
    from facegen.training.embedder import train_embedder

    seconds = []
    for steps in (1, short, long):  # the first pays the process's one-time TensorFlow set-up
        with tempfile.TemporaryDirectory() as folder:
            t = time.perf_counter()
            train_embedder(Path(folder) / "e", EmbedderConfig(data=data, steps=steps, mixed_precision=precision),
                           progress=False)
            seconds.append(time.perf_counter() - t)
    return {"ms_per_step": 1000 * (seconds[2] - seconds[1]) / (long - short)}


def measure_gan(embedder: str, precision: str, steps: int) -> dict:
    import facegen  # noqa: F401
    import numpy as np
    import tensorflow as tf

    from facegen.config import TrainConfig, preset
    from facegen.training.gan import DCGAN

    tf.config.experimental.enable_op_determinism()  # as training runs
    gan = DCGAN(preset("small", mode="identity"),
                TrainConfig(mixed_precision=precision, identity_loss=1.0, identity_embedder=embedder))
    real = tf.constant(np.random.default_rng(0).uniform(-1, 1, (BATCH, 2, 64, 64, 3)).astype("float32"))
    return {"ms_per_step": 1000 * gan_step_seconds(gan, real, steps)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/celeba-sample", help="identity-labelled faces for the embedder")
    p.add_argument("--embedder", required=True, help="a trained embedder folder for the identity loss")
    p.add_argument("--short", type=int, default=20)
    p.add_argument("--long", type=int, default=120)
    p.add_argument("--gan-steps", type=int, default=20)
    p.add_argument("--one", nargs=2, metavar=("WHAT", "POLICY"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        import json

        what, precision = args.one
        r = (measure_embedder(args.data, precision, args.short, args.long) if what == "embedder"
             else measure_gan(args.embedder, precision, args.gan_steps))
        print(json.dumps(r))
        return
    print(f"# trunk_speed — {machine()}")
    print(f"`small`, batch {BATCH}; ms per step, each in its own process\n")
    print("| step | float32 | bfloat16 | bfloat16 / float32 |")
    print("|---|---|---|---|")
    base = [__file__, "--data", args.data, "--embedder", args.embedder, "--short", str(args.short),
            "--long", str(args.long), "--gan-steps", str(args.gan_steps), "--one"]
    for what, name in (("embedder", "embedder training"), ("gan", "identity-mode GAN with the identity loss")):
        ms = {pr: run_json([*base, what, pr])["ms_per_step"] for pr in POLICIES}
        print(f"| {name} | {ms['off']:.0f} | {ms['bfloat16']:.0f} | {ms['bfloat16'] / ms['off']:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
