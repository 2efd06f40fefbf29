"""Export throughput on one checkpoint, in one run: (a) generator only, (b) encode+write only, (c) the naive
loop a user would write, (d) `facegen export`; then (d)/(c), (d) against the pipeline bound, and peak RSS of
`tiny` exports of two sizes (memory must not grow with --count).

    python bench/export_speed.py [--preset small] [--count 4000] [--rss-counts 10000,100000]

On a CPU-only machine generation and encoding share the cores, so the bound is 1/(1/a + 1/b); with a GPU
it is min(a, b).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, run_json  # noqa: E402


def make_run(preset: str, run_dir: Path) -> Path:
    """A run folder with an initialised (untrained) model: speed does not depend on training."""
    import facegen  # noqa: F401

    from facegen.config import DataConfig, RunConfig, TrainConfig
    from facegen.config import preset as make
    from facegen.training.loop import init_run

    cfg = RunConfig(model=make(preset), data=DataConfig(path="none"), train=TrainConfig(preset=preset))
    return init_run(run_dir, cfg)


def one(run_dir: Path, count: int, mode: str) -> dict:
    import facegen  # noqa: F401
    import numpy as np

    from facegen.config import ExportConfig
    from facegen.export.render import BlockRenderer, export
    from facegen.export.scores import RealismScore
    from facegen.export.identities import IdentityPlan, resolve_counts
    from facegen.atomic import write_bytes
    from facegen.images import encode
    from facegen.models.generator import Generator

    from facegen import hardware

    k, m = resolve_counts(count, None, None)
    out = Path(tempfile.mkdtemp()) / "synth"
    # "_float32" modes pin float32; the others use --mixed-precision auto as a user gets it.
    precision = "off" if mode.endswith("_float32") else hardware.resolve("auto", "export")
    mode = mode.removesuffix("_float32")
    if mode in ("export", "export_realism"):
        if mode == "export_realism":  # the calibration is once per checkpoint, not per export: not timed
            from facegen.export.realism import load_or_calibrate

            load_or_calibrate(Generator.from_run(run_dir), run_dir)
        t = time.perf_counter()
        export(run_dir, out, ExportConfig(identities=k, per_identity=m, realism=mode == "export_realism",
                                          precision=precision), progress=False)
        seconds = time.perf_counter() - t
    else:
        gen = Generator.from_run(run_dir, precision=precision)
        plan = IdentityPlan(0, k, m, gen.latent_dim)
        z = plan.latents(np.arange(count))
        if mode in ("generate", "generate_realism"):
            # D's graph only: the calibration is used after rendering, which this timing leaves out.
            scores = [RealismScore(gen, None, 0.0)] if mode == "generate_realism" else []
            renderer = BlockRenderer(gen, 64, 0, scores)
            renderer(z[:256].reshape(4, 64, -1))
            t = time.perf_counter()
            for i in range(0, count - 255, 256):
                renderer(z[i:i + 256].reshape(4, 64, -1))
            seconds = time.perf_counter() - t
        elif mode == "write":
            images = gen.generate(z[:256])
            out.mkdir(parents=True)
            t = time.perf_counter()
            with ThreadPoolExecutor(os.cpu_count()) as pool:
                list(pool.map(lambda i: write_bytes(out / f"{i}.png", encode(images[i % 256]), durable=False), range(count)))
            seconds = time.perf_counter() - t
        elif mode == "naive":
            from PIL import Image

            gen.generator(z[:64], training=False)
            out.mkdir(parents=True)
            t = time.perf_counter()
            with open(out / "manifest.csv", "w", newline="") as f:
                rows = csv.writer(f)
                for i in range(0, count, 64):
                    batch = gen.generator(z[i:i + 64], training=False).numpy()
                    for j, img in enumerate(batch):
                        n = i + j
                        ident = f"id_{n // m + 1:06d}"
                        (out / ident).mkdir(exist_ok=True)
                        path = out / ident / f"{ident}_{n % m:04d}.png"
                        Image.fromarray(((img + 1) * 127.5).round().clip(0, 255).astype("uint8")).save(path)
                        rows.writerow([path, n // m])
            seconds = time.perf_counter() - t
    return {"images_per_second": count / seconds, "precision": precision,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="small")
    p.add_argument("--count", type=int, default=4000)
    p.add_argument("--rss-counts", default="10000,100000")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the best of each is reported")
    p.add_argument("--one", nargs=3, metavar=("RUN", "COUNT", "MODE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(Path(args.one[0]), int(args.one[1]), args.one[2])))
        return

    tmp = Path(tempfile.mkdtemp())
    run = make_run(args.preset, tmp / args.preset)
    # Best of interleaved rounds: this machine's speed drifts by 2x within minutes (bench/RESULTS.md).
    modes = ("generate", "generate_float32", "generate_realism", "write", "naive", "export", "export_float32",
             "export_realism")
    r = {mode: 0.0 for mode in modes}
    auto = "off"
    for _ in range(args.repeats):
        for mode in modes:
            one_run = run_json([__file__, "--one", str(run), str(args.count), mode])
            r[mode] = max(r[mode], one_run["images_per_second"])
            auto = one_run["precision"] if mode == "export" else auto
    import tensorflow as tf

    gpu = bool(tf.config.list_physical_devices("GPU"))

    def bound(generate: float) -> float:
        return min(generate, r["write"]) if gpu else 1 / (1 / generate + 1 / r["write"])

    print(f"# export_speed — {dt.date.today()} — {machine()}{' + GPU' if gpu else ''}")
    policy = "bfloat16" if auto == "bfloat16" else "float32"
    print(f"preset {args.preset}, 64x64 PNG, {args.count} images, best of {args.repeats} interleaved rounds; "
          f"--mixed-precision auto resolves to {policy} here")
    print("| stage | images/s |")
    print("|---|---|")
    for name, key in (("(a) generator only (tf.function, blocks of 64), auto", "generate"),
                      ("(a) generator only, float32", "generate_float32"),
                      ("(a') generator + D realism score", "generate_realism"),
                      ("(b) encode + write only (PNG level 1, thread pool)", "write"),
                      ("(c) naive loop (eager G per 64, PIL save, csv row)", "naive"),
                      ("(d) facegen export (default: auto precision, no realism score)", "export"),
                      ("(d) facegen export --mixed-precision off (float32)", "export_float32"),
                      ("(d') facegen export --realism", "export_realism")):
        print(f"| {name} | {r[key]:.0f} |")
    how = "min(a, b)" if gpu else "1/(1/a + 1/b)"
    print(f"(d)/(c) = {r['export'] / r['naive']:.2f}x the naive loop; (d)/bound = {r['export'] / bound(r['generate']):.2f} "
          f"(bound {how} = {bound(r['generate']):.0f} img/s)")
    print(f"(d')/(c) = {r['export_realism'] / r['naive']:.2f}x the naive loop; (d')/bound' = "
          f"{r['export_realism'] / bound(r['generate_realism']):.2f} (bound with a' = {bound(r['generate_realism']):.0f})")
    print(f"auto against float32: generator {r['generate'] / r['generate_float32']:.2f}x, export "
          f"{r['export'] / r['export_float32']:.2f}x")
    if args.rss_counts:
        tiny = make_run("tiny", tmp / "tiny")
        rss = {int(c): run_json([__file__, "--one", str(tiny), c, "export"])["peak_rss_mib"]
               for c in args.rss_counts.split(",")}
        (a, ra), (b, rb) = sorted(rss.items())
        print(f"peak RSS, tiny export: {a} images {ra:.0f} MiB, {b} images {rb:.0f} MiB (ratio {rb / ra:.3f})")


if __name__ == "__main__":
    main()
