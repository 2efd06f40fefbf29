"""Train facegen's recognizer on one dataset folder and verify real people it never saw, by the field's protocol.

    python examples/train_recognizer.py --train synth/ --real data/celeba-sample-20k --out rec/ --steps 800

--train is any folder of one sub-folder per identity (a facegen export, a `facegen mix` of real and synthetic
identities, or real faces laid out that way: `facegen mix --real D --out R`). The recognizer is the one
`facegen benchmark` trains in each arm (the identity embedder's residual trunk and CosFace head), trained on
every identity of --train for --steps batches; the pairs are drawn by `facegen data pairs` from --real's
held-out identities (or read from --pairs-dir). Prints one JSON line: 10-fold accuracy (each fold at the
threshold chosen on the other nine), TAR at FAR 1e-3, ROC AUC, and the best-threshold accuracy beside them.
`facegen benchmark` runs the whole real / real + synthetic / synthetic table with seeds; this is one of its arms.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from facegen.config import FacegenError, read_json
from facegen.data.pairs import PAIRS_JSON, PairsConfig, write_pairs
from facegen.metrics.benchmark import BenchmarkConfig, read_pairs, recognizer_config, verify
from facegen.training.embedder import train_embedder


def main() -> None:
    try:
        run()
    except FacegenError as e:
        raise SystemExit(f"error: {e}") from None


def run() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", required=True, help="a folder of one sub-folder per identity")
    p.add_argument("--real", required=True, help="the real data whose held-out identities are verified")
    p.add_argument("--out", required=True, type=Path, help="the recognizer's folder (resumable) and its pairs")
    p.add_argument("--steps", type=int, default=BenchmarkConfig.steps, help="batches of 64")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", default=BenchmarkConfig.preset, help="the trunk: tiny, small or large")
    p.add_argument("--real-share", type=float, default=0.0,
                   help="for a `facegen mix`: this share of every batch from its real identities (0: as they fall)")
    p.add_argument("--pairs", type=int, default=6000, help="pairs in --folds folds, half of them same-identity")
    p.add_argument("--folds", type=int, default=10, help="LFW's 10; two held-out identities needed per fold")
    p.add_argument("--pairs-dir", type=Path, help="a `facegen data pairs` folder to verify on instead")
    args = p.parse_args()
    cfg = BenchmarkConfig(real=args.real, arms=("real",), steps=args.steps, preset=args.preset)
    pairs_dir = args.pairs_dir or args.out / "pairs"
    if not (pairs_dir / PAIRS_JSON).exists():
        write_pairs(args.real, pairs_dir, PairsConfig(folds=args.folds, per_fold=max(1, args.pairs // (2 * args.folds)),
                                                      size=cfg.resolution), progress=False)
    images, same, fold = read_pairs(pairs_dir, cfg.resolution)
    train_embedder(args.out / "model", recognizer_config(args.train, cfg, args.seed, args.real_share),
                   progress=False)
    result = verify(args.out / "model", images, same, fold)
    print(json.dumps({"train": args.train, "steps": args.steps, "seed": args.seed, "real_share": args.real_share,
                      "held_out_identities": read_json(pairs_dir / PAIRS_JSON)["held_out_identities"],
                      "folds": int(fold.max()) + 1,
                      **{k: result[k] for k in ("accuracy", "accuracy_std", "tar_at_far", "roc_auc", "pairs",
                                                "best_threshold_accuracy")}}))


if __name__ == "__main__":
    main()
