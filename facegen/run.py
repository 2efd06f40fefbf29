"""The facegen model folder (a training run today; the embedder and classifier use the same shape): its
config.json with version and kind, its checkpoints, and how it is written, found, validated and restored.

    RUN/config.json      {"facegen_version", "kind", ...the frozen config...}
    RUN/checkpoints/     TensorFlow checkpoints, newest listed last in their `checkpoint` state file
    RUN/best/            (training with --eval-every) the best checkpoint by FID, and best.json
    RUN/realism/         D's logits on the checkpoint's reference images (export --realism/--min-realism)
    RUN/samples/, logs/  sample grids and TensorBoard summaries (runs only)
    RUN/embedder/        the identity embedder `facegen train` trains first: the identity loss, export verification
    RUN/attributes/      the attribute classifier (data with attribute labels): the export's attribute columns
    RUN/judge/           a second embedder (another seed) that only judges exports (`evaluate`, export's summary)
    RUN/capacity.json    the model's identity capacity with RUN/embedder (facegen.export.capacity)
    RUN/people/          the GAN's training people's means by each embedder that checked leakage (training.people)

Reading the config needs no TensorFlow, so a wrong --checkpoint is reported before TensorFlow starts;
functions that touch checkpoints import it when called.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import facegen
from facegen.atomic import write_json
from facegen.config import FacegenError, RunConfig, read_json

log = logging.getLogger("facegen")

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
BEST_DIR = "best"
SAMPLES_DIR = "samples"
REALISM_DIR = "realism"  # per-checkpoint realism calibration (facegen.export.realism)
LOGS_DIR = "logs"
EMBEDDER_DIR, ATTRIBUTES_DIR, JUDGE_DIR = "embedder", "attributes", "judge"  # `facegen train`'s other stages
# The folders that verify and judge exports: a trained embedder, or an ONNX recognizer calibrated as one.
ONNX_EMBEDDER_KIND = "onnx-embedder"
EMBEDDER_KINDS = ("embedder", ONNX_EMBEDDER_KIND)
CAPACITY_FILE = "capacity.json"
STAGE_REPORT = "report.json"  # an embedder's or classifier's report: written last, so it marks the stage done
RUN_KIND = "dcgan"  # config.json "kind" of a training run; runs written before kinds existed have none

# Fields that may change between invocations on the same run folder; all others define the run.
MUTABLE_FIELDS = {
    "train": ("steps", "epochs", "checkpoint_every", "keep_checkpoints", "sample_every", "log_every",
              "eval_every", "eval_n", "strategy", "xla"),
    "data": ("path", "cache", "decode_workers"),
}


def write_config(folder: Path, config: dict[str, Any], kind: str) -> None:
    """config.json, atomically, stamped with the facegen version and the folder's kind."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / CONFIG_FILE, {"facegen_version": facegen.__version__, "kind": kind, **config})


def folder_kind(folder: Path, what: str) -> str:
    """The kind a model folder's config.json names; a one-line error for a folder that is none."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise FacegenError(f"{folder} is not a facegen {what} folder (no {CONFIG_FILE})")
    return read_json(path).get("kind", RUN_KIND)


def read_folder_config(folder: Path, kind: str | tuple[str, ...], what: str) -> dict[str, Any]:
    """The stored config of a model folder of `kind` (or one of several), without the stamp; a one-line error
    otherwise."""
    found = folder_kind(folder, what)
    raw = read_json(Path(folder) / CONFIG_FILE)
    raw.pop("kind", None)
    raw.pop("facegen_version", None)
    if found not in ((kind,) if isinstance(kind, str) else kind):
        article = "an" if what[0] in "aeiou" else "a"
        raise FacegenError(f"{folder} holds a facegen {found} folder, not {article} {what}")
    return raw


def write_run_config(run_dir: Path, cfg: RunConfig) -> None:
    write_config(run_dir, cfg.to_dict(), RUN_KIND)


def read_run_config(run_dir: str | Path) -> RunConfig:
    """The run's config; a one-line error for a folder that is not a run or a config that does not load."""
    raw = read_folder_config(Path(run_dir), RUN_KIND, "run")
    try:
        return RunConfig.from_dict(raw)
    except (KeyError, TypeError) as e:
        raise FacegenError(f"{Path(run_dir) / CONFIG_FILE} does not describe a run this facegen "
                           f"{facegen.__version__} reads ({e})") from None


def resolve_config(run_dir: Path, requested: RunConfig) -> RunConfig:
    """The config to train with: the requested one, after checking that an existing run in `run_dir` was
    trained with the same settings in everything but its schedule (steps, cadences, data location).
    `--mixed-precision auto` on an existing run means the policy it trains with; on a new run it stays
    auto here (training.loop resolves it from the hardware, facegen.hardware)."""
    if not (run_dir / CONFIG_FILE).exists():
        return requested
    stored = read_run_config(run_dir)
    if requested.train.mixed_precision == "auto":
        requested = dataclasses.replace(requested, train=dataclasses.replace(
            requested.train, mixed_precision=stored.train.mixed_precision))
    for section in ("model", "data", "train"):
        a, b = getattr(stored, section), getattr(requested, section)
        for f in dataclasses.fields(a):
            if f.name not in MUTABLE_FIELDS.get(section, ()) and getattr(a, f.name) != getattr(b, f.name):
                raise FacegenError(
                    f"{run_dir} was trained with {section}.{f.name}={getattr(a, f.name)!r}, not "
                    f"{getattr(b, f.name)!r}; use the run's settings to resume or a new --out for a new run")
    return requested


@dataclass(frozen=True)
class RunParts:
    """The finished models a run folder holds besides its GAN (None where absent): what `export` and `evaluate`
    use by default."""

    embedder: Path | None  # filters exports (RUN/embedder, or the embedder a run's identity loss named)
    attributes: Path | None
    judge: Path | None


def run_parts(run_dir: str | Path) -> RunParts:
    """What the run folder holds: a stage counts once its report is written. A run trained before `train` ran
    stages may name its identity-loss embedder in its config: that embedder verifies its exports too."""
    run_dir = Path(run_dir)

    def done(folder: Path) -> Path | None:
        return folder.resolve() if (folder / STAGE_REPORT).is_file() else None

    embedder = done(run_dir / EMBEDDER_DIR)
    if embedder is None and (run_dir / CONFIG_FILE).is_file():
        named = read_json(run_dir / CONFIG_FILE).get("train", {}).get("identity_embedder")
        embedder = done(Path(named)) if named else None
    return RunParts(embedder, done(run_dir / ATTRIBUTES_DIR), done(run_dir / JUDGE_DIR))


def checkpoint_paths(folder: Path, sub: str = CHECKPOINT_DIR) -> list[str]:
    """The checkpoints the folder's state file lists, newest first."""
    import tensorflow as tf

    state = tf.train.get_checkpoint_state(str(Path(folder) / sub))
    return list(reversed(state.all_model_checkpoint_paths)) if state else []


def restore(checkpoint, folder: Path, path: str | None = None, partial: bool = False) -> str | None:
    """Restore a tf.train.Checkpoint from `path`, or from the folder's newest checkpoint that reads; returns
    the path used (None for a folder with no checkpoint). `partial` allows objects the checkpoint has but
    `checkpoint` does not (loading G alone from a training checkpoint).

    A checkpoint cut short (a copy interrupted, a disk that filled during a save) must not end a resumed run
    or an export with a traceback: a restore that fails to read falls back to the next older checkpoint,
    saying so. Every object is built before facegen restores, so a later restore overwrites whatever a
    failed one assigned; the files are read once, by the restore itself.
    """
    import tensorflow as tf

    paths = [path] if path else checkpoint_paths(folder)
    for k, candidate in enumerate(paths):
        try:
            status = checkpoint.restore(candidate)
        except (tf.errors.OpError, IndexError, ValueError, OSError):
            continue
        status.expect_partial() if partial else status.assert_existing_objects_matched()
        if k:
            log.warning("%s %s unreadable (cut short?); using %s", ", ".join(Path(p).name for p in paths[:k]),
                        "is" if k == 1 else "are", Path(candidate).name)
        return candidate
    if paths:
        raise FacegenError(f"no checkpoint in {Path(folder) / CHECKPOINT_DIR} reads (newest: {paths[0]}.data-*); "
                           "the files are damaged: restore them from a copy or train a new run")
    return None


def restore_trained(folder: Path, what: str, **objects) -> int:
    """Restore a trained model folder's newest checkpoint into `objects` (keys as saved); returns its step, or a
    one-line error naming the command that trains `what`."""
    import tensorflow as tf

    step = tf.Variable(0, dtype=tf.int64)
    if restore(tf.train.Checkpoint(step=step, **objects), folder, partial=True) is None:
        raise FacegenError(f"{folder} has no {what} checkpoint yet; run facegen {what} train first")
    return int(step.numpy())


def checkpoint_manager(checkpoint, folder: Path, keep: int, sub: str = CHECKPOINT_DIR):
    import tensorflow as tf

    return tf.train.CheckpointManager(checkpoint, str(Path(folder) / sub), max_to_keep=keep)
