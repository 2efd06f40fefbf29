"""Shared bench helpers: machine description, matmul peak, DCGAN FLOP counts, subprocess runs."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository


BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # CPU flags for native bfloat16 arithmetic


def export_seconds(record: dict) -> float:
    """An export's own time from its export.json (start to end: TensorFlow's start-up is not in it)."""
    return (dt.datetime.fromisoformat(record["ended"]) - dt.datetime.fromisoformat(record["started"])).total_seconds()


def machine() -> str:
    """CPU model, cores, the bfloat16 flags it has (mixed precision's speed depends on them), Python."""
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    bf16 = ", ".join(f for f in BF16_FLAGS if f in flags) or "none"
    return f"{cpu}, {os.cpu_count()} cores, bf16 flags: {bf16}, Python {platform.python_version()}"


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """float32 GEMM GFLOP/s through numpy's BLAS: the ceiling the conv kernels are compared with."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.copy()
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def forward_flops(widths: tuple[int, ...], resolution: int, kernel: int = 5, latent: int = 100) -> tuple[float, float]:
    """Multiply-add FLOPs (x2) of one image through G and through D, for G widths from 4x4 upwards."""
    k2 = kernel * kernel
    g = 2 * latent * 16 * widths[0]
    size = 4
    chans = list(widths) + [3]
    for cin, cout in zip(chans, chans[1:]):
        g += 2 * k2 * cin * cout * size * size  # transposed conv: every input pixel scatters k*k*cout
        size *= 2
    d = 0
    size = resolution
    dch = [3] + list(reversed(widths))
    for cin, cout in zip(dch, dch[1:]):
        size //= 2
        d += 2 * k2 * cin * cout * size * size
    d += 2 * 16 * widths[0]
    return float(g), float(d)


def train_step_flops(widths, resolution, batch) -> float:
    """Approximate FLOPs of one D+G step: G runs forward twice and backward once (about 2x forward);
    D runs forward three times (real, fake, G's step) and backward three times."""
    g, d = forward_flops(widths, resolution)
    return batch * (4 * g + 9 * d)


def sample_judge(data: str):
    """(the real training partition, a classifier trained on its true identities): the identity benches' judge."""
    from facegen.config import DataConfig
    from facegen.data import TrainingData, discover
    from facegen.metrics.identity import IdentityClassifier

    real = TrainingData(discover(data, "train"), DataConfig(path=data), progress=False)
    return real, IdentityClassifier.train(real.images, real.identities, epochs=20)


def sample_held_out(data: str):
    """The held-out people (CelebA val+test), split as the embedder splits them: images and identities of
    people no model in the identity benches trained on."""
    from facegen.config import DataConfig, EmbedderConfig
    from facegen.data import TrainingData, discover
    from facegen.training.embedder import split_identities

    _, held = split_identities(discover(data, "all"), EmbedderConfig(data=data).held_out_every)
    images = TrainingData(held, DataConfig(path=data), progress=False)
    return images.images, images.identities


def gan_step_seconds(gan, real, steps: int) -> float:
    """Seconds per `gan.train_step(real)` over `steps` steps, after two untimed ones (tracing, first allocations)."""
    for _ in range(2):
        gan.train_step(real)["d_loss"].numpy()
    t = time.perf_counter()
    for _ in range(steps):
        out = gan.train_step(real)
    out["d_loss"].numpy()
    return (time.perf_counter() - t) / steps


def run_json(args: list[str], env: dict | None = None, timeout: int = 1800, cwd: str | None = None) -> dict:
    """Run `python args...` in a fresh process (so TF and torch never share thread pools) and parse the
    last stdout line as JSON."""
    full_env = {**os.environ, **(env or {})}
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=full_env, timeout=timeout,
                       cwd=cwd)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def sh(*args: str) -> str:
    """Run a command from the repository root; its stdout, or exit with its stderr's tail."""
    r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    if r.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{r.stderr[-2000:]}")
    return r.stdout
