"""The identity embedder: its folder describes itself, it learns to verify identities it never saw, held-out
identities never train, a resumed run equals a straight one in either compute policy, a folder keeps its policy,
and mistakes are one-line errors."""

import json
import shutil

import numpy as np
import pytest
from conftest import checkpoint_values, ctrl_c_after, embedder_config
from PIL import Image

from facegen import hardware
from facegen.config import FacegenError, Interrupted
from facegen.data import discover
from facegen.models.embedder import Embedder
from facegen.training import supervised as loop_mod
from facegen.training.embedder import split_identities, train_embedder


cfg = embedder_config


@pytest.fixture
def trained(trained_embedder):
    return trained_embedder


def test_folder_describes_itself_and_reports_held_out_verification(trained, celeba_sample):
    folder, report = trained
    config = json.loads((folder / "config.json").read_text())
    assert config["kind"] == "embedder" and config["facegen_version"] and config["preset"] == "tiny"
    assert json.loads((folder / "report.json").read_text()) == report.record
    for key in ("verification_accuracy", "roc_auc", "threshold_at_far", "best_threshold"):
        assert np.isfinite(report.record[key])
    assert report.record["far"] == 1e-3 and report.held_out_identities > 1
    seen = report.record["separation_out_of_sample"]
    # Two halves of held-out people with a pair each need four of them; the sample holds out fewer.
    assert seen["far"] == 1e-3 and (seen["rate"] is None) == (report.held_out_identities < 4)
    intervals = report.record["limit_intervals"]
    assert set(intervals) == {"consistency", "separation", "leakage"}
    assert all(-1 <= lo <= hi <= 1 for lo, hi in intervals.values())
    assert f"consistency {report.limits.consistency:.3f} ({intervals['consistency'][0]:.3f}-" in report.lines()[0]
    reached = report.record["genuine_to_reference_quantiles"]
    assert list(reached) == ["0.01", "0.02", "0.05", "0.1"] and list(reached.values()) == sorted(reached.values())
    # The consistency limit is capped at the 10% quantile, so it never asks more of a generated face than that.
    assert report.limits.consistency <= reached["0.1"] + 1e-6
    assert all(-1 <= v <= 1 for v in (report.limits.consistency, report.limits.separation, report.limits.leakage))
    with Image.open(folder / "verification.png") as im:
        assert im.size[0] > 1000
    embedder = Embedder.from_folder(folder)
    ids, means = embedder.identity_means()
    train_ids = set(discover(celeba_sample, "train").frame["identity"].astype(int))
    assert set(ids.tolist()) == train_ids and report.train_identities == len(train_ids)
    np.testing.assert_allclose(np.linalg.norm(means, axis=1), 1.0, rtol=1e-5)


def test_held_out_identities_never_train(celeba_sample, tmp_path):
    train, held = split_identities(discover(celeba_sample, "all"), 10)
    assert not set(train.frame["identity"]) & set(held.frame["identity"])
    assert set(held.frame["partition"]) == {1, 2}
    # Identity folders (no CelebA partitions): every 3rd identity is held out.
    folders = tmp_path / "folders"
    for path, ident in zip(discover(celeba_sample).frame["path"][:60], discover(celeba_sample).frame["identity"][:60]):
        (folders / f"person{int(ident):03d}").mkdir(parents=True, exist_ok=True)
        (folders / f"person{int(ident):03d}" / path.rsplit("/", 1)[1]).write_bytes(open(path, "rb").read())
    train, held = split_identities(discover(folders), 3)
    names = sorted(set(discover(folders).frame["identity"]))
    assert set(held.frame["identity"]) == set(names[2::3]) and not set(train.frame["identity"]) & set(names[2::3])


def test_trained_embedder_beats_an_untrained_one(trained, celeba_sample, tmp_path):
    _, report = trained
    untrained = train_embedder(tmp_path / "u", cfg(celeba_sample, steps=1), progress=False)
    assert report.roc_auc > untrained.roc_auc + 0.03, (report.roc_auc, untrained.roc_auc)


def test_interrupted_training_resumes_to_the_same_weights(trained, celeba_sample, tmp_path, monkeypatch):
    folder, _ = trained
    ctrl_c_after(monkeypatch, loop_mod, 57)
    with pytest.raises(Interrupted, match="step 57"):
        train_embedder(tmp_path / "r", cfg(celeba_sample), progress=False)
    monkeypatch.undo()
    train_embedder(tmp_path / "r", cfg(celeba_sample), progress=False)
    a, b = checkpoint_values(folder), checkpoint_values(tmp_path / "r")
    assert a.keys() == b.keys() and len(a) > 20
    assert [k for k in a if not np.array_equal(a[k], b[k])] == []


def test_the_other_policy_learns_and_resumes_exactly(trained, celeba_sample, tmp_path, monkeypatch):
    # The fixture trains at what auto picks here; this trains at the other policy, so both are always covered.
    other = "off" if hardware.resolve("auto", "train") == "bfloat16" else "bfloat16"
    straight = train_embedder(tmp_path / "s", cfg(celeba_sample, mixed_precision=other), progress=False)
    assert json.loads((tmp_path / "s" / "config.json").read_text())["mixed_precision"] == other
    untrained = train_embedder(tmp_path / "u", cfg(celeba_sample, steps=1), progress=False)
    assert straight.roc_auc > untrained.roc_auc + 0.03, (straight.roc_auc, untrained.roc_auc)
    ctrl_c_after(monkeypatch, loop_mod, 57)
    with pytest.raises(Interrupted):
        train_embedder(tmp_path / "r", cfg(celeba_sample, mixed_precision=other), progress=False)
    monkeypatch.undo()
    # auto on a started folder means its policy, whatever this machine would pick for a new one.
    train_embedder(tmp_path / "r", cfg(celeba_sample), progress=False)
    a, b = checkpoint_values(tmp_path / "s"), checkpoint_values(tmp_path / "r")
    assert [k for k in a if not np.array_equal(a[k], b[k])] == []


def test_a_folder_keeps_its_policy(trained, celeba_sample, tmp_path):
    folder, report = trained
    stored = json.loads((folder / "config.json").read_text())["mixed_precision"]
    assert stored == hardware.resolve("auto", "train")  # auto is stored as what it stood for
    other = "off" if stored == "bfloat16" else "bfloat16"
    with pytest.raises(FacegenError, match=r"other settings \(mixed_precision\)"):
        train_embedder(folder, cfg(celeba_sample, mixed_precision=other), progress=False)
    # A folder written before trunks had a policy trained in float32, and resumes as such.
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    config = json.loads((old / "config.json").read_text())
    del config["mixed_precision"]
    (old / "config.json").write_text(json.dumps(config))
    assert Embedder.from_folder(old).config.mixed_precision == "off"
    assert train_embedder(old, cfg(celeba_sample), progress=False).record == report.record
    with pytest.raises(FacegenError, match=r"other settings \(mixed_precision\)"):
        train_embedder(old, cfg(celeba_sample, mixed_precision="bfloat16"), progress=False)
    with pytest.raises(FacegenError, match="--mixed-precision"):
        cfg(celeba_sample, mixed_precision="float16")


def test_mistakes_are_one_line_errors(celeba_sample, trained, tmp_path):
    folder, _ = trained
    with pytest.raises(FacegenError, match="other settings"):
        train_embedder(folder, cfg(celeba_sample, margin=0.2), progress=False)
    flat = tmp_path / "flat"
    flat.mkdir()
    for p in sorted((celeba_sample / "img_align_celeba").iterdir())[:5]:
        (flat / p.name).write_bytes(p.read_bytes())
    with pytest.raises(FacegenError, match="no identity labels"):
        train_embedder(tmp_path / "x", cfg(flat), progress=False)
    with pytest.raises(FacegenError, match="--preset"):
        cfg(celeba_sample, preset="huge")
    with pytest.raises(FacegenError, match="not a facegen embedder|holds a facegen"):
        Embedder.from_folder(celeba_sample)


def test_the_separation_limit_is_checked_on_people_it_was_not_calibrated_on():
    from facegen.training.embedder import separation_out_of_sample

    eye = np.eye(8)
    # Alternate references are the two halves: three distinct people, then one person three times.
    refs = np.stack([eye[0], eye[7], eye[2], eye[7], eye[4], eye[7]])
    seen = separation_out_of_sample(refs, 1e-3)
    # The distinct half's limit (0) passes all 3 pairs of the repeated person; the repeated half's (1) none of 3.
    assert seen == {"rate": 0.5, "pairs": 6, "far": 1e-3}
    assert separation_out_of_sample(eye[:3], 1e-3)["rate"] is None  # one reference in a half: nothing to test


def test_limit_intervals_resample_people_and_never_pair_a_person_with_their_copy():
    from facegen.training.embedder import limit_intervals

    eye = np.eye(6)
    rest_ids = np.repeat(np.arange(6), 3)  # three more images of each of six people, each exactly on its axis
    to_ref = eye[rest_ids] @ eye.T
    intervals = limit_intervals(to_ref, rest_ids, [eye @ eye.T] * 3, np.arange(6), np.full(6, 0.5), seed=0, rounds=50)
    # Every resampling sees the same people: own images at 1, others at 0, and a person drawn twice is one person
    # (their two references, at cosine 1, would otherwise drag the separation limit to 1).
    assert intervals == {"consistency": [0.0, 0.0], "separation": [0.0, 0.0], "leakage": [0.5, 0.5]}


def test_the_separation_limit_sees_each_pair_of_people_through_many_reference_draws():
    from facegen.training.embedder import REFERENCE_DRAWS, different_people, redrawn_cross

    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(5), 9)  # five people, nine images each: many ways to draw four
    e = rng.normal(size=(45, 16)) + 3 * np.eye(16)[ids]  # each person near an axis of their own
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    cross = redrawn_cross(e, ids, seed=1)
    assert len(cross) == REFERENCE_DRAWS and cross[0].shape == (5, 5)
    assert not np.allclose(cross[0], cross[1])  # other draws of the same people
    pairs = different_people(cross, np.arange(5))
    assert len(pairs) == REFERENCE_DRAWS * 20 and pairs.max() < np.diagonal(cross[0]).min()
