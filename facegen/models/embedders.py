"""The models that verify and judge exports, by their folder's kind: a trained facegen embedder or an ONNX
recognizer calibrated as one (facegen.models.onnx_embedder)."""

from __future__ import annotations

from pathlib import Path

from facegen.models.embedder import EMBEDDER_KIND, Embedder
from facegen.run import EMBEDDER_KINDS, ONNX_EMBEDDER_KIND, folder_kind, read_folder_config


def _onnx(folder: Path, precision: str) -> Embedder:
    from facegen.models.onnx_embedder import OnnxEmbedder  # onnxruntime only where a recognizer is asked for

    return OnnxEmbedder.from_folder(folder, precision)


LOADERS = {EMBEDDER_KIND: Embedder.from_folder, ONNX_EMBEDDER_KIND: _onnx}
assert set(LOADERS) == set(EMBEDDER_KINDS)


def load_embedder(folder: str | Path, precision: str = "off") -> Embedder:
    """The embedder in `folder`, whichever kind; a one-line error for a folder that is neither."""
    folder = Path(folder)
    read_folder_config(folder, EMBEDDER_KINDS, "embedder")
    return LOADERS[folder_kind(folder, "embedder")](folder, precision)
