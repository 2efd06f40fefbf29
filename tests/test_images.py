"""Image helpers: the float -> uint8 rule, grid geometry, encoders that round-trip."""

import io

import numpy as np
from PIL import Image

from facegen.images import encode, float_to_uint8, grid, save_png


def test_float_to_uint8_rounds_to_nearest_and_clips():
    x = np.array([-1.5, -1.0, 0.0, 0.0039, 1.0, 2.0], np.float32)
    assert float_to_uint8(x).tolist() == [0, 0, 128, 128, 255, 255]  # 127.5 rounds half to even: 128


def test_grid_places_every_image_with_padding():
    images = np.stack([np.full((4, 6, 3), i * 40, np.uint8) for i in range(5)])
    g = grid(images, cols=3, pad=1)
    assert g.shape == (2 * 5 + 1, 3 * 7 + 1, 3)
    assert (g[1:5, 1:7] == 0).all() and (g[6:10, 8:14] == 160).all()  # image 0 and image 4 (row 1, col 1)
    assert (g[6:10, 15:21] == 255).all()  # the empty sixth cell stays background


def test_png_is_lossless_and_jpeg_close(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode(img, "png")))), img)
    smooth = np.repeat(np.linspace(0, 255, 16, dtype=np.uint8)[None, :, None], 16, 0).repeat(3, 2)
    jpeg = np.asarray(Image.open(io.BytesIO(encode(smooth, "jpg", quality=95))), np.int16)
    assert np.abs(jpeg - smooth).max() < 12
    save_png(tmp_path / "g.png", img)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "g.png")), img)
