"""`facegen mix`: real and synthetic identities in one dataset: layout, labels, manifest == disk, what Keras
and ImageFolder see, links, resume after interruption, refusals."""

import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from conftest import EXPORT_K as K
from conftest import EXPORT_M as M
from conftest import digest

from facegen.config import FacegenError, MixConfig
from facegen.data import discover
from facegen.export import mix as mix_mod
from facegen.export.mix import MIX_JSON, MIX_STATE, mix

REAL_IDS, SYNTH_IDS = 5, 4


def cfg(real, synth, **kw):
    return MixConfig(real=str(real), synth=tuple(str(s) for s in synth),
                     **{"real_identities": REAL_IDS, "synth_identities": SYNTH_IDS, **kw})


@pytest.fixture(scope="module")
def mixed(celeba_sample, straight, tmp_path_factory):
    out = tmp_path_factory.mktemp("mix") / "mixed"
    mix(cfg(celeba_sample, [straight]), out, progress=False)
    return out


def image_folder_classes(root):
    """torchvision.datasets.ImageFolder's rule (find_classes): sorted sub-folder names, index = label."""
    return sorted(e.name for e in os.scandir(root) if e.is_dir())


def test_layout_labels_and_manifest_agree_with_disk(mixed, celeba_sample):
    frame = pd.read_csv(mixed / "manifest.csv", dtype={"source_identity": str})
    n = REAL_IDS + SYNTH_IDS
    assert sorted(frame["label"].unique()) == list(range(n))  # contiguous
    real, synth = frame[frame["source"] == "real"], frame[frame["source"] != "real"]
    assert set(real["label"]) == set(range(REAL_IDS)) and set(synth["label"]) == set(range(REAL_IDS, n))
    assert len(synth) == SYNTH_IDS * M and real["source_identity"].nunique() == REAL_IDS
    # Real identities come from the training partition only, with all their images.
    source = discover(celeba_sample, "train").frame
    train_ids = set(source["identity"].astype(int).astype(str))
    assert set(real["source_identity"]) <= train_ids
    assert len(real) == int(source["identity"].astype(int).astype(str).isin(set(real["source_identity"])).sum())
    # manifest == disk: every listed file exists and decodes at one size, nothing unlisted.
    on_disk = {str(p.relative_to(mixed)) for p in mixed.glob("*/*") if p.is_file()}
    assert on_disk == set(frame["path"])
    sizes = {Image.open(mixed / p).size for p in frame["path"]}
    assert sizes == {(32, 32)}
    # Folder order is label order: what Keras and ImageFolder assign is the manifest's label.
    classes = image_folder_classes(mixed)
    assert len(classes) == n
    assert all(frame.loc[frame["identity"] == c, "label"].eq(i).all() for i, c in enumerate(classes))
    lst = pd.read_csv(mixed / "im2rec.lst", sep="\t", header=None, names=["index", "label", "path"])
    assert lst["path"].tolist() == frame["path"].tolist() and lst["label"].tolist() == frame["label"].tolist()
    assert lst["index"].tolist() == list(range(len(frame)))


def test_keras_sees_every_identity(mixed):
    import keras

    ds = keras.utils.image_dataset_from_directory(mixed, image_size=(32, 32), batch_size=64, verbose=False)
    assert len(ds.class_names) == REAL_IDS + SYNTH_IDS
    assert sum(int(x.shape[0]) for x, _ in ds) == len(pd.read_csv(mixed / "manifest.csv"))


def test_synthetic_images_are_linked_or_copied_unchanged(mixed, straight, celeba_sample, tmp_path):
    frame = pd.read_csv(mixed / "manifest.csv")
    synth = frame[frame["source"] != "real"].iloc[0]
    assert (mixed / synth["path"]).read_bytes() == open(synth["source_path"], "rb").read()
    assert os.stat(mixed / synth["path"]).st_nlink > 1  # same file system: a hard link
    copied = tmp_path / "copied"
    mix(cfg(celeba_sample, [straight], link=False, real_identities=1, synth_identities=1), copied, progress=False)
    first = pd.read_csv(copied / "manifest.csv").iloc[-1]
    assert os.stat(copied / first["path"]).st_nlink == 1


def test_selection_is_deterministic_and_seeded(celeba_sample, straight, tmp_path):
    picks = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 5)):
        mix(cfg(celeba_sample, [straight], seed=seed), tmp_path / name, progress=False)
        frame = pd.read_csv(tmp_path / name / "manifest.csv", dtype={"source_identity": str})
        picks[name] = frame.drop_duplicates("identity")["source_identity"].tolist()
    assert picks["a"] == picks["b"] and picks["a"] != picks["c"]


def test_two_exports_get_disjoint_labels(celeba_sample, straight, run, tmp_path):
    from conftest import export_cfg

    from facegen.export.render import export

    other = tmp_path / "other"
    export(run, other, export_cfg(identities=3, per_identity=5, seed=99), progress=False)
    mix(cfg(celeba_sample, [straight, other], synth_identities=None, real_identities=2), tmp_path / "m", progress=False)
    frame = pd.read_csv(tmp_path / "m" / "manifest.csv")
    per_source = frame.groupby("source")["label"].agg(["min", "max", "nunique"])
    assert per_source.loc["real"].tolist() == [0, 1, 2]
    assert per_source.loc[str(straight.resolve())].tolist() == [2, 2 + K - 1, K]
    assert per_source.loc[str(other.resolve())].tolist() == [2 + K, 2 + K + 2, 3]


def test_interrupted_mix_resumes_to_the_same_bytes(mixed, celeba_sample, straight, tmp_path, monkeypatch):
    out = tmp_path / "resumed"
    calls = {"n": 0}
    real_write = mix_mod.write_bytes

    def failing_write(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt
        return real_write(*a, **kw)

    monkeypatch.setattr(mix_mod, "write_bytes", failing_write)
    with pytest.raises(KeyboardInterrupt):
        mix(cfg(celeba_sample, [straight]), out, progress=False)
    assert (out / MIX_STATE).exists() and not (out / MIX_JSON).exists()
    monkeypatch.setattr(mix_mod, "write_bytes", real_write)
    mix(cfg(celeba_sample, [straight]), out, progress=False)
    assert not (out / MIX_STATE).exists()
    assert digest(out, skip=(MIX_JSON,)) == digest(mixed, skip=(MIX_JSON,))


def test_refusals_are_one_line_errors(mixed, celeba_sample, straight, tmp_path):
    with pytest.raises(FacegenError, match="overlaps"):
        mix(cfg(celeba_sample, [straight]), straight / "inside", progress=False)
    with pytest.raises(FacegenError, match="different mix"):
        mix(cfg(celeba_sample, [straight], seed=9), mixed, progress=False)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(FacegenError, match="not a facegen mix"):
        mix(cfg(celeba_sample, [straight]), tmp_path / "busy", progress=False)
    with pytest.raises(FacegenError, match="not a finished facegen export"):
        mix(cfg(celeba_sample, [celeba_sample]), tmp_path / "m1", progress=False)
    flat = tmp_path / "flat"
    flat.mkdir()
    for p in sorted((celeba_sample / "img_align_celeba").iterdir())[:3]:
        (flat / p.name).write_bytes(p.read_bytes())
    with pytest.raises(FacegenError, match="no identity labels"):
        mix(cfg(flat, [straight]), tmp_path / "m2", progress=False)
    with pytest.raises(FacegenError, match="--real-identities"):
        cfg(celeba_sample, [straight], real_identities=-1)


def test_an_undecodable_real_image_is_refused(celeba_sample, straight, tmp_path):
    import shutil

    real = tmp_path / "real"
    shutil.copytree(celeba_sample, real)
    victim = sorted((real / "img_align_celeba").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:200])
    with pytest.raises(FacegenError, match="does not decode"):
        mix(cfg(real, [straight], real_identities=None), tmp_path / "m", progress=False)


def test_cli_mixes_and_refuses_in_one_line(celeba_sample, straight, tmp_path):
    from conftest import facegen_cli as facegen

    ok = facegen("mix", "--real", celeba_sample, "--synth", straight, "--out", tmp_path / "m", "--real-identities", 2,
                 "--synth-identities", 2, "--quiet")
    assert ok.returncode == 0, ok.stderr
    assert len(np.unique(pd.read_csv(tmp_path / "m" / "manifest.csv")["label"])) == 4
    bad = facegen("mix", "--real", celeba_sample, "--synth", tmp_path / "nope", "--out", tmp_path / "m2")
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1 and "not a finished" in bad.stderr


def test_real_only_and_synthetic_only_sets(celeba_sample, straight, tmp_path):
    """The augmentation experiment's other arms: a prepared real subset, a synthetic subset."""
    real = mix(MixConfig(real=str(celeba_sample), real_identities=3, size=24, format="jpg"), tmp_path / "r",
               progress=False)
    frame = pd.read_csv(tmp_path / "r" / "manifest.csv")
    assert real.real_identities == 3 and set(frame["source"]) == {"real"}
    assert {Image.open(tmp_path / "r" / p).size for p in frame["path"]} == {(24, 24)}
    assert all(p.endswith(".jpg") for p in frame["path"])
    synth = mix(MixConfig(real=None, synth=(str(straight),), real_identities=0, synth_identities=2), tmp_path / "s",
                progress=False)
    assert synth.record["counts"]["real_images"] == 0 and synth.images == 2 * M and synth.synth_identities == (2,)
    with pytest.raises(FacegenError, match="--size"):
        MixConfig(real=str(celeba_sample))
    with pytest.raises(FacegenError, match="--real"):
        MixConfig(real=None, synth=(str(straight),))
    with pytest.raises(FacegenError, match="empty"):
        mix(MixConfig(real=None, synth=(str(straight),), real_identities=0, synth_identities=0), tmp_path / "e",
            progress=False)
