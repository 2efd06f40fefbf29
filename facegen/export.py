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
from facegen.config import FORMATS, ExportConfig, FacegenError, Interrupted, read_json, write_json_atomic
from facegen.distribute import make_strategy
from facegen.identities import IdentityPlan, default_variation, shard_blocks
from facegen.images import encode, write_atomic
from facegen.manifest import EXPORT_JSON, STATE_DIR, Journal
from facegen.sampling import Generator, to_uint8


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
    """One tf.function with a fixed input signature: [k, block, latent] -> uint8 images and D scores.

    Each block goes through G and D on its own (tf.map_fn), so every image is computed in a call of the same
    shape at the same position whatever --batch-size groups the blocks: the outputs are exact by construction.
    Under a strategy with several replicas, each replica renders whole blocks of the dispatch.
    """

    def __init__(self, gen: Generator, block: int, size: int, strategy: tf.distribute.Strategy | None = None) -> None:
        self.gen, self.block = gen, block
        self.strategy = strategy or tf.distribute.get_strategy()
        self.replicas = self.strategy.num_replicas_in_sync
        res = gen.config.model.resolution
        self.size = size or res
        out_spec = (tf.TensorSpec([block, self.size, self.size, 3], tf.uint8), tf.TensorSpec([block], tf.float32))

        def one_block(z):
            x = gen.generator(z, training=False)
            realism = gen.realism(x)
            if self.size != res:
                x = tf.image.resize(x, [self.size, self.size], method="bilinear", antialias=True)
            return to_uint8(x), realism

        def render(z):
            return tf.map_fn(one_block, z, fn_output_signature=out_spec)

        self._render = tf.function(render, input_signature=[tf.TensorSpec([None, block, gen.latent_dim], tf.float32)])
        self._render_replicas = tf.function(lambda parts: self.strategy.run(render, args=(parts,)))

    def __call__(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.replicas == 1:
            images, realism = self._render(tf.convert_to_tensor(z))
            return images.numpy(), realism.numpy()
        # Pad to whole blocks per replica with extra zero blocks (their outputs are dropped).
        k = len(z)
        per = -(-k // self.replicas)
        z = np.concatenate([z, np.zeros((per * self.replicas - k, *z.shape[1:]), np.float32)])
        parts = self.strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.constant(z[ctx.replica_id_in_sync_group * per:(ctx.replica_id_in_sync_group + 1) * per]))
        images, realism = self._render_replicas(parts)
        images = np.concatenate([t.numpy() for t in self.strategy.experimental_local_results(images)])[:k]
        realism = np.concatenate([t.numpy() for t in self.strategy.experimental_local_results(realism)])[:k]
        return images, realism


def export(checkpoint: str | Path, out: str | Path, cfg: ExportConfig, overwrite: bool = False,
           command: str = "", progress: bool = True) -> ExportResult:
    """Generate the plan's images for cfg.shard into `out`, resuming a matching interrupted export."""
    started = dt.datetime.now(dt.timezone.utc)
    out = Path(out)
    # Every local GPU generates; across machines, --shard splits the work instead.
    several_gpus = len(tf.config.list_logical_devices("GPU")) > 1
    strategy = make_strategy("mirrored" if cfg.strategy == "mirrored" or (cfg.strategy == "auto" and several_gpus)
                             else "default")
    gen = Generator.from_run(checkpoint, strategy=strategy)
    if cfg.variation is None:
        cfg = dataclasses.replace(cfg, variation=default_variation(gen.config.model.identity_dim))
    plan = IdentityPlan(cfg.seed, cfg.identities, cfg.per_identity, gen.latent_dim, cfg.variation, cfg.block,
                        identity_dim=gen.config.model.identity_dim)
    settings = {"checkpoint": os.path.abspath(gen.checkpoint_path), "step": gen.step, **cfg.settings()}
    blocks = shard_blocks(plan.n_blocks, cfg.shard)
    shard_count = sum(len(plan.block_images(b)) for b in blocks)
    first_image = blocks.start * cfg.block
    shard_identities = (int(plan.split(first_image + shard_count - 1)[0]) - int(plan.split(first_image)[0]) + 1
                        if shard_count else 0)

    state = _prepare_out(out, settings, overwrite)
    if state is None:
        return ExportResult(out, shard_count, 0, cfg.identities, 0, 0, 0.0, already_complete=True)
    journal = Journal(state / "journal.csv")
    done = set(journal.global_indices().tolist())  # empty for a fresh export
    todo = [b for b in blocks if not done.issuperset(plan.block_images(b).tolist())]

    ext = FORMATS[cfg.format]
    renderer = BlockRenderer(gen, cfg.block, cfg.size, strategy)
    checkpoint_label = f"{Path(checkpoint).name}/{Path(gen.checkpoint_path).name}"
    per_call = cfg.batch_size // cfg.block
    bar = tqdm(total=shard_count, initial=len(done), desc="exporting",
               unit="img", disable=not progress, dynamic_ncols=True)
    pool = ThreadPoolExecutor(cfg.workers or os.cpu_count() or 1)
    # Bounded in-flight work keeps memory flat whatever --count is.
    pending: collections.deque[tuple[list[Future], list[dict]]] = collections.deque()
    written = replaced = below = 0
    made_dirs: set[str] = set()

    def finish_oldest() -> None:
        futures, rows = pending.popleft()
        for f in futures:
            f.result()
        journal.append(rows)
        bar.update(len(rows))

    try:
        for start in range(0, len(todo), per_call):
            chunk = todo[start:start + per_call]
            indices = np.stack([_padded(plan.block_images(b), cfg.block) for b in chunk])
            valid = indices >= 0
            images, realism, attempts, n_replaced = _render_with_replacements(renderer, plan, indices, valid, cfg)
            replaced += n_replaced
            futures, rows = [], []
            for k, b in enumerate(chunk):
                for pos in np.flatnonzero(valid[k]):
                    g = int(indices[k, pos])
                    if g in done:
                        continue
                    label, index = (int(v) for v in plan.split(g))
                    rel = image_path(label, index, plan, ext)
                    folder = rel.split("/")[0]
                    if folder not in made_dirs:
                        (out / folder).mkdir(exist_ok=True)
                        made_dirs.add(folder)
                    score = float(realism[k, pos])
                    below += int(score < cfg.min_realism)
                    futures.append(pool.submit(_write, out / rel, images[k, pos], cfg.format, cfg.quality))
                    rows.append({"path": rel, "identity": folder, "label": label, "index": index, "global_index": g,
                                 "seed": cfg.seed, "variation": cfg.variation, "attempt": int(attempts[k, pos]),
                                 "realism": f"{score:.6f}", "checkpoint": checkpoint_label, "step": gen.step})
            pending.append((futures, rows))
            written += len(rows)
            while len(pending) > 2:
                finish_oldest()
        while pending:
            finish_oldest()
    except KeyboardInterrupt:
        pool.shutdown(wait=True, cancel_futures=True)
        raise Interrupted(f"interrupted; {out} holds every image its journal lists. Re-run the same command "
                          "to continue") from None
    except OSError as e:
        pool.shutdown(wait=True, cancel_futures=True)
        raise FacegenError(f"cannot write to {out}: {e.strerror or e}; the images written so far are kept and "
                           "re-running the same command continues") from None
    finally:
        bar.close()
        pool.shutdown(wait=True)

    journaled = journal.global_indices()
    if len(journaled) != shard_count or len(np.unique(journaled)) != shard_count:
        raise FacegenError(f"{out}: journal holds {len(journaled)} rows for {shard_count} images; re-run to repair")
    journal.write_manifest(out)
    ended = dt.datetime.now(dt.timezone.utc)
    write_json_atomic(out / EXPORT_JSON, {
        "facegen_version": facegen.__version__, "settings": settings, "command": command,
        "model": gen.config.to_dict(), "counts": {
            "identities": shard_identities, "per_identity": cfg.per_identity, "images": shard_count,
            "plan_images": plan.count, "replaced_this_run": replaced, "below_min_realism_this_run": below},
        "started": started.isoformat(), "ended": ended.isoformat()})
    shutil.rmtree(state)
    return ExportResult(out, shard_count, written, cfg.identities, replaced, below,
                        (ended - started).total_seconds())


def _padded(indices: np.ndarray, block: int) -> np.ndarray:
    """A short last block is padded with -1 (zero latents, outputs discarded)."""
    return np.concatenate([indices, np.full(block - len(indices), -1, np.int64)])


def _latents(plan: IdentityPlan, indices: np.ndarray, attempt: int) -> np.ndarray:
    z = np.zeros((*indices.shape, plan.latent_dim), np.float32)
    valid = indices >= 0
    z[valid] = plan.latents(indices[valid], attempt)
    return z


def _render_with_replacements(renderer: BlockRenderer, plan: IdentityPlan, indices: np.ndarray, valid: np.ndarray,
                              cfg: ExportConfig):
    """Render, then redraw images scoring below --min-realism: attempt a of an image is keyed by
    (seed, identity, index, a) and rendered in its own block at its own position, so the result does not
    depend on which other images needed replacing. The first passing attempt wins; after max_attempts the
    best-scoring attempt is kept."""
    images, realism = renderer(_latents(plan, indices, 0))
    attempts = np.zeros(indices.shape, np.int64)
    accepted = realism >= cfg.min_realism
    n_replaced = 0
    for a in range(1, cfg.max_attempts):
        need = valid & ~accepted
        if not need.any():
            break
        rows = np.flatnonzero(need.any(axis=1))
        imgs_a, real_a = renderer(_latents(plan, indices[rows], a))
        for j, k in enumerate(rows):
            take = need[k] & ((real_a[j] >= cfg.min_realism) | (real_a[j] > realism[k]))
            n_replaced += int((take & (attempts[k] == 0)).sum())
            images[k][take], realism[k][take], attempts[k][take] = imgs_a[j][take], real_a[j][take], a
            accepted[k] |= need[k] & (real_a[j] >= cfg.min_realism)
    return images, realism, attempts, n_replaced


def _write(path: Path, image: np.ndarray, fmt: str, quality: int) -> None:
    write_atomic(path, encode(image, fmt, quality))


def _prepare_out(out: Path, settings: dict, overwrite: bool) -> Path | None:
    """The state folder to journal into; None if `out` already holds this exact export, complete."""
    state = out / STATE_DIR
    if out.exists() and not out.is_dir():
        raise FacegenError(f"--out {out} is a file, not a folder")
    if out.exists() and any(out.iterdir()):
        if (out / EXPORT_JSON).exists() and not state.exists() and not overwrite:
            if read_json(out / EXPORT_JSON).get("settings") == settings:
                return None
            raise FacegenError(f"{out} holds a different export; pass --overwrite to replace it or pick a new --out")
        if state.exists() and not overwrite:
            saved = read_json(state / "settings.json") if (state / "settings.json").exists() else None
            if saved != settings:
                raise FacegenError(f"{out} holds an unfinished export with other settings; re-run it with its own "
                                   "settings, or pass --overwrite")
        elif not overwrite:
            raise FacegenError(f"--out {out} is not empty and is not a facegen export; pass --overwrite to replace "
                               "its contents or pick a new folder")
        else:
            shutil.rmtree(out)
    try:
        state.mkdir(parents=True, exist_ok=True)
        write_json_atomic(state / "settings.json", settings)
    except OSError as e:
        raise FacegenError(f"cannot write to {out}: {e.strerror or e}") from None
    for tmp in out.glob("*/.*.tmp"):  # half-written files of an interrupted run
        tmp.unlink()
    return state
