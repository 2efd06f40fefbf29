"""Embedding mode: the identity space, G conditioned on identity embeddings, the identity bank and its export."""

import dataclasses

import numpy as np
import pytest

from conftest import digest, tiny_config
from facegen.config import ExportConfig, FacegenError, RunConfig, preset
from facegen.export.capacity import LOOKALIKE_RATE, lookalikes
from facegen.export.identities import DRAWS, AnchorSet
from facegen.models.identity_space import IDENTITY_SPACE_FILE, IdentitySpace, offsets, stores_scatter
from facegen.training.embedder import identity_means


def embedding_cfg(data, embedder, novel_share: float = 0.0, **train) -> RunConfig:
    cfg = tiny_config(data, **train)
    return dataclasses.replace(cfg, model=preset("tiny", 32, "embedding", 128),
                               train=dataclasses.replace(cfg.train, identity_loss=1.0, identity_embedder=str(embedder),
                                                         novel_share=novel_share))


def unit_rows(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def mean_pairwise(u):
    return float((u @ u.T)[np.triu_indices(len(u), 1)].mean())


def test_space_draws_new_people_spread_like_the_training_identities(tmp_path):
    rng = np.random.default_rng(0)
    means = unit_rows(rng.standard_normal((300, 16)) + 0.6)  # an off-centre cloud, as real identity means are
    space = IdentitySpace.fit(means, 0.8, 0.95)
    u = space.unit(rng.standard_normal((500, 16)))
    assert np.allclose(np.linalg.norm(u, axis=1), 1.0)
    assert mean_pairwise(u) == pytest.approx(mean_pairwise(means), abs=0.05)  # a uniform draw would sit near 0
    assert mean_pairwise(means) > 0.2
    assert np.allclose(np.linalg.norm(space.latent(u), axis=1), 4.0)  # sqrt(d): a 16-d Gaussian's norm
    space.save(tmp_path / IDENTITY_SPACE_FILE)
    again = IdentitySpace.load(tmp_path / IDENTITY_SPACE_FILE)
    assert np.array_equal(again.unit(np.ones(16)), space.unit(np.ones(16)))
    assert (again.max_similarity, again.max_leakage) == (0.8, 0.95)
    with pytest.raises(FacegenError, match="identity_space.npz"):
        IdentitySpace.load(tmp_path / "elsewhere" / IDENTITY_SPACE_FILE)


def test_images_scatter_around_their_person_as_real_photos_do(tmp_path):
    rng = np.random.default_rng(2)
    means = unit_rows(rng.standard_normal((200, 16)) + 0.6)
    ids = np.repeat(np.arange(200), 10)
    photos = unit_rows(means[ids] + 0.25 * rng.standard_normal((2000, 16)) * np.linspace(0.2, 1.5, 16))
    fitted = identity_means(photos, ids)
    space = IdentitySpace.fit(fitted, 0.8, 0.95, offsets(photos, ids, fitted))
    real = float((photos * fitted[ids]).sum(1).mean())
    people = space.unit(rng.standard_normal((500, 16)))
    normal = rng.standard_normal((500, 16))
    assert np.array_equal(space.image_units(people, normal, 0.0), people)
    moved = space.image_units(people, normal, 1.0)
    assert np.allclose(np.linalg.norm(moved, axis=1), 1.0)
    assert float((moved * people).sum(1).mean()) == pytest.approx(real, abs=0.02) and real < 0.97
    assert float((space.image_units(people, normal, 0.5) * people).sum(1).mean()) > real + 0.01
    space.save(tmp_path / IDENTITY_SPACE_FILE)
    assert stores_scatter(tmp_path)
    assert np.array_equal(IdentitySpace.load(tmp_path / IDENTITY_SPACE_FILE).image_units(people, normal, 1.0), moved)
    IdentitySpace.fit(fitted, 0.8, 0.95).save(tmp_path / IDENTITY_SPACE_FILE)  # as runs before the scatter
    assert not stores_scatter(tmp_path)
    assert IdentitySpace.load(tmp_path / IDENTITY_SPACE_FILE).scatter is None


def test_identity_bank_holds_lookalikes_at_the_rate_real_people_do():
    # An 8-d space is crowded: its draws exceed cosine 0.85 pairwise more often than the limit's rate, so a
    # strict all-pairs rule would hold a few hundred people; the bank lets each newcomer resemble lookalikes(k) of
    # the k kept ones, as novel real people resemble each other at the limit's rate.
    rng = np.random.default_rng(1)
    space = IdentitySpace.fit(unit_rows(rng.standard_normal((400, 8))), 0.85, 0.999)
    n = 1500
    raw = space.unit(rng.standard_normal((n, 8)))
    assert ((raw @ raw.T)[np.triu_indices(n, 1)] > 0.85).mean() > 1.5 * LOOKALIKE_RATE
    bank = AnchorSet(seed=3, dim=8, space=space)
    z = bank.first(n)
    u = unit_rows(z)
    assert bank.crowded == 0 and np.allclose(np.linalg.norm(z, axis=1), np.sqrt(8))
    above = (u @ u.T)[np.triu_indices(n, 1)] > space.max_similarity
    assert above.mean() <= LOOKALIKE_RATE * n / (n - 1)  # sum of lookalikes(k) over k < n, over n(n-1)/2 pairs
    assert above.sum() > 0 and lookalikes(n - 1) == 1  # the allowance is used, not a strict rule in disguise
    assert (space.leakage(u) <= space.max_leakage).all()
    # Exact: the first n people are the same however the bank is grown.
    chunked = AnchorSet(seed=3, dim=8, space=space)
    chunked.first(700)
    assert np.array_equal(chunked.first(n), z)


def test_embedding_mode_needs_its_embedder(celeba_sample):
    cfg = tiny_config(celeba_sample)
    with pytest.raises(FacegenError, match="--mode embedding needs its embedder"):
        dataclasses.replace(cfg, model=preset("tiny", 32, "embedding", 128))
    assert embedding_cfg(celeba_sample, "e").mode == "embedding"
    assert RunConfig.from_dict(embedding_cfg(celeba_sample, "e").to_dict()).model.conditioned


def identity_margin(gen, embedder, n: int = 12) -> float:
    """Mean cosine of images rendered from bank people to their own embedding minus to the others', by the
    conditioning embedder, over fixed draws."""
    z = gen.prior(5, n)
    images = gen.generate(z)
    e = embedder.embed(images)
    cond = unit_rows(z[:, :gen.config.model.identity_dim])
    sims = e @ cond.T
    return float(np.diag(sims).mean() - sims[~np.eye(n, dtype=bool)].mean())


@pytest.mark.slow
def test_trained_embedding_mode_renders_the_asked_person_and_exports_exactly(celeba_sample, trained_embedder,
                                                                            tmp_path):
    from facegen.export.render import export
    from facegen.models.embedder import Embedder
    from facegen.models.generator import Generator
    from facegen.training.loop import init_run, train

    folder, _ = trained_embedder
    cfg = embedding_cfg(celeba_sample, folder, steps=60)
    result = train(tmp_path / "run", cfg, progress=False)
    assert "id_cosine" in result.metrics and (tmp_path / "run" / IDENTITY_SPACE_FILE).exists()
    untrained = tmp_path / "untrained"
    init_run(untrained, cfg)
    (untrained / IDENTITY_SPACE_FILE).write_bytes((tmp_path / "run" / IDENTITY_SPACE_FILE).read_bytes())
    embedder = Embedder.from_folder(folder)
    trained_margin = identity_margin(Generator.from_run(tmp_path / "run"), embedder)
    assert trained_margin > identity_margin(Generator.from_run(untrained), embedder) + 0.05, trained_margin

    kw = dict(identities=4, per_identity=3, block=16, embedder=str(folder), max_similarity=0.99, max_leakage=0.99,
              seed=2)
    export(tmp_path / "run", tmp_path / "a", ExportConfig(**kw), progress=False)
    export(tmp_path / "run", tmp_path / "b", ExportConfig(**kw, batch_size=16), progress=False)
    import json

    # The verified mode's draw where the embedder holds real photos above its limit (tests/export/test_verify.py),
    # as the export records it.
    settings = json.loads((tmp_path / "a" / "export.json").read_text())["settings"]
    report = json.loads((folder / "report.json").read_text())
    reached = report["genuine_to_reference_quantiles"]["0.02"]
    wide = reached > report["limits"]["consistency"]
    draw = DRAWS["embedding, verified" if wide else "embedding"]
    assert (settings["variation"], settings.get("nuisance", 0.0)) == (draw.variation, draw.nuisance)
    assert settings["min_consistency"] == round(reached if wide else report["limits"]["consistency"], 6)
    files = digest(tmp_path / "a")
    assert files == digest(tmp_path / "b")
    assert sum(name.endswith(".png") for name in files) == 12
    # Identity noise: each image rendered from its own point near its person's, exactly (batching aside), and
    # recorded; a run trained now stores the scatter it needs.
    assert stores_scatter(tmp_path / "run")
    export(tmp_path / "run", tmp_path / "c", ExportConfig(**kw, identity_noise=1.0), progress=False)
    export(tmp_path / "run", tmp_path / "d", ExportConfig(**kw, identity_noise=1.0, batch_size=16), progress=False)
    assert json.loads((tmp_path / "c" / "export.json").read_text())["settings"]["identity_noise"] == 1.0
    assert digest(tmp_path / "c") == digest(tmp_path / "d") != files
    # Nuisance: every written image moved by its own draw, exactly (batching aside), and recorded; the identities
    # are the default draw's, since a reference is rendered without one.
    export(tmp_path / "run", tmp_path / "e", ExportConfig(**kw, nuisance=1.0), progress=False)
    export(tmp_path / "run", tmp_path / "f", ExportConfig(**kw, nuisance=1.0, batch_size=16), progress=False)
    record = json.loads((tmp_path / "e" / "export.json").read_text())
    assert record["settings"]["nuisance"] == 1.0
    assert digest(tmp_path / "e") == digest(tmp_path / "f")
    moved = digest(tmp_path / "e")
    assert sum(name.endswith(".png") for name in moved) == 12
    assert all(moved[name] != files[name] for name in moved if name.endswith(".png"))
    plain = json.loads((tmp_path / "a" / "export.json").read_text())
    assert record["identity_check"]["candidates_drawn"] == plain["identity_check"]["candidates_drawn"]


def test_novel_share_needs_embedding_mode_and_a_share_below_one(celeba_sample):
    cfg = embedding_cfg(celeba_sample, "e")
    with pytest.raises(FacegenError, match="--novel-share must be"):
        dataclasses.replace(cfg.train, novel_share=1.0)
    with pytest.raises(FacegenError, match="--novel-share needs --mode embedding"):
        dataclasses.replace(tiny_config(celeba_sample, "identity"),
                            train=dataclasses.replace(cfg.train, novel_share=0.5))
    assert RunConfig.from_dict(embedding_cfg(celeba_sample, "e", novel_share=0.5).to_dict()).train.novel_share == 0.5


def test_training_draws_new_people_as_the_export_does(celeba_sample, trained_embedder):
    from facegen.training.gan import DCGAN

    folder, _ = trained_embedder
    cfg = embedding_cfg(celeba_sample, folder, novel_share=0.5)
    gan = DCGAN(cfg.model, cfg.train)
    rng = np.random.default_rng(4)
    space = IdentitySpace.fit(unit_rows(rng.standard_normal((50, 128)) + 0.3), 0.8, 0.95)
    gan.draw_from(space)
    state = gan.rng.state.numpy()
    drawn = gan._novel_conditions(6).numpy()
    gan.rng.state.assign(state)
    normal = gan.rng.normal([6, 128]).numpy()
    assert np.allclose(drawn, space.unit(normal), atol=1e-5)


@pytest.mark.slow
def test_novel_share_trains_on_new_people_and_resumes_exactly(celeba_sample, trained_embedder, tmp_path):
    from conftest import checkpoint_values
    from facegen.training.loop import train

    folder, _ = trained_embedder
    train(tmp_path / "straight", embedding_cfg(celeba_sample, folder, steps=4, novel_share=0.5), progress=False)
    train(tmp_path / "resumed", embedding_cfg(celeba_sample, folder, steps=2, novel_share=0.5), progress=False)
    assert train(tmp_path / "resumed", embedding_cfg(celeba_sample, folder, steps=4, novel_share=0.5),
                 progress=False).resumed_from == 2
    a, b = checkpoint_values(tmp_path / "straight"), checkpoint_values(tmp_path / "resumed")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    train(tmp_path / "photos", embedding_cfg(celeba_sample, folder, steps=4), progress=False)
    c = checkpoint_values(tmp_path / "photos")
    assert any(not np.array_equal(a[k], c[k]) for k in a if "generator" in k)


def test_another_photo_of_the_person_is_no_rival_in_the_condition_contrast():
    from facegen.training.gan import IDENTITY_LOSS_SCALE, condition_contrast_loss

    rng = np.random.default_rng(6)
    condition = unit_rows(rng.standard_normal((4, 16))).astype(np.float32)
    condition[1] = unit_rows(condition[0] + 0.1 * rng.standard_normal(16))  # a second photo of row 0's person
    images = unit_rows(condition[:, None, :] + 0.5 * rng.standard_normal((4, 2, 16))).astype(np.float32)
    people = np.array([7, 7, 3, 5], np.int32)

    def by_hand(rows_against):  # each image's InfoNCE over the conditions it is contrasted with
        loss = 0.0
        for i in range(4):
            for k in range(2):
                logits = IDENTITY_LOSS_SCALE * condition[rows_against(i)] @ images[i, k]
                loss += 0.5 * (np.log(np.exp(logits).sum()) - logits[0])
        return loss / 4

    def others_of(i):  # its own condition first, then the other people's
        return [i] + [j for j in range(4) if people[j] != people[i]]

    assert float(condition_contrast_loss(images, condition, people=people)) == pytest.approx(by_hand(others_of),
                                                                                          rel=1e-4)
    everyone = by_hand(lambda i: [i] + [j for j in range(4) if j != i])
    assert float(condition_contrast_loss(images, condition)) == pytest.approx(everyone, rel=1e-4)
    assert everyone > by_hand(others_of) + 0.3  # the near-twin photo weighs on both of its person's rows


def test_embedding_mode_batches_carry_each_pair_s_person(celeba_sample):
    from facegen.config import DataConfig
    from facegen.data import TrainingData, discover, pair_dataset

    data = TrainingData(discover(celeba_sample), DataConfig(path=str(celeba_sample), resolution=32), progress=False)
    conditions = np.arange(len(data.images), dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    pairs, condition, people = next(iter(pair_dataset(data, 8, seed=0, conditions=conditions)))
    rows = condition.numpy()[:, 0].astype(int)  # the row of each pair's first image
    assert np.array_equal(people.numpy(), data.identities[rows])
    assert np.allclose(pairs.numpy()[:, 0], data.images[rows] / 127.5 - 1.0, atol=1e-6)


def test_uniformity_is_lowest_when_people_spread_over_the_sphere():
    from facegen.training.gan import UNIFORMITY_T, uniformity_loss

    rng = np.random.default_rng(5)
    same = np.tile(unit_rows(rng.standard_normal((1, 32))), (8, 1)).astype(np.float32)
    assert float(uniformity_loss(same)) == pytest.approx(0.0, abs=1e-5)  # one face for everyone: the worst
    assert float(uniformity_loss(np.eye(8, 32, dtype=np.float32))) == pytest.approx(-2 * UNIFORMITY_T, abs=1e-5)
    crowded = unit_rows(rng.standard_normal((64, 32)) + 1.5).astype(np.float32)  # round a shared face
    spread = unit_rows(rng.standard_normal((64, 32))).astype(np.float32)
    assert mean_pairwise(crowded) > 0.5 > 0.05 > abs(mean_pairwise(spread))
    assert float(uniformity_loss(spread)) < float(uniformity_loss(crowded)) - 1.0


def test_identity_uniformity_needs_the_identity_loss_and_a_run_keeps_its_own(celeba_sample, trained_embedder,
                                                                            tmp_path):
    from facegen.run import write_run_config
    from facegen.training.request import TrainRequest, plan

    with pytest.raises(FacegenError, match="--identity-uniformity needs the identity loss"):
        dataclasses.replace(tiny_config(celeba_sample).train, identity_uniformity=1.0)
    with pytest.raises(FacegenError, match="--identity-uniformity must be at least 0"):
        dataclasses.replace(embedding_cfg(celeba_sample, "e").train, identity_uniformity=-1.0)
    folder, _ = trained_embedder
    request = TrainRequest(data=celeba_sample, out=tmp_path / "r", preset="tiny", resolution=32,
                           identity_embedder=folder, identity_uniformity=0.5)
    cfg = plan(request).config
    assert cfg.train.identity_uniformity == 0.5 and cfg.train.identity_loss == 1.0
    write_run_config(tmp_path / "r", cfg)
    resumed = plan(dataclasses.replace(request, identity_uniformity=None)).config  # the flag left off on resume
    assert resumed.train.identity_uniformity == 0.5
    with pytest.raises(FacegenError, match="identity_uniformity=0.5"):
        plan(dataclasses.replace(request, identity_uniformity=1.0))
    assert plan(TrainRequest(data=celeba_sample, out=tmp_path / "new", preset="tiny", resolution=32,
                             identity_embedder=folder)).config.train.identity_uniformity == 0.0
    # A loss the request turns off is checked against the weight before any path is (the data is not there).
    with pytest.raises(FacegenError, match="--identity-uniformity needs the identity loss"):
        plan(TrainRequest(data=tmp_path / "absent", out=tmp_path / "off", mode="identity", identity_loss=0.0,
                          identity_uniformity=1.0))


@pytest.mark.slow
def test_identity_uniformity_trains_and_resumes_exactly(celeba_sample, trained_embedder, tmp_path):
    from conftest import checkpoint_values
    from facegen.training.loop import train

    folder, _ = trained_embedder

    def cfg(steps, uniformity=1.0):
        c = embedding_cfg(celeba_sample, folder, steps=steps)
        return dataclasses.replace(c, train=dataclasses.replace(c.train, identity_uniformity=uniformity))

    train(tmp_path / "straight", cfg(4), progress=False)
    train(tmp_path / "resumed", cfg(2), progress=False)
    assert train(tmp_path / "resumed", cfg(4), progress=False).resumed_from == 2
    a, b = checkpoint_values(tmp_path / "straight"), checkpoint_values(tmp_path / "resumed")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    train(tmp_path / "off", cfg(4, 0.0), progress=False)
    c = checkpoint_values(tmp_path / "off")
    assert any(not np.array_equal(a[k], c[k]) for k in a if "generator" in k)
