"""The downstream example a user runs on a dataset folder: facegen's recognizer trains on it and verifies
held-out real people by the 10-fold protocol."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def recognizer(train: Path, real: Path, out: Path, steps: int, *extra: str) -> dict:
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "train_recognizer.py"), "--train", str(train),
                        "--real", str(real), "--out", str(out), "--steps", str(steps), "--preset", "tiny",
                        "--pairs", "1000", "--folds", "2", *extra],
                       capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def real_identities(verification_sample, tmp_path_factory):
    """The sample's 16 training identities as identity folders (`facegen mix`): nobody the pairs hold."""
    from facegen.config import MixConfig
    from facegen.export.mix import mix

    out = tmp_path_factory.mktemp("real") / "R"
    mix(MixConfig(real=str(verification_sample), real_identities=16, size=64), out, progress=False)
    return out


def test_the_recognizer_learns_to_verify_people_it_never_saw(verification_sample, real_identities, tmp_path):
    barely = recognizer(real_identities, verification_sample, tmp_path / "one", 1)
    trained = recognizer(real_identities, verification_sample, tmp_path / "trained", 150)
    assert trained["held_out_identities"] == 4 and trained["folds"] == 2 and trained["pairs"] == 1000
    assert trained["best_threshold_accuracy"] >= trained["accuracy"] - 1e-9  # chosen on the test pairs
    assert trained["roc_auc"] > barely["roc_auc"] + 0.05
    assert (tmp_path / "trained" / "model" / "config.json").exists()  # an embedder folder, as a benchmark arm's


def test_the_recognizer_verifies_on_a_pairs_bin(verification_sample, real_identities, tmp_path):
    """The .bin of `facegen data pairs` (arcface_torch's val_targets form, here at 112 px) is the test set."""
    from facegen.data.pairs import PairsConfig, write_pairs

    write_pairs(verification_sample, tmp_path / "pairs", PairsConfig(folds=2, per_fold=50, size=112), progress=False)
    r = recognizer(real_identities, verification_sample, tmp_path / "rec", 2, "--pairs-dir", str(tmp_path / "pairs"))
    assert (r["pairs"], r["folds"], r["held_out_identities"]) == (200, 2, 4)
    assert 0 <= r["tar_at_far"] <= 1 and 0.0 <= r["roc_auc"] <= 1
