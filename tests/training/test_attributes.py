"""The attribute classifier: it keeps the attributes the data varies (and says which it dropped), learns them
better than guessing the common value on held-out images, and refuses data without attribute labels."""

import json

import numpy as np
import pytest
from PIL import Image

from facegen.config import AttributeConfig, FacegenError
from facegen.data import discover
from facegen.models.attributes import AttributeClassifier
from facegen.training.attributes import attribute_split, train_attributes


def cfg(data, **kw):
    return AttributeConfig(**{**dict(data=str(data), preset="tiny", resolution=32, steps=150, batch_size=32,
                                     checkpoint_every=75, seed=2), **kw})


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    """A larger sample than the session's (60 identities, 12 held out): attributes belong to people, so
    held-out accuracy needs more than three held-out people to mean anything."""
    from facegen.data.sample import write_sample

    return write_sample(tmp_path_factory.mktemp("attr-data") / "celeba", count=1200, seed=5)


@pytest.fixture(scope="module")
def trained(people, tmp_path_factory):
    folder = tmp_path_factory.mktemp("attr") / "a"
    return folder, train_attributes(folder, cfg(people, steps=300), progress=False)


def test_kept_and_dropped_attributes_follow_the_data(trained, people):
    folder, report = trained
    train, _, kept, dropped = attribute_split(discover(people, "all"))
    frame = train.frame
    assert kept and dropped and set(kept).isdisjoint(dropped)
    assert all(frame[a].nunique() > 1 for a in kept) and all(frame[a].nunique() == 1 for a in dropped)
    config = json.loads((folder / "config.json").read_text())
    assert config["kind"] == "attributes" and config["attributes"] == kept and list(report.dropped) == dropped
    assert set(report.attributes) == set(kept)


def test_classifier_beats_guessing_the_common_value(trained):
    folder, report = trained
    acc = np.array([a.accuracy for a in report.attributes.values()])
    base = np.array([a.majority_baseline for a in report.attributes.values()])
    assert acc.mean() > base.mean() + 0.03, (acc.mean(), base.mean())
    with Image.open(folder / "accuracy.png") as im:
        assert im.size[1] > 100
    clf = AttributeClassifier.from_folder(folder)
    images = np.random.default_rng(0).integers(0, 255, (3, 40, 40, 3), dtype=np.uint8)  # any size is resized
    p = clf.probabilities(images)
    assert p.shape == (3, len(clf.names)) and ((p >= 0) & (p <= 1)).all()


def test_data_without_attribute_labels_is_a_one_line_error(celeba_sample, tmp_path):
    folder = tmp_path / "people" / "alice"
    folder.mkdir(parents=True)
    for p in sorted((celeba_sample / "img_align_celeba").iterdir())[:4]:
        (folder / p.name).write_bytes(p.read_bytes())
    with pytest.raises(FacegenError, match="no attribute labels"):
        train_attributes(tmp_path / "a", cfg(tmp_path / "people"), progress=False)
    with pytest.raises(FacegenError, match="--preset"):
        cfg(celeba_sample, preset="huge")


def test_interrupted_training_resumes_to_the_same_weights(celeba_sample, tmp_path, monkeypatch):
    """Dropout's random state is part of what resumes: the masks after a resume are those of a straight run."""
    from conftest import checkpoint_values, ctrl_c_after

    import facegen.training.supervised as loop_mod
    from facegen.config import Interrupted

    train_attributes(tmp_path / "straight", cfg(celeba_sample, steps=60), progress=False)
    ctrl_c_after(monkeypatch, loop_mod, 37)
    with pytest.raises(Interrupted, match="step 37"):
        train_attributes(tmp_path / "r", cfg(celeba_sample, steps=60), progress=False)
    monkeypatch.undo()
    train_attributes(tmp_path / "r", cfg(celeba_sample, steps=60), progress=False)
    a, b = checkpoint_values(tmp_path / "straight"), checkpoint_values(tmp_path / "r")
    assert a.keys() == b.keys() and any("dropout" in k for k in a)
    assert [k for k in a if not np.array_equal(a[k], b[k])] == []
