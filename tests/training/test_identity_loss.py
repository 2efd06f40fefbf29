"""The identity loss: a frozen embedder's contrast term on identity-mode G (training.gan.identity_contrast_loss)."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from conftest import checkpoint_values
from facegen.config import FacegenError
from facegen.data import TrainingData, discover, pair_dataset
from facegen.models.embedder import Embedder
from facegen.training.gan import DCGAN, IDENTITY_LOSS_SCALE, identity_contrast_loss


def identity_loss_cfg(tiny_cfg, embedder, weight, **train):
    cfg = tiny_cfg(**train)
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, identity_dim=50), train=dataclasses.replace(
        cfg.train, identity_loss=weight, identity_embedder=str(embedder) if weight else ""))


def test_contrast_loss_is_small_for_matched_pairs_and_large_for_swapped_ones():
    a, b = np.eye(2, 8, dtype=np.float32)  # two identities with orthogonal unit embeddings
    matched = identity_contrast_loss(tf.constant([[a, a], [b, b]]), global_batch=2)
    swapped = identity_contrast_loss(tf.constant([[a, b], [b, a]]), global_batch=2)
    # Each row's softmax over logits (s, 0) or (0, s): -log(1 / (1 + e^-s)) and -log(1 / (1 + e^s)).
    assert float(matched) == pytest.approx(np.log1p(np.exp(-IDENTITY_LOSS_SCALE)), rel=1e-3)
    assert float(swapped) == pytest.approx(np.log1p(np.exp(IDENTITY_LOSS_SCALE)), rel=1e-3)


def identity_margin(gan: DCGAN, embedder: Embedder, n: int = 32) -> float:
    """Mean cosine of pairs sharing z_id minus that of pairs that do not, by `embedder`, on fixed latents."""
    z = tf.random.stateless_normal([n, 1, 50], seed=[7, 7])
    z = tf.concat([tf.repeat(z, 2, axis=1), tf.random.stateless_normal([n, 2, 50], seed=[8, 8])], axis=-1)
    images = gan.generator(tf.reshape(z, [-1, 100]), training=True)
    e = embedder.embed_float(images).numpy().reshape(n, 2, -1)
    same = (e[:, 0] * e[:, 1]).sum(-1).mean()
    other = (e[:, 0] * np.roll(e[:, 1], 1, axis=0)).sum(-1).mean()
    return float(same - other)


def test_identity_loss_makes_pairs_that_share_z_id_one_person_to_the_embedder(tiny_cfg, trained_embedder):
    folder, _ = trained_embedder
    embedder = Embedder.from_folder(folder)
    margins = {}
    for weight in (0.0, 10.0):
        cfg = identity_loss_cfg(tiny_cfg, folder, weight)
        gan = DCGAN(cfg.model, cfg.train)
        data = TrainingData(discover(cfg.data.path), cfg.data, progress=False)
        batches = iter(pair_dataset(data, cfg.train.batch_size, seed=0))
        for _ in range(30):
            out = gan.train_step(next(batches))
        assert ("id_loss" in out) == bool(weight)
        margins[weight] = identity_margin(gan, embedder)
    # Same seed, same data: only the term differs, and it separates same-z_id pairs from the rest (measured:
    # margin 0.02 without the term, 0.08 with it after 30 steps, still rising).
    assert margins[10.0] > margins[0.0] + 0.03, margins


def test_run_records_the_embedder_keeps_it_out_of_checkpoints_and_resumes_exactly(tiny_cfg, trained_embedder,
                                                                                 tmp_path):
    from facegen.training.loop import train

    folder, _ = trained_embedder
    train(tmp_path / "straight", identity_loss_cfg(tiny_cfg, folder, 1.0, steps=4), progress=False)
    train(tmp_path / "resumed", identity_loss_cfg(tiny_cfg, folder, 1.0, steps=2), progress=False)
    result = train(tmp_path / "resumed", identity_loss_cfg(tiny_cfg, folder, 1.0, steps=4), progress=False)
    assert result.resumed_from == 2 and "id_cosine" in result.metrics
    stored = json.loads((tmp_path / "straight" / "config.json").read_text())["train"]
    assert stored["identity_loss"] == 1.0 and stored["identity_embedder"] == str(folder)
    a, b = checkpoint_values(tmp_path / "straight"), checkpoint_values(tmp_path / "resumed")
    assert not [k for k in a if "embedder" in k]  # the frozen embedder stays in its own folder
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    with pytest.raises(FacegenError, match="identity_loss=1.0, not 0.5"):
        train(tmp_path / "straight", identity_loss_cfg(tiny_cfg, folder, 0.5, steps=6), progress=False)
    # The export's dataset card says how its generator was trained.
    from facegen.config import ExportConfig
    from facegen.export.render import export

    export(tmp_path / "straight", tmp_path / "synth", ExportConfig(identities=2, per_identity=2), progress=False)
    assert f"identity loss 1 from embedder `{folder}`" in (tmp_path / "synth" / "README.md").read_text()


def test_the_frozen_embedder_computes_at_the_generators_bfloat16_and_float32_otherwise(tiny_cfg, trained_embedder):
    folder, _ = trained_embedder
    for policy, expected in (("bfloat16", "bfloat16"), ("off", "off"), ("float16", "off")):
        cfg = identity_loss_cfg(tiny_cfg, folder, 1.0, mixed_precision=policy)
        gan = DCGAN(cfg.model, cfg.train)
        assert gan.identity_embedder.precision == expected, policy
        if policy == "bfloat16":
            batch = tf.zeros([4, 2, 32, 32, 3])
            e = gan.identity_embedder.embed_float(tf.reshape(batch, [-1, 32, 32, 3]))
            assert e.dtype == tf.float32 and np.allclose(np.linalg.norm(e.numpy(), axis=1), 1, atol=1e-2)
