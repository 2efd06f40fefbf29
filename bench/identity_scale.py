"""An export judged for identity scale beside novel real people, by a judge nothing was trained or filtered with.

    python bench/identity_scale.py --export synth/ --judge JUDGE --real NOVEL --out /tmp/scale.json

The judge (an embedder of another seed trained on other people: `facegen embedder train --data OTHER --seed 7`)
embeds every exported image; each folder's reference is the unit mean of its first REFERENCE_IMAGES images, as
the export defines one. Reported at the judge's own calibrated limits:

- consistency: the share of the other images at or above the consistency limit to their folder's reference, beside
  the same share among --real's people;
- look-alike pairs: the share of folder pairs whose references are above the separation limit, beside the same
  share among --real's people (a sample drawn with a seed nothing trained on), and their ratio;
- leaked: the share of folders whose reference is above the leakage limit to a person the export's GAN trained
  on (their unit means by the judge: facegen.training.people), beside the same share of --real's people.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import machine  # noqa: E402


def people(folder: Path, judge):
    from facegen.config import DataConfig
    from facegen.data import TrainingData, discover

    data = TrainingData(discover(folder, "all"), DataConfig(path=str(folder), resolution=judge.config.resolution),
                        progress=False)
    return judge.embed(data.images), data.identities


def pair_rate(refs: np.ndarray, limit: float) -> float:
    total = above = 0
    for i in range(0, len(refs), 1024):  # 5,000 references: 12.5M pairs, a block of rows at a time
        sims = refs[i:i + 1024] @ refs.T
        cols = np.arange(len(refs))[None, :] > np.arange(i, min(i + 1024, len(refs)))[:, None]
        above += int((sims[cols] > limit).sum())
        total += int(cols.sum())
    return above / total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--export", type=Path, required=True)
    p.add_argument("--judge", type=Path, required=True)
    p.add_argument("--real", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()

    import pandas as pd
    from PIL import Image

    from facegen.metrics.identity import folder_references
    from facegen.models.embedder import REFERENCE_IMAGES
    from facegen.models.embedders import load_embedder
    from facegen.training.people import export_people

    judge = load_embedder(args.judge)
    limits = judge.report["limits"]
    frame = pd.read_csv(args.export / "manifest.csv")
    images = np.stack([np.asarray(Image.open(args.export / path).convert("RGB")) for path in frame["path"]])
    labels = frame["identity"].to_numpy()
    e = np.concatenate([judge.embed(images[i:i + 4096]) for i in range(0, len(images), 4096)])
    refs, to_ref = folder_references(e, labels, REFERENCE_IMAGES)
    train_means = export_people(args.export, judge)
    real_e, real_ids = people(args.real, judge)
    real_refs, real_to_ref = folder_references(real_e, real_ids, REFERENCE_IMAGES)

    def leaked(r):
        return float(((r @ train_means.T).max(axis=1) > limits["leakage"]).mean())

    synth_rate, real_rate = pair_rate(refs, limits["separation"]), pair_rate(real_refs, limits["separation"])
    result = {"machine": machine(), "export": str(args.export), "judge": str(args.judge), "limits": limits,
              "judge_out_of_sample": judge.report.get("separation_out_of_sample"),
              "identities": int(len(refs)), "images": int(len(images)),
              "consistency": float((to_ref >= limits["consistency"]).mean()),
              "real_consistency": float((real_to_ref >= limits["consistency"]).mean()),
              "lookalike_pairs": synth_rate, "real_people": int(len(real_refs)), "real_lookalike_pairs": real_rate,
              "lookalike_ratio": synth_rate / real_rate if real_rate else None,
              "leaked": leaked(refs), "real_leaked": leaked(real_refs), "train_people": int(len(train_means))}
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{result['identities']:,} identities, {result['images']:,} images, judged by {args.judge}")
    print(f"consistency {100 * result['consistency']:.1f}% (novel real people {100 * result['real_consistency']:.1f}%);"
          f" look-alike pairs {100 * synth_rate:.3f}% against "
          f"{100 * real_rate:.3f}% for {len(real_refs):,} novel real people ({result['lookalike_ratio']:.1f}x); "
          f"leaked {100 * result['leaked']:.2f}% (novel real people {100 * result['real_leaked']:.2f}%)")


if __name__ == "__main__":
    main()
