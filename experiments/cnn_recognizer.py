"""The recognizer behind the figures measured before `facegen benchmark` (it was examples/train_recognizer.py):
a small plain CNN, kept so that those figures can be reproduced. The product's recognizer is the identity
embedder's trunk and CosFace head (`facegen benchmark`, examples/train_recognizer.py).

    python experiments/cnn_recognizer.py --train synth/ --real data/celeba-sample [--epochs 15]

--train is any folder with one sub-folder per identity (a facegen export, or real faces laid out that way;
`--train real` uses the real data set's own training identities, the ceiling). Verification pairs come
from the real data set's held-out partitions (CelebA val+test: identities the GAN never trained on). The
recognizer is a small CNN with a 128-d embedding and a softmax head over the training identities, or with
`--head arcface` an additive angular margin head (ArcFace, Deng et al. 2019) as face-recognition pipelines
use (the way SynFace, DigiFace-1M and DCFace report: train on synthetic, test on real). Prints, as one JSON
line, the LFW protocol on the embedding's cosine: 10-fold accuracy (each fold at the threshold chosen on the other
nine) mean and std, TAR at FAR 1e-3, ROC AUC; and the best-threshold accuracy on all pairs (chosen on the test
pairs themselves, so optimistic) beside it. `--pairs-dir P` verifies on `facegen data pairs`' .bin instead.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import facegen  # noqa: E402,F401
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

from facegen.config import DataConfig, EmbedderConfig  # noqa: E402
from facegen.data import TrainingData, discover  # noqa: E402
from facegen.data.pairs import read_verification_set  # noqa: E402
from facegen.data.sources import split_identities  # noqa: E402
from facegen.metrics.verification import best_accuracy, lfw_pairs, ten_fold  # noqa: E402

SIZE = 64


def real_identity_folders(real: str, out: Path) -> Path:
    """The real training partition as one folder per identity (the 'trained on real' ceiling)."""
    source = discover(real, "train")
    for path, ident in zip(source.frame["path"], source.frame["identity"]):
        (out / f"id_{int(ident):06d}").mkdir(parents=True, exist_ok=True)
        shutil.copy(path, out / f"id_{int(ident):06d}" / Path(path).name)
    return out


class ArcFace(layers.Layer):
    """Additive angular margin logits: s * cos(theta_y + m) for the true class, s * cos(theta_j) for the others,
    with theta the angle between the normalised embedding and the class's normalised weight vector."""

    def __init__(self, n_classes: int, scale: float = 30.0, margin: float = 0.3, **kw) -> None:
        super().__init__(**kw)
        self.n_classes, self.scale, self.margin = n_classes, scale, margin

    def build(self, input_shape) -> None:
        self.w = self.add_weight(shape=(input_shape[0][-1], self.n_classes), initializer="glorot_uniform", name="w")

    def call(self, inputs):
        embedding, label = inputs
        from keras import ops

        cos = ops.matmul(ops.normalize(embedding, axis=1), ops.normalize(self.w, axis=0))
        theta = ops.arccos(ops.clip(cos, -1.0 + 1e-6, 1.0 - 1e-6))
        target = ops.one_hot(ops.cast(ops.reshape(label, [-1]), "int32"), self.n_classes)
        return self.scale * ops.where(target > 0, ops.cos(theta + self.margin), cos)


def recognizer(n_classes: int, head: str = "softmax") -> tuple[keras.Model, keras.Model]:
    image = keras.Input((SIZE, SIZE, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1)(image)
    x = layers.RandomFlip("horizontal")(x)
    for width in (32, 64, 128):
        x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    embedding = layers.Dense(128, name="embedding")(x)
    if head == "arcface":
        label = keras.Input((), dtype="int32")
        return keras.Model([image, label], ArcFace(n_classes)([embedding, label])), keras.Model(image, embedding)
    logits = layers.Dense(n_classes)(layers.ReLU()(layers.BatchNormalization()(embedding)))
    return keras.Model(image, logits), keras.Model(image, embedding)


def verification_set(real: str, seed: int, n_pairs: int = 6000, pairs_dir: str | None = None):
    """(images, pairs in 10 folds, held-out identities): the `.bin` of `facegen data pairs` when given (what
    arcface_torch reads), else LFW-style folds drawn here from the held-out identities (no GAN, embedder or
    recognizer trained on them)."""
    if pairs_dir:
        images, pairs, record = read_verification_set(pairs_dir)
        if images.shape[1] != SIZE:
            images = tf.image.resize(images, [SIZE, SIZE], antialias=True).numpy().round().clip(0, 255)
        return images.astype(np.uint8), pairs, record["held_out_identities"]
    source = discover(real, "all")
    _, held = split_identities(source, EmbedderConfig(data=real).held_out_every)
    data = TrainingData(held, DataConfig(path=real, resolution=SIZE), progress=False)
    ids = held.frame["identity"].to_numpy(dtype=np.int64)
    folds = min(10, len(np.unique(ids)) // 2)  # LFW's 10 where the held-out people allow; two people per fold
    pairs = lfw_pairs(ids, folds=max(folds, 2), per_fold=max(1, n_pairs // (2 * max(folds, 2))), seed=seed)
    return data.images, pairs, int(len(np.unique(ids)))


def by_source(batches: tf.data.Dataset, class_names: list[str], real_share: float, seed: int) -> tf.data.Dataset:
    """Batches of 64 drawn at a fixed ratio from real and synthetic identities (each stream shuffled and
    repeated), so the real images a recognizer sees do not shrink as synthetic identities are added."""
    is_synthetic = ["-synth" in name for name in class_names]
    if all(is_synthetic) or not any(is_synthetic):
        raise SystemExit("--real-share needs a mix with both real and synthetic identities (facegen mix)")
    synthetic, images = tf.constant(is_synthetic), batches.unbatch()
    streams = [images.filter(lambda x, y, *w, want=want: tf.gather(synthetic, y) == want).cache()
               .shuffle(4096, seed=seed).repeat() for want in (False, True)]
    return tf.data.Dataset.sample_from_datasets(streams, [real_share, 1 - real_share], seed=seed).batch(64)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", required=True, help="identity-folder dataset, or 'real'")
    p.add_argument("--real", required=True, help="the real data set (CelebA layout) for verification pairs")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--steps", type=int, default=0,
                   help="train for this many batches of 64 whatever the set's size (the same budget for every set; "
                        "replaces --epochs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--head", choices=("softmax", "arcface"), default="softmax")
    p.add_argument("--pairs", type=int, default=6000,
                   help="verification pairs in 10 folds, half same-identity (6,000 as LFW: about ±0.6 points, a 95%% "
                        "interval, at 95%% accuracy)")
    p.add_argument("--pairs-dir", default=None,
                   help="a `facegen data pairs` folder: verify on its .bin (replaces --pairs)")
    p.add_argument("--synthetic-weight", type=float, default=1.0,
                   help="loss weight of images of synthetic identities (folders `facegen mix` names *-synth*), "
                        "against 1 for real ones")
    p.add_argument("--real-share", type=float, default=0.0,
                   help="with --steps: draw this share of every batch from real identities and the rest from "
                        "synthetic ones, whatever their sizes (0: batches as the folder's images fall)")
    args = p.parse_args()
    if args.real_share and not (0 < args.real_share < 1 and args.steps):
        raise SystemExit("--real-share must be between 0 and 1 and needs --steps")
    keras.utils.set_random_seed(args.seed)
    folder = Path(args.train)
    if args.train == "real":
        folder = real_identity_folders(args.real, Path(tempfile.mkdtemp()) / "real")
    train_ds = keras.utils.image_dataset_from_directory(folder, image_size=(SIZE, SIZE), batch_size=64,
                                                       seed=args.seed, verbose=False)
    class_names = train_ds.class_names
    n_classes = len(class_names)
    synthetic = sum("-synth" in name for name in class_names)
    if args.synthetic_weight != 1.0:  # per-image loss weights by the class's source
        weights = tf.constant([args.synthetic_weight if "-synth" in name else 1.0 for name in class_names])
        train_ds = train_ds.map(lambda x, y: (x, y, tf.gather(weights, y)))
    train_ds = train_ds.cache()  # decoded once: a fixed --steps budget revisits small sets many times
    if args.real_share:
        train_ds = by_source(train_ds, class_names, args.real_share, args.seed)
    model, embed = recognizer(n_classes, args.head)
    if args.head == "arcface":  # the margin head needs the label as an input too
        train_ds = train_ds.map(lambda x, y, *w: ((x, y), y, *w))
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    if args.steps:  # a fixed budget: ten rounds of steps/10 batches over the repeated set
        args.epochs = 10
        history = model.fit(train_ds.repeat().prefetch(tf.data.AUTOTUNE), epochs=10,
                            steps_per_epoch=max(1, args.steps // 10), verbose=0)
    else:
        history = model.fit(train_ds.prefetch(tf.data.AUTOTUNE), epochs=args.epochs, verbose=0)
    images, pairs, held_ids = verification_set(args.real, args.seed, args.pairs, args.pairs_dir)
    e = embed.predict(images, batch_size=256, verbose=0)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    scores = np.sum(e[pairs.a] * e[pairs.b], axis=1)
    v = ten_fold(scores, pairs.same, pairs.fold)
    best, _ = best_accuracy(scores, pairs.same.astype(int))  # threshold chosen on the test pairs: flattering
    print(json.dumps({"train": args.train, "head": args.head, "train_identities": n_classes,
                      "synthetic_identities": synthetic, "synthetic_weight": args.synthetic_weight,
                      "real_share": args.real_share, "steps": args.steps,
                      "train_accuracy": round(float(history.history["accuracy"][-1]), 4) if args.epochs else None,
                      "held_out_identities": held_ids, "pairs": len(pairs), "folds": int(pairs.fold.max()) + 1,
                      "verification_accuracy": round(v.accuracy, 4), "verification_std": round(v.accuracy_std, 4),
                      "tar_at_far_1e-3": round(v.tar_at_far, 4), "roc_auc": round(v.roc_auc, 4),
                      "best_threshold_accuracy": round(best, 4)}))

if __name__ == "__main__":
    main()
