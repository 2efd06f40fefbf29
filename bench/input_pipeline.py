"""Input pipeline images/s (cached and streaming-decode) against the training step's images/s.

    python bench/input_pipeline.py [--data data/celeba-sample] [--preset small]

Writes a CelebA-layout sample to a temp folder if --data is not given. The pipeline must outrun the step.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

import facegen  # noqa: E402,F401
from facegen._env import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from facegen.config import DataConfig, TrainConfig, preset  # noqa: E402
from facegen.data import TrainingData, discover  # noqa: E402
from facegen.training.gan import DCGAN  # noqa: E402
from facegen.data.sample import write_sample  # noqa: E402

BATCH = 64


def rate(ds, batches: int) -> float:
    it = iter(ds)
    next(it)
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * BATCH / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data")
    p.add_argument("--preset", default="small")
    args = p.parse_args()
    data = args.data or write_sample(Path(tempfile.mkdtemp()) / "celeba", 1000)
    source = discover(data)
    t = time.perf_counter()
    cached = TrainingData(source, DataConfig(path=str(data), cache=True), progress=False)
    decode_rate = len(cached) / (time.perf_counter() - t)
    streaming = TrainingData(source, DataConfig(path=str(data), cache=False), progress=False)
    gan = DCGAN(preset(args.preset), TrainConfig())
    real = tf.constant(np.random.default_rng(0).uniform(-1, 1, (BATCH, 64, 64, 3)).astype("float32"))
    for _ in range(2):
        gan.train_step(real)
    t = time.perf_counter()
    for _ in range(10):
        out = gan.train_step(real)
    out["d_loss"].numpy()
    step_rate = 10 * BATCH / (time.perf_counter() - t)
    cached_rate = rate(cached.dataset(BATCH, 0), 100)
    stream_rate = rate(streaming.dataset(BATCH, 0), 20)
    print(f"# input_pipeline — {dt.date.today()} — {machine()}")
    print(f"| what | images/s | vs {args.preset} train step |")
    print("|---|---|---|")
    print(f"| train step ({args.preset}, batch {BATCH}) | {step_rate:.0f} | 1.00 |")
    print(f"| pipeline, in-memory cache (default) | {cached_rate:.0f} | {cached_rate / step_rate:.1f} |")
    print(f"| pipeline, streaming decode (--no-cache) | {stream_rate:.0f} | {stream_rate / step_rate:.1f} |")
    print(f"| one-off cache fill (decode + crop + resize) | {decode_rate:.0f} | {decode_rate / step_rate:.1f} |")


if __name__ == "__main__":
    main()
