"""Image conversions (float <-> uint8), sample grids, and encoding."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image

from facegen.atomic import write_bytes


def float_to_uint8(images: np.ndarray) -> np.ndarray:
    """[-1, 1] floats -> uint8, rounding to nearest (numpy side of the tf conversion in sampling)."""
    return np.clip(np.rint((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def grid(images: np.ndarray, cols: int | None = None, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Tile uint8 images [n, h, w, 3] into one uint8 image, `cols` per row (default: square-ish)."""
    n, h, w, c = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), fill, np.uint8)
    for i, img in enumerate(images):
        r, k = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + k * (w + pad)
        out[y:y + h, x:x + w] = img
    return out


def encode(image: np.ndarray, fmt: str = "png", quality: int = 95, compress_level: int = 1) -> bytes:
    """Encode one uint8 image. PNG level 1 is ~1.5x faster than the default for ~13% larger files."""
    buf = io.BytesIO()
    if fmt == "png":
        Image.fromarray(image).save(buf, format="PNG", compress_level=compress_level)
    else:
        Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def save_png(path: Path | str, image: np.ndarray) -> None:
    write_bytes(path, encode(image, "png", compress_level=6))


def check_decodes(path: Path | str, context: str = "") -> None:
    """A one-line error for a file that is missing or does not decode as an image (decoded in full: a damaged
    JPEG passes PIL's verify())."""
    from PIL import Image

    from facegen.config import FacegenError

    if not Path(path).is_file():
        raise FacegenError(f"{context}{path} is missing")
    try:
        with Image.open(path) as im:
            im.load()
    except (OSError, SyntaxError, ValueError) as e:
        raise FacegenError(f"{context}{path} does not decode as an image ({e})") from None
