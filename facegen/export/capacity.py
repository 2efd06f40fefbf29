"""Identity capacity: how many mutually separable identities a checkpoint makes at an embedder's limits,
estimated from the acceptance curve of its first candidates.

The export examines identity candidates in order (facegen.export.verify): after c candidates, k(c) are accepted.
A model that can make C identities which pass the separation limit against each other, whose candidates pass
the leakage limit with probability p0, fills up like a coupon collector: each accepted identity takes 1/C of
what is left, so

    k(c) = C (1 - exp(-p0 c / C)).

C and p0 are fitted (least squares over a grid) to the curve of the first few thousand candidates. An export
asking for K identities within K * --max-candidates candidates gets about k(K * max_candidates), which says
before any image is written whether it can finish, and what it could deliver instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# (candidates, share): after that many candidates the export stops when the fit expects fewer than that share of
# the identities asked. The early fit reads low on a model whose curve has not bent yet (a 1,392-identity model
# read 714 at 512 candidates), so it stops only a request far beyond the model; the later one is the estimate.
ESTIMATE_AT = ((512, 0.5), (2048, 0.9))
RUN_CANDIDATES = 2048  # candidates `facegen train` examines to record the run's capacity
FIT_POINTS = 256
LOOSER = (0.05, 0.1)  # --max-similarity steps the error quotes the capacity at


@dataclass(frozen=True)
class Capacity:
    """The fitted curve: capacity (None where the candidates show no saturation yet) and first acceptance."""

    capacity: float | None  # C: separable identities at these limits
    first_acceptance: float  # p0: share of candidates that pass the leakage limit
    candidates: int  # candidates the fit saw
    accepted: int  # k(candidates)
    max_similarity: float
    max_leakage: float

    def expected(self, candidates: float) -> float:
        """k(c): identities accepted after `candidates` candidates."""
        if self.capacity is None:
            return self.first_acceptance * candidates
        return self.capacity * (1.0 - math.exp(-self.first_acceptance * candidates / self.capacity))

    def deliverable(self, max_candidates: int) -> int:
        """The most identities an export finds within max_candidates candidates each (expected)."""
        if self.first_acceptance * max_candidates <= 1.0:
            return min(self.accepted, int(self.expected(max_candidates)))
        if self.capacity is None:
            return 10 ** 9
        lo, hi = 1, int(self.capacity) + 1  # expected(K * m) - K is concave in K: one crossing
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if self.expected(mid * max_candidates) >= mid else (lo, mid - 1)
        return lo

    @classmethod
    def from_record(cls, record: dict) -> "Capacity":
        """The curve a RUN/capacity.json (or an export record's capacity section) holds."""
        return cls(record["capacity"], record["first_acceptance"], record["candidates"], record["accepted"],
                   record["max_similarity"], record["max_leakage"])

    def record(self) -> dict:
        return {"capacity": None if self.capacity is None else int(round(self.capacity)),
                "first_acceptance": round(self.first_acceptance, 4), "candidates": self.candidates,
                "accepted": self.accepted, "max_similarity": self.max_similarity, "max_leakage": self.max_leakage,
                "method": "k(c) = C (1 - exp(-p0 c / C)) fitted to the acceptance curve of the first candidates"}

    def text(self) -> str:
        if self.capacity is None:
            size = f"more than {self.accepted} identities (no saturation in {self.candidates} candidates)"
        else:
            size = f"about {int(round(self.capacity)):,} identities"
        return (f"{size} at --max-similarity {self.max_similarity:.3f} ({self.accepted} accepted of the first "
                f"{self.candidates} candidates)")


def rejection(reference: np.ndarray, leak: float, accepted: np.ndarray, max_similarity: float,
              max_leakage: float) -> str | None:
    """The export's rule for one identity candidate: "leaked" (its reference is above the leakage limit to a
    training identity), "too_similar" (above the separation limit to an accepted reference), or None: accepted.
    The export (facegen.export.verify) and the capacity curve both apply it."""
    if leak > max_leakage:
        return "leaked"
    if len(accepted) and float((accepted @ reference).max()) > max_similarity:
        return "too_similar"
    return None


def acceptance_curve(references: np.ndarray, leak: np.ndarray, max_similarity: float,
                     max_leakage: float) -> np.ndarray:
    """k after each candidate, by the export's rule (`rejection`)."""
    accepted = np.empty((0, references.shape[1]), references.dtype)
    curve = np.zeros(len(references), np.int64)
    for c, ref in enumerate(references):
        if rejection(ref, leak[c], accepted, max_similarity, max_leakage) is None:
            accepted = np.vstack([accepted, ref])
        curve[c] = len(accepted)
    return curve


def fit(curve: np.ndarray, max_similarity: float, max_leakage: float) -> Capacity:
    """Fit k(c) to an acceptance curve (see the module doc)."""
    n, k_n = len(curve), int(curve[-1]) if len(curve) else 0
    if n == 0 or k_n == 0:
        return Capacity(0.0 if n else None, 0.0, n, 0, max_similarity, max_leakage)
    c = np.unique(np.linspace(1, n, min(n, FIT_POINTS)).round().astype(np.int64))
    k = curve[c - 1].astype(np.float64)
    caps = np.geomspace(k_n, 1000.0 * n, 400)
    p0s = np.linspace(0.002, 1.0, 500)
    best = (np.inf, None, 1.0)
    for cap in caps:  # [p0, points] at a time
        pred = cap * (1.0 - np.exp(-p0s[:, None] * c[None, :] / cap))
        err = ((pred - k[None, :]) ** 2).sum(axis=1)
        j = int(err.argmin())
        if err[j] < best[0]:
            best = (float(err[j]), float(cap), float(p0s[j]))
    _, cap, p0 = best
    # The top of the grid: the curve is still a straight line, its end is not in sight.
    return Capacity(None if cap >= caps[-2] else cap, p0, n, k_n, max_similarity, max_leakage)


def shortfall_message(capacity: Capacity, references: np.ndarray, leak: np.ndarray, want: int,
                      max_candidates: int) -> str:
    """Why an export cannot find `want` identities, and what it could do instead."""
    looser = []
    for step in LOOSER:
        limit = min(1.0, capacity.max_similarity + step)
        other = fit(acceptance_curve(references, leak, limit, capacity.max_leakage), limit, capacity.max_leakage)
        looser.append(f"--max-similarity {limit:.2f} allows about {other.deliverable(max_candidates):,} (identities "
                      f"as alike as cosine {limit:.2f} by the embedder)")
    per = f"{capacity.deliverable(max_candidates):,}"
    return (f"this checkpoint makes {capacity.text()}: {want:,} identities asked, about {per} findable within "
            f"--max-candidates {max_candidates}. Ask for --identities {per} or fewer (with more --per-identity), "
            f"or loosen the limit: {'; '.join(looser)}; or train longer or larger (--steps, --preset)")


SPREAD_CANDIDATES = 1000  # people per spread figure: "separable per 1,000 candidates" counts over this many


def spread(references: np.ndarray, max_similarity: float) -> dict | None:
    """How distinct a set of people is under the export's separation rule, from their unit references: the mean
    pairwise cosine, the share of pairs above the limit (p), the people the greedy rule keeps per 1,000 in order,
    and the random-graph law's count for 1,000 people at that p, (1/p) ln(1 + 1000 p). Computed alike for a
    generator's candidates and for held-out real people, so that the two can stand side by side. None for fewer
    than two people."""
    refs = np.asarray(references, np.float64)[:SPREAD_CANDIDATES]
    n = len(refs)
    if n < 2:
        return None
    sims = (refs @ refs.T)[np.triu_indices(n, 1)]
    p = float(np.mean(sims > max_similarity))
    kept = int(acceptance_curve(refs, np.full(n, -1.0), max_similarity, 1.0)[-1])
    law = SPREAD_CANDIDATES if p == 0 else (1.0 / p) * math.log1p(p * SPREAD_CANDIDATES)
    return {"people": n, "mean_cosine": round(float(sims.mean()), 4), "pairs_above_limit": round(p, 6),
            "separable_per_1000": round(kept * SPREAD_CANDIDATES / n, 1), "law_per_1000": round(law, 1),
            "max_similarity": round(float(max_similarity), 6)}


def spread_text(generated: dict, real: dict | None) -> str:
    """The generator's spread beside held-out real people's, for the capacity line, evaluate and the card."""
    text = (f"identity spread: mean pairwise cosine {generated['mean_cosine']:.2f}, "
            f"{100 * generated['pairs_above_limit']:.2f}% of pairs above the separation limit, "
            f"{generated['separable_per_1000']:.0f} separable per 1,000 candidates")
    if not real:
        return text
    ratio = generated["pairs_above_limit"] / real["pairs_above_limit"] if real["pairs_above_limit"] else None
    return (text + f"; held-out real people ({real['people']}, same embedder and rule): "
            f"{real['mean_cosine']:.2f}, {100 * real['pairs_above_limit']:.2f}%"
            + (f" ({ratio:.1f}x as many look-alike pairs in the generator)" if ratio is not None else ""))
