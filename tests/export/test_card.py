"""The dataset card of every dataset facegen writes (export, merge, mix): README.md whose YAML front matter
parses and whose counts match the manifest, preview.jpg with one row per identity; evaluate adds its numbers."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image
from conftest import EXPORT_K as K
from conftest import EXPORT_M as M
from conftest import export_cfg as cfg

from facegen.config import MixConfig
from facegen.data.sources import PREVIEW_NAME
from facegen.export.card import CARD, EVALUATION, PREVIEW_COLUMNS, PREVIEW_ROWS, size_category, write_card
from facegen.export.manifest import EXPORT_JSON, read_manifest
from facegen.export.merge import merge
from facegen.export.mix import MIX_JSON, mix
from facegen.export.render import export



def check_card(folder, identities, images, tile=32):
    text = (folder / CARD).read_text()
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["size_categories"] == [size_category(images)] and "image-classification" in meta["task_categories"]
    assert {"synthetic", "faces", "face-recognition"} <= set(meta["tags"]) and meta["license"]
    # The declared data files are the identity folders' images and the Hugging Face metadata, never the preview.
    ext = Path(pd.read_csv(folder / "manifest.csv")["path"][0]).suffix[1:]
    assert meta["configs"][0]["data_files"][0]["path"] == [f"*/*.{ext}", "metadata.csv"]
    # The counts table says what the manifest says.
    row = next(line for line in text.splitlines() if line.startswith(f"| {identities} |"))
    assert f"| {images} |" in row
    for snippet in ("image_dataset_from_directory", "ImageFolder", 'load_dataset("imagefolder"', "im2rec.lst",
                    "facegen pack", "## Limitations", "generated"):
        assert snippet in text
    rows = min(PREVIEW_ROWS, identities)
    with Image.open(folder / PREVIEW_NAME) as im:
        assert im.format == "JPEG"
        assert im.size == (PREVIEW_COLUMNS * (tile + 2) + 2, rows * (tile + 2) + 2)
    return text


def test_export_writes_a_card(straight):
    text = check_card(straight, K, K * M)
    record = json.loads((straight / EXPORT_JSON).read_text())
    assert f"step {record['settings']['step']}" in text and "Not measured yet" in text


def test_merge_writes_the_card_of_the_whole(run, tmp_path):
    parts = [tmp_path / f"p{i}" for i in range(2)]
    for i, part in enumerate(parts):
        export(run, part, cfg(identities=4, per_identity=5, shard=(i, 2)), progress=False)
        check_card(part, len(read_manifest(part)["identity"].unique()), len(read_manifest(part)))
    merge(parts, tmp_path / "merged", progress=False)
    check_card(tmp_path / "merged", 4, 20)


def test_mix_writes_a_card_with_real_and_synthetic_rows(celeba_sample, straight, tmp_path):
    mix(MixConfig(real=str(celeba_sample), synth=(str(straight),), real_identities=3, synth_identities=6),
        tmp_path / "m", progress=False)
    frame = pd.read_csv(tmp_path / "m" / "manifest.csv")
    text = check_card(tmp_path / "m", 9, len(frame))
    assert "real" in yaml.safe_load(text.split("---\n")[1])["tags"]
    assert json.loads((tmp_path / "m" / MIX_JSON).read_text())["counts"]["images"] == len(frame)


def test_card_shows_evaluation_numbers(straight, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(straight, folder)
    (folder / EVALUATION).write_text(json.dumps({"when": "2026-01-01", "data": "d", "n_generated": 10, "n_real": 20,
                                                 "metrics": {"fid": 123.4, "kid": 0.05, "face_rate": None,
                                                             "identity": {"classifier": {"consistency": 0.58}}}}))
    write_card(folder, EXPORT_JSON, read_manifest(folder))
    text = (folder / CARD).read_text()
    assert "| FID | 123.4 |" in text and "consistency | 0.58 |" in text and "Not measured" not in text


@pytest.mark.parametrize("n, bucket", [(999, "n<1K"), (1000, "1K<n<10K"), (100_000, "100K<n<1M")])
def test_size_categories(n, bucket):
    assert size_category(n) == bucket


def test_a_judged_figure_says_how_well_its_judge_sees():
    from facegen.export.card import _judge_text
    from facegen.export.request import judgement_line

    j = {"judge": "/runs/r/judge", "judge_step": 800, "identities": 100, "consistency": 0.999,
         "separated_identities": 1.0, "duplicate_identities": 0.0, "leaked_identities": 0.0,
         "judge_separation_out_of_sample": {"rate": 0.0222, "pairs": 90, "far": 1e-3}}
    line = judgement_line(j)
    assert "separated 100.0%" in line and "passes 2.22% of held-out people's pairs" in line and "nominal 0.10%" in line
    text = _judge_text({j["judge"]: j})
    assert "How well each judge sees" in text and "2.22%" in text
    older = {k: v for k, v in j.items() if k != "judge_separation_out_of_sample"}  # a judge trained before
    assert "passes" not in judgement_line(older) and "How well" not in _judge_text({j["judge"]: older})
