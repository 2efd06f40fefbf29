"""Batched generation -> parallel writers -> manifest: the resumable, exact `facegen export`."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

import facegen
from facegen import hardware
from facegen.atomic import write_bytes
from facegen.config import FORMATS, ExportConfig, FacegenError, Interrupted
from facegen.distribute import make_strategy
from facegen.export import nuisance as nuisance_moves
from facegen.export.identities import IdentityPlan, shard_blocks
from facegen.export.layout import finish
from facegen.export.manifest import Journal, manifest_row, prepare_out, read_manifest
from facegen.export.request import ExportResult, resolve_config, run_capacity
from facegen.data.pipeline import to_float
from facegen.export.attributes import AttributeLabels, Balance, balance_for
from facegen.export.realism import RealismCalibration, load_or_calibrate
from facegen.export.scores import Rendered, Score, bind, scores_for
from facegen.export.verify import (Acceptance, IdentityCheck, accept_identities, first_candidates, identity_attributes,
                                   leakage, resolve_check)
from facegen.images import encode
from facegen.models.attributes import AttributeClassifier
from facegen.models.generator import Generator, to_uint8
from facegen.models.identity_space import stores_scatter
from facegen.run import read_run_config


def identity_name(label: int, identities: int) -> str:
    return f"id_{label + 1:0{max(6, len(str(identities)))}d}"


def image_path(label: int, index: int, plan: IdentityPlan, ext: str) -> str:
    ident = identity_name(label, plan.identities)
    return f"{ident}/{ident}_{index:0{max(4, len(str(plan.per_identity - 1)))}d}.{ext}"


class BlockRenderer:
    """One tf.function with a fixed input signature: [k, block, latent] -> uint8 images and each score's output.

    Each block goes through G (and the scores) on its own (tf.map_fn), so every image is computed in a call of
    the same shape at the same position whatever --batch-size groups the blocks: the outputs are exact by
    construction. Under a strategy with several replicas, each replica renders whole blocks of the dispatch.
    Only the scores the export asks for run: D (realism) costs about as much as G.
    """

    def __init__(self, gen: Generator, block: int, size: int, scores: list[Score] = (),
                 strategy: tf.distribute.Strategy | None = None, nuisance: bool = False) -> None:
        self.gen, self.block, self.scores = gen, block, list(scores)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.replicas = self.strategy.num_replicas_in_sync
        res = gen.config.model.resolution
        self.size = size or res
        out_spec = (tf.TensorSpec([block, self.size, self.size, 3], tf.uint8),
                    {s.name: tf.TensorSpec([block, *s.shape()], tf.float32) for s in self.scores})

        latent = gen.latent_dim

        def one_block(z):
            x = gen.generator(z[:, :latent], training=False)
            face = nuisance_moves.apply(x, z[:, latent:]) if nuisance else x
            image = to_uint8(face if self.size == res else
                             tf.image.resize(face, [self.size, self.size], method="bilinear", antialias=True))
            # Scores see the written image (its uint8 pixels), so a manifest's value is what anyone re-scoring the
            # file gets; D sees G's own output, as it trained.
            pixels = to_float(image)
            return image, {s.name: tf.cast(s.graph(x, pixels), tf.float32) for s in self.scores}

        def render(z):
            return tf.map_fn(one_block, z, fn_output_signature=out_spec)

        width = latent + (nuisance_moves.COLUMNS if nuisance else 0)
        self._render = tf.function(render, input_signature=[tf.TensorSpec([None, block, width], tf.float32)])
        self._render_replicas = tf.function(lambda parts: self.strategy.run(render, args=(parts,)))

    def __call__(self, z: np.ndarray) -> Rendered:
        """[k, block, plan.input_dim] -> the images [k, block, s, s, 3] and each score's output [k, block, ...]."""
        if self.replicas == 1:
            images, outputs = self._render(tf.convert_to_tensor(z))
            return Rendered(images.numpy(), {k: v.numpy() for k, v in outputs.items()})
        # Pad to whole blocks per replica with extra zero blocks (their outputs are dropped).
        k = len(z)
        per = -(-k // self.replicas)
        z = np.concatenate([z, np.zeros((per * self.replicas - k, *z.shape[1:]), np.float32)])
        parts = self.strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.constant(z[ctx.replica_id_in_sync_group * per:(ctx.replica_id_in_sync_group + 1) * per]))
        images, outputs = self._render_replicas(parts)

        def joined(t):
            return np.concatenate([x.numpy() for x in self.strategy.experimental_local_results(t)])[:k]

        return Rendered(joined(images), {name: joined(t) for name, t in outputs.items()})


@dataclass(frozen=True)
class ShardPlan:
    """What this invocation owes: the plan, this shard's blocks, and the settings that identify the export."""

    plan: IdentityPlan
    blocks: range
    images: int  # images in this shard
    identities: int  # identity folders this shard touches
    settings: dict


def plan_shard(gen: Generator, cfg: ExportConfig, calibration: RealismCalibration | None = None) -> ShardPlan:
    plan = IdentityPlan(cfg.seed, cfg.identities, cfg.per_identity, gen.latent_dim, cfg.variation, cfg.block,
                        identity_dim=gen.config.model.identity_dim, space=gen.space,
                        identity_noise=cfg.identity_noise or 0.0, nuisance=cfg.nuisance or 0.0)
    blocks = shard_blocks(plan.n_blocks, cfg.shard)
    count = sum(len(plan.block_images(b)) for b in blocks)
    first = blocks.start * cfg.block
    identities = int(plan.split(first + count - 1)[0]) - int(plan.split(first)[0]) + 1 if count else 0
    settings = {"checkpoint": os.path.abspath(gen.checkpoint_path), "step": gen.step, **cfg.settings()}
    if calibration is not None:
        settings["realism_calibration"] = calibration.digest
    return ShardPlan(plan, blocks, count, identities, settings)


@dataclass(frozen=True)
class ResolvedExport:
    """Everything an export reads, resolved once from its config, its checkpoint and its folder: the config with
    every default filled in (precision, variation, the embedder's limits, absolute paths), the generator, the
    strategy, and what each score needs."""

    cfg: ExportConfig
    gen: Generator
    strategy: tf.distribute.Strategy
    check: IdentityCheck | None
    classifier: AttributeClassifier | None
    calibration: RealismCalibration | None
    balance: Balance | None


def resolve(checkpoint: str | Path, out: Path, cfg: ExportConfig, overwrite: bool) -> ResolvedExport:
    # Every local GPU generates; across machines, --shard splits the work instead.
    several_gpus = len(tf.config.list_logical_devices("GPU")) > 1
    strategy = make_strategy("mirrored" if cfg.strategy == "mirrored" or (cfg.strategy == "auto" and several_gpus)
                             else "default")
    model = read_run_config(checkpoint).model
    cfg = resolve_config(cfg, out, overwrite, model.identity_dim, model.conditioned, stores_scatter(checkpoint))
    gen = Generator.from_run(checkpoint, strategy=strategy, precision=cfg.precision)
    cfg, check = resolve_check(cfg, checkpoint)
    classifier = None
    if cfg.attributes:
        classifier = AttributeClassifier.from_folder(cfg.attributes, cfg.precision)
        cfg = dataclasses.replace(cfg, attributes=os.path.abspath(cfg.attributes))
    calibration = load_or_calibrate(gen, Path(checkpoint)) if cfg.scores_realism else None
    balance = balance_for(cfg.balance, classifier, cfg.balance_confidence) if cfg.balance else None
    return ResolvedExport(cfg, gen, strategy, check, classifier, calibration, balance)


def export(checkpoint: str | Path, out: str | Path, cfg: ExportConfig, overwrite: bool = False,
           command: str = "", progress: bool = True, record: dict | None = None) -> ExportResult:
    """Render exactly `cfg` (its None and `auto` values resolved) for cfg.shard into `out`, resuming a matching
    interrupted export; `record`: more sections for export.json. This is the renderer alone: `facegen export`'s
    dataset (the run's embedder, classifier and judge) is facegen.export.export(ExportRequest(...))."""
    started = dt.datetime.now(dt.timezone.utc)
    out = Path(out)
    r = resolve(checkpoint, out, cfg, overwrite)
    cfg, gen = r.cfg, r.gen
    shard = plan_shard(gen, cfg, r.calibration)
    state = prepare_out(out, shard.settings, overwrite)
    if state is None:
        return ExportResult(out, shard.images, 0, shard.identities, 0, 0, 0.0, already_complete=True)
    scores = scores_for(gen, cfg, r.calibration, r.check, r.classifier)
    renderer = BlockRenderer(gen, cfg.block, cfg.size, scores, r.strategy, bool(shard.plan.nuisance))
    acceptance, labels = _identity_plan(renderer, shard, r, out, state)
    if acceptance is not None:
        shard = dataclasses.replace(shard, plan=dataclasses.replace(shard.plan, candidates=acceptance.candidates))
    scores = bind(scores, acceptance, labels)
    journal = Journal(state / "journal.csv", [c for sc in scores for c in sc.extra_columns()])
    writer = _Writer(out, journal, cfg, shard, gen, f"{Path(checkpoint).name}/{Path(gen.checkpoint_path).name}",
                     scores, progress)
    try:
        writer.run(renderer)
    finally:
        writer.close()
    counts = _finish(out, journal, state, shard, cfg, gen, command, writer, started, scores, acceptance,
                     renderer.replicas, record or {})
    checks = tuple(flag for flag, on in (("--min-realism", cfg.min_realism > 0), ("--min-consistency", r.check))
                   if on)
    limits = {k: getattr(cfg, k) for k in ("min_consistency", "max_similarity", "max_leakage")}
    return ExportResult(out, shard.images, writer.written, shard.identities, writer.replaced,
                        counts["below_min_realism"], (dt.datetime.now(dt.timezone.utc) - started).total_seconds(),
                        checks=checks, identity_check={**acceptance.record(), "limits": limits} if r.check else None,
                        below_consistency=counts.get("below_min_consistency", 0), max_attempts=cfg.max_attempts)


def _identity_plan(renderer: BlockRenderer, shard: ShardPlan, r: ResolvedExport, out: Path, state: Path):
    """(the accepted identities, the identities' attribute labels), each None when the export has no use for it.
    The identity plan is global: every shard computes the same one."""
    acceptance = labels = None
    if r.check is not None or r.balance is not None:
        try:
            acceptance = accept_identities(renderer, shard.plan, r.check, r.cfg.max_candidates,
                                           r.cfg.blocks_per_call, r.balance)
        except FacegenError:
            _forget_unstarted(out, state)
            raise
    if r.classifier is not None:
        references = (acceptance.attributes if acceptance is not None
                      else identity_attributes(renderer, shard.plan, r.cfg.blocks_per_call))
        labels = AttributeLabels.from_references(r.classifier.names, references)
    return acceptance, labels


class _Writer:
    """Renders the shard's unfinished blocks and hands their images to encoding threads, journaling each
    dispatch once its files are on disk; at most two dispatches are in flight, so memory stays flat.

    Images that fail a score's test on their first draw wait in a pool that is redrawn when it holds
    REDRAW_POOL_BLOCKS blocks' worth of images, and at the end: a redraw must be rendered at the image's own block
    position (that keeps the bytes exact), so the more failing images a redraw round packs, the fewer mostly
    empty blocks it renders."""

    def __init__(self, out: Path, journal: Journal, cfg: ExportConfig, shard: ShardPlan, gen: Generator,
                 checkpoint_label: str, scores: list[Score], progress: bool) -> None:
        self.out, self.journal, self.cfg, self.plan, self.step = out, journal, cfg, shard.plan, gen.step
        self.checkpoint_label, self.scores = checkpoint_label, scores
        self.done = np.unique(journal.global_indices())  # empty for a fresh export
        done = set(self.done.tolist())
        self.todo = [b for b in shard.blocks if not done.issuperset(self.plan.block_images(b).tolist())]
        self.bar = tqdm(total=shard.images, initial=len(self.done), desc="exporting", unit="img",
                        disable=not progress, dynamic_ncols=True)
        self.pool = ThreadPoolExecutor(cfg.workers or os.cpu_count() or 1)
        self.pending: collections.deque[tuple[list[Future], list[dict]]] = collections.deque()
        self.made_dirs: set[str] = set()
        self.written = self.replaced = 0
        self.failed = _Failed.empty(self.cfg.block)

    def run(self, renderer: BlockRenderer) -> None:
        per_call = self.cfg.blocks_per_call
        try:
            for start in range(0, len(self.todo), per_call):
                self._dispatch(renderer, self.todo[start:start + per_call])
                if len(self.failed) >= REDRAW_POOL_BLOCKS * self.cfg.block:
                    self._redraw(renderer)
                while len(self.pending) > 2:
                    self._finish_oldest()
            self._redraw(renderer)
            while self.pending:
                self._finish_oldest()
        except KeyboardInterrupt:
            self.pool.shutdown(wait=True, cancel_futures=True)
            raise Interrupted(f"interrupted; {self.out} holds every image its journal lists. Re-run the same "
                              "command to continue") from None
        except OSError as e:
            self.pool.shutdown(wait=True, cancel_futures=True)
            raise FacegenError(f"cannot write to {self.out}: {e.strerror or e}; the images written so far are kept "
                               "and re-running the same command continues") from None

    def _dispatch(self, renderer: BlockRenderer, chunk: list[int]) -> None:
        """The first draw of the chunk's blocks: images that pass every test (or face none) are written now, the
        others join the redraw pool."""
        cfg, plan = self.cfg, self.plan
        indices = np.stack([_padded(plan.block_images(b), cfg.block) for b in chunk])
        labels = np.where(indices >= 0, plan.split(np.maximum(indices, 0))[0], -1)
        images, judged, passes, key = _draw(renderer, self.scores, _latents(plan, indices, 0), labels)
        fresh = (indices >= 0) & ~np.isin(indices, self.done)
        now = fresh & (passes if passes is not None else True)
        self._write_images([(images[k, pos], {n: v[k, pos] for d in judged for n, v in d.items()},
                             int(indices[k, pos]), 0) for k, pos in zip(*np.nonzero(now))])
        if passes is not None:
            k, pos = np.nonzero(fresh & ~passes)
            self.failed = self.failed.add(indices[k, pos], pos, labels[k, pos], images[k, pos],
                                          [{n: v[k, pos] for n, v in d.items()} for d in judged], key[k, pos])

    def _redraw(self, renderer: BlockRenderer) -> None:
        """Redraw the pool's images until each passes or has had every attempt, then write them."""
        if not len(self.failed):
            return
        f, self.failed = self.failed, _Failed.empty(self.cfg.block)
        attempts, replaced = _redraw_rounds(renderer, self.plan, self.scores, f, self.cfg.max_attempts)
        self.replaced += replaced
        self._write_images([(f.images[i], {n: v[i] for d in f.judged for n, v in d.items()}, int(f.g[i]),
                             int(attempts[i])) for i in range(len(f))])

    def _write_images(self, items: list[tuple[np.ndarray, dict, int, int]]) -> None:
        """(image, its judged values by name, global index, attempt) -> encoding threads and manifest rows."""
        cfg, plan = self.cfg, self.plan
        futures, rows = [], []
        for image, values, g, attempt in items:
            label, index = (int(v) for v in plan.split(g))
            rel = image_path(label, index, plan, FORMATS[cfg.format])
            self._folder(rel.split("/")[0])
            futures.append(self.pool.submit(_write, self.out / rel, image, cfg.format, cfg.quality))
            row = manifest_row(rel, label, index, g, cfg.seed, cfg.variation, attempt, None, None,
                               self.checkpoint_label, self.step)
            for score in self.scores:
                row.update(score.row({n: np.asarray(v)[None, None] for n, v in values.items()}, 0, 0, label))
            rows.append(row)
        if rows:
            self.pending.append((futures, rows))
            self.written += len(rows)

    def _folder(self, name: str) -> None:
        if name not in self.made_dirs:
            (self.out / name).mkdir(exist_ok=True)
            self.made_dirs.add(name)

    def _finish_oldest(self) -> None:
        futures, rows = self.pending.popleft()
        for f in futures:
            f.result()
        self.journal.append(rows)
        self.bar.update(len(rows))

    def close(self) -> None:
        self.bar.close()
        self.pool.shutdown(wait=True)


def _finish(out: Path, journal: Journal, state: Path, shard: ShardPlan, cfg: ExportConfig, gen: Generator,
            command: str, writer: _Writer, started: dt.datetime, scores: list[Score],
            acceptance: Acceptance | None = None, replicas: int = 1, extra: dict | None = None) -> dict:
    """Check the journal covers the shard, write the labels files and (last) export.json, drop the state.
    Returns the record's counts (images still below --min-realism or --min-consistency after every draw among
    them, counted over the whole shard)."""
    journaled = journal.global_indices()
    if len(journaled) != shard.images or len(np.unique(journaled)) != shard.images:
        raise FacegenError(f"{out}: journal holds {len(journaled)} rows for {shard.images} images; re-run to repair")
    below = journal.count_below(cfg.min_realism) if cfg.min_realism > 0 else 0
    counts = {"identities": shard.identities, "per_identity": cfg.per_identity, "images": shard.images,
              "plan_images": shard.plan.count, "replaced_this_run": writer.replaced, "below_min_realism": below}
    if acceptance is not None:
        counts["below_min_consistency"] = journal.count_below(cfg.min_consistency, "identity_similarity")
    journal.write_manifest(out)
    finish(out, "export", {
        "facegen_version": facegen.__version__, "settings": shard.settings, "command": command,
        "model": gen.config.to_dict(), "hardware": hardware.detect().describe(),
        "replicas": replicas, "counts": counts,
        # The identity plan (accepted candidates) is the export's own, with or without an embedder (--balance).
        **({"identity_check": acceptance.record()} if acceptance is not None else {}),
        **({"capacity": capacity} if (capacity := run_capacity_record(gen, cfg)) else {}),
        **{k: v for sc in scores for k, v in sc.record().items()}, **(extra or {}),
        "started": started.isoformat(), "ended": dt.datetime.now(dt.timezone.utc).isoformat()}, read_manifest(out))
    shutil.rmtree(state)
    return counts


def run_capacity_record(gen: Generator, cfg: ExportConfig) -> dict | None:
    """The run's recorded identity capacity (RUN/capacity.json) when it was measured for this checkpoint with this
    export's embedder at its limits."""
    checkpoint = Path(gen.checkpoint_path)
    return run_capacity(checkpoint.parent.parent, cfg, checkpoint.name)


def measure_capacity(checkpoint: str | Path, cfg: ExportConfig, candidates: int, progress: bool = True):
    """The capacity (facegen.export.capacity) of the identity candidates `cfg`'s export examines (its seed,
    variation, embedder and limits), fitted to its first `candidates`, and their identity spread under the
    separation rule."""
    from facegen.export.capacity import acceptance_curve, fit, spread

    cfg = dataclasses.replace(cfg, identities=candidates, per_identity=1, max_candidates=1, shard=(0, 1),
                              attributes="", balance=(), min_realism=0.0, realism=False)
    r = resolve(checkpoint, Path(checkpoint), cfg, overwrite=True)  # overwrite: no folder's settings are read
    plan = plan_shard(r.gen, r.cfg).plan
    renderer = BlockRenderer(r.gen, r.cfg.block, r.cfg.size, scores_for(r.gen, r.cfg, None, r.check, None), r.strategy,
                             bool(plan.nuisance))
    with tqdm(total=candidates, desc="identity capacity", unit="candidate", disable=not progress) as bar:
        references = first_candidates(renderer, plan, candidates, r.cfg.blocks_per_call, bar)[0]
    check = r.check
    leak = leakage(references, check.train_means)
    curve = fit(acceptance_curve(references, leak, check.max_similarity, check.max_leakage), check.max_similarity,
                check.max_leakage)
    return curve, spread(references, check.max_similarity)


def _forget_unstarted(out: Path, state: Path) -> None:
    """An export that failed before writing an image leaves nothing behind (not even its state), so a corrected
    command may use the same --out."""
    journal = state / "journal.csv"
    if journal.exists() and journal.stat().st_size:
        return
    shutil.rmtree(state, ignore_errors=True)
    if out.exists() and not any(out.iterdir()):
        out.rmdir()


def _padded(indices: np.ndarray, block: int) -> np.ndarray:
    """A short last block is padded with -1 (zero latents, outputs discarded)."""
    return np.concatenate([indices, np.full(block - len(indices), -1, np.int64)])


def _latents(plan: IdentityPlan, indices: np.ndarray, attempt: int) -> np.ndarray:
    z = np.zeros((*indices.shape, plan.input_dim), np.float32)
    valid = indices >= 0
    z[valid] = plan.latents(indices[valid], attempt)
    return z


REDRAW_POOL_BLOCKS = 16  # images failing their first draw wait until this many blocks' worth are redrawn together


def _draw(renderer: BlockRenderer, scores: list[Score], z: np.ndarray, labels: np.ndarray):
    """Render z [k, block, latent] and judge it: (images, each score's judged values in `scores` order, which
    images pass every test (None: no score tests), the preference key that picks an image's best draw)."""
    rendered = renderer(z)
    judged = [sc.judge(rendered.outputs[sc.name], labels) for sc in scores]
    tests = [ok for sc, values in zip(scores, judged) if (ok := sc.passes(values)) is not None]
    passes = np.logical_and.reduce(tests) if tests else None
    ranked = [(sc.preference_rank, sc.preference(v)) for sc, v in zip(scores, judged) if sc.preference(v) is not None]
    key = max(ranked, key=lambda r: r[0])[1] if ranked else np.zeros(rendered.images.shape[:2])
    return rendered.images, judged, passes, key


@dataclass(frozen=True)
class _Failed:
    """Images that failed their first draw, flat: global index, block position, label, the best draw so far (the
    image, each score's judged values, the preference key)."""

    g: np.ndarray
    pos: np.ndarray
    labels: np.ndarray
    images: np.ndarray
    judged: list[dict[str, np.ndarray]]
    key: np.ndarray
    block: int

    @classmethod
    def empty(cls, block: int) -> "_Failed":
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64), None, [], np.empty(0), block)

    def __len__(self) -> int:
        return len(self.g)

    def add(self, g, pos, labels, images, judged, key) -> "_Failed":
        if not len(g):
            return self
        if not len(self):
            return _Failed(g, pos, labels, images, judged, key, self.block)
        joined = [{n: np.concatenate([a[n], b[n]]) for n in a} for a, b in zip(self.judged, judged)]
        return _Failed(np.concatenate([self.g, g]), np.concatenate([self.pos, pos]),
                       np.concatenate([self.labels, labels]), np.concatenate([self.images, images]), joined,
                       np.concatenate([self.key, key]), self.block)


def _redraw_rounds(renderer: BlockRenderer, plan: IdentityPlan, scores: list[Score], f: _Failed,
                   max_attempts: int) -> tuple[np.ndarray, int]:
    """Redraw the failed images (their best draw in `f` is updated in place) that fail a score's test: calibrated
    realism below --min-realism, cosine to their identity's reference below --min-consistency. Attempt a of an
    image is keyed by (seed, identity, index, a) and rendered at the image's own block position, so the result
    does not depend on which other images needed replacing: G, D and the embedder compute each image of a block
    on its own, and the block's shape and the image's position are fixed. Round a packs the images still failing:
    the j-th of them at position p goes to packed block j, position p. The first passing attempt wins; after
    max_attempts the best attempt is kept, by the preference of the highest-ranked score that has one (identity
    similarity over D's logit). Returns each image's attempt and the number of images replaced."""
    n = len(f)
    attempts = np.zeros(n, np.int64)
    accepted = np.zeros(n, bool)
    replaced = 0
    for a in range(1, max_attempts):
        idx = np.flatnonzero(~accepted)
        if not len(idx):
            break
        cols = f.pos[idx]
        slot = np.zeros(len(idx), np.int64)
        for p in np.unique(cols):
            at = np.flatnonzero(cols == p)
            slot[at] = np.arange(len(at))
        packed = np.full((int(slot.max()) + 1, f.block), -1, np.int64)
        packed[slot, cols] = f.g[idx]
        packed_labels = np.full(packed.shape, -1, np.int64)
        packed_labels[slot, cols] = f.labels[idx]
        images_a, judged_a, pass_a, key_a = _draw(renderer, scores, _latents(plan, packed, a), packed_labels)
        ok = pass_a[slot, cols]
        take = ok | (key_a[slot, cols] > f.key[idx])
        i, sl, c = idx[take], slot[take], cols[take]
        replaced += int((attempts[i] == 0).sum())
        f.images[i], f.key[i] = images_a[sl, c], key_a[sl, c]
        for values, values_a in zip(f.judged, judged_a):
            for name in values:
                values[name][i] = values_a[name][sl, c]
        attempts[i] = a
        accepted[idx] |= ok
    return attempts, replaced


def _write(path: Path, image: np.ndarray, fmt: str, quality: int) -> None:
    write_bytes(path, encode(image, fmt, quality), durable=False)
