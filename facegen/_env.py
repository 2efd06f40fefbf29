"""Process environment TensorFlow reads at import time, and a quiet first import of TensorFlow."""

from __future__ import annotations

import os

_QUIET = "TF_CPP_MIN_LOG_LEVEL" not in os.environ
# TensorFlow's C++ start-up lines (CUDA probing, CPU feature notes) are noise for a CLI user;
# a user who wants them sets the variable themselves.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# oneDNN kernels are off by default on our AMD CPUs and are worth 2.5-3.8x there (bench/RESULTS.md).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and probe its devices with stderr muted.

    TF 2.21 writes its start-up lines through absl before TF_CPP_MIN_LOG_LEVEL is read, so the variable
    alone does not hide them. Only done when the user has not set TF_CPP_MIN_LOG_LEVEL themselves.
    """
    if not _QUIET:
        import tensorflow  # noqa: F401
        return
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
