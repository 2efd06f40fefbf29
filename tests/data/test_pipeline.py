"""Decoding and the stream: the CelebA crop, odd modes and broken files, a stream that is a pure function of
(seed, position), resumable batches."""

import logging

import numpy as np
import pytest
from conftest import write_odd_images
from PIL import Image

from facegen.config import DataConfig
from facegen.data import CELEBA_CROP, TrainingData, discover
from facegen.data.pipeline import epoch_order, index_stream, load_image
from facegen.data.sample import HEIGHT, WIDTH


def test_celeba_crop_is_the_centre_108(celeba_sample):
    path = str(celeba_sample / "img_align_celeba" / "000001.jpg")
    full = np.asarray(Image.open(path).convert("RGB"))
    top, left = (HEIGHT - CELEBA_CROP) // 2, (WIDTH - CELEBA_CROP) // 2
    crop = full[top:top + CELEBA_CROP, left:left + CELEBA_CROP]
    got = load_image(path, CELEBA_CROP, CELEBA_CROP)
    assert got.shape == (108, 108, 3) and np.array_equal(got, crop)
    assert load_image(path, 64, CELEBA_CROP).shape == (64, 64, 3)


def test_flat_folder_with_every_mode_and_broken_files(tmp_path, caplog):
    write_odd_images(tmp_path / "flat")
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
