"""Does the calibrated realism filter keep better images? Judged by what is not D.

    python experiments/realism_filter.py --run runs/quickstart --run runs/identity --data data/celeba-sample

For each run: one scored export (--realism) gives the share of first draws that pass --min-realism 0.1 /
0.3 / 0.5; exports with those thresholds give the redraw cost in images/s against the default export (no D)
and the scored one, in the same process. The scored export's images are split by D's calibrated score (kept
= realism >= 0.3 vs dropped, and the top half vs the bottom half) and each group is judged against the real
photos by FID/KID on the FID Inception and by the MTCNN face rate, at equal group sizes. Downstream:
experiments/cnn_recognizer.py trains on an unfiltered and on a --min-realism 0.3 export of the same size and
verifies held-out real identities. Prints markdown tables and one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import machine, run_json  # noqa: E402

import facegen  # noqa: E402,F401
from facegen._env import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()
from facegen.config import DataConfig, ExportConfig  # noqa: E402
from facegen.data import TrainingData, discover  # noqa: E402
from facegen.export.render import export  # noqa: E402
from facegen.metrics.distances import gaussian_stats  # noqa: E402
from facegen.metrics.evaluate import face_rate, fake_images_from_export  # noqa: E402
from facegen.metrics.fid import FeatureExtractor, fid_kid  # noqa: E402

THRESHOLDS = (0.1, 0.3, 0.5)


def timed_export(run: Path, out: Path, cfg: ExportConfig) -> tuple[float, object]:
    t = time.perf_counter()
    result = export(run, out, cfg, progress=False)
    return cfg.identities * cfg.per_identity / (time.perf_counter() - t), result


def judge(images: np.ndarray, real_feats: np.ndarray, extractor: FeatureExtractor) -> dict:
    scores = fid_kid(extractor(images), gaussian_stats(real_feats), real_feats, kid_subsets=50)
    return {**scores, "face_rate": face_rate(images[:500]), "n": len(images)}


def against_real_photos(run: Path, data: str, logits: np.ndarray) -> dict:
    """Why the score ranks among generated images: where D puts generated images among held-out real photos."""
    from facegen.data import decode_all
    from facegen.config import PARTITIONS
    from facegen.models.generator import Generator

    gen = Generator.from_run(run)
    source = discover(data, "all")
    val = source.frame[source.frame["partition"] == PARTITIONS["val"]]
    images, _ = decode_all(val["path"].tolist(), gen.config.model.resolution, source.default_crop, progress=False)
    real = gen.realism_logits(images.astype(np.float32) / 127.5 - 1.0).numpy()
    return {"held_out_real_photos": len(real),
            "generated_above_real_p1": float((logits > np.percentile(real, 1)).mean()),
            "generated_above_real_p10": float((logits > np.percentile(real, 10)).mean()),
            "generated_above_real_median": float((logits > np.median(real)).mean())}


def recognizer(train: Path, data: str, epochs: int) -> dict:
    return run_json([str(ROOT / "experiments" / "cnn_recognizer.py"), "--train", str(train), "--real", data,
                     "--epochs", str(epochs)])


def one_run(run: Path, args, real_feats: np.ndarray, extractor: FeatureExtractor, work: Path) -> dict:
    base = dict(identities=args.identities, per_identity=args.per_identity, seed=1)
    scored_dir = work / f"{run.name}-scored"
    export(run, scored_dir, ExportConfig(**base, realism=True), progress=False)  # also warms up
    images, _, _ = fake_images_from_export(scored_dir)
    import pandas as pd

    manifest = pd.read_csv(scored_dir / "manifest.csv")
    realism = manifest["realism"].to_numpy()
    out = {"run": str(run), "images": len(realism), "first_draw_pass": {t: float((realism >= t).mean())
                                                                          for t in THRESHOLDS},
           "real_photos": against_real_photos(run, args.data, manifest["realism_logit"].to_numpy())}
    # Redraw cost, same process, a smaller export per setting.
    small = dict(identities=args.speed_identities, per_identity=args.per_identity, seed=2)
    speed = {"default (no D)": timed_export(run, work / f"{run.name}-s0", ExportConfig(**small))[0],
             "--realism": timed_export(run, work / f"{run.name}-s1", ExportConfig(**small, realism=True))[0]}
    for t in THRESHOLDS:
        rate, result = timed_export(run, work / f"{run.name}-m{t}", ExportConfig(**small, min_realism=t))
        speed[f"--min-realism {t}"] = rate
        out[f"still_below_{t}"] = result.below_threshold / (small["identities"] * small["per_identity"])
    out["images_per_second"] = speed
    # Kept vs dropped by judges that are not D, at equal sizes.
    rng = np.random.default_rng(0)
    order = np.argsort(realism, kind="stable")
    half = len(order) // 2
    groups = {"bottom half by realism": order[:half], "top half by realism": order[-half:]}
    kept, dropped = np.flatnonzero(realism >= 0.3), np.flatnonzero(realism < 0.3)
    n = min(len(kept), len(dropped))
    if n >= 50:
        groups["dropped (< 0.3)"] = rng.choice(dropped, n, replace=False)
        groups["kept (>= 0.3)"] = rng.choice(kept, n, replace=False)
    out["judges"] = {name: judge(images[idx], real_feats, extractor) for name, idx in groups.items()}
    if args.epochs:
        filtered = work / f"{run.name}-filtered"
        export(run, filtered, ExportConfig(**base, min_realism=0.3), progress=False)
        unfiltered = work / f"{run.name}-plain"
        export(run, unfiltered, ExportConfig(**base), progress=False)
        out["downstream"] = {"unfiltered": recognizer(unfiltered, args.data, args.epochs),
                             "--min-realism 0.3": recognizer(filtered, args.data, args.epochs)}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, action="append", required=True)
    p.add_argument("--data", default="data/celeba-sample")
    p.add_argument("--identities", type=int, default=80)
    p.add_argument("--per-identity", type=int, default=25)
    p.add_argument("--speed-identities", type=int, default=16)
    p.add_argument("--epochs", type=int, default=15, help="recognizer epochs; 0 skips the downstream runs")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp())
    real = TrainingData(discover(args.data, "all"), DataConfig(path=args.data), progress=False)
    extractor = FeatureExtractor()
    real_feats = extractor(real.images)
    results = [one_run(run, args, real_feats, extractor, work) for run in args.run]

    print(f"# realism_filter — {dt.date.today()} — {machine()}")
    print(f"scored export: {args.identities} x {args.per_identity} images; FID/KID against all "
          f"{len(real.images)} real images (FID Inception); face rate = MTCNN finds exactly one face")
    for r in results:
        print(f"\n## {r['run']}\n")
        rp = r["real_photos"]
        print(f"D ranks {100 * rp['generated_above_real_p1']:.1f}% of generated images above the least real 1% of "
              f"{rp['held_out_real_photos']} held-out real photos, {100 * rp['generated_above_real_p10']:.1f}% above "
              f"the least real 10%, {100 * rp['generated_above_real_median']:.1f}% above the median.\n")
        print("| --min-realism | first draws passing | still below after 8 draws | images/s |")
        print("|---|---|---|---|")
        s = r["images_per_second"]
        print(f"| (default, no D) | | | {s['default (no D)']:.0f} |")
        print(f"| --realism (scored, no filter) | | | {s['--realism']:.0f} |")
        for t in THRESHOLDS:
            print(f"| {t} | {100 * r['first_draw_pass'][t]:.1f}% | {100 * r[f'still_below_{t}']:.1f}% | "
                  f"{s[f'--min-realism {t}']:.0f} |")
        print("\n| group | n | FID | KID x 1000 | face rate |")
        print("|---|---|---|---|---|")
        for name, j in r["judges"].items():
            face = "skipped" if j["face_rate"] is None else f"{100 * j['face_rate']:.1f}%"
            print(f"| {name} | {j['n']} | {j['fid']:.1f} | {1000 * j['kid']:.1f} | {face} |")
        if "downstream" in r:
            print("\n| recognizer trained on | verification accuracy | ROC AUC |")
            print("|---|---|---|")
            for name, d in r["downstream"].items():
                print(f"| {name} | {100 * d['verification_accuracy']:.1f}% | {d['roc_auc']:.3f} |")
    print(json.dumps(results, default=str))


if __name__ == "__main__":
    main()
