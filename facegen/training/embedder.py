"""Training the identity embedder: the identity split (held-out identities never train), the resumable CosFace
loop, the held-out verification report with the export's calibrated limits, and the training identities'
mean embeddings (for the export's leakage check)."""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from facegen import plots
from facegen.atomic import replacing, write_json
from facegen.config import DataConfig, EmbedderConfig, FacegenError, read_json
from facegen.data import TrainingData, discover
from facegen.data.sources import ImageSource, split_identities
from facegen.export.capacity import spread
from facegen.metrics.verification import best_accuracy, roc_auc, threshold_at_far, verification_pairs
from facegen.models.dcgan import POLICIES
from facegen.models.embedder import (EMBEDDER_KIND, IDENTITIES, REFERENCE_IMAGES, REPORT, CosFace, Embedder,
                                     build_backbone)
from facegen.results import EmbedderReport
from facegen.run import write_config
from facegen.training.supervised import check_resume, fit, flipped, shared_batch_rows

log = logging.getLogger("facegen")
FAR = 1e-3  # the false-accept rate the export's limits are set at
REPORT_PAIRS = 6000
GENUINE_KEPT = 0.9  # the consistency limit never rejects more than 10% of real held-out images
GENUINE_QUANTILES = (0.01, 0.02, 0.05, 0.1)
NOVEL_FLAGGED = 0.01  # the leakage limit flags at most 1% of held-out (novel) people as training people


def train_embedder(folder: str | Path, cfg: EmbedderConfig, progress: bool = True) -> EmbedderReport:
    """Train (or resume) the embedder in `folder` to cfg.steps, then write its report and identity means."""
    folder = Path(folder)
    cfg = check_resume(folder, cfg, EMBEDDER_KIND, "embedder")
    train_src, held_src = _split(discover(cfg.data, "all"), cfg.held_out_every)
    data_cfg = DataConfig(path=cfg.data, resolution=cfg.resolution)
    data = TrainingData(train_src, data_cfg, progress)
    ids = data.identities
    classes, labels = np.unique(ids, return_inverse=True)
    labels = labels.astype(np.int32)
    write_config(folder, dataclasses.asdict(cfg), EMBEDDER_KIND)

    backbone = build_backbone(cfg, dtype=POLICIES[cfg.mixed_precision])
    head = CosFace(len(classes), cfg.margin, cfg.scale, seed=cfg.seed + 1)
    head.build((None, cfg.embedding_dim))
    schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, cfg.steps, alpha=0.01)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay)
    variables = backbone.trainable_variables + head.trainable_variables
    optimizer.build(variables)
    step = tf.Variable(0, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(backbone=backbone, head=head, optimizer=optimizer, step=step)

    @tf.function(reduce_retracing=True)
    def train_step(images, y, flip):
        with tf.GradientTape() as tape:
            logits = head(backbone(flipped(images, flip), training=True), y)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        step.assign_add(1)
        hit = tf.reduce_mean(tf.cast(tf.argmax(logits, 1) == tf.cast(y, tf.int64), tf.float32))
        return loss, hit

    batches = _shared_batches(cfg, train_src) if cfg.real_share else None
    ran = fit(folder, checkpoint, step, cfg.steps, cfg.checkpoint_every,
              lambda rows, flip: train_step(data.images[rows], labels[rows], flip), cfg.seed, len(data),
              cfg.batch_size, "training embedder", progress, batches)
    if not ran and (folder / REPORT).exists():  # finished: nothing to redo
        return EmbedderReport.from_record(folder, read_json(folder / REPORT))

    embedder = Embedder(cfg, backbone, folder, int(step.numpy()))
    means = identity_means(embedder.embed(data.images), ids)
    with replacing(folder / IDENTITIES) as tmp, open(tmp, "wb") as f:
        np.savez(f, identities=classes, means=means)
    report = {}
    if held_src is not None:
        held = TrainingData(held_src, data_cfg, progress=False)
        report = verification_report(embedder, held.images, held.identities, folder, cfg.seed, means)
    report.update(train_identities=int(len(classes)), train_images=int(len(data)), step=embedder.step)
    write_json(folder / REPORT, report)
    return EmbedderReport.from_record(folder, report)


def _split(source: ImageSource, every: int) -> tuple[ImageSource, ImageSource | None]:
    """(training, held-out) identities; with `every` 0 every identity trains and verification happens elsewhere
    (a benchmark arm's held-out pairs)."""
    if every:
        return split_identities(source, every)
    labelled = source.frame.dropna(subset=["identity"]).reset_index(drop=True)
    return ImageSource(source.root, source.layout, labelled), None


def _shared_batches(cfg: EmbedderConfig, source: ImageSource):
    """--real-share: each batch takes that share from the mix's real identities, the rest from its synthetic ones."""
    real = _real_rows(source)
    groups = [np.flatnonzero(real), np.flatnonzero(~real)]
    if not len(groups[0]) or not len(groups[1]):
        raise FacegenError(f"--real-share needs data with real and synthetic identities (a facegen mix); "
                           f"{cfg.data} has {'no real' if not len(groups[0]) else 'no synthetic'} ones")
    return functools.partial(shared_batch_rows, cfg.seed, groups, [cfg.real_share, 1 - cfg.real_share],
                             cfg.batch_size)


def _real_rows(source: ImageSource) -> np.ndarray:
    """Which images of a `facegen mix` folder are of real identities (its manifest's source column)."""
    manifest = Path(source.root) / "manifest.csv"
    if not manifest.exists():
        raise FacegenError(f"--real-share needs a facegen mix (with manifest.csv); {source.root} is not one")
    frame = pd.read_csv(manifest, dtype={"path": str, "source": str})
    real = {str(Path(source.root) / p) for p, src in zip(frame["path"], frame["source"]) if src == "real"}
    return np.array([str(Path(p)) in real for p in source.frame["path"]])


def identity_means(embeddings: np.ndarray, identities: np.ndarray) -> np.ndarray:
    """Unit mean embedding of each identity, in np.unique(identities) order."""
    classes, inverse = np.unique(identities, return_inverse=True)
    sums = np.zeros((len(classes), embeddings.shape[1]), np.float64)
    np.add.at(sums, inverse, embeddings)
    return (sums / np.linalg.norm(sums, axis=1, keepdims=True)).astype(np.float32)


def references(embeddings: np.ndarray, identities: np.ndarray, k: int, seed: int):
    """Per identity with more than k images: the unit mean of k of its images (its reference, as the export
    defines one) and the rest. Returns (reference [n_ids, d], ref identity [n_ids], rest rows, rest identity)."""
    rng = np.random.default_rng(seed)
    refs, ref_ids, rest = [], [], []
    for ident in np.unique(identities):
        rows = rng.permutation(np.flatnonzero(identities == ident))
        if len(rows) <= k:
            continue
        m = embeddings[rows[:k]].mean(0)
        refs.append(m / np.linalg.norm(m))
        ref_ids.append(ident)
        rest.extend(rows[k:])
    rest = np.array(rest, np.int64)
    return np.array(refs), np.array(ref_ids), rest, identities[rest]


REFERENCE_DRAWS = 20  # reference draws per held-out person behind the separation limit


def redrawn_cross(embeddings: np.ndarray, identities: np.ndarray, seed: int,
                  draws: int = REFERENCE_DRAWS) -> list[np.ndarray]:
    """[n, n] cosines between the held-out people's references of draw j and of draw j + 1 (each draw
    REFERENCE_IMAGES images of each person, people in `references` order), for j < `draws`: the separation limit's
    calibration pairs are their off-diagonal entries. Few held-out people give few pairs of people, but each pair
    seen through many draws resolves the FAR tail better than one draw (measured on 1,000 novel sample people:
    from 20 calibration people 0.58% of novel pairs exceed the limit against 0.84% from one draw, nominal 0.10%;
    from 100 people both are within 1.2x of nominal)."""
    refs = [references(embeddings, identities, REFERENCE_IMAGES, seed + j)[0] for j in range(draws)]
    return [refs[j] @ refs[(j + 1) % draws].T for j in range(draws)]


def different_people(cross: list[np.ndarray], ids: np.ndarray) -> np.ndarray:
    """The cosines of `cross` between references of different people (`ids`: each row's person)."""
    apart = ids[:, None] != ids[None, :]
    return np.concatenate([c[apart] for c in cross])


LIMIT_BOOTSTRAP = 200  # resamplings of the held-out people behind each limit's interval


def export_limits(genuine: np.ndarray, impostor: np.ndarray, distinct: np.ndarray, nearest_train: np.ndarray) -> dict:
    """The export's three limits from held-out people's cosines (see verification_report); NaN where a resampling
    of them leaves nothing to calibrate one on."""
    nan = float("nan")
    return {"consistency": min(threshold_at_far(impostor, FAR), float(np.quantile(genuine, 1.0 - GENUINE_KEPT)))
            if len(impostor) and len(genuine) else nan,
            "separation": threshold_at_far(distinct, FAR) if len(distinct) else nan,
            "leakage": float(np.quantile(nearest_train, 1.0 - NOVEL_FLAGGED, method="higher"))}


def limit_intervals(to_ref: np.ndarray, rest_ids: np.ndarray, cross: list[np.ndarray], ref_ids: np.ndarray,
                    nearest_train: np.ndarray, seed: int, rounds: int = LIMIT_BOOTSTRAP) -> dict:
    """95% intervals of the three limits over the held-out people drawn with replacement (a person drawn twice is
    still one person: pairs of their copies count as the same person). How far a limit could move with other
    held-out people of the same kind: wide when few were held out."""
    rng = np.random.default_rng(seed)
    rows_of = [np.flatnonzero(rest_ids == i) for i in ref_ids]
    n = len(ref_ids)
    drawn: dict[str, list[float]] = {"consistency": [], "separation": [], "leakage": []}
    for _ in range(rounds):
        pick = rng.integers(0, n, n)
        ids = ref_ids[pick]
        rows = np.concatenate([rows_of[j] for j in pick])
        block = to_ref[np.ix_(rows, pick)]
        same = rest_ids[rows][:, None] == ids[None, :]
        limits = export_limits(block[same], block[~same], different_people([c[np.ix_(pick, pick)] for c in cross], ids),
                               nearest_train[pick])
        for name, value in limits.items():
            if np.isfinite(value):
                drawn[name].append(value)
    return {name: [round(float(np.quantile(v, 0.025)), 4), round(float(np.quantile(v, 0.975)), 4)]
            for name, v in drawn.items() if v}


def separation_out_of_sample(refs: np.ndarray, far: float) -> dict:
    """How often the separation limit is exceeded by people it was not calibrated on: the held-out identities'
    references split in two halves (alternate identities); the limit calibrated on one half's different-person
    pairs, its exceedance counted on the other half's, both ways. With few held-out people the FAR quantile is
    about the largest of a few hundred pairs, and this rate says how much more often than `far` novel people then
    pass for one: the figure a judge's verdict quotes beside it."""
    halves = refs[0::2], refs[1::2]
    exceeded = pairs = 0
    for calibrate, test in (halves, halves[::-1]):
        if len(calibrate) < 2 or len(test) < 2:
            return {"rate": None, "pairs": 0, "far": far}
        limit = threshold_at_far((calibrate @ calibrate.T)[np.triu_indices(len(calibrate), 1)], far)
        other = (test @ test.T)[np.triu_indices(len(test), 1)]
        exceeded += int((other > limit).sum())
        pairs += len(other)
    return {"rate": exceeded / pairs, "pairs": pairs, "far": far}


def verification_report(embedder: Embedder, images: np.ndarray, identities: np.ndarray, folder: Path,
                        seed: int, train_means: np.ndarray) -> dict:
    """Held-out verification (image pairs) and the export's limits, calibrated on held-out references:

    - consistency: an image of an identity below this similarity to the identity's reference is closer to it
      than only FAR of other people's images are, i.e. as likely someone else as a real impostor; capped at
      the similarity GENUINE_KEPT of real images of their own reference reach (a weak embedder would
      otherwise ask of generated faces what real ones fail);
    - separation: two references above this are more alike than all but FAR of pairs of different real
      people's references: likely one person;
    - leakage: a reference whose nearest training identity's mean is above this is closer to a training person
      than all but NOVEL_FLAGGED of the held-out (truly novel) people's references are.
    """
    e = embedder.embed(images)
    pairs, same = verification_pairs(identities, REPORT_PAIRS, seed)
    scores = np.sum(e[pairs[:, 0]] * e[pairs[:, 1]], axis=1)
    accuracy, best_t = best_accuracy(scores, same)
    refs, ref_ids, rest, rest_ids = references(e, identities, REFERENCE_IMAGES, seed)
    to_ref = e[rest] @ refs.T  # every remaining image against every reference
    genuine = to_ref[rest_ids[:, None] == ref_ids[None, :]]
    impostor = to_ref[rest_ids[:, None] != ref_ids[None, :]]
    cross = redrawn_cross(e, identities, seed)
    distinct = different_people(cross, ref_ids)
    nearest_train = (refs @ train_means.T).max(axis=1)
    limits = export_limits(genuine, impostor, distinct, nearest_train)
    report = {"held_out_identities": int(len(np.unique(identities))), "held_out_images": int(len(images)),
              "pairs": int(len(pairs)), "verification_accuracy": accuracy, "roc_auc": roc_auc(scores, same),
              "best_threshold": best_t, "far": FAR, "threshold_at_far": threshold_at_far(scores[same == 0], FAR),
              "reference_images": REFERENCE_IMAGES, "limits": limits,
              "separation_out_of_sample": separation_out_of_sample(refs, FAR),
              "limit_intervals": limit_intervals(to_ref, rest_ids, cross, ref_ids, nearest_train, seed),
              # Held-out real people's spread under the separation rule: the yardstick for a generator's.
              "held_out_spread": spread(refs, limits["separation"]),
              "genuine_to_reference_below_consistency": float(np.mean(genuine < limits["consistency"])),
              # What held-out photos reach to their own reference (1% of them below the first): a stricter
              # --min-consistency in real photos' terms, for exports drawn wider than G was trained on.
              "genuine_to_reference_quantiles": {f"{q:g}": float(np.quantile(genuine, q)) for q in GENUINE_QUANTILES}}
    plots.save(plots.side_by_side([
        plots.histogram({"same person": scores[same == 1], "different": scores[same == 0]},
                        "held-out image pairs: cosine similarity", "cosine",
                        marks={f"FAR {FAR:g}": report["threshold_at_far"], "best": best_t}),
        plots.histogram({"own reference": genuine, "other references": impostor},
                        f"image vs identity reference ({REFERENCE_IMAGES} images)", "cosine",
                        marks={"consistency limit": limits["consistency"]}),
        plots.histogram({"different people": distinct, "nearest training person": nearest_train},
                        "reference vs reference / training mean", "cosine",
                        marks={"separation": limits["separation"], "leakage": limits["leakage"]})]),
        folder / "verification.png")
    return report


def calibrate_recognizer(model: str | Path, data: str | Path, folder: str | Path, resolution: int = 64,
                         held_out_every: int = 2, seed: int = 0,
                         progress: bool = True) -> EmbedderReport:
    """An ONNX recognizer made an embedder folder (facegen.models.onnx_embedder): its graph read, the file copied
    in, its limits calibrated on --data's held-out identities exactly as a trained embedder's are
    (verification_report), the other identities standing in for the people it knows. Identity folders hold every
    other identity out (it trained on none of them: the more calibration pairs the better); CelebA's val and test
    partitions are held out as everywhere."""
    import shutil

    from facegen.models.onnx_embedder import MODEL_FILE, OnnxEmbedder, read_graph
    from facegen.run import ONNX_EMBEDDER_KIND

    folder = Path(folder)
    cfg = dataclasses.replace(read_graph(model), data=str(Path(data).resolve()), resolution=resolution,
                              held_out_every=held_out_every, seed=seed)
    known_src, held_src = split_identities(discover(data, "all"), held_out_every)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / REPORT).unlink(missing_ok=True)  # a stale report would mark an unfinished calibration done
    with replacing(folder / MODEL_FILE) as tmp:
        shutil.copyfile(model, tmp)
    write_config(folder, dataclasses.asdict(cfg), ONNX_EMBEDDER_KIND)
    embedder = OnnxEmbedder.from_folder(folder)
    data_cfg = DataConfig(path=str(data), resolution=resolution)
    known = TrainingData(known_src, data_cfg, progress)
    means = identity_means(embedder.embed(known.images), known.identities)
    with replacing(folder / IDENTITIES) as tmp, open(tmp, "wb") as f:
        np.savez(f, identities=np.unique(known.identities), means=means)
    held = TrainingData(held_src, data_cfg, progress=False)
    report = verification_report(embedder, held.images, held.identities, folder, seed, means)
    report.update(train_identities=0, known_identities=int(len(means)), train_images=0, step=0)
    write_json(folder / REPORT, report)
    return EmbedderReport.from_record(folder, report)
