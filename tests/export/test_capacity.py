"""Identity capacity: the acceptance-curve fit follows the law of people drawn at random (novel real people) and
recovers a finite pool of people where a model repeats itself, and says what an export can deliver."""

import numpy as np
import pytest

from facegen.export.capacity import Capacity, acceptance_curve, fit


def candidates(people: int, n: int, leak_share: float = 0.0, seed: int = 0):
    """n candidate references, each one of `people` near-orthogonal identities plus noise; a share of them leaked."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, 256))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    refs = centres[rng.integers(0, people, n)] + rng.normal(scale=0.02, size=(n, 256))
    refs /= np.linalg.norm(refs, axis=1, keepdims=True)
    leak = np.where(rng.random(n) < leak_share, 0.9, 0.0)
    return refs.astype(np.float32), leak


@pytest.mark.parametrize("people", [150, 600, 2000])
def test_the_fit_follows_the_curve_and_recovers_a_pool_the_candidates_exhaust(people):
    refs, leak = candidates(people, 1024, leak_share=0.2)
    curve = acceptance_curve(refs, leak, 0.7, 0.5)
    # The rule: a repeat of an accepted person (cosine ~1) and a leaked candidate are rejected, a new person taken.
    assert curve[-1] <= people and np.all(np.diff(curve) >= 0)
    est = fit(curve, 0.7, 0.5)
    assert est.expected(1024) == pytest.approx(curve[-1], rel=0.05)
    assert est.first_acceptance == pytest.approx(0.8, abs=0.08)
    if people == 150:  # exhausted: the curve has flattened for good, and the fit says how many there are
        assert est.pool is not None and est.capacity == pytest.approx(people, rel=0.1), est
    else:  # still rising: as likely people drawn at random as a pool, and never estimated below what it shows
        assert est.capacity is None or est.capacity >= curve[-1]


def test_deliverable_is_what_the_candidate_budget_finds():
    cap = Capacity(1.0, 1.0, 1024, 370, 0.7, 0.5, pool=400.0)
    # With 10 candidates per identity, nearly all 400 people are found; 2 per identity find fewer.
    assert 390 <= cap.deliverable(10) <= 400
    k = cap.deliverable(2)
    assert cap.expected(2 * k) >= k - 1 and cap.expected(2 * (k + 10)) < k + 10
    assert Capacity(1.0, 0.05, 1024, 20, 0.7, 0.5, pool=400.0).deliverable(10) <= 20  # most candidates leak


def test_a_straight_curve_has_no_capacity_in_sight():
    curve = np.arange(1, 1025)  # every candidate accepted: no saturation yet
    est = fit(curve, 0.7, 0.5)
    assert est.capacity is None and "no limit in sight" in est.text()


def test_people_drawn_at_random_follow_the_law_far_beyond_the_fitted_candidates():
    # 6,000 "novel people": random directions in 12 dimensions, 0.4% of whose pairs exceed the limit. Fitted on the
    # first 1,000, the law predicts how many the export's rule accepts of all 6,000 (a finite pool would say it
    # saturates, and refuse what such people could fill).
    rng = np.random.default_rng(4)
    refs = rng.normal(size=(6000, 12))
    refs /= np.linalg.norm(refs, axis=1, keepdims=True)
    limit = 0.72
    p = ((refs[:1000] @ refs[:1000].T)[np.triu_indices(1000, 1)] > limit).mean()
    assert 0.002 < p < 0.008
    curve = acceptance_curve(refs, np.zeros(len(refs)), limit, 0.5)
    est = fit(curve[:1000], limit, 0.5)
    assert est.pool is None
    assert est.expected(6000) == pytest.approx(curve[-1], rel=0.1), (est, curve[-1])
    assert est.pair_rate == pytest.approx(p, rel=0.5)


def test_spread_counts_look_alike_pairs_and_separable_people_by_the_export_rule():
    import math

    from facegen.export.capacity import spread, spread_text

    eye = np.eye(10)
    distinct = spread(eye, 0.5)
    assert distinct == {"people": 10, "mean_cosine": 0.0, "pairs_above_limit": 0.0, "separable_per_1000": 1000.0,
                        "law_per_1000": 1000, "max_similarity": 0.5}
    # Five people drawn twice each: 5 of the 45 pairs are one person, the greedy rule keeps 5 of 10.
    twice = spread(np.repeat(eye[:5], 2, axis=0), 0.5)
    assert twice["pairs_above_limit"] == round(5 / 45, 6) and twice["separable_per_1000"] == 500.0
    assert twice["law_per_1000"] == round(45 / 5 * math.log1p(5 / 45 * 1000), 1)
    line = spread_text(twice, distinct)
    assert "11.11% of pairs above the separation limit" in line and "held-out real people (10" in line
    assert "x as many" not in line  # no look-alike pair among the real people: no ratio to quote
    assert "(2.0x as many" in spread_text(twice, {**distinct, "pairs_above_limit": twice["pairs_above_limit"] / 2})
    assert spread(eye[:1], 0.5) is None
