"""How far one Adam step moves each network, per preset and learning rate: D's mean logit on a fixed batch of
fakes after one D step, and G's images (RMS, pixels in [-1, 1]) and D's logit on them after one G step.
`small` at the article's 2e-4 trains well; a preset whose step moves its nets much further than that swings.

    python experiments/step_size.py [--data data/celeba-sample-20k] [--warm 0,20] [--paper-rates 2e-4,5e-5,2.5e-5,6e-6]

--warm N measures after N ordinary training steps (from init, the numbers say more about the init than the
training). One process, float32; about 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from common import machine  # noqa: E402


def probe(data, name: str, lr: float, warm: int, real) -> dict:
    import tensorflow as tf

    from facegen.config import TrainConfig, preset
    from facegen.training.gan import DCGAN, discriminator_loss, generator_loss

    gan = DCGAN(preset(name, 64), TrainConfig(preset=name, learning_rate=lr, mixed_precision="off", seed=5))
    batches = iter(data.dataset(64, seed=1))
    for _ in range(warm):
        gan.train_step(next(batches))
    z = gan.latents(64)[:, 0]
    fake = gan.generator(z, training=True)
    d_vars = gan.discriminator.trainable_variables
    saved = [v.numpy() for v in d_vars]
    before = tf.reduce_mean(gan.discriminator(fake, training=True))
    with tf.GradientTape() as tape:
        loss = discriminator_loss(gan.discriminator(real, training=True), gan.discriminator(fake, training=True))
    gan.d_optimizer.apply_gradients(zip(tape.gradient(loss, d_vars), d_vars))
    d_shift = abs(float(tf.reduce_mean(gan.discriminator(fake, training=True)) - before))
    for v, w in zip(d_vars, saved):  # G's step is measured against the same D
        v.assign(w)
    with tf.GradientTape() as tape:
        g_loss = generator_loss(gan.discriminator(gan.generator(z, training=True), training=True))
    g_vars = gan.generator.trainable_variables
    gan.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))
    moved = gan.generator(z, training=True)
    return {"d_shift": d_shift, "g_rms": float(tf.sqrt(tf.reduce_mean((moved - fake) ** 2))),
            "g_logit": float(tf.reduce_mean(gan.discriminator(moved, training=True)) - before)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/celeba-sample-20k")
    p.add_argument("--warm", default="0,20")
    p.add_argument("--paper-rates", default="2e-4,5e-5,2.5e-5,6e-6")
    args = p.parse_args()

    import facegen  # noqa: F401
    from facegen.config import DataConfig
    from facegen.data import TrainingData, discover

    data = TrainingData(discover(args.data, "train"), DataConfig(path=args.data, resolution=64), progress=False)
    real = next(iter(data.dataset(64, seed=0)))
    print(f"# step_size — {dt.date.today()} — {machine()}")
    print("| preset | learning rate | after steps | D step: fake logit moves | G step: image RMS change | "
          "G step: D logit on its images |")
    print("|---|---|---|---|---|---|")
    for warm in map(int, args.warm.split(",")):
        runs = [("small", 2e-4)] + [("paper", float(r)) for r in args.paper_rates.split(",")]
        for name, lr in runs:
            r = probe(data, name, lr, warm, real)
            print(f"| {name} | {lr:.2g} | {warm} | {r['d_shift']:.2f} | {r['g_rms']:.4f} | {r['g_logit']:+.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
