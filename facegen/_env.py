"""Process environment TensorFlow reads at import time, and a quiet first import of TensorFlow."""

from __future__ import annotations

import os

# A user who wants TensorFlow's own start-up and C++ log lines sets FACEGEN_TF_LOGS=1; otherwise facegen's
# output is all they see, whatever TF_CPP_MIN_LOG_LEVEL their shell carries (TF 2.21 prints its CUDA
# probing and CPU notes through absl before it reads that variable, so the variable alone hides nothing).
TF_LOGS = os.environ.get("FACEGEN_TF_LOGS", "") not in ("", "0")
if not TF_LOGS:
    # Overrides a shell's TF_CPP_MIN_LOG_LEVEL=2: level 2 still lets C++ errors through that are noise here
    # (tf.data's "NodeDef mentions attribute ..." during training, CUDA's cuInit on a CPU machine).
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
# oneDNN kernels are off by default on our AMD CPUs and are worth 2.5-3.8x there (bench/RESULTS.md).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and probe its devices with stderr muted (unless FACEGEN_TF_LOGS=1)."""
    if TF_LOGS:
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
