"""Identity measures on inputs with a known answer."""

import importlib.util

import numpy as np
import pytest

from facegen.metrics.identity import (DlibEmbedder, embedding_separation, equal_error_rate, folder_consistency,
                                      within_identity_variety)


def test_separation_of_clean_and_mixed_clusters():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 32)) * 3
    labels = np.repeat(np.arange(5), 8)
    tight = centres[labels] + rng.normal(size=(40, 32)) * 0.3
    loose = centres[labels] + rng.normal(size=(40, 32)) * 6
    a, b = embedding_separation(tight, labels), embedding_separation(loose, labels)
    assert a["separated_identities"] == 1.0 and a["eer"] < 0.01
    assert a["intra_similarity"] > b["intra_similarity"] and b["eer"] > a["eer"] + 0.1


def test_equal_error_rate_limits():
    assert equal_error_rate(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 0.0
    assert equal_error_rate(np.array([0.1, 0.2]), np.array([0.9, 0.8])) == pytest.approx(1.0, abs=0.5)


def test_folder_consistency():
    folders = np.repeat(["a", "b", "c"], 4)
    predicted = np.array([1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 1, 3])
    r = folder_consistency(predicted, folders)
    assert r == {"consistency": pytest.approx((0.75 + 1 + 0.75) / 3), "distinct_majorities": 3, "folders": 3}


def test_within_identity_variety_is_the_mean_pairwise_rms_difference():
    import itertools

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (9, 6, 6, 3)).astype(np.uint8)
    folders = np.array([0, 0, 0, 1, 1, 1, 1, 2, 3])  # 2 and 3 have one image each: no pairs, ignored
    x = images / 255.0
    rms = [np.sqrt(np.mean([np.mean((a - b) ** 2) for a, b in itertools.combinations(x[folders == f], 2)]))
           for f in (0, 1)]
    assert within_identity_variety(images, folders) == pytest.approx(np.mean(rms))
    same = np.repeat(images[:1], 4, axis=0)
    assert within_identity_variety(same, np.zeros(4)) == 0.0  # one image repeated: no variety
    assert within_identity_variety(images[:2], np.array([0, 1])) is None


@pytest.mark.skipif(not DlibEmbedder.available(), reason="pip install dlib-bin face-recognition-models")
def test_dlib_embedder_on_sample_faces(celeba_sample):
    from facegen.config import DataConfig
    from facegen.data import TrainingData, discover

    source = discover(celeba_sample)
    data = TrainingData(source, DataConfig(resolution=64), progress=False)
    ids = source.frame["identity"].to_numpy()
    pick = np.flatnonzero(np.isin(ids, ids[:3]))[:24]
    emb = DlibEmbedder()(data.images[pick])
    assert emb.shape == (len(pick), 128) and np.isfinite(emb).all()
    r = embedding_separation(emb, ids[pick])
    assert r["intra_similarity"] > r["inter_similarity"]  # the drawing's identities are visible to dlib


@pytest.mark.skipif(importlib.util.find_spec("mtcnn") is None, reason="pip install mtcnn")
def test_face_rate_finds_drawn_faces_and_not_noise(celeba_sample):
    from facegen.config import DataConfig
    from facegen.data import TrainingData, discover
    from facegen.metrics.evaluate import face_rate

    faces = TrainingData(discover(celeba_sample), DataConfig(resolution=64), progress=False).images[:12]
    noise = np.random.default_rng(0).integers(0, 256, (12, 64, 64, 3), dtype=np.uint8)
    assert face_rate(faces) > 0.3 and face_rate(noise) == 0.0


def test_missing_extras_are_skipped_with_a_hint(monkeypatch, caplog):
    import logging

    from facegen.metrics import evaluate

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mtcnn" else real_find_spec(name, *a))
    with caplog.at_level(logging.INFO, logger="facegen"):
        assert evaluate.face_rate(np.zeros((2, 64, 64, 3), np.uint8)) is None
    assert "pip install mtcnn" in caplog.text


def test_an_embedder_judge_tells_true_identities_from_shuffled_ones_and_spots_leaked_people(trained_embedder,
                                                                                            celeba_sample):
    """Real photos grouped by true identity are consistent and separated; the same photos with shuffled folders
    are not; folders of training people leak, folders of held-out people much less."""
    from facegen.config import DataConfig
    from facegen.data import TrainingData, discover
    from facegen.metrics.identity import embedder_judgement
    from facegen.models.embedder import Embedder

    judge = Embedder.from_folder(trained_embedder[0])
    held = TrainingData(discover(celeba_sample, "val"), DataConfig(path=str(celeba_sample), resolution=32),
                        progress=False)
    ids = held.identities
    _, train_means = judge.identity_means()  # the people it trained on stand for a GAN's here
    true = embedder_judgement(judge, held.images, ids, train_means)
    shuffled = embedder_judgement(judge, held.images, np.random.default_rng(0).permutation(ids), train_means)
    assert true["mean_similarity_to_reference"] > shuffled["mean_similarity_to_reference"] + 0.1
    assert true["separated_identities"] > shuffled["separated_identities"]
    train = TrainingData(discover(celeba_sample, "train"), DataConfig(path=str(celeba_sample), resolution=32),
                         progress=False)
    leaked = embedder_judgement(judge, train.images, train.identities, train_means)
    assert leaked["leaked_identities"] == 1.0 and true["leaked_identities"] < 1.0
    assert 0 <= true["consistency"] <= 1 and 0 <= true["duplicate_identities"] <= 1
