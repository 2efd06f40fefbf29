"""`facegen data pairs`: LFW-layout pairs of held-out identities, as a CSV and an insightface `.bin` that
unpickles to 2P images and P flags in equal folds."""

import io
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from facegen.cli import main
from facegen.data import discover
from facegen.data.pairs import PairsConfig, read_pairs, write_pairs
from facegen.data.sources import split_identities


@pytest.fixture(scope="module")
def folders(celeba_sample, tmp_path_factory):
    """The sample re-laid as one folder per identity (15 people): every 2nd identity held out, 7 people."""
    root = tmp_path_factory.mktemp("people") / "faces"
    frame = discover(celeba_sample, "all").frame
    for path, ident in zip(frame["path"], frame["identity"]):
        (root / f"person_{int(ident):04d}").mkdir(parents=True, exist_ok=True)
        shutil.copy(path, root / f"person_{int(ident):04d}")
    return root


def test_bin_holds_the_pairs_in_equal_folds(folders, tmp_path):
    cfg = PairsConfig(folds=3, per_fold=6, size=48, held_out_every=2)
    record = write_pairs(folders, tmp_path / "v", cfg, progress=False)
    with open(tmp_path / "v" / "facegen_val.bin", "rb") as f:
        bins, issame = pickle.load(f, encoding="bytes")
    assert len(issame) == record["pairs"] == 36 and len(bins) == 2 * len(issame)
    assert issame == ([True] * 6 + [False] * 6) * 3  # each fold: its same pairs, then its different pairs
    first = Image.open(io.BytesIO(bins[0]))
    assert first.size == (48, 48) and first.mode == "RGB"
    csv = pd.read_csv(tmp_path / "v" / "pairs.csv")
    assert (csv["same"] == (csv["identity_a"] == csv["identity_b"])).all()
    _, held = split_identities(discover(folders), 2)
    assert set(csv["identity_a"]) | set(csv["identity_b"]) <= set(held.frame["identity"].astype(int))
    pairs, paths, _ = read_pairs(tmp_path / "v")
    assert np.array_equal(pairs.same, np.array(issame)) and all(Path(p).is_file() for p in paths)


def test_cli_writes_pairs_and_refuses_too_few_people(celeba_sample, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["data", "pairs", "--data", str(celeba_sample), "--out", str(tmp_path / "p"), "--quiet"])
    assert exit_.value.code != 0 and "at least 4" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
