"""The downstream example a user runs on an export: it trains, and its recognizer verifies held-out faces."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def recognizer(data: Path, head: str, epochs: int, train: str = "real", *extra: str) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "train_recognizer.py"), "--train", train,
                          "--real", str(data), "--epochs", str(epochs), "--head", head, *extra],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def people(verification_sample):
    return verification_sample


@pytest.fixture(scope="module")
def untrained(people):
    return recognizer(people, "softmax", 0)


@pytest.mark.parametrize("head", ["softmax", "arcface"])
def test_recognizer_learns_to_verify_identities_it_never_saw(people, untrained, head):
    r = recognizer(people, head, 6)
    assert r["head"] == head and r["held_out_identities"] == 4 and r["folds"] == 2 and r["pairs"] > 1000
    assert r["best_threshold_accuracy"] >= r["verification_accuracy"] - 1e-9  # chosen on the test pairs: optimistic
    # Raw CNN features already separate the drawn faces somewhat (untrained AUC ~0.87 here); training on
    # the real training identities must do clearly better on held-out ones (~0.99).
    assert r["roc_auc"] > untrained["roc_auc"] + 0.05


def test_synthetic_identities_can_weigh_less(people, tmp_path):
    """--synthetic-weight weighs the images of `facegen mix`'s *-synth* folders; the rest count fully."""
    import shutil

    from facegen.data import discover

    frame = discover(people, "train").frame
    ids = sorted(frame["identity"].unique())[:6]
    for k, ident in enumerate(ids):
        folder = tmp_path / "mix" / (f"{k:06d}-real-{ident}" if k < 4 else f"{k:06d}-synth1-{ident}")
        folder.mkdir(parents=True)
        for path in frame.loc[frame["identity"] == ident, "path"]:
            shutil.copy(path, folder)
    r = recognizer(people, "arcface", 1, str(tmp_path / "mix"), "--synthetic-weight", "0.25", "--pairs", "200",
                   "--steps", "10", "--real-share", "0.5")
    assert (r["train_identities"], r["synthetic_identities"], r["synthetic_weight"], r["pairs"]) == (6, 2, 0.25, 200)
    assert (r["real_share"], r["steps"]) == (0.5, 10)


def test_real_share_fixes_the_share_of_real_images_per_batch():
    import importlib.util

    import numpy as np
    import tensorflow as tf

    spec = importlib.util.spec_from_file_location("train_recognizer", ROOT / "examples" / "train_recognizer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # 90 images of one real class (0) and 10 of one synthetic class (1): 10% real as the folder falls.
    labels = np.r_[np.zeros(10, np.int32), np.ones(90, np.int32)]
    batches = tf.data.Dataset.from_tensor_slices((np.zeros((100, 2, 2, 3), np.float32), labels)).batch(64)
    drawn = np.concatenate([y.numpy() for _, y in module.by_source(batches, ["a-real-1", "b-synth1-2"], 0.7, 0).take(20)])
    assert len(drawn) == 20 * 64 and abs(np.mean(drawn == 0) - 0.7) < 0.05


def test_recognizer_verifies_on_a_pairs_bin(people, tmp_path):
    """The .bin of `facegen data pairs` (arcface_torch's val_targets form) is the test set when given."""
    from facegen.data.pairs import PairsConfig, write_pairs

    write_pairs(people, tmp_path / "pairs", PairsConfig(folds=2, per_fold=50, size=64), progress=False)
    r = recognizer(people, "softmax", 1, "real", "--pairs-dir", str(tmp_path / "pairs"))
    assert (r["pairs"], r["folds"], r["held_out_identities"]) == (200, 2, 4)
    assert 0 <= r["tar_at_far_1e-3"] <= 1 and 0.5 <= r["roc_auc"] <= 1
