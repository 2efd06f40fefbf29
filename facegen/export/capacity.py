"""Identity capacity: how many mutually separable identities a checkpoint makes at an embedder's limits,
estimated from the acceptance curve of its first candidates by the law novel real people follow.

The export examines identity candidates in order (facegen.export.verify) and accepts one when its reference is
above the separation limit to at most lookalikes(k) of the k accepted ones (the rate the limit passes for novel
real people: a set of K people as distinct as K real people, see `rejection`), and below the leakage limit to
every training identity. If candidates' references exceed the separation limit pairwise at rate p and pass the
leakage limit with probability p0, a candidate arriving after k acceptances is accepted with probability

    p0 a(k),   a(k) = P(Poisson(k p) <= lookalikes(k)),

so reaching K identities takes N(K) = sum over k < K of 1 / (p0 a(k)) candidates. Under the strict rule
(lookalikes 0, K below 1/rate) that is the random-graph law K = (1/p) ln(1 + p p0 N), which 8,000 novel real
people followed within 6% (the identity-scale issue); above 1/rate the allowance grows with K and real people
(p near the rate) keep being accepted at about half the rate, so the law never refuses what they could fill.
p and p0 are fitted (least squares over a grid) to the curve of the first few thousand candidates: a generator
whose identities cluster reads as a larger effective p. An export asking for K identities within
K * --max-candidates candidates gets about expected(K * max_candidates), which says before any image is written
whether it can finish, and what it could deliver instead.
"""

from __future__ import annotations

import functools
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
LOOKALIKE_RATE = 1e-3  # the separation limit's calibrated FAR (facegen.training.embedder.FAR)
CAPACITY_CANDIDATES = 10  # the --max-candidates default: "capacity" is what an export finds within it
UNBOUNDED = 10 ** 7  # identities beyond which the curve is not followed: "no limit in sight"
LAW = "p0 a(k), a(k) = P(Poisson(k p) <= floor(rate k)), fitted to the acceptance curve of the first candidates"


def lookalikes(kept: int, rate: float = LOOKALIKE_RATE) -> int:
    """How many of `kept` accepted identities a new one may exceed the separation limit with: as many as a novel
    real person exceeds it with at the limit's calibrated rate (0 below 1/rate identities: the strict rule)."""
    return int(math.floor(rate * kept))


EXACT_TERMS = 64  # above this many allowed look-alikes the Poisson tail is taken from its normal approximation


def acceptance_probability(k: np.ndarray, pair_rate: float, rate: float = LOOKALIKE_RATE) -> np.ndarray:
    """a(k): the chance that a candidate exceeding the limit with each of k accepted identities at `pair_rate` has
    at most lookalikes(k) of them (Poisson; normal with continuity correction beyond EXACT_TERMS)."""
    k = np.asarray(k, np.float64)
    lam = k * pair_rate
    allowed = np.floor(rate * k)
    out = np.empty(len(k))
    small = allowed <= EXACT_TERMS
    j = np.arange(EXACT_TERMS + 1, dtype=np.float64)
    log_fact = np.array([math.lgamma(v + 1.0) for v in j])
    ls = lam[small]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_terms = -ls[:, None] + j[None, :] * np.log(ls)[:, None] - log_fact[None, :]
    log_terms[:, 0] = -ls  # j = 0 (also at lam = 0)
    log_terms = np.where(j[None, :] <= allowed[small][:, None], log_terms, -np.inf)
    out[small] = np.exp(log_terms).sum(axis=1)
    z = (allowed[~small] + 0.5 - lam[~small]) / np.sqrt(np.maximum(lam[~small], 1e-300))
    out[~small] = 0.5 * np.array([math.erfc(-v / math.sqrt(2.0)) for v in z])
    return np.minimum(1.0, out)


@functools.lru_cache(maxsize=64)
def _candidates_needed(pair_rate: float, top: int, rate: float = LOOKALIKE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """(K grid, N1(K)): candidates needed to accept K identities when every candidate passes the leakage limit
    (divide by p0 for the rest); exact sums below 2,000 identities, a trapezoid on a geometric grid above."""
    exact = np.arange(0, min(top, 2000) + 1, dtype=np.float64)
    grid = np.unique(np.concatenate([exact, np.geomspace(2000, top, 600)])) if top > 2000 else exact
    inv = 1.0 / np.maximum(acceptance_probability(grid, pair_rate, rate), 1e-300)
    steps = np.diff(grid)
    # Below 2,000 the grid is every integer: N(K) = sum_{k < K} 1/a(k); above, the same sum as an integral.
    inc = np.where(steps == 1, inv[:-1], 0.5 * (inv[:-1] + inv[1:]) * steps)
    return grid, np.concatenate([[0.0], np.cumsum(inc)])


def _pool_needed(pool: float) -> tuple[np.ndarray, np.ndarray]:
    """(K grid, N1(K)) of a finite pool of `pool` people, each candidate one of them at random (a coupon
    collector): N1(K) = -C ln(1 - K / C), unreachable at C."""
    grid = np.unique(np.concatenate([np.arange(0, min(pool, 2000)), np.geomspace(1, pool, 600)[:-1]]))
    return grid, -pool * np.log1p(-grid / pool)


@dataclass(frozen=True)
class Capacity:
    """The fitted curve: the candidates' pair rate above the separation limit (the law) or, for a generator that
    repeats a finite pool of people, the pool's size; and the candidates' first acceptance."""

    pair_rate: float  # p: effective rate at which candidates' references exceed the separation limit pairwise
    first_acceptance: float  # p0: share of candidates that pass the leakage limit
    candidates: int  # candidates the fit saw
    accepted: int  # k(candidates)
    max_similarity: float
    max_leakage: float
    rate: float = LOOKALIKE_RATE  # the look-alike allowance (lookalikes)
    pool: float | None = None  # the finite pool's size, where it fitted the curve better than the law

    def expected(self, candidates: float) -> float:
        """k(c): identities accepted after `candidates` candidates."""
        if self.first_acceptance <= 0:
            return 0.0
        grid, needed = self._needed(UNBOUNDED)
        return float(np.interp(candidates * self.first_acceptance, needed, grid))

    def _needed(self, top: int) -> tuple[np.ndarray, np.ndarray]:
        return _pool_needed(self.pool) if self.pool is not None else _candidates_needed(self.pair_rate, top, self.rate)

    def deliverable(self, max_candidates: int) -> int:
        """The most identities an export finds within max_candidates candidates each (expected)."""
        if self.first_acceptance <= 0:
            return 0
        grid, needed = self._needed(UNBOUNDED)
        with np.errstate(over="ignore"):  # a(k) underflows to 0 where no candidate could be accepted any more
            fits = np.flatnonzero(needed / self.first_acceptance <= grid * max_candidates)
        return UNBOUNDED if self.pool is None and fits[-1] == len(grid) - 1 else int(grid[fits[-1]])

    @property
    def capacity(self) -> int | None:
        """Identities an export finds within the default --max-candidates; None: no limit in sight."""
        k = self.deliverable(CAPACITY_CANDIDATES)
        return None if k >= UNBOUNDED else k

    @classmethod
    def from_record(cls, record: dict) -> "Capacity":
        """The law a RUN/capacity.json (or an export record's capacity section) holds."""
        return cls(record["pair_rate"], record["first_acceptance"], record["candidates"], record["accepted"],
                   record["max_similarity"], record["max_leakage"], record.get("lookalike_rate", LOOKALIKE_RATE),
                   record.get("pool"))

    def record(self) -> dict:
        return {"capacity": self.capacity, "pair_rate": float(f"{self.pair_rate:.4g}"),
                "pool": None if self.pool is None else float(f"{self.pool:.6g}"),
                "first_acceptance": round(self.first_acceptance, 4), "candidates": self.candidates,
                "accepted": self.accepted, "max_similarity": self.max_similarity, "max_leakage": self.max_leakage,
                "lookalike_rate": self.rate, "method": LAW}

    def text(self) -> str:
        cap = self.capacity
        size = (f"more than {UNBOUNDED:,} identities (no limit in sight)" if cap is None else
                f"about {cap:,} identities within --max-candidates {CAPACITY_CANDIDATES}")
        return (f"{size} at --max-similarity {self.max_similarity:.3f} ({self.accepted} accepted of the first "
                f"{self.candidates} candidates)")


def excess(similarities: np.ndarray, leak: float, max_similarity: float, max_leakage: float,
           rate: float = LOOKALIKE_RATE) -> tuple[float, float]:
    """The separation rule, graded: (look-alikes beyond the allowance, leakage above the limit) of a candidate whose
    cosines to the k accepted identities are `similarities` and whose nearest training person is at `leak`. It is
    acceptable where neither is positive; the identity bank keeps the least bad of its draws by them."""
    return (float(np.sum(similarities > max_similarity)) - lookalikes(len(similarities), rate),
            float(leak) - max_leakage)


def rejection(reference: np.ndarray, leak: float, accepted: np.ndarray, max_similarity: float,
              max_leakage: float, rate: float = LOOKALIKE_RATE) -> str | None:
    """The export's rule for one identity candidate: "leaked" (its reference is above the leakage limit to a
    training identity), "too_similar" (above the separation limit to more than lookalikes(k) of the k accepted
    references), or None: accepted. The export (facegen.export.verify), the capacity curve and the identity bank
    (facegen.export.identities) apply it (excess)."""
    over, leaked = excess(accepted @ reference if len(accepted) else np.zeros(0), leak, max_similarity, max_leakage,
                          rate)
    return "leaked" if leaked > 0 else "too_similar" if over > 0 else None


def acceptance_curve(references: np.ndarray, leak: np.ndarray, max_similarity: float,
                     max_leakage: float) -> np.ndarray:
    """k after each candidate, by the export's rule (`rejection`)."""
    accepted = np.empty((len(references), references.shape[1]), references.dtype)
    k = 0
    curve = np.zeros(len(references), np.int64)
    for c, ref in enumerate(references):
        if rejection(ref, leak[c], accepted[:k], max_similarity, max_leakage) is None:
            accepted[k] = ref
            k += 1
        curve[c] = k
    return curve


PAIR_RATES = np.geomspace(1e-6, 0.5, 160)
FIRST_ACCEPTANCES = np.linspace(0.002, 1.0, 250)


def fit(curve: np.ndarray, max_similarity: float, max_leakage: float) -> Capacity:
    """Fit p and p0 of the law (see the module doc) to an acceptance curve; where a finite pool of people fits
    it at least twice as well (a generator repeating the same faces: the curve flattens for good), the pool."""
    n, k_n = len(curve), int(curve[-1]) if len(curve) else 0
    if n == 0 or k_n == 0:
        return Capacity(1.0, 0.0, n, 0, max_similarity, max_leakage)
    c = np.unique(np.linspace(1, n, min(n, FIT_POINTS)).round().astype(np.int64)).astype(np.float64)
    k = curve[c.astype(np.int64) - 1].astype(np.float64)
    best = (np.inf, 1.0, 1.0)
    for p in PAIR_RATES:
        grid, needed = _candidates_needed(float(p), n)
        pred = np.interp(np.outer(FIRST_ACCEPTANCES, c), needed, grid)  # [p0, points]
        err = ((pred - k[None, :]) ** 2).sum(axis=1)
        j = int(err.argmin())
        if err[j] < best[0]:
            best = (float(err[j]), float(p), float(FIRST_ACCEPTANCES[j]))
    law_err, p, p0 = best
    pool = (np.inf, None, 1.0)
    for size in np.geomspace(k_n * 1.001, 20.0 * n, 300):
        pred = size * (1.0 - np.exp(-np.outer(FIRST_ACCEPTANCES, c) / size))
        err = ((pred - k[None, :]) ** 2).sum(axis=1)
        j = int(err.argmin())
        if err[j] < pool[0]:
            pool = (float(err[j]), float(size), float(FIRST_ACCEPTANCES[j]))
    if pool[0] * 2 < law_err:
        return Capacity(p, pool[2], n, k_n, max_similarity, max_leakage, pool=pool[1])
    return Capacity(p, p0, n, k_n, max_similarity, max_leakage)


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
