"""The field's verification protocol: 10-fold accuracy worked out by hand, thresholds that never see their own
fold, TAR at FAR, and LFW-style pairs (identity-disjoint folds of same, then different pairs)."""

import numpy as np
import pytest

from facegen.config import FacegenError
from facegen.metrics.verification import lfw_pairs, roc_auc, tar_at, ten_fold


def test_two_fold_accuracy_equals_a_hand_computation():
    # fold 0: same 0.9 0.8, different 0.3 0.85; fold 1: same 0.7 0.4, different 0.5 0.1
    scores = np.array([0.9, 0.8, 0.3, 0.85, 0.7, 0.4, 0.5, 0.1])
    same = np.array([1, 1, 0, 0, 1, 1, 0, 0], bool)
    fold = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    v = ten_fold(scores, same, fold)
    # Threshold for fold 0, chosen on fold 1 alone: accepting >= 0.7 gets 3 of 4 right (0.4 missed); >= 0.4 gets
    # 3 of 4 (0.5 accepted); >= 0.7 is the highest-scoring best, so the first of the best from the top: 0.7.
    # On fold 0 at 0.7: 0.9 ok, 0.8 ok, 0.3 ok, 0.85 wrongly accepted -> 3/4.
    # Threshold for fold 1, chosen on fold 0: >= 0.8 gets 3 of 4 (0.85 accepted), >= 0.9 gets 3 of 4 (0.8 missed);
    # the top-down scan takes 0.9 first. On fold 1 at 0.9: both same missed, both different right -> 2/4.
    assert v.thresholds == (0.7, 0.9)
    assert v.fold_accuracies == (0.75, 0.5)
    assert v.accuracy == pytest.approx(0.625) and v.accuracy_std == pytest.approx(0.125)


def test_a_threshold_never_sees_its_own_fold():
    """Changing one fold's scores moves the other folds' thresholds, never its own."""
    rng = np.random.default_rng(0)
    same = np.tile(np.r_[np.ones(30, bool), np.zeros(30, bool)], 10)
    fold = np.repeat(np.arange(10), 60)
    scores = rng.normal(same * 1.0, 1.0)
    before = ten_fold(scores, same, fold)
    moved = scores.copy()
    moved[fold == 3] = rng.normal(0, 5, 60)
    after = ten_fold(moved, same, fold)
    assert after.thresholds[3] == before.thresholds[3]
    assert after.fold_accuracies[3] != before.fold_accuracies[3]


def test_tar_at_far_and_auc():
    negatives = np.linspace(0, 1, 1000)  # 1 false accept allowed at FAR 1e-3: accept above the second highest
    positives = np.array([0.9985, 0.9995, 1.5, 0.2])
    scores, same = np.r_[positives, negatives], np.r_[np.ones(4, bool), np.zeros(1000, bool)]
    assert tar_at(scores, same, 1e-3) == pytest.approx(0.5)  # 0.9995 and 1.5 beat 0.998999 (2nd highest)
    assert roc_auc(np.array([0.9, 0.1, 0.5, 0.5]), np.array([1, 0, 1, 0])) == pytest.approx(0.875)


def test_lfw_pairs_are_folds_of_disjoint_people():
    ids = np.repeat(np.arange(40), 5)  # 40 people, 5 images each
    p = lfw_pairs(ids, folds=10, per_fold=8, seed=1)
    assert len(p) == 160 and (np.bincount(p.fold) == 16).all() and (np.diff(p.fold) >= 0).all()
    for k in range(10):
        f = p.fold == k
        assert p.same[f][:8].all() and not p.same[f][8:].any()  # same pairs first, as LFW lists them
        people = set(ids[p.a[f]]) | set(ids[p.b[f]])
        others = set(ids[p.a[~f]]) | set(ids[p.b[~f]])
        assert people and not people & others
    assert (ids[p.a] == ids[p.b]).tolist() == p.same.tolist() and (p.a != p.b).all()
    assert len({(a, b) for a, b in zip(p.a, p.b)}) == len(p)
    again = lfw_pairs(ids, folds=10, per_fold=8, seed=1)
    assert np.array_equal(again.a, p.a) and np.array_equal(again.b, p.b)
    few = lfw_pairs(ids, folds=10, per_fold=1000, seed=1)  # as many as 4 people x 5 images allow: 40 same
    assert (np.bincount(few.fold) == 80).all()
    with pytest.raises(FacegenError, match="--folds 5 or fewer"):
        lfw_pairs(np.arange(10).repeat(3), folds=10)
