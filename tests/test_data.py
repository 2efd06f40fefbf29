"""Discovery and decoding: the CelebA layout, flat and per-identity folders, odd modes and broken files."""

import logging

import numpy as np
import pytest
from PIL import Image

from facegen.config import DataConfig, FacegenError
from facegen.data import (CELEBA_CROP, TrainingData, discover, epoch_order, index_stream, load_image,
                          read_celeba_attributes)
from facegen.sample_data import CELEBA_ATTRIBUTES, HEIGHT, WIDTH


def test_sample_is_laid_out_like_celeba(celeba_sample):
    images = sorted((celeba_sample / "img_align_celeba").iterdir())
    assert [p.name for p in images[:2]] == ["000001.jpg", "000002.jpg"] and len(images) == 300
    with Image.open(images[0]) as im:
        assert im.size == (WIDTH, HEIGHT) and im.format == "JPEG" and im.mode == "RGB"
    lines = (celeba_sample / "list_attr_celeba.txt").read_text().splitlines()
    assert lines[0] == "300" and lines[1].split() == CELEBA_ATTRIBUTES
    assert lines[2].split()[0] == "000001.jpg" and set(lines[2].split()[1:]) <= {"-1", "1"}
    first = (celeba_sample / "identity_CelebA.txt").read_text().splitlines()[0].split(" ")
    assert first[0] == "000001.jpg" and int(first[1]) >= 1
    assert "NOT CelebA" in (celeba_sample / "README.txt").read_text()


def test_celeba_loader_gives_identities_attributes_and_partitions(celeba_sample):
    source = discover(celeba_sample)
    assert source.layout == "celeba" and len(source) == 300
    assert source.frame["identity"].nunique() == 15
    assert source.frame["Eyeglasses"].isin([-1, 1]).all()
    assert (source.frame["Attractive"] == -1).all()  # not drawn, so not claimed
    # Identities never cross partitions, as in CelebA.
    assert source.frame.groupby("identity")["partition"].nunique().max() == 1
    train = discover(celeba_sample, "train")
    assert 0 < len(train) < 300 and (train.frame["partition"] == 0).all()
    # The images folder itself is accepted too.
    assert len(discover(celeba_sample / "img_align_celeba")) == 300


def test_attribute_file_with_bom_and_padding(tmp_path):
    names = " ".join(CELEBA_ATTRIBUTES[:3])
    (tmp_path / "a.txt").write_text("\ufeff2\n" + names + " \n000001.jpg -1  1 -1\n000002.jpg  1 -1  1\n",
                                    encoding="utf-8")
    df = read_celeba_attributes(tmp_path / "a.txt")
    assert list(df.columns) == CELEBA_ATTRIBUTES[:3] and df.loc["000002.jpg"].tolist() == [1, -1, 1]


def test_celeba_crop_is_the_centre_108(celeba_sample):
    path = str(celeba_sample / "img_align_celeba" / "000001.jpg")
    full = np.asarray(Image.open(path).convert("RGB"))
    top, left = (HEIGHT - CELEBA_CROP) // 2, (WIDTH - CELEBA_CROP) // 2
    crop = full[top:top + CELEBA_CROP, left:left + CELEBA_CROP]
    got = load_image(path, CELEBA_CROP, CELEBA_CROP)
    assert got.shape == (108, 108, 3) and np.array_equal(got, crop)
    assert load_image(path, 64, CELEBA_CROP).shape == (64, 64, 3)


def _write_odd_images(folder):
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


def test_flat_folder_with_every_mode_and_broken_files(tmp_path, caplog):
    _write_odd_images(tmp_path / "flat")
    source = discover(tmp_path / "flat")
    assert source.layout == "flat" and len(source) == 9  # readme.txt is not an image
    assert source.frame["identity"].isna().all()
    assert load_image(str(tmp_path / "flat" / "deep.png"), 8).min() == 255  # scaled, not clipped to 255
    assert load_image(str(tmp_path / "flat" / "truncated.jpg"), 8) is None
    with caplog.at_level(logging.WARNING, logger="facegen"):
        data = TrainingData(source, DataConfig(resolution=16), progress=False)
    assert len(data) == 7 and data.images.shape == (7, 16, 16, 3) and data.images.dtype == np.uint8
    assert data.skips.count == 2
    assert "2 skipped so far" in caplog.text and "truncated.jpg" in caplog.text


def test_identity_folders(tmp_path):
    for who in ("bob", "alice"):
        _write_odd_images(tmp_path / "people" / who)
    source = discover(tmp_path / "people")
    assert source.layout == "identity-folders"
    labels = dict(zip(source.frame["identity_name"], source.frame["identity"]))
    assert labels == {"alice": 0, "bob": 1}  # sorted folder names, as ImageFolder does


@pytest.mark.parametrize("make", ["missing", "empty", "no_images"])
def test_unusable_folders_are_one_clear_error(tmp_path, make):
    path = tmp_path / "d"
    if make != "missing":
        path.mkdir()
    if make == "no_images":
        (path / "a.txt").write_text("x")
    with pytest.raises(FacegenError, match=str(path)):
        discover(path)


def test_stream_is_a_pure_function_of_seed_and_position():
    assert sorted(epoch_order(1, 0, 10).tolist()) == list(range(10))
    full = [i for _, i in zip(range(35), index_stream(1, 10))]
    assert [i for _, i in zip(range(12), index_stream(1, 10, start=23))] == full[23:35]
    assert epoch_order(1, 0, 10).tolist() != epoch_order(1, 1, 10).tolist()


@pytest.mark.parametrize("cache", [True, False])
def test_dataset_batches_in_range_and_resumable(celeba_sample, cache):
    data = TrainingData(discover(celeba_sample), DataConfig(resolution=32, cache=cache), progress=False)
    batches = [b.numpy() for _, b in zip(range(3), data.dataset(8, seed=2))]
    assert batches[0].shape == (8, 32, 32, 3) and batches[0].dtype == np.float32
    assert -1.0 <= batches[0].min() and batches[0].max() <= 1.0
    resumed = next(iter(data.dataset(8, seed=2, start_step=2))).numpy()
    assert np.array_equal(resumed, batches[2])
