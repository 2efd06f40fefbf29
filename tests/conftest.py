"""Shared fixtures: a CelebA-layout sample drawn once per session and a tiny config that trains in seconds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import facegen  # noqa: F401  (sets the TensorFlow environment before any test imports it)
from facegen.config import DataConfig, RunConfig, TrainConfig, preset
from facegen.data.sample import write_sample


@pytest.fixture(scope="session")
def celeba_sample(tmp_path_factory) -> Path:
    """300 drawn faces in the exact aligned-CelebA layout (15 identities)."""
    return write_sample(tmp_path_factory.mktemp("data") / "celeba", count=300, seed=0)


def tiny_config(data: Path, mode: str = "plain", **train) -> RunConfig:
    """The `tiny` preset at 32x32 with a small batch: real code, seconds to train."""
    t = dataclasses.replace(TrainConfig(), preset="tiny", batch_size=16, steps=4, seed=3, checkpoint_every=1000,
                            sample_every=1000, log_every=1)
    return RunConfig(model=preset("tiny", 32, mode), data=DataConfig(path=str(data), resolution=32, partition="all"),
                     train=dataclasses.replace(t, **train))


def embedder_config(data: Path, **kw):
    """The `tiny` embedder at 32x32: learns the sample's identities in about ten seconds."""
    from facegen.config import EmbedderConfig

    return EmbedderConfig(**{**dict(data=str(data), preset="tiny", resolution=32, steps=150, batch_size=32,
                                    checkpoint_every=50, seed=1), **kw})


@pytest.fixture(scope="session")
def trained_embedder(celeba_sample, tmp_path_factory):
    """(folder, report) of a tiny embedder trained on the sample's training identities."""
    from facegen.training.embedder import train_embedder

    folder = tmp_path_factory.mktemp("embedder") / "e"
    return folder, train_embedder(folder, embedder_config(celeba_sample), progress=False)


@pytest.fixture(scope="session")
def trained_attributes(celeba_sample, tmp_path_factory):
    """(folder, report) of a tiny attribute classifier trained briefly on the sample."""
    from facegen.config import AttributeConfig
    from facegen.training.attributes import train_attributes

    folder = tmp_path_factory.mktemp("attributes") / "a"
    cfg = AttributeConfig(data=str(celeba_sample), preset="tiny", resolution=32, steps=40, batch_size=32, seed=4)
    return folder, train_attributes(folder, cfg, progress=False)


@pytest.fixture
def tiny_cfg(celeba_sample):
    return lambda **train: tiny_config(celeba_sample, **train)


def check_export(folder: Path, k: int, m: int, step: int, seed: int, size: int, realism: bool = False) -> None:
    """What a user checks on any export: layout, manifest == disk, files decode, im2rec.lst, Keras labels."""
    import numpy as np
    import pandas as pd
    import tensorflow as tf
    from PIL import Image

    from facegen.export.manifest import COLUMNS, STATE_DIR, read_manifest

    frame = read_manifest(folder)
    assert list(frame.columns) == COLUMNS and len(frame) == k * m
    folders = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert folders == [f"id_{i:06d}" for i in range(1, k + 1)]
    on_disk = sorted(str(p.relative_to(folder)) for p in folder.glob("*/*"))
    assert on_disk == sorted(frame["path"])  # no extra, no missing, no temp files
    assert (frame["label"] == frame["identity"].map({f: i for i, f in enumerate(folders)})).all()
    assert frame["path"].tolist()[:2] == ["id_000001/id_000001_0000.png", "id_000001/id_000001_0001.png"]
    # D scores only when asked (--realism or --min-realism); otherwise the column is empty.
    assert frame["realism"].between(0, 1).all() if realism else frame["realism"].isna().all()
    assert (frame["step"] == step).all() and (frame["seed"] == seed).all()
    for p in frame["path"]:
        with Image.open(folder / p) as im:
            assert im.size == (size, size) and im.mode == "RGB"
    lst = (folder / "im2rec.lst").read_text().splitlines()
    assert len(lst) == k * m and lst[m] == f"{m}\t1\tid_000002/id_000002_0000.png"  # im2rec: index, label, path
    assert not (folder / STATE_DIR).exists()
    ds = tf.keras.utils.image_dataset_from_directory(folder, image_size=(size, size), batch_size=100, shuffle=False)
    assert ds.class_names == folders
    labels = np.concatenate([y.numpy() for _, y in ds])
    assert np.array_equal(labels, pd.read_csv(folder / "manifest.csv")["label"].to_numpy())


def checkpoint_values(run_dir):
    """Every variable of the latest checkpoint by name (weights, EMA, both Adams, RNG, step); not the
    save_counter, which counts how many times the run was saved rather than training state."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints"))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if "OBJECT_GRAPH" not in k and not k.startswith("save_counter")}


def write_odd_images(folder: Path) -> None:
    """Images in every mode facegen converts (grey, RGBA, CMYK, 16-bit, webp, bmp) plus a truncated file, a
    non-image with an image extension and a text file."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(folder / "rgb.jpg")
    Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8), "L").save(folder / "gray.png")
    Image.fromarray(rng.integers(0, 255, (40, 40, 4), dtype=np.uint8), "RGBA").save(folder / "rgba.png")
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(np.full((40, 40), 65535, dtype=np.uint16)).save(folder / "deep.png")  # 16-bit white
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / "pic.webp")
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / "pic.bmp")
    good = folder / "rgb.jpg"
    (folder / "truncated.jpg").write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    (folder / "notes.png").write_text("not an image")
    (folder / "readme.txt").write_text("ignored: not an image extension")


@pytest.fixture(scope="session")
def verification_sample(tmp_path_factory) -> Path:
    """400 drawn faces (20 identities, 4 of them held out as val+test): enough people for two folds of
    verification pairs, which the 300-image sample's 3 held-out identities are not."""
    return write_sample(tmp_path_factory.mktemp("people") / "celeba", count=400, seed=0)


def ctrl_c_after(monkeypatch, module, steps: int) -> None:
    """Make `module`'s progress bar press Ctrl-C once `steps` steps are done (the loop saves, then stops);
    monkeypatch.undo() or a new monkeypatch puts the real bar back."""
    real = module.tqdm

    class Interrupting(real):
        done = 0

        def update(self, n=1):
            super().update(n)
            Interrupting.done += n
            if Interrupting.done == steps:
                raise KeyboardInterrupt

    monkeypatch.setattr(module, "tqdm", Interrupting)


# The export tests' tiny run and its export, trained and written once per session and shared (read-only) by every
# export test module.
EXPORT_K, EXPORT_M = 12, 50  # 600 images: 1.8M pixels at 32x32, enough for a rare rounding flip to show


def export_cfg(**kw):
    """The export tests' ExportConfig: 12 x 50 images in 16-image blocks, overridden by `kw`."""
    from facegen.config import ExportConfig

    return ExportConfig(**{**dict(identities=EXPORT_K, per_identity=EXPORT_M, seed=11, block=16, batch_size=64), **kw})


def digest(folder, skip=("export.json", "README.md")):
    """sha256 of every file under the folder by relative path (the dataset's bytes; records with dates and
    commands, `skip`, aside)."""
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in skip}


def facegen_cli(*args, cwd=None, **env):
    """`python -m facegen ARGS` in a subprocess, as a user runs it."""
    import os
    import subprocess
    import sys

    env = {**{k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "FACEGEN_TF_LOGS")}, **env}
    return subprocess.run([sys.executable, "-m", "facegen", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


def interrupt_export_after(monkeypatch, n):
    """Ctrl-C while the export writes its n-th image (monkeypatch.undo() restores the writer)."""
    from facegen.export import render

    real_write, calls = render._write, {"n": 0}

    def dying_write(*a):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        real_write(*a)

    monkeypatch.setattr(render, "_write", dying_write)


@pytest.fixture(scope="session")
def run(tmp_path_factory, celeba_sample):
    """A tiny plain run trained 30 steps (tests must not write into it)."""
    from facegen.training.loop import train

    run_dir = tmp_path_factory.mktemp("run") / "tiny"
    train(run_dir, tiny_config(celeba_sample, steps=30), progress=False)
    return run_dir


@pytest.fixture(scope="session")
def straight(run, tmp_path_factory):
    """The run's 12 x 50 export with export_cfg() (tests must not write into it)."""
    from facegen.export.render import export

    out = tmp_path_factory.mktemp("exp") / "straight"
    export(run, out, export_cfg(), progress=False)
    return out
