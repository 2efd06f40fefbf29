"""facegen: train a DCGAN on faces and export labeled synthetic face datasets."""

from facegen import _env  # noqa: F401  (sets TensorFlow's environment before anything imports it)

__version__ = "0.1.0"
