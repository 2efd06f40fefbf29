"""Plain DCGAN vs identity mode (SD-GAN) on the CelebA-shaped sample, same budget: are exported folders one
person each, and different people across folders? Then the downstream proof (examples/train_recognizer.py)
three ways: real training identities, plain export, identity export.

    python bench/identity_experiment.py [--data data/celeba-sample] [--steps 1500] [--identities 40]

Judge: a classifier trained on the sample's true identities (the drawing's ground truth). Consistency = the
share of a folder's images given its majority true identity; separation = distinct majority identities.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import machine  # noqa: E402


def sh(*args: str) -> str:
    r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    if r.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{r.stderr[-2000:]}")
    return r.stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/celeba-sample")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--identities", type=int, default=40)
    p.add_argument("--per-identity", type=int, default=25)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--work", type=Path, default=None)
    args = p.parse_args()
    work = args.work or Path(tempfile.mkdtemp())
    commands, exports = [], {}
    for mode in ("plain", "identity"):
        run, out = work / f"run-{mode}", work / f"synth-{mode}"
        train = ["facegen", "train", "--data", args.data, "--out", str(run), "--preset", "small", "--steps",
                 str(args.steps), "--mode", mode, "--quiet"]
        export = ["facegen", "export", "--checkpoint", str(run), "--identities", str(args.identities),
                  "--per-identity", str(args.per_identity), "--out", str(out), "--quiet"]
        for c in (train, export):
            sh(*c)
            commands.append(" ".join(c))
        exports[mode] = out

    import facegen  # noqa: F401
    import numpy as np

    from facegen.config import DataConfig
    from facegen.data import TrainingData, discover
    from facegen.identity_metrics import IdentityClassifier, folder_consistency
    from facegen.manifest import read_manifest
    from PIL import Image

    real = TrainingData(discover(args.data, "train"), DataConfig(path=args.data), progress=False)
    judge = IdentityClassifier.train(real.images, real.identities, epochs=20)
    rows = {}
    for mode, out in exports.items():
        frame = read_manifest(out)
        images = np.stack([np.asarray(Image.open(out / q).convert("RGB")) for q in frame["path"]])
        rows[mode] = folder_consistency(judge.predict(images), frame["label"].to_numpy())
    downstream = {}
    for name, folder in (("real training identities (ceiling)", "real"), ("plain DCGAN export", exports["plain"]),
                         ("identity-mode export", exports["identity"])):
        c = [sys.executable, "examples/train_recognizer.py", "--train", str(folder), "--real", args.data,
             "--epochs", str(args.epochs)]
        downstream[name] = json.loads(sh(*c).strip().splitlines()[-1])
        commands.append(" ".join(c))

    print(f"# identity_experiment — {dt.date.today()} — {machine()}")
    print(f"small preset, {args.steps} steps each, export {args.identities} x {args.per_identity}")
    print("| export | consistency | distinct true identities / folders |")
    print("|---|---|---|")
    for mode, r in rows.items():
        print(f"| {mode} | {100 * r['consistency']:.1f}% | {r['distinct_majorities']} / {r['folders']} |")
    print("\n| recognizer trained on | verification accuracy | ROC AUC |")
    print("|---|---|---|")
    for name, r in downstream.items():
        print(f"| {name} | {100 * r['verification_accuracy']:.1f}% | {r['roc_auc']:.3f} |")
    print("\ncommands:")
    for c in commands:
        print("   ", c)


if __name__ == "__main__":
    main()
