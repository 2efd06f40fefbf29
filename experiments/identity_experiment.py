"""Plain DCGAN vs identity mode (SD-GAN) on the CelebA-shaped sample, same budget: are exported folders one
person each, and different people across folders? Then the downstream proof (experiments/cnn_recognizer.py)
three ways: real training identities, plain export, identity export.

    python experiments/identity_experiment.py [--data data/celeba-sample] [--steps 1500] [--identities 40]

Judge: a classifier trained on the sample's true identities (the drawing's ground truth). Consistency = the
share of a folder's images given its majority true identity; separation = distinct majority identities;
variety = RMS pixel difference between two images of one folder (the real data's own value is printed).
Consistency alone rewards a folder of one repeated face, so both modes are exported over a --variation sweep
and compared at matched variety: the trade-off curve is saved as a picture (--plot). Runs and exports in
--work are reused when they are already complete (train and export are both idempotent).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from common import machine, sample_judge, sh  # noqa: E402

MODES = ("plain", "identity")


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/celeba-sample")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--identities", type=int, default=40)
    p.add_argument("--per-identity", type=int, default=25)
    p.add_argument("--plain-variations", type=floats, default=[0.2, 0.35, 0.5, 0.7])
    p.add_argument("--identity-variations", type=floats, default=[0.25, 0.5, 0.75, 1.0])
    p.add_argument("--epochs", type=int, default=15, help="recognizer epochs (downstream proof)")
    p.add_argument("--no-downstream", action="store_true", help="skip the three recognizer runs")
    p.add_argument("--work", type=Path, default=None)
    p.add_argument("--plot", type=Path, default=ROOT / "bench" / "identity_tradeoff.png")
    args = p.parse_args()

    from facegen.export.identities import DRAWS

    default_variation = {mode: draw.variation for mode, draw in DRAWS.items()}

    work = args.work or Path(tempfile.mkdtemp())
    sweep = {"plain": args.plain_variations, "identity": args.identity_variations}
    commands, exports = [], {}
    for mode in MODES:
        run = work / f"run-{mode}"
        train = ["facegen", "train", "--data", args.data, "--out", str(run), "--preset", "small", "--steps",
                 str(args.steps), "--mode", mode, "--quiet"]
        sh(*train)
        commands.append(" ".join(train))
        for v in sorted(set(sweep[mode]) | {default_variation[mode]}):
            out = work / f"synth-{mode}-{v:g}"
            export = ["facegen", "export", "--checkpoint", str(run), "--identities", str(args.identities),
                      "--per-identity", str(args.per_identity), "--variation", f"{v:g}", "--out", str(out), "--quiet"]
            sh(*export)
            commands.append(" ".join(export))
            exports[mode, v] = out

    import facegen  # noqa: F401
    import numpy as np

    from facegen.metrics.evaluate import fake_images_from_export
    from facegen.metrics.identity import folder_consistency, within_identity_variety

    real, judge = sample_judge(args.data)
    real_variety = within_identity_variety(real.images, real.identities)
    rows = {}
    for (mode, v), out in exports.items():
        images, _, labels = fake_images_from_export(out)
        rows[mode, v] = {**folder_consistency(judge.predict(images), labels),
                         "variety": within_identity_variety(images, labels)}

    # Plain's consistency at identity mode's variety, read off plain's curve (linear between sweep points).
    def plain_at(variety: float) -> tuple[float, float]:
        pts = sorted((r["variety"], r["consistency"], r["distinct_majorities"])
                     for (m, _), r in rows.items() if m == "plain")
        xs, cs, ds = zip(*pts)
        return float(np.interp(variety, xs, cs)), float(np.interp(variety, xs, ds))

    downstream = {}
    if not args.no_downstream:
        for name, folder in (("real training identities (ceiling)", "real"),
                             (f"plain DCGAN export (--variation {default_variation['plain']:g})",
                              exports["plain", default_variation["plain"]]),
                             (f"identity-mode export (--variation {default_variation['identity']:g})",
                              exports["identity", default_variation["identity"]])):
            c = [sys.executable, "experiments/cnn_recognizer.py", "--train", str(folder), "--real", args.data,
                 "--epochs", str(args.epochs)]
            downstream[name] = json.loads(sh(*c).strip().splitlines()[-1])
            commands.append(" ".join(c))

    save_plot(args.plot, rows, real_variety)
    print(f"# identity_experiment — {dt.date.today()} — {machine()}")
    print(f"small preset, {args.steps} steps each, export {args.identities} x {args.per_identity}; "
          f"real within-identity variety {real_variety:.3f}")
    print("| export | --variation | variety | consistency | distinct true identities / folders | "
          "plain at this variety: consistency, distinct |")
    print("|---|---|---|---|---|---|")
    for (mode, v), r in sorted(rows.items()):
        matched = ""
        if mode == "identity":
            c, d = plain_at(r["variety"])
            matched = f"{100 * c:.1f}%, {d:.0f}"
        print(f"| {mode} | {v:g} | {r['variety']:.3f} | {100 * r['consistency']:.1f}% | "
              f"{r['distinct_majorities']} / {r['folders']} | {matched} |")
    if downstream:
        print("\n| recognizer trained on | verification accuracy | ROC AUC |")
        print("|---|---|---|")
        for name, r in downstream.items():
            print(f"| {name} | {100 * r['verification_accuracy']:.1f}% | {r['roc_auc']:.3f} |")
    print(f"\ntrade-off plot: {args.plot}")
    print("commands:")
    for c in commands:
        print("   ", c)


def save_plot(path: Path, rows: dict, real_variety: float) -> None:
    """Consistency against variety for both modes (one point per --variation), real variety marked."""
    import numpy as np
    from PIL import Image, ImageDraw

    w, h, pad = 640, 420, 60
    xs = [r["variety"] for r in rows.values()] + [real_variety]
    x0, x1 = 0.0, max(xs) * 1.1
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)

    def at(variety: float, consistency: float) -> tuple[float, float]:
        return (pad + (variety - x0) / (x1 - x0) * (w - 2 * pad), h - pad - consistency * (h - 2 * pad))

    draw.rectangle([pad, pad, w - pad, h - pad], outline="black")
    for c in np.linspace(0, 1, 6):
        draw.text((8, at(0, c)[1] - 6), f"{100 * c:.0f}%", fill="black")
    for v in np.linspace(x0, x1, 5):
        draw.text((at(v, 0)[0] - 12, h - pad + 8), f"{v:.2f}", fill="black")
    rx = at(real_variety, 0)[0]
    draw.line([rx, pad, rx, h - pad], fill=(150, 150, 150), width=1)
    draw.text((rx - 70, pad + 4), "real photos", fill=(110, 110, 110))
    for mode, colour in zip(MODES, ((200, 60, 40), (40, 90, 200))):
        pts = sorted((r["variety"], r["consistency"], v, r["distinct_majorities"])
                     for (m, v), r in rows.items() if m == mode)
        draw.line([at(x, c) for x, c, _, _ in pts], fill=colour, width=2)
        for x, c, v, distinct in pts:
            px, py = at(x, c)
            draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill=colour)
            draw.text((px + 6, py - 14), f"v={v:g}, {distinct} ids", fill=colour)
    draw.text((pad, 20), "consistency (exact judge) vs within-identity variety (RMS pixel difference)", fill="black")
    draw.text((pad, 20 + 14), "red: plain   blue: identity mode   (ids: distinct true identities over the folders)",
              fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


if __name__ == "__main__":
    main()
