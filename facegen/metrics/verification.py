"""Face verification on held-out identities: same/different pairs (random, or LFW View 2's folds), ROC AUC,
best-threshold accuracy, the threshold at a false-accept rate, and the protocol the field reports: each fold's
accuracy at the threshold chosen on the other folds, mean ± std, and TAR at a fixed FAR. Pure numpy."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from facegen.config import FacegenError


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


@dataclass(frozen=True)
class Pairs:
    """Verification pairs over a list of images: rows of (a, b) image indices, same-identity flags, fold ids.
    Folds are contiguous and equal in size (same pairs, then different ones, in each), as insightface's `.bin`
    evaluator assumes when it cuts the list into 10 parts."""

    a: np.ndarray
    b: np.ndarray
    same: np.ndarray  # bool
    fold: np.ndarray  # int, 0..folds-1, non-decreasing

    def __len__(self) -> int:
        return len(self.same)


def lfw_pairs(identities: np.ndarray, folds: int = 10, per_fold: int = 300, seed: int = 0) -> Pairs:
    """`per_fold` same and `per_fold` different pairs in each of `folds` folds, as LFW View 2 lays them out: the
    identities are dealt to the folds (a person appears in one fold only, so no threshold is chosen on pairs of a
    person it is then tested on), pairs never repeat. Fewer per fold when the identities do not allow as many
    (every fold gets the same number); an error when a fold cannot get one of each."""
    identities = np.asarray(identities)
    rng = np.random.default_rng(seed)
    people = rng.permutation(np.unique(identities))
    if len(people) < 2 * folds:
        fewer = (f"pass --folds {len(people) // 2} or fewer, or give" if len(people) >= 4
                 else "the protocol needs at least 4 (2 folds of 2); give")
        raise FacegenError(f"{len(people)} held-out identities cannot make {folds} folds (each needs two identities "
                           f"of its own); {fewer} data with more held-out identities")
    members = {p: np.flatnonzero(identities == p) for p in people}
    fold_people = [people[k::folds] for k in range(folds)]
    drawn = [_fold_pairs(members, group, per_fold, rng) for group in fold_people]
    n = min(min(len(s), len(d)) for s, d in drawn)
    if n == 0:
        raise FacegenError("the held-out identities have one image each: no same-identity pair can be made")
    a, b, same, fold = [], [], [], []
    for k, (s, d) in enumerate(drawn):
        for rows, flag in ((s[:n], True), (d[:n], False)):
            a += [r[0] for r in rows]
            b += [r[1] for r in rows]
            same += [flag] * n
            fold += [k] * n
    return Pairs(np.array(a), np.array(b), np.array(same), np.array(fold))


def _fold_pairs(members: dict, group: np.ndarray, want: int, rng: np.random.Generator):
    """Up to `want` distinct same pairs and different pairs among the images of `group`'s identities."""
    same_all = [(int(i), int(j)) for p in group for x, i in enumerate(members[p]) for j in members[p][x + 1:]]
    same = [same_all[i] for i in rng.permutation(len(same_all))[:want]]
    images = np.concatenate([members[p] for p in group])
    owner = np.concatenate([[p] * len(members[p]) for p in group])
    possible = (len(images) ** 2 - sum(len(members[p]) ** 2 for p in group)) // 2
    different: set[tuple[int, int]] = set()
    target = min(want, possible)
    while len(different) < target:
        i, j = rng.integers(len(images), size=2)
        if owner[i] != owner[j]:
            different.add((int(min(images[i], images[j])), int(max(images[i], images[j]))))
    return same, sorted(different, key=lambda _: rng.random())


@dataclass(frozen=True)
class Verification:
    accuracy: float  # mean over folds of the accuracy at the threshold chosen on the other folds
    accuracy_std: float
    fold_accuracies: tuple[float, ...]
    thresholds: tuple[float, ...]  # the one chosen for each fold, on the others
    tar_at_far: float  # true accepts at the threshold where FAR = far (over all pairs)
    far: float
    roc_auc: float
    pairs: int

    def to_dict(self) -> dict:
        return asdict(self)


def ten_fold(scores: np.ndarray, same: np.ndarray, fold: np.ndarray, far: float = 1e-3) -> Verification:
    """The field's numbers for similarity scores (higher = more alike) of labelled pairs in folds."""
    scores, same, fold = np.asarray(scores, np.float64), np.asarray(same, bool), np.asarray(fold)
    accuracies, thresholds = [], []
    for k in np.unique(fold):
        test = fold == k
        _, t = best_accuracy(scores[~test], same[~test].astype(int))
        thresholds.append(t)
        accuracies.append(float(np.mean((scores[test] >= t) == same[test])))
    return Verification(float(np.mean(accuracies)), float(np.std(accuracies)), tuple(accuracies), tuple(thresholds),
                        tar_at(scores, same, far), far, roc_auc(scores, same.astype(int)), len(scores))


def tar_at(scores: np.ndarray, same: np.ndarray, far: float) -> float:
    """Share of same pairs accepted at the lowest threshold that accepts at most `far` of the different pairs
    (floor(far * N) false accepts of N; threshold_at_far's quantile allows fewer when far * (N - 1) is fractional)."""
    negatives = np.sort(scores[~same])[::-1]
    allowed = int(np.floor(far * len(negatives) + 1e-9))
    threshold = negatives[allowed] if allowed < len(negatives) else -np.inf  # accept strictly above it
    return float(np.mean(scores[same] > threshold))
