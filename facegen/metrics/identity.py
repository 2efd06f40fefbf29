"""Identity measures of an exported dataset: embedding separation (optional dlib face embedder) and, on the
CelebA-shaped sample data, an exact check with a classifier trained on the drawing's true identities."""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("facegen")
DLIB_HINT = "identity separation skipped: pip install dlib-bin face-recognition-models (128-d face embedder)"


def embedding_separation(embeddings: np.ndarray, labels: np.ndarray) -> dict:
    """Cosine similarities within and across identities, the share of identities whose images are closer
    (by mean similarity) to each other than to any other identity, and the equal error rate of
    same/different decisions over all pairs."""
    e = np.asarray(embeddings, np.float64)
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    labels = np.asarray(labels)
    sim = e @ e.T
    same = labels[:, None] == labels[None, :]
    upper = np.triu(np.ones_like(same, dtype=bool), 1)
    pos, neg = sim[same & upper], sim[~same & upper]
    ids = np.unique(labels)
    centroid_sim = np.array([[sim[np.ix_(labels == a, labels == b)].mean() for b in ids] for a in ids])
    own = np.array([sim[np.ix_(labels == a, labels == a)][~np.eye((labels == a).sum(), dtype=bool)].mean()
                    if (labels == a).sum() > 1 else np.nan for a in ids])
    others = np.where(np.eye(len(ids), dtype=bool), -np.inf, centroid_sim).max(axis=1)
    return {"intra_similarity": float(pos.mean()) if len(pos) else None,
            "inter_similarity": float(neg.mean()) if len(neg) else None,
            "separated_identities": float(np.nanmean(own > others)) if len(ids) > 1 else None,
            "eer": equal_error_rate(pos, neg) if len(pos) and len(neg) else None}


def equal_error_rate(positive: np.ndarray, negative: np.ndarray) -> float:
    """The error rate where false accepts equal false rejects, over thresholds at every score."""
    thresholds = np.unique(np.concatenate([positive, negative]))
    pos, neg = np.sort(positive), np.sort(negative)
    frr = np.searchsorted(pos, thresholds, side="left") / len(pos)  # same pairs scored below threshold
    far = 1 - np.searchsorted(neg, thresholds, side="left") / len(neg)  # different pairs at/above it
    i = int(np.argmin(np.abs(far - frr)))
    return float((far[i] + frr[i]) / 2)


class DlibEmbedder:
    """dlib's 128-d ResNet face descriptor, the whole (aligned) image taken as the face box."""

    def __init__(self) -> None:
        import dlib

        spec = importlib.util.find_spec("face_recognition_models")
        models = Path(list(spec.submodule_search_locations)[0]) / "models"
        self.dlib = dlib
        self.shape = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self.net = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    @staticmethod
    def available() -> bool:
        return importlib.util.find_spec("dlib") is not None and importlib.util.find_spec("face_recognition_models") is not None

    def __call__(self, images: np.ndarray) -> np.ndarray:
        from PIL import Image

        out = []
        for img in images:
            big = np.asarray(Image.fromarray(img).resize((150, 150), Image.Resampling.BICUBIC))
            box = self.dlib.rectangle(0, 0, 149, 149)
            out.append(np.asarray(self.net.compute_face_descriptor(big, self.shape(big, box))))
        return np.stack(out)


@dataclass
class IdentityClassifier:
    """A small CNN trained on the sample data's true identities: the exact judge of who a face is."""

    model: object
    identities: np.ndarray  # class index -> the data set's identity id

    @classmethod
    def train(cls, images: np.ndarray, identities: np.ndarray, epochs: int = 15, seed: int = 0) -> "IdentityClassifier":
        import keras
        from keras import layers

        ids, y = np.unique(identities, return_inverse=True)
        keras.utils.set_random_seed(seed)
        r = images.shape[1]
        model = keras.Sequential([
            keras.Input((r, r, 3)), layers.Rescaling(1 / 127.5, -1),
            layers.Conv2D(32, 3, 2, activation="relu"), layers.Conv2D(64, 3, 2, activation="relu"),
            layers.Conv2D(128, 3, 2, activation="relu"), layers.GlobalAveragePooling2D(),
            layers.Dense(len(ids))])
        model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        model.fit(images, y, epochs=epochs, batch_size=64, verbose=0, shuffle=True)
        return cls(model, ids)

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self.identities[np.argmax(self.model.predict(images, batch_size=256, verbose=0), axis=1)]


def folder_consistency(predicted: np.ndarray, folders: np.ndarray) -> dict:
    """Per exported folder, the share of its images assigned to its majority true identity (consistency),
    and how many distinct majority identities the folders have (separation)."""
    predicted, folders = np.asarray(predicted), np.asarray(folders)
    shares, majorities = [], []
    for f in np.unique(folders):
        values, counts = np.unique(predicted[folders == f], return_counts=True)
        shares.append(counts.max() / counts.sum())
        majorities.append(values[np.argmax(counts)])
    return {"consistency": float(np.mean(shares)), "distinct_majorities": int(len(set(majorities))),
            "folders": int(len(shares))}


def within_identity_variety(images: np.ndarray, folders: np.ndarray) -> float | None:
    """How much an identity's images differ from each other: the root-mean-square pixel difference (0..1
    scale) between two images of one folder, averaged over folders with at least 2 images.

    The other side of consistency: a folder of one image repeated is perfectly consistent and useless for
    training a recognizer. Compare an export's value with the real data's (same function, true identities).
    Uses E|a - b|^2 = 2 * n / (n - 1) * variance over the folder's images, so it is linear in the images.
    """
    images, folders = np.asarray(images), np.asarray(folders)
    values = []
    for f in np.unique(folders):
        x = images[folders == f].astype(np.float64) / 255.0
        if len(x) > 1:
            values.append(np.sqrt(2.0 * len(x) / (len(x) - 1) * x.var(axis=0).mean()))
    return float(np.mean(values)) if values else None  # None: no folder has 2 images


def folder_references(embeddings: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each label's reference as an export defines one (the unit mean of its first k rows, in np.unique order),
    and every later row's cosine to its own label's reference."""
    labels = np.asarray(labels)
    refs, to_ref = [], []
    for ident in np.unique(labels):
        rows = np.flatnonzero(labels == ident)
        ref = embeddings[rows[:k]].mean(axis=0)
        refs.append(ref / np.linalg.norm(ref))
        to_ref.extend(embeddings[rows[k:]] @ refs[-1])
    return np.array(refs), np.array(to_ref)


def embedder_judgement(embedder, images: np.ndarray, labels: np.ndarray, train_means: np.ndarray) -> dict:
    """An exported set judged by an identity embedder (facegen.models.embedder) at its own calibrated limits, on
    the quantities it calibrated them with: each folder's reference is the unit mean of its first
    REFERENCE_IMAGES images, its other images are checked against it.

    - consistency: share of the other images whose cosine to their folder's reference reaches the limit;
    - separation: share of folders whose images are nearer their own centroid than any other folder's, and
      share of folders with another folder's reference beyond the separation limit (likely one person twice);
    - leakage: share of folders whose reference is beyond the leakage limit of a training identity's mean:
      `train_means`, the people the GAN learned from by this embedder (facegen.training.people.export_people).
    Use an embedder other than the one that filtered the export, so that the filter does not grade itself.
    """
    from facegen.export.verify import leakage
    from facegen.models.embedder import REFERENCE_IMAGES

    limits = embedder.report["limits"]
    e = embedder.embed(images).astype(np.float64)
    labels = np.asarray(labels)
    refs, to_ref = folder_references(e, labels, REFERENCE_IMAGES)
    between = refs @ refs.T
    np.fill_diagonal(between, -np.inf)
    leak = leakage(refs, train_means)
    return {"judge": str(embedder.folder), "judge_step": embedder.step, "limits": limits,
            # How well the judge sees: its separation limit's rate on held-out people it was not calibrated on
            # (absent from embedders trained before the report had it).
            "judge_separation_out_of_sample": embedder.report.get("separation_out_of_sample"),
            "consistency": float(np.mean(to_ref >= limits["consistency"])) if len(to_ref) else None,
            "mean_similarity_to_reference": float(to_ref.mean()) if len(to_ref) else None,
            "separated_identities": embedding_separation(e, labels)["separated_identities"],
            "duplicate_identities": float(np.mean(between.max(axis=1) > limits["separation"])) if len(refs) > 1
            else 0.0,
            # Look-alike pairs: the share of identity pairs above the separation limit, to set beside the same
            # share among the judge's held-out real people (its report's held_out_spread): with many identities
            # some pairs of real people pass the limit too, so the rate is what compares, not "any duplicate".
            "lookalike_pairs": float(np.mean(between[np.triu_indices(len(refs), 1)] > limits["separation"]))
            if len(refs) > 1 else None,
            "real_lookalike_pairs": (embedder.report.get("held_out_spread") or {}).get("pairs_above_limit"),
            "leaked_identities": float(np.mean(leak > limits["leakage"])), "training_people": int(len(train_means))}
