"""The training loop: run folder, checkpoints and resume, EMA, summaries, sample grids, NaN and Ctrl-C handling."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm import tqdm

import facegen
from facegen.config import FacegenError, Interrupted, RunConfig, read_json, write_json_atomic
from facegen.data import TrainingData, discover, pair_dataset
from facegen.distribute import distribute_global_batches, is_chief, make_strategy
from facegen.gan import DCGAN
from facegen.images import float_to_uint8, grid, save_png
from facegen.sampling import identity_sheet_latents, latents_for_seed

log = logging.getLogger("facegen")

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
SAMPLE_SEED = 1234  # the fixed latent batch every sample grid of a run shows
SAMPLE_COUNT = 64

# Fields that may change between invocations on the same run folder; all others define the run.
MUTABLE_TRAIN_FIELDS = ("steps", "epochs", "checkpoint_every", "keep_checkpoints", "sample_every", "log_every",
                        "eval_every", "eval_n", "strategy", "xla")
EVAL_REAL_IMAGES = 2000  # real images behind the in-training FID reference statistics
BEST_DIR = "best"
MUTABLE_DATA_FIELDS = ("path", "cache", "decode_workers")


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    step: int
    resumed_from: int
    metrics: dict[str, float]
    images_per_second: float


def resolve_config(run_dir: Path, requested: RunConfig) -> RunConfig:
    """The config to train with: the requested one, or for an existing run its stored one with only the
    schedule fields (steps, checkpoint/sample cadence, data location) taken from the request."""
    path = run_dir / CONFIG_FILE
    if not path.exists():
        return requested
    stored_dict = read_json(path)
    stored_dict.pop("facegen_version", None)
    stored = RunConfig.from_dict(stored_dict)
    for section in ("model", "data", "train"):
        mutable = {"train": MUTABLE_TRAIN_FIELDS, "data": MUTABLE_DATA_FIELDS}.get(section, ())
        a, b = getattr(stored, section), getattr(requested, section)
        for f in dataclasses.fields(a):
            if f.name not in mutable and getattr(a, f.name) != getattr(b, f.name):
                raise FacegenError(
                    f"{run_dir} was trained with {section}.{f.name}={getattr(a, f.name)!r}, not "
                    f"{getattr(b, f.name)!r}; use the run's settings to resume or a new --out for a new run")
    if stored.mode != requested.mode:
        raise FacegenError(f"{run_dir} was trained in mode {stored.mode!r}, not {requested.mode!r}")
    return requested


def checkpoint_manager(gan: DCGAN, run_dir: Path, keep: int) -> tf.train.CheckpointManager:
    return tf.train.CheckpointManager(gan.checkpoint, str(run_dir / CHECKPOINT_DIR), max_to_keep=keep)


def train(run_dir: str | Path, cfg: RunConfig, progress: bool = True) -> TrainResult:
    """Train (or resume) the run in `run_dir` up to the configured number of steps."""
    run_dir = Path(run_dir)
    cfg = resolve_config(run_dir, cfg)
    t = cfg.train
    if t.deterministic:
        tf.config.experimental.enable_op_determinism()
    # Before any other TensorFlow work: multi-worker collectives are configured at start-up.
    strategy = make_strategy(t.strategy)
    chief = is_chief(strategy)

    # Data first: a bad --data fails before the run folder is created.
    source = discover(cfg.data.path, cfg.data.partition)
    data = TrainingData(source, cfg.data, progress=progress)
    if cfg.model.identity_dim:
        ids = data.identities
        known, counts = np.unique(ids[ids >= 0], return_counts=True)
        single = int((counts < 2).sum())
        if single or (ids < 0).any():
            log.warning("identity mode: skipped %d identities with fewer than 2 images and %d unlabeled images",
                        single, int((ids < 0).sum()))
        if len(known) - single < 2:
            raise FacegenError(f"identity mode needs identity labels (CelebA identity_CelebA.txt or one folder per "
                               f"identity) with at least 2 images each; {cfg.data.path} has {len(known) - single}")
    if len(data) < t.batch_size:
        raise FacegenError(f"--batch-size {t.batch_size} is larger than the {len(data)} usable images in {cfg.data.path}")
    total_steps = t.epochs * data.steps_per_epoch(t.batch_size) if t.epochs else t.steps

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "samples").mkdir(exist_ok=True)
    if chief:
        write_json_atomic(run_dir / CONFIG_FILE, {"facegen_version": facegen.__version__, **cfg.to_dict()})

    gan = DCGAN(cfg.model, t, strategy)
    # Every worker takes part in saving (variables may need collectives); only the chief's copy is kept.
    manager = checkpoint_manager(gan, run_dir if chief else Path(tempfile.mkdtemp()), t.keep_checkpoints)
    # Every worker resumes from the chief's latest checkpoint.
    latest = tf.train.latest_checkpoint(str(run_dir / CHECKPOINT_DIR))
    if latest:
        gan.checkpoint.restore(latest).assert_existing_objects_matched()
    start = int(gan.step.numpy())
    if start >= total_steps:
        return TrainResult(run_dir, start, start, {}, 0.0)

    evaluator = InTrainingEval(run_dir, data, t) if t.eval_every and chief else None
    writer = tf.summary.create_file_writer(str(run_dir / "logs"))
    sample_z = (identity_sheet_latents(SAMPLE_SEED, 8, 8, cfg.model) if cfg.model.identity_dim
                else latents_for_seed(SAMPLE_SEED, SAMPLE_COUNT, cfg.model.latent_dim))
    stream = (pair_dataset(data, t.batch_size, t.seed, start_step=start) if cfg.model.identity_dim
              else data.dataset(t.batch_size, t.seed, start_step=start))
    batches = iter(distribute_global_batches(strategy, stream, t.batch_size))
    bar = tqdm(total=total_steps, initial=start, desc="training", unit="step", disable=not (progress and chief),
               dynamic_ncols=True)
    step, metrics, rate = start, {}, 0.0
    last_good = start if latest else None
    window_start, window_steps = time.perf_counter(), 0
    try:
        while step < total_steps:
            out = gan.train_step(next(batches))
            step += 1
            window_steps += 1
            bar.update(1)
            if step % t.log_every == 0 or step == total_steps:
                metrics = {k: float(v) for k, v in out.items()}
                if not all(np.isfinite(list(metrics.values()))):
                    where = f"step {last_good}" if last_good is not None else "none yet"
                    raise FacegenError(f"training diverged: a loss became NaN/Inf at step {step}; "
                                       f"the last good checkpoint ({where}) in {run_dir} is kept")
                now = time.perf_counter()
                rate = window_steps * t.batch_size / (now - window_start)
                window_start, window_steps = now, 0
                bar.set_postfix(d_loss=f"{metrics['d_loss']:.3f}", g_loss=f"{metrics['g_loss']:.3f}",
                                img_s=f"{rate:.0f}")
                with writer.as_default(step=step):
                    for k, v in metrics.items():
                        tf.summary.scalar(k, v)
                    tf.summary.scalar("images_per_second", rate)
            if chief and (step % t.sample_every == 0 or step == total_steps):
                _write_samples(gan, sample_z, run_dir, step, writer)
            if step % t.checkpoint_every == 0 or step == total_steps:
                last_good = _save(gan, manager, step, run_dir, last_good)
            if evaluator and step % t.eval_every == 0:
                scores = evaluator(gan, step)
                bar.write(f"step {step}: FID {scores['fid']:.2f}, KID {scores['kid']:.4f}"
                          + (" (best so far)" if scores["best"] else ""))
                with writer.as_default(step=step):
                    tf.summary.scalar("fid", scores["fid"])
                    tf.summary.scalar("kid", scores["kid"])
    except KeyboardInterrupt:
        bar.close()
        step = int(gan.step.numpy())  # the Python counter may lag the step the graph finished
        if gan.weights_finite():
            manager.save(checkpoint_number=step)
        raise Interrupted(f"interrupted at step {step}; checkpoint saved in {run_dir}; "
                          "re-run the same command to resume") from None
    finally:
        bar.close()
        writer.flush()
    return TrainResult(run_dir, step, start, metrics, rate)


def _save(gan: DCGAN, manager: tf.train.CheckpointManager, step: int, run_dir: Path, last_good: int | None) -> int:
    # Never let a diverged model replace a good checkpoint.
    if not gan.weights_finite():
        where = f"step {last_good}" if last_good is not None else "none yet"
        raise FacegenError(f"training diverged: weights became NaN/Inf by step {step}; "
                           f"the last good checkpoint ({where}) in {run_dir} is kept")
    manager.save(checkpoint_number=step)
    return step


def _write_samples(gan: DCGAN, sample_z: np.ndarray, run_dir: Path, step: int, writer) -> None:
    images = float_to_uint8(gan.ema_generator(sample_z, training=False).numpy())
    # Identity mode: rows are identities, columns observations of the same person.
    save_png(run_dir / "samples" / f"step_{step:07d}.png", grid(images, 8))
    with writer.as_default(step=step):
        tf.summary.image("samples", images[:16], max_outputs=16)


class InTrainingEval:
    """FID/KID of the EMA generator every eval_every steps against a fixed real subset; keeps the best
    checkpoint by FID in RUN/best/ (with best.json) beside the latest ones."""

    def __init__(self, run_dir: Path, data: TrainingData, t) -> None:
        from facegen.fid import FeatureExtractor, real_features
        from facegen.metrics import gaussian_stats

        self.run_dir, self.n, self.seed = run_dir, t.eval_n, t.seed
        self.extract = FeatureExtractor()
        images = data.images if data.images is not None else _decode_subset(data)
        pick = np.sort(np.random.default_rng(t.seed).permutation(len(images))[:EVAL_REAL_IMAGES])
        # Cached in the run folder (written atomically), so a resumed run compares against the same set.
        real = real_features(images[pick], "eval", run_dir, self.extract)
        self.real, self.stats = real, gaussian_stats(real)
        best = run_dir / BEST_DIR / "best.json"
        self.best_fid = read_json(best)["fid"] if best.exists() else float("inf")

    def __call__(self, gan: DCGAN, step: int) -> dict:
        from facegen.fid import fid_kid

        z = latents_for_seed(self.seed + 77, self.n, gan.model_cfg.latent_dim)
        fake = np.concatenate([float_to_uint8(gan.ema_generator(z[i:i + 250], training=False).numpy())
                               for i in range(0, self.n, 250)])
        scores = fid_kid(self.extract(fake), self.stats, self.real, kid_subsets=20)
        scores["best"] = scores["fid"] < self.best_fid
        if scores["best"]:
            self.best_fid = scores["fid"]
            best_dir = self.run_dir / BEST_DIR
            tf.train.CheckpointManager(gan.checkpoint, str(best_dir), max_to_keep=1).save(checkpoint_number=step)
            write_json_atomic(best_dir / "best.json", {"step": step, "fid": scores["fid"], "kid": scores["kid"],
                                                       "n": self.n})
        return scores


def _decode_subset(data: TrainingData) -> np.ndarray:
    from facegen.data import decode_all

    paths = data.paths[:EVAL_REAL_IMAGES]
    return decode_all(paths, data.cfg.resolution, data.crop, data.cfg.decode_workers, progress=False)[0]
