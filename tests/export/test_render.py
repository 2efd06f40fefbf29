"""`facegen export` on a tiny trained model: layout, manifest vs disk, exactness across batch sizes,
resume after interruption and a full disk, realism scoring, protected folders."""

import errno

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import EXPORT_K, EXPORT_M, digest, export_cfg, interrupt_export_after

from facegen.config import FacegenError, Interrupted
from facegen.export import render as export_mod
from facegen.export.manifest import COLUMNS, EXPORT_JSON, STATE_DIR, read_manifest
from facegen.export.render import export
from facegen.metrics.identity import within_identity_variety

K, M = EXPORT_K, EXPORT_M
cfg = export_cfg


def test_layout_manifest_and_disk_agree_and_keras_loads_it(straight):
    from conftest import check_export

    check_export(straight, K, M, step=30, seed=11, size=32)


def test_same_bytes_whatever_the_batch_size(run, straight, tmp_path):
    for batch in (16, 40):  # 40 is not a whole number of 16-image blocks: it renders 48 per dispatch
        export(run, tmp_path / f"b{batch}", cfg(batch_size=batch, workers=1), progress=False)
        assert digest(tmp_path / f"b{batch}") == digest(straight)


@pytest.mark.parametrize("precision", ["off", "bfloat16"])
def test_each_precision_is_exact_across_batch_sizes_and_recorded(run, tmp_path, precision):
    """The guarantee per policy: the same machine and policy give the same bytes (auto picks one of these)."""
    small = dict(identities=4, per_identity=20)
    for batch in (16, 48):
        export(run, tmp_path / f"b{batch}", cfg(batch_size=batch, precision=precision, **small), progress=False)
    assert digest(tmp_path / "b16") == digest(tmp_path / "b48")
    record = pd.read_json(tmp_path / "b16" / EXPORT_JSON, typ="series")
    assert record["settings"].get("precision", "off") == precision and record["hardware"]
    # A resumed export under auto keeps the folder's policy whatever this machine would pick.
    again = export(run, tmp_path / "b16", cfg(batch_size=16, **small), progress=False)
    assert again.already_complete


def test_bfloat16_images_are_the_same_faces(run, tmp_path):
    """bfloat16 generation rounds differently, it does not draw other images."""
    small = dict(identities=4, per_identity=20)
    images = {}
    for precision in ("off", "bfloat16"):
        export(run, tmp_path / precision, cfg(precision=precision, **small), progress=False)
        images[precision] = _images(tmp_path / precision)[0].astype(np.float32)
    diff = np.abs(images["off"] - images["bfloat16"])
    assert diff.mean() < 4.0, diff.mean()  # of 255 levels


def _images(folder):
    from facegen.metrics.evaluate import fake_images_from_export

    images, _, labels = fake_images_from_export(folder)
    return images, labels


def test_variation_sets_how_alike_an_identity_s_images_are(run, straight, tmp_path):
    export(run, tmp_path / "free", cfg(variation=1.0), progress=False)
    img, labels = _images(straight)
    assert np.unique(img.reshape(K * M, -1), axis=0).shape[0] == K * M  # no two images are copies
    # An identity's images stay closer than unrelated ones.
    assert 0 < within_identity_variety(img, labels) < 0.8 * within_identity_variety(*_images(tmp_path / "free"))


def test_interrupted_export_resumes_to_the_same_bytes(run, straight, tmp_path, monkeypatch):
    real_write = export_mod._write
    interrupt_export_after(monkeypatch, 250)
    out = tmp_path / "resumed"
    with pytest.raises(Interrupted):
        export(run, out, cfg(workers=1), progress=False)
    assert not (out / "manifest.csv").exists() and (out / STATE_DIR / "journal.csv").exists()
    # Whatever is under a final name is complete; the journal lists only such files.
    for p in out.glob("*/*.png"):
        Image.open(p).verify()
    journal = pd.read_csv(out / STATE_DIR / "journal.csv", header=None, names=COLUMNS)
    assert 0 < len(journal) < 250 and all((out / p).exists() for p in journal["path"])
    # A kill that tore the journal's last line is survived too.
    with open(out / STATE_DIR / "journal.csv", "a") as f:
        f.write("id_000009/id_000009_0003.png,id_0000")
    monkeypatch.setattr(export_mod, "_write", real_write)
    result = export(run, out, cfg(batch_size=32), progress=False)
    assert 0 < result.written < K * M
    assert digest(out) == digest(straight)


def test_existing_folders_are_protected(run, straight, tmp_path):
    assert export(run, straight, cfg(), progress=False).already_complete
    with pytest.raises(FacegenError, match="different export"):
        export(run, straight, cfg(seed=12), progress=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(FacegenError, match="not empty"):
        export(run, other, cfg(identities=2, per_identity=2), progress=False)
    assert (other / "keep.txt").read_text() == "mine"
    export(run, other, cfg(identities=2, per_identity=2), overwrite=True, progress=False)
    assert len(read_manifest(other)) == 4 and not (other / "keep.txt").exists()


def test_disk_full_stops_cleanly_and_resumes(run, tmp_path, monkeypatch):
    real_write, calls = export_mod._write, {"n": 0}

    def full_disk(path, image, fmt, quality):
        calls["n"] += 1
        if calls["n"] > 40:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, image, fmt, quality)

    monkeypatch.setattr(export_mod, "_write", full_disk)
    out = tmp_path / "full"
    with pytest.raises(FacegenError, match="No space left on device"):
        export(run, out, cfg(identities=4, per_identity=30, batch_size=16, workers=1), progress=False)
    journal = pd.read_csv(out / STATE_DIR / "journal.csv", header=None, names=COLUMNS)
    assert 0 < len(journal) <= 40 and all((out / p).exists() for p in journal["path"])
    monkeypatch.setattr(export_mod, "_write", real_write)
    export(run, out, cfg(identities=4, per_identity=30), progress=False)
    assert len(read_manifest(out)) == 120


def test_resize_and_jpeg(run, tmp_path):
    export(run, tmp_path / "j", cfg(identities=2, per_identity=3, format="jpg", quality=90, size=112), progress=False)
    frame = read_manifest(tmp_path / "j")
    assert frame["path"].str.endswith(".jpg").all()
    with Image.open(tmp_path / "j" / frame["path"][0]) as im:
        assert im.format == "JPEG" and im.size == (112, 112)


def test_realism_is_scored_only_when_asked_and_leaves_the_images_alone(run, straight, tmp_path):
    export(run, tmp_path / "scored", cfg(realism=True), progress=False)
    from conftest import check_export

    check_export(tmp_path / "scored", K, M, step=30, seed=11, size=32, realism=True)
    images = {k: v for k, v in digest(tmp_path / "scored").items() if k.endswith(".png")}
    assert images == {k: v for k, v in digest(straight).items() if k.endswith(".png")}
    assert read_manifest(tmp_path / "scored")["realism"].nunique() > 1


def test_min_realism_redraws_deterministically(run, tmp_path):
    export(run, tmp_path / "scored", cfg(realism=True), progress=False)
    threshold = float(read_manifest(tmp_path / "scored")["realism"].median())
    a = tmp_path / "a"
    export(run, a, cfg(min_realism=threshold), progress=False)
    frame = read_manifest(a)
    assert (frame["attempt"] > 0).sum() > 0
    ok = frame["realism"] >= threshold
    assert ok.mean() > 0.5 + 0.2  # redraws lift the share well above the median cut
    export(run, tmp_path / "b", cfg(min_realism=threshold, batch_size=16), progress=False)
    assert digest(tmp_path / "b") == digest(a)


@pytest.mark.parametrize("kw, message", [
    (dict(batch_size=0), "--batch-size"), (dict(format="gif"), "--format"), (dict(size=4), "--size"),
    (dict(min_realism=1.5), "--min-realism"), (dict(quality=0), "--quality"),
])
def test_bad_settings(kw, message):
    with pytest.raises(FacegenError, match=message):
        cfg(**kw)
