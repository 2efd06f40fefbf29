"""Does adding a facegen export to real data train a better recognizer? The SynFace / DigiFace-1M table: at
several real-set sizes, the same recognizer with the same budget on real only, on real + synthetic, and on
synthetic only (as many synthetic identities as the real arm has), verified on held-out real identities.

    python experiments/augmentation_experiment.py --data data/celeba-sample-20k --work /tmp/aug

Protocol: the GAN (identity mode) trains on the training partition only; `facegen export` writes --synth-ids
identities; every training set is made by `facegen mix` (real images cropped and resized as facegen trains,
to the export's size); experiments/cnn_recognizer.py trains each for --recognizer-steps batches of 64 (the
same budget whatever the set's size) and verifies --pairs pairs of the val+test identities, which nothing
trained on. Everything in --work is reused when complete; results.json caches the recognizer runs.

Superseded by `facegen benchmark` (the same question, the field's protocol, the package's recognizer); kept to
reproduce the figures measured with it (bench/RESULTS.md names it by its old place, bench/).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import machine, sh  # noqa: E402

ARMS = ("real", "real+synthetic", "synthetic")


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/celeba-sample-20k")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--gan-steps", type=int, default=3000)
    p.add_argument("--preset", default="small")
    p.add_argument("--synth-ids", type=int, default=800, help="identities in the export")
    p.add_argument("--per-identity", type=int, default=20)
    p.add_argument("--variation", type=float, default=None)
    p.add_argument("--fractions", type=floats, default=[0.1, 0.25, 0.5, 1.0], help="shares of the real identities")
    p.add_argument("--recognizer-steps", type=int, default=1500)
    p.add_argument("--seeds", type=int, default=1, help="recognizer seeds per cell (mean reported)")
    p.add_argument("--synth-per-real", type=float, default=0.0,
                   help="real + synthetic arm: synthetic identities per real one (0 = the whole export)")
    p.add_argument("--head", default="softmax")
    p.add_argument("--synthetic-weight", type=float, default=1.0,
                   help="loss weight of synthetic images in the real + synthetic arm (real ones weigh 1)")
    p.add_argument("--pairs", type=int, default=6000, help="verification pairs per recognizer")
    p.add_argument("--real-share", type=float, default=0.0,
                   help="real + synthetic arm: share of every batch drawn from real identities (0 = as they fall)")
    p.add_argument("--gan", type=Path, help="export from this identity-mode run instead of training WORK/gan")
    p.add_argument("--synth", type=Path,
                   help="use this finished export (e.g. a verified one, `facegen export --embedder`) instead of "
                        "training and exporting")
    p.add_argument("--arms", type=lambda t: t.split(","), default=list(ARMS),
                   help="which of real, real+synthetic, synthetic to train (a '-' in the table for the others)")
    p.add_argument("--plot", type=Path, default=ROOT / "bench" / "augmentation.png")
    args = p.parse_args()
    work, data = args.work, args.data
    work.mkdir(parents=True, exist_ok=True)

    gan = args.gan or work / "gan"
    synth = args.synth or work / "synth"
    commands = [] if args.gan or args.synth else [
        ["facegen", "train", "--data", data, "--out", str(gan), "--mode", "identity", "--preset", args.preset,
         "--steps", str(args.gan_steps), "--quiet"]]
    commands += [] if args.synth else [
        ["facegen", "export", "--checkpoint", str(gan), "--out", str(synth), "--identities",
         str(args.synth_ids), "--per-identity", str(args.per_identity), "--quiet"]
        + (["--variation", str(args.variation)] if args.variation is not None else []),
    ]
    for c in commands:
        print("$", " ".join(c), flush=True)
        sh(*c)

    from facegen.data import discover

    train_ids = discover(data, "train").frame["identity"].nunique()
    results_path = work / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    table = {}
    for fraction in args.fractions:
        n = max(1, round(fraction * train_ids))
        ratio = ["--synth-identities", str(min(args.synth_ids, round(args.synth_per_real * n)))] \
            if args.synth_per_real else []
        sets = {"real": ["--real", data, "--real-identities", str(n), "--size", "64"],
                "real+synthetic": ["--real", data, "--real-identities", str(n), "--synth", str(synth),
                                   *ratio],
                "synthetic": ["--real-identities", "0", "--synth", str(synth), "--synth-identities",
                              str(min(n, args.synth_ids))]}
        for arm, mix_args in sets.items():
            if arm not in args.arms:
                continue
            suffix = f"-x{args.synth_per_real:g}" if arm == "real+synthetic" and args.synth_per_real else ""
            folder = work / f"{arm.replace('+', '-')}-{n}{suffix}"
            c = ["facegen", "mix", *mix_args, "--out", str(folder), "--quiet"]
            sh(*c)
            commands.append(c)
            runs = []
            for seed in range(args.seeds):
                weight = args.synthetic_weight if arm == "real+synthetic" else 1.0
                share = args.real_share if arm == "real+synthetic" else 0.0
                key = (f"{folder.name}/seed{seed}/{args.recognizer_steps}/{args.head}/w{weight:g}/pairs{args.pairs}"
                       + (f"/share{share:g}" if share else ""))
                rc = [sys.executable, "experiments/cnn_recognizer.py", "--train", str(folder), "--real", data,
                      "--steps", str(args.recognizer_steps), "--seed", str(seed), "--head", args.head,
                      "--pairs", str(args.pairs), "--synthetic-weight", str(weight)]
                rc += ["--real-share", str(share)] if share else []
                if key not in results:
                    print("$", " ".join(rc), flush=True)
                    results[key] = json.loads(sh(*rc).strip().splitlines()[-1])
                    results_path.write_text(json.dumps(results, indent=1))
                runs.append(results[key])
                if seed == 0 and fraction == args.fractions[0]:
                    commands.append(rc)
            table[(fraction, arm)] = {
                "identities": runs[0]["train_identities"],
                "accuracy": float(np.mean([r["verification_accuracy"] for r in runs])),
                "accuracy_sd": float(np.std([r["verification_accuracy"] for r in runs])),
                "auc": float(np.mean([r["roc_auc"] for r in runs]))}

    print(f"\n# augmentation_experiment — {dt.date.today()} — {machine()}")
    made = (f"export {args.synth} (given)" if args.synth else "GAN "
            + (f"{args.gan}; " if args.gan else f"{args.preset} identity mode, {args.gan_steps} steps; ")
            + f"export {args.synth_ids} x {args.per_identity}")
    print(f"{data}: {train_ids} training identities; {made}"
          + (f", {args.synth_per_real:g} synthetic identities per real one" if args.synth_per_real else "")
          + (f", synthetic images weigh {args.synthetic_weight:g}" if args.synthetic_weight != 1 else "")
          + (f", {100 * args.real_share:g}% of every mixed batch real" if args.real_share else "")
          + f"; recognizer {args.head}, {args.recognizer_steps} steps of "
          f"64, {args.seeds} seed(s); {args.pairs} verification pairs of held-out (val+test) real identities")
    print("| real identities | real only: acc | AUC | real + synthetic: acc | AUC | gain | "
          "synthetic only (same identities): acc | AUC |")
    print("|---|---|---|---|---|---|---|---|")
    for fraction in args.fractions:
        r, m, s = (table.get((fraction, arm)) for arm in ARMS)

        def cells(c):
            if c is None:
                return "- | -"
            sd = f" ± {100 * c['accuracy_sd']:.1f}" if args.seeds > 1 else ""
            return f"{100 * c['accuracy']:.1f}%{sd} | {c['auc']:.3f}"

        gain = f"{100 * (m['accuracy'] - r['accuracy']):+.1f}" if r and m else "-"
        n = max(1, round(fraction * train_ids))
        print(f"| {n} ({100 * fraction:.1f}%) | {cells(r)} | {cells(m)} | {gain} | {cells(s)} |")
    save_plot(args.plot, table, args.fractions, train_ids)
    print(f"\nplot: {args.plot}\ncommands:")
    for c in commands:
        print("   ", " ".join(c))


def save_plot(path: Path, table: dict, fractions: list[float], train_ids: int) -> None:
    from facegen import plots

    xs = [max(1, round(f * train_ids)) for f in fractions]
    series = {arm: (xs, [100 * table[(f, arm)]["accuracy"] for f in fractions]) for arm in ARMS
              if all((f, arm) in table for f in fractions)}
    plots.save(plots.line_chart(series, "verification accuracy on held-out real identities (%)",
                                "real training identities (synthetic only: as many synthetic)", markers=True), path)


if __name__ == "__main__":
    main()
