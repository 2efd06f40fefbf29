"""The identity plan: which latent every exported image gets, from a counter-based RNG (pure numpy, no TF).

Image `index` of identity `label` has the latent

    z = sqrt(1 - v^2) * z_id(seed, label) + v * eps(seed, label, index, attempt)

where z_id and eps are standard normal draws from Philox, a counter-based generator, keyed by the tuple in
brackets. So a latent depends on nothing but its key: not on batch size, shard, order or interruptions.
`v` (--variation) is how far an image may move from its identity: 0 repeats the identity's face, 1 makes
every image independent; at v the cosine between z and z_id is about sqrt(1 - v^2) (0.94 at 0.35).
Both terms are unit-variance normals, so z stays a draw from the prior G was trained on.

Identity-mode checkpoints (SD-GAN) split the latent: z = [z_id(seed, label) ; v * z_obs(seed, label, index,
attempt)], the first `identity_dim` entries fixed per identity, the rest fresh per image. Here `v` scales
the observation part (a truncation of z_obs towards its mean, as in BigGAN's truncation trick): 1 is the
full range G was trained on, smaller values keep pose, light and expression nearer the average, where the
split between identity and observation learned on a small budget is cleanest. Every identity shares the
same observation distribution, so no pose or lighting is tied to an identity. The z_id anchors are drawn
with rejection (AnchorSet): a candidate whose cosine similarity to an earlier identity's exceeds
ANCHOR_MAX_COSINE is redrawn (keyed by attempt), so no two identities are near-duplicates in latent space.
That costs O(K^2 * identity_dim) flops once per export, in matrix products.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field

import numpy as np

from facegen.config import FacegenError, at_least
from facegen.export import nuisance
from facegen.export.capacity import excess
from facegen.models.identity_space import IdentitySpace

log = logging.getLogger("facegen")

IDENTITY_STREAM = 1  # key component that separates identity draws from per-image draws
IMAGE_STREAM = 2
REFERENCE_STREAM = 3  # the observations an embedder averages into an identity's reference (facegen.export.verify)
NOISE_KEY = 1  # appended to an observation's key: its identity-noise draw, apart from its z_obs draw
NUISANCE_KEY = 2  # appended to an exported image's key: its nuisance draw (facegen.export.nuisance)
# Identity mode: two identities' z_id may not have a cosine above this. Random 50-d pairs sit at 0 +- 0.14 and
# exceed 0.7 with probability 5e-9, so even a million identities need almost no redraws (0.5 would make the
# 100,000th identity need ~10,000 draws). experiments/anchor_threshold.py on a trained small model: anchor pairs at
# cosine 0.3-0.7 land on the same true identity 11-18% of the time (unrelated: 3.5%), at 0.8 / 0.9 20% / 29%.
ANCHOR_MAX_COSINE = 0.7
ANCHOR_MAX_ATTEMPTS = 64
ANCHOR_CHUNK = 1024  # candidates checked against the accepted anchors per matrix product
DEFAULT_PER_IDENTITY = 20  # CelebA's average images per identity
@dataclass(frozen=True)
class Draw:
    """How an export draws its images when the request does not say: one per kind of checkpoint (DRAWS)."""

    variation: float  # --variation
    nuisance: float = 0.0  # --nuisance (facegen.export.nuisance)
    # A verified export's --min-consistency is the similarity to their own reference that all but this share of
    # the embedder's held-out real photos reach (its report's genuine_to_reference_quantiles), where that is above
    # the calibrated limit: draw wide, then hold every image about as close to its person as real photos are.
    # None: the calibrated limit alone.
    real_photo_share: float | None = None


# Plain mode mixes the whole latent (0.35: cosine 0.94 to the identity latent); identity mode scales z_obs (see the
# module doc and experiments/identity_experiment.py for how it was chosen). Verified identity mode draws wider
# (1.5): the embedder redraws what strays, and the wider variety helped the downstream recognizer more than the
# consistency it costs (bench/RESULTS.md, "The variation lever"). Embedding mode unverified draws at 1, where a judge
# of another seed trained on other people finds 91.2% of a 1,000-identity run's 5,000 x 20 consistent (68.0% at 1.5;
# bench/RESULTS.md, "Embedding mode"); verified, it draws what trained the best recognizer on that run's 5,000 x 20
# at the card's 9,000 steps, alone and beside real people, while that judge still finds over 90% of the images
# consistent: wider variety, pose and light moved, and the stricter consistency limit that keeps the judge's figure
# (bench/RESULTS.md, "Nuisance variety" and "The card's export draws the recognizer's recipe"). Only a verifier
# whose held-out real photos reach that limit above its calibrated one holds such a draw (export.request applies
# the rule): the quickstart's, whose do not, let it through at 77% consistency by that judge against 95% drawn
# at 1.
DRAWS = {"plain": Draw(0.35), "identity": Draw(1.0), "identity, verified": Draw(1.5), "embedding": Draw(1.0),
         "embedding, verified": Draw(1.25, nuisance=0.75, real_photo_share=0.02)}
# --identity-noise when not given: 0. At 1 the 1,000-identity run's 5,000 x 20 export trained a recognizer no
# better (95.2% against 95.5% at 1,600 batches; bench/RESULTS.md, "Identity noise"): the verifier redraws most of
# what the noise moves.
DEFAULT_IDENTITY_NOISE = 0.0


def default_draw(identity_dim: int, verified: bool = False, conditioned: bool = False) -> Draw:
    mode = "embedding" if conditioned else "identity" if identity_dim else "plain"
    return DRAWS[f"{mode}, verified" if verified and mode != "plain" else mode]


@dataclass(frozen=True)
class IdentityPlan:
    """K identities x M images, their latents, and the fixed computation blocks they are generated in.
    The values come from a validated ExportConfig (facegen.config), which owns their checks."""

    seed: int
    identities: int
    per_identity: int
    latent_dim: int = 100
    variation: float = 0.35
    block: int = 64  # images per generator call, fixed by global index: the unit that makes outputs exact
    identity_dim: int = 0  # identity-mode checkpoints: z_id size (see module doc); 0 = plain
    # label -> identity candidate whose keys it uses (verified identities skip rejected candidates); None = label
    candidates: np.ndarray | None = field(default=None, compare=False)
    space: IdentitySpace | None = field(default=None, compare=False)  # embedding mode: where z_id comes from
    identity_noise: float = 0.0  # embedding mode: share of real photos' scatter around their person per image
    nuisance: float = 0.0  # tilt, alignment and lighting per exported image (facegen.export.nuisance)

    @property
    def input_dim(self) -> int:
        """Columns of a renderer's input row: the latent, then the image's nuisance row where it has any."""
        return self.latent_dim + (nuisance.COLUMNS if self.nuisance else 0)

    @property
    def count(self) -> int:
        return self.identities * self.per_identity

    @property
    def n_blocks(self) -> int:
        return math.ceil(self.count / self.block)

    def block_images(self, block: int) -> np.ndarray:
        """Global image indices (label * M + index) computed in block `block` (the last may be short)."""
        return np.arange(block * self.block, min((block + 1) * self.block, self.count))

    def split(self, global_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global indices -> (label, index within identity)."""
        return np.divmod(np.asarray(global_index), self.per_identity)

    def candidate(self, label: int) -> int:
        return label if self.candidates is None else int(self.candidates[label])

    def identity_latent(self, label: int) -> np.ndarray:
        return self.candidate_latent(self.candidate(label))

    def candidate_latent(self, c: int) -> np.ndarray:
        if self.identity_dim:
            return self.anchors(c + 1)[c]
        return _normal((self.seed, IDENTITY_STREAM, c), self.latent_dim)

    def anchors(self, n: int) -> np.ndarray:
        """Identity mode: the first n z_id anchors, redrawn where too similar to an earlier one; embedding mode:
        the first n people of the identity bank."""
        return self.__dict__.setdefault("_anchors", AnchorSet(self.seed, self.identity_dim, self.space)).first(n)

    def latents(self, global_index: np.ndarray, attempt: np.ndarray | int = 0) -> np.ndarray:
        """Renderer inputs [n, input_dim] float32 for global indices at the given replacement attempt(s): each
        image's latent, then its nuisance row (facegen.export.nuisance.draw) where the plan has any."""
        labels, indices = self.split(global_index)
        cands = labels if self.candidates is None else self.candidates[labels]
        attempts = np.broadcast_to(attempt, labels.shape)
        z = self.observations(cands, indices, attempts, IMAGE_STREAM)
        if not self.nuisance:
            return z
        moves = [nuisance.draw(_keyed((self.seed, IMAGE_STREAM, c, index, a, NUISANCE_KEY)), self.nuisance, a)
                 for c, index, a in zip(cands.tolist(), indices.tolist(), attempts.tolist())]
        return np.concatenate([z, np.asarray(moves, np.float32).reshape(len(z), nuisance.COLUMNS)], axis=1)

    def reference_latents(self, candidates: np.ndarray, observations: int) -> np.ndarray:
        """[len(candidates) * observations, input_dim]: the observations an identity's reference averages, keyed
        apart from its exported images (REFERENCE_STREAM), candidate-major; no nuisance (zero rows)."""
        cands = np.repeat(np.asarray(candidates, np.int64), observations)
        index = np.tile(np.arange(observations), len(candidates))
        z = self.observations(cands, index, np.zeros_like(index), REFERENCE_STREAM)
        return np.pad(z, ((0, 0), (0, self.input_dim - self.latent_dim)))

    def observations(self, cands: np.ndarray, indices: np.ndarray, attempts: np.ndarray, stream: int) -> np.ndarray:
        """Latents of (candidate, index, attempt) keys: the candidate's identity part and a fresh draw."""
        out = np.empty((len(cands), self.latent_dim), np.float32)
        if self.identity_dim:
            anchors = self.anchors(int(cands.max()) + 1) if len(cands) else None
            keys = list(zip(cands.tolist(), indices.tolist(), attempts.tolist()))
            for row, (c, index, a) in enumerate(keys):
                out[row, :self.identity_dim] = anchors[c]
                out[row, self.identity_dim:] = self.variation * _normal((self.seed, stream, c, index, a),
                                                                        self.latent_dim - self.identity_dim)
            if self.space is not None and self.identity_noise and len(keys):
                # The image's own embedding: its person's point moved as a real photo's is (identity_space).
                normal = np.stack([_normal((self.seed, stream, c, index, a, NOISE_KEY), self.identity_dim)
                                   for c, index, a in keys])
                units = out[:, :self.identity_dim] / math.sqrt(self.identity_dim)
                out[:, :self.identity_dim] = self.space.latent(self.space.image_units(units, normal,
                                                                                      self.identity_noise))
            return out
        keep = math.sqrt(1.0 - self.variation ** 2)
        anchors: dict[int, np.ndarray] = {}
        for row, (c, index, a) in enumerate(zip(cands.tolist(), indices.tolist(), attempts.tolist())):
            if c not in anchors:
                anchors[c] = self.candidate_latent(c)
            out[row] = keep * anchors[c] + self.variation * _normal((self.seed, stream, c, index, a), self.latent_dim)
        return out


class AnchorSet:
    """Identity-mode z_id anchors, grown on demand: label i takes its first draw (keyed by attempt) whose
    cosine to every earlier anchor is at most ANCHOR_MAX_COSINE. Each anchor depends only on the earlier
    ones, so the first n are the same whoever asks and however the work is chunked. Candidates are checked
    a chunk at a time against the accepted anchors with one matrix product (100,000 anchors take seconds,
    not hours); a label that finds no free draw in ANCHOR_MAX_ATTEMPTS keeps its least crowded one and is
    counted in `crowded` (only when identity_dim is too small for the number of identities).

    With an identity space (embedding mode) the anchors are the *identity bank*: draws of new people in the
    embedder's space (facegen.models.identity_space), each kept only if below the leakage limit to every
    training identity's mean and above the separation limit to at most lookalikes(k) of the k kept ones: a bank
    of K people holds look-alike pairs at most at the rate the limit passes for novel real people (its FAR), as K
    real people would, instead of a fixed all-pairs rule that real people themselves cannot meet at K = 5,000.
    """

    def __init__(self, seed: int, dim: int, space: IdentitySpace | None = None) -> None:
        self.seed, self.dim, self.space = seed, dim, space
        self.limit = space.max_similarity if space is not None else ANCHOR_MAX_COSINE
        self.z = np.empty((0, dim))
        self.unit = np.empty((0, dim))
        self.n = 0
        self.crowded = 0

    def first(self, n: int) -> np.ndarray:
        crowded = self.crowded
        while self.n < n:
            self._grow(min(n, self.n + ANCHOR_CHUNK))
        if self.crowded > crowded:
            log.warning("%d identities found no %s in %d draws and kept their least crowded draw: %s",
                        self.crowded - crowded,
                        "place in the identity bank" if self.space is not None else
                        f"z_id within cosine {ANCHOR_MAX_COSINE:.2f} of the earlier ones", ANCHOR_MAX_ATTEMPTS,
                        "the identity space is crowded at its limits" if self.space is not None else
                        f"identity_dim {self.dim} is small for {n} identities")
        return self.z[:n]

    def _draw(self, label: int, attempt: int) -> tuple[np.ndarray, np.ndarray]:
        z = _normal((self.seed, IDENTITY_STREAM, label, attempt), self.dim)
        if self.space is not None:
            u = self.space.unit(z)
            return self.space.latent(u), u
        return z, z / np.linalg.norm(z)

    def _excess(self, u: np.ndarray, before: np.ndarray | None = None) -> float:
        """How far a draw is from acceptable (<= 0: accepted): look-alikes beyond the allowance, or leakage."""
        sims = self.unit[:self.n] @ u
        if before is not None:  # the first draw's similarities to the anchors before the chunk, computed at once
            sims = np.concatenate([before, self.unit[len(before):self.n] @ u])
        if self.space is None:
            return float(sims.max(initial=-1.0)) - self.limit
        worst = max(excess(sims, self.space.leakage(u), self.limit, self.space.max_leakage))
        return worst if worst > 0 else -1.0

    def _grow(self, stop: int) -> None:
        start = self.n
        if len(self.z) < stop:  # amortised doubling: appending stays linear overall
            size = max(stop, 2 * len(self.z))
            self.z = np.concatenate([self.z[:start], np.empty((size - start, self.dim))])
            self.unit = np.concatenate([self.unit[:start], np.empty((size - start, self.dim))])
        draws = [self._draw(label, 0) for label in range(start, stop)]
        cand = np.stack([u for _, u in draws])
        # Every first draw against the anchors before the chunk in one product; the chunk's own are checked one
        # by one.
        before = cand @ self.unit[:start].T if start else np.empty((len(cand), 0))
        for j, label in enumerate(range(start, stop)):
            z, u = draws[j]
            worst = self._excess(u, before[j])
            attempt, best = 0, (worst, z, u)
            while worst > 0 and attempt + 1 < ANCHOR_MAX_ATTEMPTS:
                attempt += 1
                z, u = self._draw(label, attempt)
                worst = self._excess(u)
                best = min(best, (worst, z, u), key=lambda t: t[0])
            if worst > 0:
                self.crowded += 1
                _, z, u = best
            self.z[self.n], self.unit[self.n] = z, u
            self.n += 1


def _keyed(key: tuple[int, ...]) -> np.random.Generator:
    """The generator of one key's draws: Philox, so a draw depends on its key alone."""
    return np.random.Generator(np.random.Philox(np.random.SeedSequence(key)))


def _normal(key: tuple[int, ...], n: int) -> np.ndarray:
    return _keyed(key).standard_normal(n)


def resolve_counts(count: int | None, identities: int | None, per_identity: int | None) -> tuple[int, int]:
    """(identities, per_identity) from any two of --count, --identities, --per-identity (or --count alone).

    Every identity gets the same number of images, so --count must be their product.
    """
    for value, flag in ((count, "--count"), (identities, "--identities"), (per_identity, "--per-identity")):
        if value is not None:  # before the divisions below
            at_least(value, 1, flag)
    if identities is not None and per_identity is not None:
        if count is not None and count != identities * per_identity:
            raise FacegenError(f"--count {count} must equal --identities {identities} x --per-identity "
                               f"{per_identity} = {identities * per_identity}")
        return identities, per_identity
    if count is None:
        raise FacegenError("give --count, or --identities and --per-identity")
    if identities is not None:
        if count % identities:
            raise FacegenError(f"--count {count} is not divisible by --identities {identities}: every identity "
                               "gets the same number of images")
        return identities, count // identities
    per_identity = per_identity or min(DEFAULT_PER_IDENTITY, count)
    if count % per_identity:
        raise FacegenError(f"--count {count} is not divisible by --per-identity {per_identity}: every identity "
                           "gets the same number of images (give --identities and --per-identity instead)")
    return count // per_identity, per_identity


SHARDS_VARIABLE = "FACEGEN_SHARDS"  # the shard count beside JOB_COMPLETION_INDEX (a Kubernetes Job's env sets it)
SCHEDULERS = ("Slurm arrays (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT), Kubernetes Indexed Jobs "
              f"(JOB_COMPLETION_INDEX, with --shards N or {SHARDS_VARIABLE}) or TF_CONFIG (task index, worker count)")


def parse_shard(text: str, shards: int | None = None, environ: dict | None = None) -> tuple[int, int]:
    """'i/n' -> (i, n); 'auto' -> the slice the scheduler gives this process (shard_from_environment). ExportConfig
    checks that 0 <= i < n."""
    if text == "auto":
        return shard_from_environment(os.environ if environ is None else environ, shards)
    if shards is not None:
        raise FacegenError("--shards goes with --shard auto (an explicit --shard i/n names its count)")
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise FacegenError(f"--shard must look like i/n (e.g. 0/4) or auto, got {text!r}") from None
    return i, n


def shard_from_environment(env, shards: int | None = None) -> tuple[int, int]:
    """(i, n) from the scheduler that started this process: a Slurm job array, a Kubernetes Indexed Job or a
    TF_CONFIG cluster; a one-line error naming them where none is set."""

    def number(name: str) -> int:
        try:
            return int(env[name])
        except ValueError:
            raise FacegenError(f"--shard auto: {name}={env[name]!r} is not a whole number") from None

    if "SLURM_ARRAY_TASK_ID" in env:
        if "SLURM_ARRAY_TASK_COUNT" not in env:
            raise FacegenError("--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not (Slurm "
                               "sets both for a job array: sbatch --array=0-N)")
        # An array --array=1-8 numbers its tasks from 1: the slice is the task's place in the array.
        low = number("SLURM_ARRAY_TASK_MIN") if "SLURM_ARRAY_TASK_MIN" in env else 0
        return number("SLURM_ARRAY_TASK_ID") - low, number("SLURM_ARRAY_TASK_COUNT")
    if "JOB_COMPLETION_INDEX" in env:
        if shards is None and SHARDS_VARIABLE not in env:
            raise FacegenError(f"--shard auto: JOB_COMPLETION_INDEX is set; give the Job's completions as --shards N "
                               f"or {SHARDS_VARIABLE}=N")
        return number("JOB_COMPLETION_INDEX"), shards if shards is not None else number(SHARDS_VARIABLE)
    if env.get("TF_CONFIG"):
        try:
            tf_config = json.loads(env["TF_CONFIG"])
            cluster, task = tf_config["cluster"], tf_config["task"]
            # The chief (if any) is slice 0 and the workers follow, as tf.distribute numbers them.
            members = [("chief", k) for k in range(len(cluster.get("chief", [])))] + \
                [("worker", k) for k in range(len(cluster.get("worker", [])))]
            return members.index((task["type"], int(task["index"]))), len(members)
        except (ValueError, KeyError, TypeError) as e:
            raise FacegenError(f"--shard auto: TF_CONFIG does not name this task among the cluster's chief and "
                               f"workers ({e})") from None
    raise FacegenError(f"--shard auto needs a scheduler's variables and none is set: {SCHEDULERS}; or give "
                       "--shard i/n")


def shard_blocks(n_blocks: int, shard: tuple[int, int]) -> range:
    """The blocks shard i of n generates: a contiguous slice, so each machine writes whole identities."""
    i, n = shard
    return range(n_blocks * i // n, n_blocks * (i + 1) // n)
