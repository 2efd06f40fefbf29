"""Distribution distances: the Frechet distance on known Gaussians, KID's bias and growth."""

import numpy as np
import pytest

from facegen.metrics.distances import frechet_distance, kernel_inception_distance, sliced_wasserstein


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


def test_sliced_wasserstein_is_zero_on_itself_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 200, (64, 32, 32, 3), dtype=np.uint8)
    b = rng.integers(0, 200, (64, 32, 32, 3), dtype=np.uint8)
    shifts = [sliced_wasserstein(a, np.clip(b.astype(int) + d, 0, 255).astype(np.uint8)) for d in (0, 20, 50)]
    assert sliced_wasserstein(a, a) == 0 and shifts[0] < shifts[1] < shifts[2]
