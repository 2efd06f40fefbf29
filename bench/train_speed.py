"""Training images/s of facegen against two peers, in one run, as ratios and GFLOP/s vs a matmul peak.

Peers: (1) the keras-io style `keras.Model` with an overridden `train_step`, driven by `fit`; (2) PyTorch
with the same DCGAN (5x5 kernels, the preset's widths, channels_last), trained the way the PyTorch DCGAN
example does (D on real, D on fake, then G). All three use the same architecture, batch and optimiser, so
images/s compare directly. Each measurement runs in its own process.

    python bench/train_speed.py [--presets small,paper] [--steps-small 30] [--steps-paper 4] [--identity]

--identity adds facegen's identity mode (SD-GAN: G makes pairs, the Siamese D sees two images per
example); its images/s counts every image D judges, so it compares with plain mode per image.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import gan_step_seconds, machine, matmul_peak_gflops, run_json, train_step_flops  # noqa: E402

BATCH = 64


def measure_facegen(preset: str, steps: int, identity: bool = False, precision: str = "auto") -> dict:
    import dataclasses

    import facegen  # noqa: F401
    import numpy as np
    import tensorflow as tf

    from facegen.config import TrainConfig
    from facegen.config import preset as make
    from facegen.training.gan import DCGAN

    model = dataclasses.replace(make(preset), identity_dim=50) if identity else make(preset)
    gan = DCGAN(model, TrainConfig(seed=0, mixed_precision=precision))
    shape = (BATCH, 2, 64, 64, 3) if identity else (BATCH, 64, 64, 3)
    real = tf.constant(np.random.default_rng(0).uniform(-1, 1, shape).astype("float32"))
    return {"images_per_second": BATCH * (2 if identity else 1) / gan_step_seconds(gan, real, steps),
            "precision": gan.train_cfg.mixed_precision}


def measure_keras_fit(preset: str, steps: int, jit_compile="auto") -> dict:
    import facegen  # noqa: F401
    import keras
    import numpy as np
    import tensorflow as tf

    from facegen.config import preset as make
    from facegen.models.dcgan import build_discriminator, build_generator

    cfg = make(preset)

    class GAN(keras.Model):
        """The keras-io DCGAN pattern: compile() takes both optimizers, train_step does D then G."""

        def __init__(self):
            super().__init__()
            self.g, self.d = build_generator(cfg, 0), build_discriminator(cfg, 1)
            self.bce = keras.losses.BinaryCrossentropy(from_logits=True)

        def compile(self, d_opt, g_opt):
            # Keras 3's default jit_compile="auto" turns XLA on for this model.
            super().compile(jit_compile=jit_compile)
            self.d_opt, self.g_opt = d_opt, g_opt

        def train_step(self, real):
            b = tf.shape(real)[0]
            z = tf.random.normal([b, cfg.latent_dim])
            with tf.GradientTape() as tape:
                fake = self.g(z, training=True)
                rl, fl = self.d(real, training=True), self.d(fake, training=True)
                d_loss = self.bce(tf.ones_like(rl), rl) + self.bce(tf.zeros_like(fl), fl)
            self.d_opt.apply_gradients(zip(tape.gradient(d_loss, self.d.trainable_weights), self.d.trainable_weights))
            z = tf.random.normal([b, cfg.latent_dim])
            with tf.GradientTape() as tape:
                gl = self.d(self.g(z, training=True), training=True)
                g_loss = self.bce(tf.ones_like(gl), gl)
            self.g_opt.apply_gradients(zip(tape.gradient(g_loss, self.g.trainable_weights), self.g.trainable_weights))
            return {"d_loss": d_loss, "g_loss": g_loss}

    gan = GAN()
    gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))
    real = np.random.default_rng(0).uniform(-1, 1, (BATCH, 64, 64, 3)).astype("float32")
    ds = tf.data.Dataset.from_tensors(real).repeat()
    gan.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)
    t = time.perf_counter()
    gan.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return {"images_per_second": steps * BATCH / (time.perf_counter() - t)}


def measure_torch(preset: str, steps: int, bfloat16: bool = False) -> dict:
    import torch
    from torch import nn

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from facegen.config import preset as make

    torch.set_num_threads(len(__import__("os").sched_getaffinity(0)))
    cfg = make(preset)
    w = cfg.generator_widths

    class View(nn.Module):
        def forward(self, x):
            return x.view(-1, w[0], 4, 4)

    g_layers = [nn.Linear(cfg.latent_dim, 16 * w[0], bias=False), View(), nn.BatchNorm2d(w[0]), nn.ReLU(True)]
    for a, b in zip(w, w[1:]):
        g_layers += [nn.ConvTranspose2d(a, b, 5, 2, 2, output_padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
    g_layers += [nn.ConvTranspose2d(w[-1], 3, 5, 2, 2, output_padding=1), nn.Tanh()]
    d_w = [3, *reversed(w)]
    d_layers = []
    for i, (a, b) in enumerate(zip(d_w, d_w[1:])):
        d_layers += [nn.Conv2d(a, b, 5, 2, 2, bias=(i == 0))] + ([nn.BatchNorm2d(b)] if i else []) + [nn.LeakyReLU(0.2, True)]
    d_layers += [nn.Flatten(), nn.Linear(16 * w[0], 1)]
    G, D = nn.Sequential(*g_layers), nn.Sequential(*d_layers)
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    og = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    real = (torch.rand(BATCH, 3, 64, 64) * 2 - 1).to(memory_format=torch.channels_last)
    ones, zeros = torch.ones(BATCH, 1), torch.zeros(BATCH, 1)

    import contextlib

    def autocast():  # PyTorch's own mixed precision: bfloat16 autocast on the CPU
        return torch.autocast("cpu", dtype=torch.bfloat16) if bfloat16 else contextlib.nullcontext()

    def step():
        with autocast():
            return _step()

    def _step():
        # As the PyTorch DCGAN example: D on real, D on detached fake, then G against "real" labels.
        D.zero_grad()
        fake = G(torch.randn(BATCH, cfg.latent_dim))
        (bce(D(real), ones) + bce(D(fake.detach()), zeros)).backward()
        od.step()
        G.zero_grad()
        bce(D(G(torch.randn(BATCH, cfg.latent_dim))), ones).backward()
        og.step()

    for _ in range(2):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return {"images_per_second": steps * BATCH / (time.perf_counter() - t)}


PEERS = {"facegen": measure_facegen, "keras_fit": measure_keras_fit, "torch": measure_torch,
         "facegen_bfloat16": lambda preset, steps: measure_facegen(preset, steps, precision="bfloat16"),
         "facegen_float32": lambda preset, steps: measure_facegen(preset, steps, precision="off"),
         "torch_bfloat16": lambda preset, steps: measure_torch(preset, steps, bfloat16=True),
         "facegen_identity": lambda preset, steps: measure_facegen(preset, steps, identity=True),
         "keras_fit_nojit": lambda preset, steps: measure_keras_fit(preset, steps, jit_compile=False)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", default="small,paper")
    p.add_argument("--steps-small", type=int, default=30)
    p.add_argument("--steps-paper", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3,
                   help="rounds over all runners, interleaved; the best round counts (this machine is noisy)")
    p.add_argument("--identity", action="store_true", help="also time identity mode (pairs, Siamese D)")
    p.add_argument("--runners", default="", help="only these runners, by id (comma list; default all): facegen, "
                   "facegen_float32, facegen_bfloat16, onednn_off, keras_fit, keras_fit_nojit, torch, torch_bfloat16")
    p.add_argument("--one", nargs=3, metavar=("PEER", "PRESET", "STEPS"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        peer, preset, steps = args.one
        print(json.dumps(PEERS[peer](preset, int(steps))))
        return

    import importlib.util

    from facegen.config import preset as make

    peak = matmul_peak_gflops()
    have_torch = importlib.util.find_spec("torch") is not None
    print(f"# train_speed — {dt.date.today()} — {machine()}")
    auto = run_json([__file__, "--one", "facegen", "tiny", "1"])["precision"]
    print(f"numpy float32 matmul peak: {peak:.0f} GFLOP/s; batch {BATCH}, 64x64; 'facegen' is the default, "
          f"--mixed-precision auto, which trains in {'bfloat16' if auto == 'bfloat16' else 'float32'} here")
    if not have_torch:
        print("note: torch is not installed; the PyTorch peer is skipped (pip install torch==2.13.0)")
    print(f"best of {args.repeats} interleaved rounds per runner")
    print("| preset | runner | images/s | GFLOP/s | % of peak | facegen / runner |")
    print("|---|---|---|---|---|---|")
    for preset in args.presets.split(","):
        steps = args.steps_paper if preset == "paper" else args.steps_small
        cfg = make(preset)
        flops = train_step_flops(cfg.generator_widths, 64, BATCH) / BATCH
        runs = {"facegen": ("facegen", {}), "facegen --mixed-precision off": ("facegen_float32", {}),
                "facegen --mixed-precision bfloat16": ("facegen_bfloat16", {}),
                "facegen, oneDNN off": ("facegen", {"TF_ENABLE_ONEDNN_OPTS": "0"}),
                "keras fit (default: XLA on)": ("keras_fit", {}), "keras fit, jit_compile=False": ("keras_fit_nojit", {})}
        if have_torch:
            runs["torch (channels_last)"] = ("torch", {})
            runs["torch bfloat16 autocast"] = ("torch_bfloat16", {})
        if args.identity:
            runs["facegen identity mode (per image)"] = ("facegen_identity", {})
        if args.runners:  # "facegen" (the ratio's base) always runs
            wanted = {"facegen", *args.runners.split(",")}
            runs = {name: (peer, env) for name, (peer, env) in runs.items()
                    if ("onednn_off" if env else peer) in wanted}
        results: dict[str, float] = {}
        for _ in range(args.repeats):
            for name, (peer, env) in runs.items():
                ips = run_json([__file__, "--one", peer, preset, str(steps)], env)["images_per_second"]
                results[name] = max(results.get(name, 0.0), ips)
        for name, ips in results.items():
            gf = ips * flops / 1e9
            print(f"| {preset} | {name} | {ips:.1f} | {gf:.0f} | {100 * gf / peak:.0f}% | "
                  f"{results['facegen'] / ips:.2f} |")


if __name__ == "__main__":
    main()
