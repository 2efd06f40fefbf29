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

from facegen import hardware
from facegen.atomic import write_json
from facegen.config import FacegenError, Interrupted, RunConfig, read_json
from facegen.data import TrainingData, discover, pair_dataset
from facegen.distribute import distribute_global_batches, is_chief, make_strategy
from facegen.images import float_to_uint8, grid, save_png
from facegen.models.generator import identity_sheet_latents, latents_for_seed, prior_latents
from facegen.models.identity_space import IDENTITY_SPACE_FILE, IdentitySpace, offsets
from facegen.run import BEST_DIR, LOGS_DIR, SAMPLES_DIR, checkpoint_manager, resolve_config, restore, write_run_config
from facegen.training.gan import DCGAN

log = logging.getLogger("facegen")

SAMPLE_SEED = 1234  # the fixed latent batch every sample grid of a run shows
SAMPLE_COUNT = 64
EVAL_REAL_IMAGES = 2000  # real images behind the in-training FID reference statistics


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    step: int
    resumed_from: int
    metrics: dict[str, float]
    images_per_second: float


def train(run_dir: str | Path, cfg: RunConfig, progress: bool = True) -> TrainResult:
    """Train (or resume) the run in `run_dir` up to the configured number of steps."""
    run_dir = Path(run_dir)
    cfg = resolve_precision(resolve_config(run_dir, cfg))
    t = cfg.train
    if t.deterministic:
        tf.config.experimental.enable_op_determinism()
    # Before any other TensorFlow work: multi-worker collectives are configured at start-up.
    strategy = make_strategy(t.strategy)
    chief = is_chief(strategy)

    # Data first: a bad --data fails before the run folder is created.
    data = load_training_data(cfg, progress)
    total_steps = t.epochs * data.steps_per_epoch(t.batch_size) if t.epochs else t.steps
    (run_dir / SAMPLES_DIR).mkdir(parents=True, exist_ok=True)
    if chief:
        write_run_config(run_dir, cfg)

    gan = DCGAN(cfg.model, t, strategy)
    # Every worker takes part in saving (variables may need collectives); only the chief's copy is kept.
    manager = checkpoint_manager(gan.checkpoint, run_dir if chief else Path(tempfile.mkdtemp()), t.keep_checkpoints)
    # Every worker resumes from the chief's newest readable checkpoint.
    latest = restore(gan.checkpoint, run_dir)
    start = int(gan.step.numpy())
    if start >= total_steps:
        return TrainResult(run_dir, start, start, {}, 0.0)
    if latest and chief:
        log.info("resuming %s at step %d of %d", run_dir, start, total_steps)

    space = conditions = None
    if cfg.model.conditioned:
        conditions, space = condition_on(run_dir, data, gan, chief)
        gan.draw_from(space)
    stream = (pair_dataset(data, t.batch_size, t.seed, start_step=start, conditions=conditions)
              if cfg.model.identity_dim else data.dataset(t.batch_size, t.seed, start_step=start))
    loop = _Loop(run_dir, cfg, gan, manager, chief, total_steps, start, latest is not None, progress,
                 InTrainingEval(run_dir, data, t, space) if t.eval_every and chief else None, space)
    return loop.run(iter(distribute_global_batches(strategy, stream, t.batch_size)))


def condition_on(run_dir: Path, data: TrainingData, gan: DCGAN, write: bool = True):
    """Embedding mode: each training image's unit embedding by the run's (frozen) embedder, which G renders its
    pair from, and the identity space new people are drawn from (fitted to the training identities' means,
    with the embedder's calibrated limits), stored in the run as identity_space.npz."""
    from facegen.training.embedder import identity_means

    embedder = gan.identity_embedder
    limits = embedder.report.get("limits")
    if not limits:
        raise FacegenError(f"--mode embedding needs an embedder with calibrated limits (held-out identities); "
                           f"{embedder.folder} has none (it was trained with held_out_every 0)")
    if embedder.config.embedding_dim != gan.model_cfg.identity_dim:
        raise FacegenError(f"{embedder.folder} embeds in {embedder.config.embedding_dim} dimensions but the model's "
                           f"identity part has {gan.model_cfg.identity_dim}")
    conditions = embedder.embed(data.images)
    path = run_dir / IDENTITY_SPACE_FILE
    if path.exists():  # a resumed run keeps the space its exports may already have drawn from
        return conditions, IdentitySpace.load(path)
    ids = data.identities
    known = ids >= 0
    means = identity_means(conditions[known], ids[known])
    space = IdentitySpace.fit(means, limits["separation"], limits["leakage"],
                              offsets(conditions[known], ids[known], means))
    if write:
        space.save(path)
    return conditions, space


def init_run(run_dir: str | Path, cfg: RunConfig) -> Path:
    """A run folder holding the untrained (step 0) model: the baseline that benches and tests compare a
    trained run against, written exactly as a training run is."""
    run_dir = Path(run_dir)
    cfg = resolve_precision(resolve_config(run_dir, cfg))
    write_run_config(run_dir, cfg)
    gan = DCGAN(cfg.model, cfg.train)
    checkpoint_manager(gan.checkpoint, run_dir, 1).save(checkpoint_number=0)
    return run_dir


def resolve_precision(cfg: RunConfig) -> RunConfig:
    """A new run's `--mixed-precision auto` as the concrete policy it records (facegen.hardware)."""
    precision = hardware.resolve(cfg.train.mixed_precision, "train")
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, mixed_precision=precision))


def load_training_data(cfg: RunConfig, progress: bool) -> TrainingData:
    """The decoded training images; identity mode checks there are identities to pair."""
    data = TrainingData(discover(cfg.data.path, cfg.data.partition), cfg.data, progress=progress)
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
    if len(data) < cfg.train.batch_size:
        raise FacegenError(f"--batch-size {cfg.train.batch_size} is larger than the {len(data)} usable images in "
                           f"{cfg.data.path}")
    return data


class _Loop:
    """The step loop and what happens on its cadences: logging and the NaN check, sample grids,
    checkpoints, in-training FID; Ctrl-C saves a checkpoint first."""

    def __init__(self, run_dir: Path, cfg: RunConfig, gan: DCGAN, manager, chief: bool, total_steps: int,
                 start: int, resumed: bool, progress: bool, evaluator: "InTrainingEval | None",
                 space: IdentitySpace | None = None) -> None:
        self.run_dir, self.t, self.gan, self.manager, self.chief = run_dir, cfg.train, gan, manager, chief
        self.total_steps, self.start, self.evaluator = total_steps, start, evaluator
        self.last_good = start if resumed else None
        self.writer = tf.summary.create_file_writer(str(run_dir / LOGS_DIR))
        self.sample_z = (identity_sheet_latents(SAMPLE_SEED, 8, 8, cfg.model, space) if cfg.model.identity_dim
                         else latents_for_seed(SAMPLE_SEED, SAMPLE_COUNT, cfg.model.latent_dim))
        self.bar = tqdm(total=total_steps, initial=start, desc="training", unit="step",
                        disable=not (progress and chief), dynamic_ncols=True)
        self.metrics: dict[str, float] = {}
        self.rate = 0.0

    def run(self, batches) -> TrainResult:
        t, step = self.t, self.start
        self.window_start, self.window_steps = time.perf_counter(), 0
        try:
            while step < self.total_steps:
                out = self.gan.train_step(next(batches))
                step += 1
                self.window_steps += 1
                self.bar.update(1)
                last = step == self.total_steps
                if step % t.log_every == 0 or last:
                    self._log(step, out)
                if self.chief and (step % t.sample_every == 0 or last):
                    _write_samples(self.gan, self.sample_z, self.run_dir, step, self.writer)
                if step % t.checkpoint_every == 0 or last:
                    self.last_good = _save(self.gan, self.manager, step, self.run_dir, self.last_good)
                if self.evaluator and step % t.eval_every == 0:
                    self._evaluate(step)
        except KeyboardInterrupt:
            self.bar.close()
            step = int(self.gan.step.numpy())  # the Python counter may lag the step the graph finished
            if self.gan.weights_finite():
                self.manager.save(checkpoint_number=step)
            raise Interrupted(f"interrupted at step {step}; checkpoint saved in {self.run_dir}; "
                              "re-run the same command to resume") from None
        finally:
            self.bar.close()
            self.writer.flush()
        return TrainResult(self.run_dir, step, self.start, self.metrics, self.rate)

    def _log(self, step: int, out: dict) -> None:
        self.metrics = {k: float(v) for k, v in out.items()}
        if not all(np.isfinite(list(self.metrics.values()))):
            where = f"step {self.last_good}" if self.last_good is not None else "none yet"
            raise FacegenError(f"training diverged: a loss became NaN/Inf at step {step}; "
                               f"the last good checkpoint ({where}) in {self.run_dir} is kept")
        now = time.perf_counter()
        self.rate = self.window_steps * self.t.batch_size / (now - self.window_start)
        self.window_start, self.window_steps = now, 0
        extra = {"id_cos": f"{self.metrics['id_cosine']:.2f}"} if "id_cosine" in self.metrics else {}
        self.bar.set_postfix(d_loss=f"{self.metrics['d_loss']:.3f}", g_loss=f"{self.metrics['g_loss']:.3f}",
                             **extra, img_s=f"{self.rate:.0f}")
        with self.writer.as_default(step=step):
            for k, v in self.metrics.items():
                tf.summary.scalar(k, v)
            tf.summary.scalar("images_per_second", self.rate)

    def _evaluate(self, step: int) -> None:
        scores = self.evaluator(self.gan, step)
        self.bar.write(f"step {step}: FID {scores['fid']:.2f}, KID {scores['kid']:.4f}"
                       + (" (best so far)" if scores["best"] else ""))
        with self.writer.as_default(step=step):
            tf.summary.scalar("fid", scores["fid"])
            tf.summary.scalar("kid", scores["kid"])


def _save(gan: DCGAN, manager, step: int, run_dir: Path, last_good: int | None) -> int:
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
    save_png(run_dir / SAMPLES_DIR / f"step_{step:07d}.png", grid(images, 8))
    with writer.as_default(step=step):
        tf.summary.image("samples", images[:16], max_outputs=16)


class InTrainingEval:
    """FID/KID of the EMA generator every eval_every steps against a fixed real subset; keeps the best
    checkpoint by FID in RUN/best/ (with best.json) beside the latest ones."""

    def __init__(self, run_dir: Path, data: TrainingData, t, space: IdentitySpace | None = None) -> None:
        from facegen.metrics.distances import gaussian_stats
        from facegen.metrics.fid import FeatureExtractor, real_features

        self.run_dir, self.n, self.seed, self.space = run_dir, t.eval_n, t.seed, space
        self.extract = FeatureExtractor()
        images = data.images if data.images is not None else _decode_subset(data)
        pick = np.sort(np.random.default_rng(t.seed).permutation(len(images))[:EVAL_REAL_IMAGES])
        # Cached in the run folder (written atomically), so a resumed run compares against the same set.
        real = real_features(images[pick], "eval", run_dir, self.extract)
        self.real, self.stats = real, gaussian_stats(real)
        best = run_dir / BEST_DIR / "best.json"
        self.best_fid = read_json(best)["fid"] if best.exists() else float("inf")

    def __call__(self, gan: DCGAN, step: int) -> dict:
        from facegen.metrics.fid import fid_kid

        z = prior_latents(self.seed + 77, self.n, gan.model_cfg, self.space)
        fake = np.concatenate([float_to_uint8(gan.ema_generator(z[i:i + 250], training=False).numpy())
                               for i in range(0, self.n, 250)])
        scores = fid_kid(self.extract(fake), self.stats, self.real, kid_subsets=20)
        scores["best"] = scores["fid"] < self.best_fid
        if scores["best"]:
            self.best_fid = scores["fid"]
            best_dir = self.run_dir / BEST_DIR
            checkpoint_manager(gan.checkpoint, self.run_dir, 1, BEST_DIR).save(checkpoint_number=step)
            write_json(best_dir / "best.json", {"step": step, "fid": scores["fid"], "kid": scores["kid"],
                                                       "n": self.n})
        return scores


def _decode_subset(data: TrainingData) -> np.ndarray:
    from facegen.data import decode_all

    paths = data.paths[:EVAL_REAL_IMAGES]
    return decode_all(paths, data.cfg.resolution, data.crop, data.cfg.decode_workers, progress=False)[0]
