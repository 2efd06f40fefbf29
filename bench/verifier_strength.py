"""What a verifying embedder costs against what it sees, for choosing a cheaper one: its throughput on this CPU and
its verification of novel people (a sample drawn with a seed none of them trained on).

    python bench/verifier_strength.py --real data/novel --embedders runs/quickstart/embedder EMB_TINY EMB_R32

For each embedder: images per second embedding 64-pixel faces alone (after a warm-up; the export's precision,
float32 unless --precision), ROC AUC and TAR at FAR 1e-3 over every genuine image pair of --real and as many
impostor pairs drawn at random, and at the embedder's own calibrated limits (its report) the rate at which novel
people's references (the unit mean of their first REFERENCE_IMAGES images, as the export forms one) pass its
separation limit, as a multiple of the nominal FAR, and the share of their other images below its consistency
limit. Results go to --out as each embedder ends.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402

IMPOSTOR_PAIRS = 400_000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--real", type=Path, required=True, help="novel people: `facegen data sample --seed S` unseen")
    p.add_argument("--embedders", type=Path, nargs="+", required=True)
    p.add_argument("--precision", default="off")
    p.add_argument("--out", type=Path, default=Path("/tmp/verifier_strength.json"))
    args = p.parse_args()

    from facegen.config import DataConfig
    from facegen.data import TrainingData, discover
    from facegen.metrics.verification import roc_auc, tar_at
    from facegen.models.embedder import REFERENCE_IMAGES
    from facegen.models.embedders import load_embedder
    from facegen.training.embedder import references

    data = TrainingData(discover(args.real, "all"), DataConfig(path=str(args.real), resolution=64), progress=False)
    ids = np.asarray(data.identities)
    ii, jj = np.triu_indices(len(ids), 1)
    pair_same = ids[ii] == ids[jj]
    genuine = ii[pair_same], jj[pair_same]
    del ii, jj
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(ids), 2 * IMPOSTOR_PAIRS), rng.integers(0, len(ids), 2 * IMPOSTOR_PAIRS)
    other = ids[a] != ids[b]
    impostor = a[other][:IMPOSTOR_PAIRS], b[other][:IMPOSTOR_PAIRS]
    results = {"machine": machine(), "real": str(args.real), "people": int(len(np.unique(ids))),
               "images": int(len(ids)), "genuine_pairs": int(len(genuine[0])), "impostor_pairs": len(impostor[0]),
               "embedders": {}}
    for folder in args.embedders:
        embedder = load_embedder(folder, args.precision)
        e = embedder.embed(data.images)  # also the warm-up of the timed call
        t = time.perf_counter()
        embedder.embed(data.images[:4096])
        rate = min(4096, len(ids)) / (time.perf_counter() - t)
        scores = np.concatenate([np.sum(e[genuine[0]] * e[genuine[1]], 1), np.sum(e[impostor[0]] * e[impostor[1]], 1)])
        same = np.concatenate([np.ones(len(genuine[0]), bool), np.zeros(len(impostor[0]), bool)])
        report = embedder.report
        limits, far = report["limits"], report.get("far", 1e-3)
        refs, people, _, _ = references(e, ids, REFERENCE_IMAGES, 0)
        upper = np.triu_indices(len(refs), 1)
        passed = float(np.mean((refs @ refs.T)[upper] > limits["separation"]))
        later = np.concatenate([e[np.flatnonzero(ids == person)[REFERENCE_IMAGES:]] @ refs[k]
                                for k, person in enumerate(people)])
        results["embedders"][str(folder)] = r = {
            "config": {k: embedder.config.__dict__[k] for k in ("preset", "resolution", "blocks", "steps")},
            "images_per_second": round(rate), "roc_auc": round(roc_auc(scores, same), 5),
            "tar_at_far_1e-3": round(tar_at(scores, same, 1e-3), 4), "separation_limit": round(limits["separation"], 4),
            "novel_pairs_above_separation": round(passed, 5), "times_nominal_far": round(passed / far, 2),
            "below_consistency": round(float(np.mean(later < limits["consistency"])), 4)}
        args.out.write_text(json.dumps(results, indent=2))
        print(folder, r, flush=True)


if __name__ == "__main__":
    main()
