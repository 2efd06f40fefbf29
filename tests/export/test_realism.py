"""The calibrated realism score: D's rank of an image among the checkpoint's own reference images, monotone in
D's logit, stored per checkpoint and recomputable by hand from the manifest; thresholds and what stays below."""

import json

import numpy as np

from facegen.config import ExportConfig
from facegen.export.manifest import EXPORT_JSON, read_manifest
from facegen.export.realism import CALIBRATION_IMAGES, RealismCalibration
from facegen.export.render import export


def test_score_is_the_share_of_real_logits_at_or_below_and_monotone():
    cal = RealismCalibration(np.array([-3.0, -1.0, 0.0, 2.0]), {})
    assert cal.score(np.array([-5.0, -3.0, -0.5, 0.0, 9.0])).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    logits = np.sort(np.random.default_rng(0).normal(size=1000))
    assert (np.diff(RealismCalibration(np.sort(np.random.default_rng(1).normal(size=300)), {}).score(logits)) >= 0).all()




def cfg(**kw):
    return ExportConfig(**{"identities": 4, "per_identity": 16, "seed": 2, "block": 16, "batch_size": 32, **kw})


def test_manifest_realism_is_the_rank_of_its_logit_among_the_stored_reference_logits(run, tmp_path):
    export(run, tmp_path / "s", cfg(realism=True), progress=False)
    frame = read_manifest(tmp_path / "s")
    stored = [json.loads(p.read_text()) for p in (run / "realism").glob("*.json")]
    assert len(stored) == 1 and stored[0]["checkpoint"] == "ckpt-30" and stored[0]["step"] == 30
    ref = np.asarray(stored[0]["reference_logits"])
    assert len(ref) == stored[0]["images"] == CALIBRATION_IMAGES and (np.diff(ref) >= 0).all()
    by_hand = np.searchsorted(ref, frame["realism_logit"].to_numpy(), side="right") / len(ref)
    assert np.abs(frame["realism"].to_numpy() - by_hand).max() <= 1 / len(ref) + 1e-9  # logits kept to 6 places
    # Exported images come from the same prior as the reference, so their ranks spread over 0..1.
    assert 0.3 < frame["realism"].mean() < 0.7 and frame["realism"].min() < 0.2 and frame["realism"].max() > 0.8
    # A second export reads the stored calibration: same digest in its settings.
    export(run, tmp_path / "t", cfg(realism=True, seed=3), progress=False)
    settings = [json.loads((tmp_path / d / EXPORT_JSON).read_text())["settings"] for d in ("s", "t")]
    assert settings[0]["realism_calibration"] == settings[1]["realism_calibration"]


def test_threshold_zero_keeps_everything_and_what_stays_below_is_counted(run, tmp_path):
    result = export(run, tmp_path / "zero", cfg(realism=True, min_realism=0.0), progress=False)
    frame = read_manifest(tmp_path / "zero")
    assert result.replaced == 0 and result.below_threshold == 0 and (frame["attempt"] == 0).all()
    result = export(run, tmp_path / "hard", cfg(min_realism=0.999, max_attempts=3), progress=False)
    frame = read_manifest(tmp_path / "hard")
    below = int((frame["realism"] < 0.999).sum())
    assert below > 0 and result.below_threshold == below
    assert json.loads((tmp_path / "hard" / EXPORT_JSON).read_text())["counts"]["below_min_realism"] == below
    assert (frame["attempt"] > 0).any() and frame["attempt"].max() <= 2
