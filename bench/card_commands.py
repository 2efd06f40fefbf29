"""The card's two commands against today's plain defaults, judged by what neither optimised: a judge embedder
(the card run's RUN/judge, never trained on or filtered with), the exact classifier on the sample's true
identities, and the recognizer `facegen benchmark` trains (its B/results.csv), with each run's training time and
each export's speed.

    facegen train  --data D --out CARD --steps 2000 && facegen export --checkpoint CARD --count 16000 --out SC
    facegen train  --data D --out PLAIN --mode plain && facegen export --checkpoint PLAIN --count 16000 --out SP
    facegen benchmark --real D --synth SC --synth SP --out B --real-identities 8,20 --seeds 0,1 --steps 400
    python bench/card_commands.py --data D --judge CARD/judge --export card=SC --export plain=SP --benchmark B

Writes WORK/card_commands.json and prints the tables for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import export_seconds, machine, sample_held_out, sample_judge  # noqa: E402
from verified_identities import distinct_per  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="the identity-labelled sample both runs trained on")
    p.add_argument("--judge", type=Path, required=True, help="an embedder neither export was filtered with")
    p.add_argument("--export", action="append", required=True, help="NAME=FOLDER, once per export")
    p.add_argument("--benchmark", type=Path, help="a `facegen benchmark` folder over these exports")
    p.add_argument("--work", type=Path, default=Path("/tmp/card-commands"))
    args = p.parse_args()
    from facegen.metrics.evaluate import fake_images_from_export
    from facegen.metrics.identity import embedder_judgement, folder_consistency
    from facegen.models.embedders import load_embedder
    from facegen.training.people import export_people

    args.work.mkdir(parents=True, exist_ok=True)
    path = args.work / "card_commands.json"
    exports = dict(item.split("=", 1) for item in args.export)  # name -> folder
    judge = load_embedder(args.judge)
    # Exports already judged with this data and judge are reused (the exact classifier is the slow part).
    cached = json.loads(path.read_text()) if path.exists() else {}
    if (cached.get("data"), cached.get("judge")) != (args.data, str(args.judge)):
        cached = {}
    todo = [name for name in exports if name not in cached.get("exports", {})]
    if todo or not cached:
        _, classifier = sample_judge(args.data)
        held_images, held_ids = sample_held_out(args.data)
        unseen = folder_consistency(classifier.predict(held_images), held_ids)
    else:
        unseen = cached["exact_on_unseen_real"]
    unseen_k = unseen["folders"]  # the held-out real people, one folder each
    results = {"machine": machine(), "when": dt.date.today().isoformat(), "data": args.data,
               "judge": str(args.judge), "judge_report": judge.report, "exact_on_unseen_real": unseen,
               "exports": cached.get("exports", {})}
    for name in todo:
        folder = Path(exports[name])
        images, _, labels = fake_images_from_export(folder)
        record = json.loads((folder / "export.json").read_text())
        predicted = classifier.predict(images)
        results["exports"][name] = {
            "folder": str(folder), "images": int(len(images)), "identities": int(len(np.unique(labels))),
            "images_per_second": round(len(images) / export_seconds(record), 1),
            "judge": embedder_judgement(judge, images, labels, export_people(folder, judge)),
            "exact": {**folder_consistency(predicted, labels),
                      "distinct_per": distinct_per(predicted, labels, unseen_k)},
            "identity_check": record.get("identity_check"), "settings": record["settings"]}
        path.write_text(json.dumps(results, indent=1, default=str))
        print(name, "done", flush=True)
    print(f"\n# card_commands — {results['when']} — {results['machine']}")
    print(f"judge {args.judge} (held-out verification {100 * judge.report['verification_accuracy']:.1f}%); exact "
          f"classifier on {unseen_k} real people it never saw: consistency {100 * unseen['consistency']:.1f}%, "
          f"{unseen['distinct_majorities']} distinct true ids of {unseen_k}")
    print("| export | images | img/s | judge: consistency | separated | leaked | exact: consistency | "
          f"distinct true ids | per {unseen_k} folders |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in exports:
        r = results["exports"][name]
        j, e = r["judge"], r["exact"]
        print(f"| {name} | {r['images']:,} ({r['identities']} ids) | {r['images_per_second']:.0f} | "
              f"{100 * j['consistency']:.1f}% | {100 * j['separated_identities']:.1f}% | "
              f"{100 * j['leaked_identities']:.1f}% | {100 * e['consistency']:.1f}% | "
              f"{e['distinct_majorities']} / {e['folders']} | {e['distinct_per']:.0f} |")
    if args.benchmark:
        frame = pd.read_csv(args.benchmark / "results.csv")
        names = {str(Path(f).resolve()): n for n, f in exports.items()}
        frame["set"] = [names.get(str(Path(s).resolve()), s) if isinstance(s, str) else "" for s in frame["synth"]]
        table = (frame.groupby(["arm", "set", "real_identities"])
                 .agg(seeds=("seed", "count"), accuracy=("accuracy", "mean"),
                      spread=("accuracy", lambda a: a.std(ddof=0)),
                      best=("best_threshold_accuracy", "mean"), tar=("tar_at_far", "mean"), auc=("roc_auc", "mean"))
                 .reset_index())
        results["benchmark"] = table.to_dict(orient="records")
        path.write_text(json.dumps(results, indent=1, default=str))
        print("\n| arm | synthetic set | real identities | seeds | 10-fold accuracy (± over seeds) | best threshold | "
              "TAR@FAR 1e-3 | ROC AUC |")
        print("|---|---|---|---|---|---|---|---|")
        for r in table.itertuples():
            spread = f" ± {100 * r.spread:.1f}" if r.seeds > 1 else ""
            print(f"| {r.arm} | {r.set or '—'} | {r.real_identities} | {r.seeds} | {100 * r.accuracy:.1f}%{spread} | "
                  f"{100 * r.best:.1f}% | {100 * r.tar:.1f}% | {r.auc:.3f} |")


if __name__ == "__main__":
    main()
