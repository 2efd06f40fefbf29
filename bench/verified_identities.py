"""Verified identities (export --embedder) against the plain identity-mode export, judged by measures the
filter did not optimise: a second embedder (another seed), the exact classifier on the sample's true
identities, and the downstream recognizer verifying held-out real identities.

    python bench/verified_identities.py --data data/celeba-sample-20k --gan /tmp/aug/gan --work /tmp/ver

--gan is an identity-mode run trained on the data's training partition (bench/augmentation_experiment.py
trains one). The filter embedder and the judge embedder train on the training partition too; val/test
identities are used only for the embedders' held-out reports and the downstream verification.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import machine, sample_judge, sh  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/celeba-sample-20k")
    p.add_argument("--gan", type=Path, required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--embedder-steps", type=int, default=1500)
    p.add_argument("--identities", type=int, default=800)
    p.add_argument("--per-identity", type=int, default=20)
    p.add_argument("--real-identities", type=int, default=200, help="real identities beside the synthetic ones")
    p.add_argument("--recognizer-steps", type=int, default=1500)
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
    exports = {"identity mode": work / "plain", "verified (--embedder)": work / "verified"}
    for name, folder in exports.items():
        extra = ["--embedder", str(work / "emb-filter")] if "verified" in name else []
        run("facegen", "export", "--checkpoint", str(args.gan), "--out", str(folder), "--identities",
            str(args.identities), "--per-identity", str(args.per_identity), "--quiet", *extra)

    from facegen.metrics.evaluate import fake_images_from_export
    from facegen.metrics.identity import embedder_judgement, folder_consistency
    from facegen.models.embedder import Embedder

    _, classifier = sample_judge(data)
    judges = {name: Embedder.from_folder(work / f"emb-{name}") for name in ("filter", "judge")}
    rows = {}
    for name, folder in exports.items():
        images, _, labels = fake_images_from_export(folder)
        record = json.loads((folder / "export.json").read_text())
        rows[name] = {"exact": folder_consistency(classifier.predict(images), labels),
                      "judge": embedder_judgement(judges["judge"], images, labels),
                      "self": embedder_judgement(judges["filter"], images, labels),
                      "check": record.get("identity_check"), "counts": record["counts"]}
        for arm, mix in (("real+synthetic", ["--real", data, "--real-identities", str(args.real_identities)]),
                         ("synthetic", ["--real-identities", "0"])):
            out = work / f"{arm}-{folder.name}"
            run("facegen", "mix", *mix, "--synth", str(folder), "--out", str(out), "--quiet")
            r = json.loads(run(sys.executable, "examples/train_recognizer.py", "--train", str(out), "--real", data,
                               "--steps", str(args.recognizer_steps)).strip().splitlines()[-1])
            rows[name][arm] = r

    reports = {name: j.report for name, j in judges.items()}
    print(f"\n# verified_identities — {dt.date.today()} — {machine()}")
    print(f"{data}; GAN {args.gan}; {args.identities} identities x {args.per_identity}; embedders small, "
          f"{args.embedder_steps} steps: filter (seed 0) held-out verification "
          f"{100 * reports['filter']['verification_accuracy']:.1f}% (AUC {reports['filter']['roc_auc']:.3f}), judge "
          f"(seed 1) {100 * reports['judge']['verification_accuracy']:.1f}% (AUC {reports['judge']['roc_auc']:.3f})")
    print("| export | judge: consistency | separated | duplicates | leaked | exact: consistency | distinct true "
          "ids | filter grading itself: consistency / duplicates / leaked | real+synth verification | synth only |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        j, s, e = r["judge"], r["self"], r["exact"]
        print(f"| {name} | {100 * j['consistency']:.1f}% | {100 * j['separated_identities']:.1f}% | "
              f"{100 * j['duplicate_identities']:.1f}% | {100 * j['leaked_identities']:.1f}% | "
              f"{100 * e['consistency']:.1f}% | {e['distinct_majorities']} / {e['folders']} | "
              f"{100 * s['consistency']:.1f}% / {100 * s['duplicate_identities']:.1f}% / "
              f"{100 * s['leaked_identities']:.1f}% | {100 * r['real+synthetic']['verification_accuracy']:.1f}% | "
              f"{100 * r['synthetic']['verification_accuracy']:.1f}% |")
    for name, r in rows.items():
        if r["check"]:
            print(f"{name}: {json.dumps(r['check'])}; below consistency after redraws: "
                  f"{r['counts'].get('below_min_consistency')}")
    print("commands:")
    for c in commands:
        print("   ", c)


if __name__ == "__main__":
    main()
