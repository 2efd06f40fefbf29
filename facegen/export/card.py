"""The dataset card of every dataset facegen writes (export, merge, mix): README.md in the Hugging Face
dataset-card shape (YAML front matter, then what it is, how it was made, counts, how to load it, limitations,
measured metrics) and preview.jpg, one row per identity. Written last, atomically, from the folder's record
(export.json or mix.json) and manifest, so re-writing it (after `facegen evaluate --export`) is always safe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from facegen.atomic import write_bytes, write_text
from facegen.config import FORMATS, read_json
from facegen.data.sources import PREVIEW_NAME
from facegen.export.packers import PACKERS
from facegen.images import encode, grid

CARD = "README.md"
EVALUATION = "evaluation.json"  # the numbers `facegen evaluate --export` measured, shown in the card
PACKS = "packs.json"  # what `facegen pack` made of this dataset (its folder -> its record), shown in the card
BENCHMARKS = "benchmarks.json"  # what `facegen benchmark` measured with this dataset (its folder -> figures)
JUDGEMENTS = "judgements.json"  # judge embedders' verdicts on the identities (judge folder -> figures)
PREVIEW_ROWS, PREVIEW_COLUMNS = 8, 8


def size_category(n: int) -> str:
    """Hugging Face's size_categories bucket for n examples."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                        (10_000_000, "1M<n<10M")):
        if n < limit:
            return name
    return "n>10M"


def write_card(folder: Path, record_name: str, frame: pd.DataFrame) -> None:
    """preview.jpg, then README.md (last) for the dataset in `folder`, described by its record and manifest."""
    folder = Path(folder)
    record = read_json(folder / record_name)
    evaluation = read_json(folder / EVALUATION) if (folder / EVALUATION).exists() else None
    packs = read_json(folder / PACKS) if (folder / PACKS).exists() else None
    benchmarks = read_json(folder / BENCHMARKS) if (folder / BENCHMARKS).exists() else None
    judgements = read_json(folder / JUDGEMENTS) if (folder / JUDGEMENTS).exists() else None
    if len(frame):  # an empty shard has nothing to show
        write_bytes(folder / PREVIEW_NAME, encode(preview(folder, frame), "jpg", quality=90))
    write_text(folder / CARD, card_text(record, record_name, frame, evaluation, packs, benchmarks, judgements))


def preview(folder: Path, frame: pd.DataFrame, rows: int = PREVIEW_ROWS, columns: int = PREVIEW_COLUMNS) -> np.ndarray:
    """A sheet with one row per identity (the first `rows`, spread over the sources) and up to `columns` images
    of it; short identities leave their row's end white."""
    names = _preview_identities(frame, rows)
    tiles = []
    for name in names:
        paths = frame.loc[frame["identity"] == name, "path"].head(columns)
        row = [np.asarray(Image.open(folder / p).convert("RGB")) for p in paths]
        tiles += row + [np.full_like(row[0], 255)] * (columns - len(row))
    return grid(np.stack(tiles), columns)


def _preview_identities(frame: pd.DataFrame, rows: int) -> list[str]:
    """The first identities of each source in turn (a mix shows real and synthetic rows alike)."""
    identities = frame.drop_duplicates("identity")
    if "source" not in identities:
        return identities["identity"].head(rows).tolist()
    groups = [g["identity"].tolist() for _, g in identities.groupby("source", sort=False)]
    picked: list[str] = []
    while len(picked) < min(rows, len(identities)):
        for g in groups:
            if g and len(picked) < rows:
                picked.append(g.pop(0))
    return picked


def card_text(record: dict, record_name: str, frame: pd.DataFrame, evaluation: dict | None = None,
              packs: dict | None = None, benchmarks: dict | None = None, judgements: dict | None = None) -> str:
    images, identities = len(frame), frame["identity"].nunique()
    per = frame.groupby("identity").size() if images else pd.Series([0])
    kind = "mix" if record_name != "export.json" else "export"
    ext = (Path(str(frame["path"].iloc[0])).suffix.lstrip(".") if images
           else FORMATS.get(record["settings"].get("format", "png"), "png"))
    sources = _sources_text(record, kind)
    front = "\n".join([
        "---",
        "license: other  # set the license of your generator's training data and your own terms",
        "pretty_name: facegen synthetic faces" + (" (mixed with real faces)" if kind == "mix" else ""),
        "size_categories:",
        f"- {size_category(images)}",
        "task_categories:",
        "- image-classification",
        "tags:",
        "- faces",
        "- face-recognition",
        "- synthetic" if kind == "export" else "- synthetic\n- real",
        "- facegen",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        "    path:",
        f"    - \"*/*.{ext}\"",
        "    - metadata.csv",
        "---",
    ])
    metrics = _metrics_text(evaluation)
    return f"""{front}

# facegen {"mixed" if kind == "mix" else "synthetic"} face dataset

{_what_text(kind)}

## How it was made

{sources}

Command: `{record.get("command") or "(not recorded)"}`

Made by facegen {record.get("facegen_version", "?")}; the full record is `{record_name}` beside this card.

## Counts

| identities | images | images per identity (min / median / max) | image format |
|---|---|---|---|
| {identities} | {images} | {per.min()} / {int(per.median())} / {per.max()} | {ext} |

`manifest.csv` lists every image (path relative to this folder, identity folder, integer label{", source" if kind == "mix" else ""});
`metadata.csv` holds the same rows for Hugging Face (`path` named `file_name`); `im2rec.lst` is MXNet im2rec's list
(`index<TAB>label<TAB>path`). Labels are 0..{identities - 1} in sorted folder order.

## How to load it

{loading_text(ext, packs)}

{_attributes_text(record, evaluation)}## Metrics

{metrics}
{_judge_text(judgements)}{_benchmark_text(benchmarks)}
## Limitations

- {"The synthetic identities" if kind == "mix" else "Every image"} is generated by a DCGAN: these are not photos of real people, and a
  recognizer trained only on them is weaker on real faces than one trained on real photos.
- An identity folder holds images generated from one identity code; whether they read as one person, and
  whether two folders read as two people, depends on the model: measure it (`facegen evaluate --export`).
- The generator learned from its training photos and may reproduce traits, biases and (for small training
  sets) near-copies of people in them.
{"- Real images keep their source's license and consent terms; the mix adds none." if kind == "mix" else ""}
"""


def loading_text(ext: str, packs: dict | None = None) -> str:
    """How to read the dataset: the folder itself in Keras, PyTorch and Hugging Face, then each packed form."""
    packs = list((packs or {}).values())
    parts = ["""Keras:

```python
import keras
ds = keras.utils.image_dataset_from_directory("THIS_FOLDER", batch_size=64)  # labels = sorted folder names
```

PyTorch:

```python
from torchvision.datasets import ImageFolder
ds = ImageFolder("THIS_FOLDER")  # class_to_idx follows sorted folder names, like manifest.csv's label
```

Hugging Face `datasets` (label and every manifest column come from `metadata.csv`):

```python
from datasets import load_dataset
ds = load_dataset("imagefolder", data_dir="THIS_FOLDER")["train"]
```"""]
    for name, fmt in PACKERS.items():  # each packed form of the dataset, or how to make one
        made = [p for p in packs if p["format"] == name]
        parts += [fmt.card(entry, ext) for entry in made] or [fmt.card(None, ext)]
    parts.append('pandas: `pd.read_csv("THIS_FOLDER/manifest.csv")`.')
    return "\n\n".join(parts)


def _what_text(kind: str) -> str:
    if kind == "mix":
        return ("Real face identities and facegen synthetic identities in one labeled dataset for training face "
                "recognition: one folder per identity, disjoint labels, every image the same size.")
    return ("Synthetic faces for training face recognition: one folder per synthetic identity, many generated "
            "images per identity.")


def _sources_text(record: dict, kind: str) -> str:
    if kind == "mix":
        s, lines = record["settings"], []
        if s["real"]:
            lines.append(f"- real: `{s['real']}`, partition {s['partition']} ({record['counts']['real_identities']} "
                         f"identities, {record['counts']['real_images']} images, centre-cropped as facegen trains "
                         f"and resized to {s['size']}px)")
        for synth, n in zip(s["synth"], record["counts"]["synth_identities"]):
            lines.append(f"- synthetic: `{synth}` ({n} identities)")
        lines.append(f"- selection seed {s['seed']}; files {'linked where possible' if s['link'] else 'copied'}")
        return "\n".join(lines)
    s, model = record["settings"], record.get("model", {})
    train = model.get("train", {})
    loss = (f", identity loss {train['identity_loss']:g} from embedder `{train['identity_embedder']}`"
            if train.get("identity_loss") else "")
    return "\n".join([
        f"- checkpoint `{s['checkpoint']}` at step {s['step']} (preset {train.get('preset', '?')}, "
        f"{model.get('mode', '?')} mode{loss})",
        f"- seed {s['seed']}, variation {s['variation']}, size {s['size'] or model.get('model', {}).get('resolution')}"
        f", precision {s.get('precision', 'off')}"
        + (f", nuisance {s['nuisance']:g} (tilt, shift, scale and light moved per image)" if s.get("nuisance") else ""),
        f"- realism scored: {s['realism']}; min realism {s['min_realism']} (max attempts {s['max_attempts']})",
        *_verification_lines(record),
        f"- settings: `{json.dumps(s, sort_keys=True)}`",
    ])


def _verification_lines(record: dict) -> list[str]:
    """The identity check's limits and work, and the model's identity capacity at them."""
    s, check, capacity = record["settings"], record.get("identity_check"), record.get("capacity")
    if not s.get("embedder") or not check:
        return ["- identities: not verified (latent identities; export with an embedder to verify them)"]
    lines = [f"- identities verified by `{s['embedder']}`: images redrawn below consistency {s['min_consistency']}, "
             f"identities rejected above similarity {s['max_similarity']} to another or leakage {s['max_leakage']} "
             f"to a training identity ({check['candidates_drawn']} candidates for {check['identities']} identities)"]
    if capacity:
        size = f"about {capacity['capacity']:,}" if capacity.get("capacity") is not None else "more than " \
            f"{capacity['accepted']}"
        lines.append(f"- identity capacity of the checkpoint with this embedder: {size} identities at similarity "
                     f"{capacity['max_similarity']} (fitted to the acceptance curve of {capacity['candidates']} "
                     "candidates: `facegen train`'s RUN/capacity.json)")
        if capacity.get("spread"):
            from facegen.export.capacity import spread_text

            lines.append(f"- {spread_text(capacity['spread'], capacity.get('real_spread'))}")
    return lines


def _attributes_text(record: dict, evaluation: dict | None) -> str:
    """The identity-attribute shares the classifier gave the identities (and the real data's, once evaluated)."""
    attrs = record.get("attributes")
    if not attrs:
        return ""
    real = ((evaluation or {}).get("metrics", {}).get("attributes") or {}).get("real", {})
    balance = dict(map(tuple, record["settings"].get("balance") or []))
    rows = "\n".join(f"| {n} | {100 * s:.1f}% | " + (f"{100 * real[n]:.1f}%" if n in real else "-") + " | "
                     + (f"{100 * balance[n]:.0f}%" if n in balance else "-") + " |"
                     for n, s in attrs["identity_shares"].items())
    return (f"## Attributes\n\nEvery image has a probability column per attribute in `manifest.csv` "
            f"({', '.join(attrs['columns'])}); identity-level attributes also an `identity_` column, one value per "
            f"identity. Share of identities with each (by the classifier `{record['settings']['attributes']}`):\n\n"
            f"| attribute | this dataset | real training data | asked (--balance) |\n|---|---|---|---|\n{rows}\n\n")


def _benchmark_text(benchmarks: dict | None) -> str:
    """What `facegen benchmark` measured: a recognizer trained with and without this set, verified on held-out
    real people by the 10-fold protocol."""
    if not benchmarks:
        return ""
    parts = []
    for b in benchmarks.values():
        rows = "\n".join(f"| {g['arm']} | {g['real_identities']} | {100 * g['accuracy']:.1f}% ± "
                         f"{100 * g['accuracy_seed_std']:.1f} | {100 * g['tar_at_far']:.1f}% | {g['seeds']} |"
                         for g in b["groups"])
        gains = "".join(f"\nGain of real + this set over real alone at {g['real_identities']} real identities: "
                        f"{100 * g['gain']:+.1f} ± {100 * g['gain_seed_std']:.1f} points (seeds: {g['seeds']})."
                        for g in b["gains"])
        parts.append(f"Measured by `facegen benchmark` on {b['when'][:10]} against `{b['real']}` ({b['steps']} "
                     f"recognizer batches per arm; report in `{b['out']}`): a recognizer trained on each arm, verified "
                     "on pairs of held-out real identities, 10-fold accuracy (threshold chosen on the other folds) "
                     f"and TAR at FAR 1e-3.\n\n| arm | real identities | accuracy | TAR@FAR 1e-3 | seeds |\n"
                     f"|---|---|---|---|---|\n{rows}\n{gains}")
    return "\n## Recognition benchmark\n\n" + "\n\n".join(parts) + "\n"


def _judge_text(judgements: dict | None) -> str:
    """The judge embedders' verdicts: an embedder that neither trained the GAN nor filtered the export."""
    if not judgements:
        return ""
    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"

    rows = "\n".join(f"| `{j['judge']}` (step {j['judge_step']}) | {j['identities']} | {pct(j['consistency'])} | "
                     f"{pct(j['separated_identities'])} | {pct(j['duplicate_identities'])} | "
                     f"{pct(j['leaked_identities'])} |" for j in judgements.values())
    sight = [f"- `{j['judge']}`: its separation limit passes {100 * s['rate']:.2f}% of the pairs of held-out people "
             f"it was not calibrated on (nominal {100 * s['far']:.2f}%, {s['pairs']} pairs): a judge whose rate is "
             "far above nominal cannot tell look-alikes apart, and its 'separated' overstates the set."
             for j in judgements.values() if (s := j.get("judge_separation_out_of_sample") or {}).get("rate")
             is not None]
    how_well = ("\nHow well each judge sees:\n\n" + "\n".join(sight) + "\n") if sight else ""
    return ("\nJudged by an identity embedder that neither trained the generator nor filtered this export, at its own "
            "calibrated limits (the first identities' images):\n\n| judge | identities | consistency | separated | "
            f"duplicates | leaked |\n|---|---|---|---|---|---|\n{rows}\n{how_well}")


def _metrics_text(evaluation: dict | None) -> str:
    if not evaluation:
        return "Not measured yet: run `facegen evaluate --export THIS_FOLDER --data REAL_DATA`."
    rows = evaluation.get("card_rows")  # each registered metric's rows (facegen.metrics.evaluate)
    if rows is None:  # an evaluation.json written before the metrics registered their rows
        m = evaluation.get("metrics", {})
        rows = [("FID", m.get("fid")), ("KID", m.get("kid")), ("face rate", m.get("face_rate"))]
        for group, values in (m.get("identity") or {}).items():
            if isinstance(values, dict):
                rows += [(f"identity {group}: {k}", v) for k, v in values.items()]
    table = "\n".join(f"| {name} | {value:.4g} |" for name, value in rows
                      if isinstance(value, (int, float)) and not isinstance(value, bool))
    return (f"Measured by `facegen evaluate` on {evaluation.get('when', '?')} against `{evaluation.get('data')}` "
            f"({evaluation.get('n_generated')} generated, {evaluation.get('n_real')} real images):\n\n"
            f"| metric | value |\n|---|---|\n{table}")
