"""Attribute labels and --balance on a trained run: the shares of a balanced export by the classifier that
balanced it and by an independent one (another seed), beside an unbalanced export, and what labelling and
balancing cost in export images/s, in one run.

    python bench/attribute_balance.py --gan RUN --classifier A0 --judge A1 --work W \
        [--identities 2000 --per-identity 5 --balance Male=0.5,Eyeglasses=0.3 --max-candidates 30]

The judge labels each identity by the majority of its exported images (the classifier that balanced it
decided from the identity's reference observations), so the two checks differ in model and in images.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import machine, sh  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gan", required=True)
    p.add_argument("--classifier", required=True)
    p.add_argument("--judge", required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--identities", type=int, default=2000)
    p.add_argument("--per-identity", type=int, default=5)
    p.add_argument("--balance", default="Male=0.5,Eyeglasses=0.3")
    p.add_argument("--max-candidates", type=int, default=30, help="for the balanced export: --balance counts only "
                   "identities the classifier is sure of, which can take more candidates than the default 10")
    args = p.parse_args()
    targets = {k: float(v) for k, v in (kv.split("=") for kv in args.balance.split(","))}
    base = ["facegen", "export", "--checkpoint", args.gan, "--identities", str(args.identities), "--per-identity",
            str(args.per_identity), "--quiet"]
    runs = {"no labels": [], "--attributes": ["--attributes", args.classifier],
            f"--attributes --balance {args.balance}": ["--attributes", args.classifier, "--balance", args.balance,
                                                      "--max-candidates", str(args.max_candidates)]}
    speed, folders, commands = {}, {}, []
    for k, (name, extra) in enumerate(runs.items()):
        folders[name] = args.work / f"export-{k}"
        cmd = [*base, "--out", str(folders[name]), *extra]
        commands.append(" ".join(cmd))
        out = sh(*cmd)
        found = re.search(r"(\d+) img/s", out)
        speed[name] = float(found.group(1)) if found else float("nan")

    import json

    import numpy as np

    from facegen.metrics.evaluate import fake_images_from_export
    from facegen.models.attributes import AttributeClassifier

    judge = AttributeClassifier.from_folder(args.judge)
    print(f"# attribute_balance — {dt.date.today()} — {machine()}")
    print(f"{args.gan}: {args.identities} identities x {args.per_identity}; classifier {args.classifier}, "
          f"judge {args.judge} (another seed; identity = majority of its exported images)")
    print("| export | images/s | " + " | ".join(f"{n}: classifier | {n}: judge" for n in targets) + " |")
    print("|---|---|" + "---|---|" * len(targets))
    for name, folder in folders.items():
        record = json.loads((folder / "export.json").read_text())
        shares = record.get("attributes", {}).get("identity_shares", {})
        images, _, labels = fake_images_from_export(folder)
        probs = judge.probabilities(images)
        cells = []
        for n in targets:
            col = judge.names.index(n)
            per_identity = [np.mean(probs[labels == ident, col] > 0.5) > 0.5 for ident in np.unique(labels)]
            cells += [f"{100 * shares[n]:.1f}%" if n in shares else "-", f"{100 * np.mean(per_identity):.1f}%"]
        check = record.get("identity_check")
        extra = f" ({check['candidates_per_identity']} candidates per identity)" if check else ""
        print(f"| {name}{extra} | {speed[name]:.0f} | " + " | ".join(cells) + " |")
    print("targets: " + ", ".join(f"{n} {100 * s:.0f}%" for n, s in targets.items()))
    print("commands:")
    for c in commands:
        print("   ", c)


if __name__ == "__main__":
    main()
