"""Verified identities (export --embedder) and the identity loss (train --identity-loss) against the plain
identity-mode export, judged by measures neither optimised: a second embedder (another seed), the exact
classifier on the sample's true identities, and the downstream recognizer verifying held-out real identities.

    python bench/verified_identities.py --data data/celeba-sample-20k --work /tmp/ver --identity-loss 1

The GANs (identity mode, `small`, --gan-steps; with --identity-loss a second one, same command plus the loss
from the filter embedder), the filter embedder (seed 0) and the judge embedder (seed 1) all train on the data's
training partition; val/test identities are used only for the embedders' held-out reports and the downstream
verification. --gan reuses an existing identity-mode run instead of training the first GAN. Everything in
--work is reused when complete; results.json caches the recognizer runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import machine, sample_held_out, sample_judge, sh  # noqa: E402


def distinct_per(predicted: np.ndarray, folders: np.ndarray, k: int, draws: int = 200) -> float:
    """Distinct majority identities among k folders drawn at random (mean over draws): sets of different sizes
    compared at one size, since 800 folders share 800 classes more often than 200 do by chance alone."""
    majority = np.array([np.bincount(predicted[folders == f]).argmax() for f in np.unique(folders)])
    rng = np.random.default_rng(0)
    return float(np.mean([len(np.unique(rng.choice(majority, min(k, len(majority)), replace=False)))
                          for _ in range(draws)]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/celeba-sample-20k")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--gan", type=Path, help="an existing identity-mode run (default: train WORK/gan)")
    p.add_argument("--gan-steps", type=int, default=3000)
    p.add_argument("--identity-loss", type=float, default=0.0, help="also train a GAN with this --identity-loss")
    p.add_argument("--embedder-steps", type=int, default=1500)
    p.add_argument("--max-candidates", type=int, default=10, help="the verified exports' --max-candidates")
    p.add_argument("--identities", type=int, default=800)
    p.add_argument("--per-identity", type=int, default=20)
    p.add_argument("--real-identities", type=int, default=20,
                   help="real identities beside the synthetic ones (0: no real+synthetic arm)")
    p.add_argument("--recognizer-steps", type=int, default=400)
    p.add_argument("--seeds", type=int, default=1, help="recognizer seeds per cell (mean reported)")
    p.add_argument("--pairs", type=int, default=6000, help="verification pairs per recognizer")
    args = p.parse_args()
    work, data = args.work, args.data
    work.mkdir(parents=True, exist_ok=True)
    commands = []

    def run(*c: str) -> str:
        commands.append(" ".join(c))
        print("$", commands[-1], flush=True)
        return sh(*c)

    for name, seed in (("filter", 0), ("judge", 1)):
        run("facegen", "embedder", "train", "--data", data, "--out", str(work / f"emb-{name}"), "--preset", "small",
            "--steps", str(args.embedder_steps), "--seed", str(seed), "--quiet")
    train = ["facegen", "train", "--data", data, "--mode", "identity", "--preset", "small", "--steps",
             str(args.gan_steps), "--quiet"]
    gans = {"identity mode": args.gan or work / "gan"}
    if not args.gan:
        run(*train, "--out", str(gans["identity mode"]))
    if args.identity_loss:
        gan = gans[f"identity loss {args.identity_loss:g}"] = work / f"gan-idloss{args.identity_loss:g}"
        run(*train, "--out", str(gan), "--identity-loss", str(args.identity_loss), "--identity-embedder",
            str(work / "emb-filter"))
    exports, failed = {}, {}
    for name, gan in gans.items():
        for verified in (False, True):
            folder = work / f"{gan.name}-{'verified' if verified else 'plain'}"
            label = f"{name}{' + verified' if verified else ''}"
            if not (folder / "export.json").exists():
                c = ["facegen", "export", "--checkpoint", str(gan), "--out", str(folder), "--identities",
                     str(args.identities), "--per-identity", str(args.per_identity), "--quiet"]
                c += ["--embedder", str(work / "emb-filter"), "--max-candidates", str(args.max_candidates)] \
                    if verified else []
                commands.append(" ".join(c))
                print("$", commands[-1], flush=True)
                r = subprocess.run(c, capture_output=True, text=True, cwd=ROOT)
                if r.returncode:  # too few separable identities is a result (how many people G makes), not a crash
                    failed[label] = r.stderr.strip().splitlines()[-1]
                    print(failed[label], flush=True)
                    continue
            exports[label] = folder

    from facegen.metrics.evaluate import fake_images_from_export
    from facegen.metrics.identity import embedder_judgement, folder_consistency, within_identity_variety
    from facegen.models.embedder import Embedder
    from facegen.training.people import export_people

    results_path = work / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}

    def recognizer(train_set: Path) -> dict:
        runs = []
        for seed in range(args.seeds):
            key = f"{train_set.name}/seed{seed}/{args.recognizer_steps}/pairs{args.pairs}"
            if key not in results:
                results[key] = json.loads(run(
                    sys.executable, "experiments/cnn_recognizer.py", "--train", str(train_set), "--real", data,
                    "--steps", str(args.recognizer_steps), "--seed", str(seed), "--pairs", str(args.pairs),
                ).strip().splitlines()[-1])
                results_path.write_text(json.dumps(results, indent=1))
            runs.append(results[key])
        return {"accuracy": float(np.mean([r["verification_accuracy"] for r in runs])),
                "auc": float(np.mean([r["roc_auc"] for r in runs]))}

    real, classifier = sample_judge(data)
    real_variety = within_identity_variety(real.images, real.identities)
    # The exact judge can only name training people: what it gives real people it never saw is the most a
    # novel synthetic identity can score (the training people themselves score as memorised).
    held_images, held_ids = sample_held_out(data)
    held_predicted = classifier.predict(held_images)
    unseen_k = len(np.unique(held_ids))
    unseen = {**folder_consistency(held_predicted, held_ids), "variety": within_identity_variety(held_images, held_ids),
              "distinct_per": distinct_per(held_predicted, held_ids, unseen_k)}
    seen = folder_consistency(classifier.predict(real.images), real.identities)["consistency"]
    real_ids = len(np.unique(real.identities))
    sh("facegen", "mix", "--real", data, "--size", "64", "--out", str(work / "real"), "--quiet")
    baseline = recognizer(work / "real")
    judges = {name: Embedder.from_folder(work / f"emb-{name}") for name in ("filter", "judge")}
    rows = {}
    for name, folder in exports.items():
        images, _, labels = fake_images_from_export(folder)
        record = json.loads((folder / "export.json").read_text())
        predicted = classifier.predict(images)
        rows[name] = {"exact": {**folder_consistency(predicted, labels),
                                "distinct_per": distinct_per(predicted, labels, unseen_k)},
                      "variety": within_identity_variety(images, labels),
                      "judge": embedder_judgement(judges["judge"], images, labels,
                                                  export_people(folder, judges["judge"])),
                      "self": embedder_judgement(judges["filter"], images, labels,
                                                 export_people(folder, judges["filter"])),
                      "check": record.get("identity_check"), "counts": record["counts"]}
        arms = {"synthetic": ["--real-identities", "0"]}
        if args.real_identities:
            arms["real+synthetic"] = ["--real", data, "--real-identities", str(args.real_identities)]
        for arm, mix in arms.items():
            out = work / f"{arm}-{folder.name}"
            sh("facegen", "mix", *mix, "--synth", str(folder), "--out", str(out), "--quiet")
            rows[name][arm] = recognizer(out)

    reports = {name: j.report for name, j in judges.items()}
    print(f"\n# verified_identities — {dt.date.today()} — {machine()}")
    print(f"{data}; GANs small identity mode, {args.gan_steps} steps; {args.identities} identities x "
          f"{args.per_identity}; embedders small, {args.embedder_steps} steps: filter (seed 0) held-out verification "
          f"{100 * reports['filter']['verification_accuracy']:.1f}% (AUC {reports['filter']['roc_auc']:.3f}), judge "
          f"(seed 1) {100 * reports['judge']['verification_accuracy']:.1f}% (AUC {reports['judge']['roc_auc']:.3f}); "
          f"recognizer {args.recognizer_steps} steps, {args.seeds} seed(s), {args.pairs} held-out pairs; on the "
          f"{real_ids} real training identities: {100 * baseline['accuracy']:.1f}% (AUC {baseline['auc']:.3f}); "
          f"real variety {real_variety:.3f}")
    real_col = f" {args.real_identities} real + synth |" if args.real_identities else ""
    print(f"exact judge on real people it never saw ({unseen_k} val+test identities): consistency "
          f"{100 * unseen['consistency']:.1f}%, {unseen['distinct_majorities']} distinct true ids of {unseen_k}, "
          f"variety {unseen['variety']:.3f}; on the training people {100 * seen:.1f}%")
    print("| export | variety | judge: consistency | separated | duplicates | leaked | exact: consistency | "
          f"distinct true ids | per {unseen_k} folders | filter embedder: consistency / duplicates / leaked | "
          f"synth only |{real_col}")
    print("|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if args.real_identities else ""))
    for name, r in rows.items():
        j, s, e = r["judge"], r["self"], r["exact"]
        synth = f"{100 * r['synthetic']['accuracy']:.1f}% ({r['synthetic']['auc']:.3f})"
        mixed = (f" {100 * r['real+synthetic']['accuracy']:.1f}% ({r['real+synthetic']['auc']:.3f}) |"
                 if args.real_identities else "")
        print(f"| {name} | {r['variety']:.3f} | {100 * j['consistency']:.1f}% | "
              f"{100 * j['separated_identities']:.1f}% | {100 * j['duplicate_identities']:.1f}% | "
              f"{100 * j['leaked_identities']:.1f}% | {100 * e['consistency']:.1f}% | "
              f"{e['distinct_majorities']} / {e['folders']} | {e['distinct_per']:.0f} | "
              f"{100 * s['consistency']:.1f}% / "
              f"{100 * s['duplicate_identities']:.1f}% / {100 * s['leaked_identities']:.1f}% | {synth} |{mixed}")
    for name, message in failed.items():
        print(f"| {name} | {message} |")
    for name, r in rows.items():
        if r["check"]:
            print(f"{name}: {json.dumps(r['check'])}; below consistency after redraws: "
                  f"{r['counts'].get('below_min_consistency')}")
    print("commands:")
    for c in commands:
        print("   ", c)


if __name__ == "__main__":
    main()
