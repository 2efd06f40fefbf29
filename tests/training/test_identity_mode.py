"""Identity mode (SD-GAN): the pair loader, the Siamese D, a training step, the sample sheet and export."""

import numpy as np
import pytest

from facegen.config import ExportConfig, FacegenError, preset
from facegen.data import TrainingData, discover, identity_pairs, pair_dataset
from facegen.export.identities import ANCHOR_MAX_COSINE, DRAWS, IdentityPlan
from facegen.export.manifest import read_manifest
from facegen.models.dcgan import build_pair_discriminator
from facegen.training.gan import DCGAN


def identity_cfg(tiny_cfg, **train):
    import dataclasses

    cfg = tiny_cfg(**train)
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, identity_dim=50))


def test_pairs_share_an_identity_and_cover_every_eligible_image():
    ids = np.array([5, 5, 5, 7, 7, 9, -1, 3, 3, 3, 3])  # 9 has one image, -1 is unlabeled
    pairs = identity_pairs(ids, seed=1, epoch=0)
    assert (ids[pairs[:, 0]] == ids[pairs[:, 1]]).all()  # no pair crosses identities
    assert (pairs[:, 0] != pairs[:, 1]).all()
    assert sorted(pairs[:, 0].tolist()) == [0, 1, 2, 3, 4, 7, 8, 9, 10]
    assert not np.array_equal(pairs, identity_pairs(ids, seed=1, epoch=1))
    assert np.array_equal(pairs, identity_pairs(ids, seed=1, epoch=0))
    with pytest.raises(FacegenError, match="at least 2 images"):
        identity_pairs(np.array([1, 2, 3]), 0, 0)


def test_pair_batches_come_from_one_person(celeba_sample, tiny_cfg):
    cfg = identity_cfg(tiny_cfg)
    data = TrainingData(discover(celeba_sample), cfg.data, progress=False)
    batch = next(iter(pair_dataset(data, 8, seed=0))).numpy()
    assert batch.shape == (8, 2, 32, 32, 3) and -1 <= batch.min() and batch.max() <= 1
    # Each pair's two images are images of one identity in the data.
    ids = data.identities
    as_uint8 = np.rint((batch + 1) * 127.5).astype(np.uint8)
    lookup = {img.tobytes(): i for i, img in enumerate(data.images)}
    for first, second in as_uint8:
        assert ids[lookup[first.tobytes()]] == ids[lookup[second.tobytes()]]


def test_siamese_discriminator_shares_its_trunk():
    d = build_pair_discriminator(preset("tiny", 32), seed=0)
    assert d.input_shape == (None, 2, 32, 32, 3) and d.output_shape == (None, 1)
    trunk = d.get_layer("trunk")
    x = np.random.default_rng(0).uniform(-1, 1, (3, 2, 32, 32, 3)).astype("float32")
    swapped = x[:, ::-1]
    f = trunk(x[:, 0]).numpy()
    assert np.allclose(f, trunk(swapped[:, 1]).numpy())  # one set of weights for both images


def test_siamese_discriminator_compares_the_two_images():
    # A head that only scored each image on its own would give D(a, b) + D(c, d) == D(a, d) + D(c, b): it
    # could not tell a matched pair from a mixed one.
    d = build_pair_discriminator(preset("tiny", 32), seed=0)
    a, b, c, e = np.random.default_rng(1).uniform(-1, 1, (4, 4, 32, 32, 3)).astype("float32")

    def score(x, y):
        return d(np.stack([x, y], axis=1), training=False).numpy()

    gap = score(a, b) + score(c, e) - score(a, e) - score(c, b)
    assert np.abs(gap).max() > 1e-3


def test_identity_step_changes_weights_and_sheet_shares_identity(tiny_cfg, tmp_path):
    from facegen.models.generator import Generator, identity_sheet_latents
    from facegen.training.loop import train

    cfg = identity_cfg(tiny_cfg, steps=3)
    gan = DCGAN(cfg.model, cfg.train)
    data = TrainingData(discover(cfg.data.path), cfg.data, progress=False)
    before = [w.copy() for w in gan.discriminator.get_weights()]
    out = gan.train_step(next(iter(pair_dataset(data, 16, seed=0))))
    assert np.isfinite(float(out["d_loss"]))
    assert all(not np.array_equal(a, b) for a, b in zip(before, gan.discriminator.get_weights()))
    z = identity_sheet_latents(0, 3, 4, cfg.model).reshape(3, 4, -1)
    assert np.allclose(z[0, 0, :50], z[0, 3, :50]) and not np.allclose(z[0, 0, :50], z[1, 0, :50])
    assert np.allclose(z[0, 1, 50:], z[2, 1, 50:])
    result = train(tmp_path / "run", cfg, progress=False)
    assert Generator.from_run(result.run_dir).config.mode == "identity"
    assert (tmp_path / "run" / "samples" / "step_0000003.png").exists()


def test_identity_resume_equals_uninterrupted_run_across_an_epoch(tiny_cfg, tmp_path):
    # 300 sample images make 300 pairs an epoch: 19 steps of 16, so step 20 is in the second epoch.
    from conftest import checkpoint_values

    from facegen.training.loop import train

    train(tmp_path / "straight", identity_cfg(tiny_cfg, steps=22), progress=False)
    train(tmp_path / "resumed", identity_cfg(tiny_cfg, steps=20), progress=False)
    assert train(tmp_path / "resumed", identity_cfg(tiny_cfg, steps=22), progress=False).resumed_from == 20
    a, b = checkpoint_values(tmp_path / "straight"), checkpoint_values(tmp_path / "resumed")
    assert a.keys() == b.keys() and [k for k in a if not np.array_equal(a[k], b[k])] == []


def test_identity_export_layout_and_anchors(tiny_cfg, tmp_path):
    from conftest import check_export

    from facegen.export.render import export
    from facegen.training.loop import train

    train(tmp_path / "run", identity_cfg(tiny_cfg, steps=2), progress=False)
    export(tmp_path / "run", tmp_path / "synth", ExportConfig(identities=5, per_identity=6, seed=4, block=8,
                                                              batch_size=16), progress=False)
    check_export(tmp_path / "synth", 5, 6, step=2, seed=4, size=32)  # the plain export's checks
    assert (read_manifest(tmp_path / "synth")["variation"] == DRAWS["identity"].variation).all()  # recorded
    plan = IdentityPlan(0, 50, 2, identity_dim=50)
    z = plan.latents(np.arange(100))
    assert np.allclose(z[0, :50], z[1, :50])  # one z_id per identity
    # --variation scales only z_obs: the same draw, shrunk towards the average observation.
    half = IdentityPlan(0, 50, 2, variation=0.5, identity_dim=50).latents(np.arange(100))
    full = IdentityPlan(0, 50, 2, variation=1.0, identity_dim=50).latents(np.arange(100))
    assert np.allclose(half[:, :50], full[:, :50]) and np.allclose(half[:, 50:], 0.5 * full[:, 50:])
    wide = IdentityPlan(0, 50, 2, variation=1.5, identity_dim=50).latents(np.arange(100))  # wider than trained
    assert np.allclose(wide[:, :50], full[:, :50]) and np.allclose(wide[:, 50:], 1.5 * full[:, 50:])
    anchors = plan.anchors(50)
    unit = anchors / np.linalg.norm(anchors, axis=1, keepdims=True)
    cos = unit @ unit.T
    np.fill_diagonal(cos, -1)
    assert cos.max() <= ANCHOR_MAX_COSINE
