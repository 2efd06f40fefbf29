"""Face verification on held-out identities: same/different pairs, ROC AUC, best-threshold accuracy and the
threshold at a false-accept rate. Pure numpy."""

from __future__ import annotations

import numpy as np


def verification_pairs(identities: np.ndarray, n_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(pairs [n, 2] of row indices, labels [n]: 1 same identity, 0 different): half and half, seeded."""
    ids = np.asarray(identities)
    rng = np.random.default_rng(seed)
    by_id = {i: np.flatnonzero(ids == i) for i in np.unique(ids)}
    several = [i for i, rows in by_id.items() if len(rows) > 1]
    if not several or len(by_id) < 2:
        raise ValueError("verification needs two identities and one with two images")
    same = [tuple(rng.choice(by_id[several[k]], 2, replace=False))
            for k in rng.integers(len(several), size=n_pairs // 2)]
    diff = []
    while len(diff) < n_pairs - len(same):
        a, b = rng.integers(len(ids), size=2)
        if ids[a] != ids[b]:
            diff.append((a, b))
    return np.array(same + diff, np.int64), np.r_[np.ones(len(same)), np.zeros(len(diff))]


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Probability that a same pair scores above a different one (ties count half)."""
    scores, pos = np.asarray(scores, np.float64), np.asarray(labels) == 1
    neg = np.sort(scores[~pos])
    below = np.searchsorted(neg, scores[pos], "left")
    tied = np.searchsorted(neg, scores[pos], "right") - below
    return float((below + 0.5 * tied).sum() / (pos.sum() * len(neg)))


def best_accuracy(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(accuracy, threshold) of the best single threshold "same if score >= t"."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    # Accepting the top k: correct = same pairs among them + different pairs among the rest.
    correct = np.cumsum(y) + ((1 - y).sum() - np.cumsum(1 - y))
    k = int(np.argmax(correct))
    return float(max(correct[k], (1 - y).sum()) / len(y)), float(s[k])


def threshold_at_far(different: np.ndarray, far: float) -> float:
    """The similarity above which at most `far` of different-identity pairs fall."""
    return float(np.quantile(np.asarray(different, np.float64), 1.0 - far, method="higher"))
