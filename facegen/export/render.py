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
from facegen.export.identities import IdentityPlan, default_variation, shard_blocks
from facegen.export.layout import finish
from facegen.export.manifest import Journal, manifest_row, prepare_out, read_manifest, stored_settings
from facegen.export.realism import RealismCalibration, load_or_calibrate
from facegen.export.attributes import AttributeLabels, balance_for
from facegen.export.verify import Acceptance, accept_identities, identity_attributes, resolve_check, similarities
from facegen.images import encode
from facegen.models.attributes import AttributeClassifier
from facegen.models.embedder import Embedder
from facegen.models.generator import Generator, to_uint8


@dataclass
class ExportResult:
    out: Path
    images: int
    written: int  # images written by this invocation (less than `images` after a resume)
    identities: int
    replaced: int
    below_threshold: int
    seconds: float
    already_complete: bool = False


def identity_name(label: int, identities: int) -> str:
    return f"id_{label + 1:0{max(6, len(str(identities)))}d}"


def image_path(label: int, index: int, plan: IdentityPlan, ext: str) -> str:
    ident = identity_name(label, plan.identities)
    return f"{ident}/{ident}_{index:0{max(4, len(str(plan.per_identity - 1)))}d}.{ext}"


class BlockRenderer:
    """One tf.function with a fixed input signature: [k, block, latent] -> uint8 images (and D's logits).

    Each block goes through G (and D, when realism is scored) on its own (tf.map_fn), so every image is
    computed in a call of the same shape at the same position whatever --batch-size groups the blocks: the
    outputs are exact by construction. Under a strategy with several replicas, each replica renders whole
    blocks of the dispatch. Without realism D never runs: it costs as much as G (issue 13's measurements).
    """

    def __init__(self, gen: Generator, block: int, size: int, realism: bool,
                 strategy: tf.distribute.Strategy | None = None, embedder: Embedder | None = None,
                 attributes: AttributeClassifier | None = None) -> None:
        self.gen, self.block = gen, block
        self.strategy = strategy or tf.distribute.get_strategy()
        self.replicas = self.strategy.num_replicas_in_sync
        res = gen.config.model.resolution
        self.size = size or res
        dim = embedder.config.embedding_dim if embedder else 1
        n_attr = len(attributes.names) if attributes else 1
        out_spec = (tf.TensorSpec([block, self.size, self.size, 3], tf.uint8), tf.TensorSpec([block], tf.float32),
                    tf.TensorSpec([block, dim], tf.float32), tf.TensorSpec([block, n_attr], tf.float32))

        def one_block(z):
            x = gen.generator(z, training=False)
            score = gen.realism_logits(x) if realism else tf.fill([block], float("nan"))
            if self.size != res:
                x = tf.image.resize(x, [self.size, self.size], method="bilinear", antialias=True)
            image = to_uint8(x)
            # The embedder sees the written image (its uint8 pixels), so a manifest's similarity is what anyone
            # re-embedding the file gets.
            pixels = tf.cast(image, tf.float32) / 127.5 - 1.0
            embedding = embedder.embed_float(pixels) if embedder else tf.fill([block, 1], float("nan"))
            attribute = attributes.probabilities_float(pixels) if attributes else tf.fill([block, 1], float("nan"))
            return image, score, embedding, attribute

        def render(z):
            return tf.map_fn(one_block, z, fn_output_signature=out_spec)

        self._render = tf.function(render, input_signature=[tf.TensorSpec([None, block, gen.latent_dim], tf.float32)])
        self._render_replicas = tf.function(lambda parts: self.strategy.run(render, args=(parts,)))

    def __call__(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """[k, block, latent] -> uint8 images [k, block, s, s, 3], D logits [k, block], embeddings [k, block, d]
        and attribute probabilities [k, block, a] (NaN-filled for what the export does not compute)."""
        if self.replicas == 1:
            return tuple(t.numpy() for t in self._render(tf.convert_to_tensor(z)))
        # Pad to whole blocks per replica with extra zero blocks (their outputs are dropped).
        k = len(z)
        per = -(-k // self.replicas)
        z = np.concatenate([z, np.zeros((per * self.replicas - k, *z.shape[1:]), np.float32)])
        parts = self.strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.constant(z[ctx.replica_id_in_sync_group * per:(ctx.replica_id_in_sync_group + 1) * per]))
        outputs = self._render_replicas(parts)
        return tuple(np.concatenate([t.numpy() for t in self.strategy.experimental_local_results(out)])[:k]
                     for out in outputs)


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
                        identity_dim=gen.config.model.identity_dim)
    blocks = shard_blocks(plan.n_blocks, cfg.shard)
    count = sum(len(plan.block_images(b)) for b in blocks)
    first = blocks.start * cfg.block
    identities = int(plan.split(first + count - 1)[0]) - int(plan.split(first)[0]) + 1 if count else 0
    settings = {"checkpoint": os.path.abspath(gen.checkpoint_path), "step": gen.step, **cfg.settings()}
    if calibration is not None:
        settings["realism_calibration"] = calibration.digest
    return ShardPlan(plan, blocks, count, identities, settings)


def export(checkpoint: str | Path, out: str | Path, cfg: ExportConfig, overwrite: bool = False,
           command: str = "", progress: bool = True) -> ExportResult:
    """Generate the plan's images for cfg.shard into `out`, resuming a matching interrupted export."""
    started = dt.datetime.now(dt.timezone.utc)
    out = Path(out)
    # Every local GPU generates; across machines, --shard splits the work instead.
    several_gpus = len(tf.config.list_logical_devices("GPU")) > 1
    strategy = make_strategy("mirrored" if cfg.strategy == "mirrored" or (cfg.strategy == "auto" and several_gpus)
                             else "default")
    # auto: what an export already in `out` used (so a resume on this machine continues it), else the hardware's.
    saved = None if overwrite else stored_settings(out)
    stored = None if saved is None else saved.get("precision", "off")  # no key: a float32 export
    cfg = dataclasses.replace(cfg, precision=hardware.resolve(cfg.precision, "export", stored))
    gen = Generator.from_run(checkpoint, strategy=strategy, precision=cfg.precision)
    if cfg.variation is None:
        cfg = dataclasses.replace(cfg, variation=default_variation(gen.config.model.identity_dim))
    elif cfg.variation > 1 and not gen.config.model.identity_dim:
        raise FacegenError(f"--variation {cfg.variation:g} is above 1, which only an identity-mode checkpoint takes "
                           "(a plain run mixes identity and noise: 1 already makes every image unrelated)")
    cfg, check = resolve_check(cfg)
    classifier = None
    if cfg.attributes:
        classifier = AttributeClassifier.from_folder(cfg.attributes)
        cfg = dataclasses.replace(cfg, attributes=os.path.abspath(cfg.attributes))
    calibration = load_or_calibrate(gen, Path(checkpoint)) if cfg.scores_realism else None
    balance = balance_for(cfg.balance, classifier, cfg.balance_confidence) if cfg.balance else None
    shard = plan_shard(gen, cfg, calibration)
    state = prepare_out(out, shard.settings, overwrite)
    if state is None:
        return ExportResult(out, shard.images, 0, shard.identities, 0, 0, 0.0, already_complete=True)
    renderer = BlockRenderer(gen, cfg.block, cfg.size, cfg.scores_realism, strategy, check and check.embedder,
                             classifier)
    acceptance = labels = None
    if check is not None or balance is not None:  # the global identity plan: every shard computes the same one
        try:
            acceptance = accept_identities(renderer, shard.plan, check, cfg.max_candidates, cfg.blocks_per_call,
                                           balance)
        except FacegenError:
            _forget_unstarted(out, state)
            raise
        shard = dataclasses.replace(shard, plan=dataclasses.replace(shard.plan, candidates=acceptance.candidates))
    if classifier is not None:
        references = (acceptance.attributes if acceptance is not None
                      else identity_attributes(renderer, shard.plan, cfg.blocks_per_call))
        labels = AttributeLabels.from_references(classifier.names, references)
    journal = Journal(state / "journal.csv", labels.columns if labels else None)
    writer = _Writer(out, journal, cfg, shard, gen, f"{Path(checkpoint).name}/{Path(gen.checkpoint_path).name}",
                     calibration, progress, acceptance, labels)
    try:
        writer.run(renderer)
    finally:
        writer.close()
    below = _finish(out, journal, state, shard, cfg, gen, command, writer, started, acceptance, labels,
                    renderer.replicas)
    ended = dt.datetime.now(dt.timezone.utc)
    return ExportResult(out, shard.images, writer.written, shard.identities, writer.replaced, below,
                        (ended - started).total_seconds())


class _Writer:
    """Renders the shard's unfinished blocks and hands their images to encoding threads, journaling each
    dispatch once its files are on disk; at most two dispatches are in flight, so memory stays flat."""

    def __init__(self, out: Path, journal: Journal, cfg: ExportConfig, shard: ShardPlan, gen: Generator,
                 checkpoint_label: str, calibration: RealismCalibration | None, progress: bool,
                 acceptance: Acceptance | None = None, labels: AttributeLabels | None = None) -> None:
        self.out, self.journal, self.cfg, self.plan, self.step = out, journal, cfg, shard.plan, gen.step
        self.checkpoint_label, self.calibration, self.acceptance = checkpoint_label, calibration, acceptance
        self.labels = labels
        self.done = set(journal.global_indices().tolist())  # empty for a fresh export
        self.todo = [b for b in shard.blocks if not self.done.issuperset(self.plan.block_images(b).tolist())]
        self.bar = tqdm(total=shard.images, initial=len(self.done), desc="exporting", unit="img",
                        disable=not progress, dynamic_ncols=True)
        self.pool = ThreadPoolExecutor(cfg.workers or os.cpu_count() or 1)
        self.pending: collections.deque[tuple[list[Future], list[dict]]] = collections.deque()
        self.made_dirs: set[str] = set()
        self.written = self.replaced = 0

    def run(self, renderer: BlockRenderer) -> None:
        per_call = self.cfg.blocks_per_call
        try:
            for start in range(0, len(self.todo), per_call):
                self._dispatch(renderer, self.todo[start:start + per_call])
                while len(self.pending) > 2:
                    self._finish_oldest()
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
        cfg, plan = self.cfg, self.plan
        indices = np.stack([_padded(plan.block_images(b), cfg.block) for b in chunk])
        valid = indices >= 0
        references = None if self.acceptance is None or not cfg.embedder else self.acceptance.references
        images, logits, realism, similarity, attr, attempts, n_replaced = _render_with_replacements(
            renderer, plan, indices, valid, cfg, self.calibration, references)
        self.replaced += n_replaced
        futures, rows = [], []
        for k, pos in zip(*np.nonzero(valid)):
            g = int(indices[k, pos])
            if g in self.done:
                continue
            label, index = (int(v) for v in plan.split(g))
            rel = image_path(label, index, plan, FORMATS[cfg.format])
            self._folder(rel.split("/")[0])
            futures.append(self.pool.submit(_write, self.out / rel, images[k, pos], cfg.format, cfg.quality))
            row = manifest_row(rel, label, index, g, cfg.seed, cfg.variation, int(attempts[k, pos]),
                               None if realism is None else float(realism[k, pos]),
                               None if realism is None else float(logits[k, pos]), self.checkpoint_label,
                               self.step, None if similarity is None else float(similarity[k, pos]))
            if self.labels is not None:
                row.update(self.labels.row(label, attr[k, pos]))
            rows.append(row)
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
            command: str, writer: _Writer, started: dt.datetime, acceptance: Acceptance | None = None,
            labels: AttributeLabels | None = None, replicas: int = 1) -> int:
    """Check the journal covers the shard, write manifest, im2rec.lst, metadata.csv and (last) export.json, drop the state.
    Returns how many images stayed below --min-realism after every draw (counted over the whole shard)."""
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
        **({"identity_check": acceptance.record()} if acceptance is not None else {}),
        **({"attributes": {"columns": labels.names, "identity_attributes": labels.identity_names,
                           "identity_shares": labels.shares()}} if labels is not None else {}),
        "started": started.isoformat(), "ended": dt.datetime.now(dt.timezone.utc).isoformat()}, read_manifest(out))
    shutil.rmtree(state)
    return below


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
    z = np.zeros((*indices.shape, plan.latent_dim), np.float32)
    valid = indices >= 0
    z[valid] = plan.latents(indices[valid], attempt)
    return z


def _render_with_replacements(renderer: BlockRenderer, plan: IdentityPlan, indices: np.ndarray, valid: np.ndarray,
                              cfg: ExportConfig, calibration: RealismCalibration | None,
                              references: np.ndarray | None = None):
    """Render, then redraw images that fail a check: calibrated realism below --min-realism, or (with an
    embedder) cosine to their identity's reference below --min-consistency. Attempt a of an image is keyed by
    (seed, identity, index, a) and rendered in its own block at its own position, so the result does not
    depend on which other images needed replacing. The first passing attempt wins; after max_attempts the
    best attempt is kept: by identity similarity when an embedder checks, else by D's logit (the calibration
    is monotone). Returns images, D's logits, their calibrated realism (None when not scored), the identity
    similarities (None without an embedder), attribute probabilities (NaN without a classifier), attempts and
    the number of images replaced."""
    labels = np.where(valid, plan.split(np.maximum(indices, 0))[0], -1)

    def draw(rows: np.ndarray, attempt: int):
        images, logits, emb, attr = renderer(_latents(plan, indices[rows], attempt))
        realism = None if calibration is None else calibration.score(logits)
        sim = None if references is None else similarities(emb, labels[rows], references)
        passes = np.ones(logits.shape, bool)
        if cfg.min_realism > 0:
            passes &= realism >= cfg.min_realism
        if sim is not None:
            passes &= sim >= cfg.min_consistency
        return images, logits, realism, sim, attr, passes, (logits if sim is None else sim)

    everything = np.arange(len(indices))
    images, logits, realism, sim, attr, accepted, key = draw(everything, 0)
    attempts = np.zeros(indices.shape, np.int64)
    n_replaced = 0
    for a in range(1, cfg.max_attempts if (cfg.min_realism > 0 or sim is not None) else 1):
        need = valid & ~accepted
        if not need.any():
            break
        rows = np.flatnonzero(need.any(axis=1))
        imgs_a, logits_a, real_a, sim_a, attr_a, pass_a, key_a = draw(rows, a)
        for j, k in enumerate(rows):
            take = need[k] & (pass_a[j] | (key_a[j] > key[k]))
            n_replaced += int((take & (attempts[k] == 0)).sum())
            images[k][take], logits[k][take], key[k][take] = imgs_a[j][take], logits_a[j][take], key_a[j][take]
            attr[k][take] = attr_a[j][take]
            if realism is not None:
                realism[k][take] = real_a[j][take]
            if sim is not None:
                sim[k][take] = sim_a[j][take]
            attempts[k][take] = a
            accepted[k] |= need[k] & pass_a[j]
    return images, logits, realism, sim, attr, attempts, n_replaced


def _write(path: Path, image: np.ndarray, fmt: str, quality: int) -> None:
    write_bytes(path, encode(image, fmt, quality), durable=False)
