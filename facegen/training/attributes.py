"""Training the attribute classifier: which attribute columns the data really has (columns that never vary are
dropped, and said so), the resumable sigmoid cross-entropy loop and the held-out accuracy report."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from facegen import plots
from facegen.atomic import write_json
from facegen.config import AttributeConfig, DataConfig, FacegenError, read_json
from facegen.data import TrainingData, discover
from facegen.data.sample import CELEBA_ATTRIBUTES
from facegen.data.sources import ImageSource
from facegen.models.attributes import ATTRIBUTES_KIND, REPORT, AttributeClassifier, build_classifier
from facegen.models.dcgan import POLICIES
from facegen.results import AttributeReport
from facegen.run import write_config
from facegen.training.supervised import check_resume, fit, flipped

log = logging.getLogger("facegen")


def attribute_split(source: ImageSource) -> tuple[ImageSource, ImageSource, list[str], list[str]]:
    """(training images, held-out images, attributes kept, attributes dropped as constant in training).
    CelebA's train partition trains; val+test are held out."""
    frame = source.frame
    present = [a for a in CELEBA_ATTRIBUTES if a in frame.columns]
    if not present:
        raise FacegenError(f"{source.root} has no attribute labels (CelebA's list_attr_celeba.txt)")
    if "partition" not in frame.columns:
        raise FacegenError(f"{source.root}: attribute training needs list_eval_partition.txt to hold images out")
    held = frame["partition"] > 0
    train = frame[~held]
    kept = [a for a in present if train[a].nunique() > 1]
    dropped = [a for a in present if a not in kept]
    return (ImageSource(source.root, source.layout, train.reset_index(drop=True)),
            ImageSource(source.root, source.layout, frame[held].reset_index(drop=True)), kept, dropped)


def train_attributes(folder: str | Path, cfg: AttributeConfig, progress: bool = True) -> AttributeReport:
    """Train (or resume) the classifier in `folder` to cfg.steps, then write its held-out report."""
    folder = Path(folder)
    cfg = check_resume(folder, cfg, ATTRIBUTES_KIND, "attribute classifier")
    train_src, held_src, names, dropped = attribute_split(discover(cfg.data, "all"))
    if dropped:
        log.info("attributes that never vary in the training images are dropped: %s", ", ".join(dropped))
    data_cfg = DataConfig(path=cfg.data, resolution=cfg.resolution)
    data = TrainingData(train_src, data_cfg, progress)
    targets = _targets(data, names)
    write_config(folder, {**dataclasses.asdict(cfg), "attributes": names, "dropped": dropped}, ATTRIBUTES_KIND)

    model = build_classifier(cfg, len(names), dtype=POLICIES[cfg.mixed_precision])
    schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, cfg.steps, alpha=0.01)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay)
    optimizer.build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64)
    # Dropout's random state is not a model weight: saved beside it, so a resumed run draws the masks an
    # uninterrupted one would.
    # (Keyed by position: Keras numbers layer names per process.)
    dropout = {f"layer_{i}": layer.seed_generator.state for i, layer in enumerate(model.layers)
               if hasattr(layer, "seed_generator")}
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step, dropout=dropout)

    @tf.function(reduce_retracing=True)
    def train_step(images, y, flip):
        with tf.GradientTape() as tape:
            logits = tf.cast(model(flipped(images, flip), training=True), tf.float32)
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(y, logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        step.assign_add(1)
        return loss, tf.reduce_mean(tf.cast((logits > 0) == (y > 0.5), tf.float32))

    ran = fit(folder, checkpoint, step, cfg.steps, cfg.checkpoint_every,
              lambda rows, flip: train_step(data.images[rows], targets[rows], flip), cfg.seed, len(data),
              cfg.batch_size, "training attributes", progress)
    if not ran and (folder / REPORT).exists():
        return AttributeReport.from_record(folder, read_json(folder / REPORT))
    classifier = AttributeClassifier(cfg, model, folder, int(step.numpy()), names=names)
    held = TrainingData(held_src, data_cfg, progress=False)
    report = accuracy_report(classifier, held.images, _targets(held, names), folder)
    report.update(dropped=dropped, train_images=len(data), step=classifier.step)
    write_json(folder / REPORT, report)
    return AttributeReport.from_record(folder, report)


def _targets(data: TrainingData, names: list[str]) -> np.ndarray:
    """0/1 float targets [n, attributes] aligned with data.paths (CelebA stores -1/1)."""
    frame = data.source.frame.set_index("path").loc[data.paths, names]
    return (frame.to_numpy(dtype=np.float32) > 0).astype(np.float32)


def accuracy_report(classifier: AttributeClassifier, images: np.ndarray, targets: np.ndarray, folder: Path) -> dict:
    """Held-out accuracy per attribute beside the majority-class baseline (what always guessing the more
    common value scores), and a bar chart of both."""
    predicted = classifier.probabilities(images) > 0.5
    accuracy = (predicted == (targets > 0.5)).mean(axis=0)
    share = targets.mean(axis=0)
    baseline = np.maximum(share, 1 - share)
    per = {name: {"accuracy": float(accuracy[i]), "majority_baseline": float(baseline[i]),
                  "positive_share": float(share[i])} for i, name in enumerate(classifier.names)}
    plots.save(plots.bar_chart(classifier.names, {"held-out accuracy": list(accuracy),
                                                  "majority baseline": list(baseline)},
                               "attribute classifier on held-out images"), folder / "accuracy.png")
    return {"held_out_images": int(len(images)), "attributes": per,
            "mean_accuracy": float(accuracy.mean()), "min_accuracy": float(accuracy.min())}
