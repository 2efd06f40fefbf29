"""facegen: train a DCGAN on faces and export labeled synthetic face datasets.

The library's entry points, importable from here without knowing the package layout (each loads its module,
and TensorFlow quietly, only when first used): train, init_run, merge, evaluate, Generator, and the config
records RunConfig, ModelConfig, DataConfig, TrainConfig, ExportConfig; `facegen.export.export` writes a
dataset and `facegen.data` reads real images.
"""

from facegen import _env  # noqa: F401  (sets TensorFlow's environment before anything imports it)

__version__ = "0.1.0"

_PUBLIC = {
    "train": "facegen.training.loop", "init_run": "facegen.training.loop",
    "merge": "facegen.export.merge", "evaluate": "facegen.metrics.evaluate", "Generator": "facegen.models.generator",
    "RunConfig": "facegen.config", "ModelConfig": "facegen.config", "DataConfig": "facegen.config",
    "TrainConfig": "facegen.config", "ExportConfig": "facegen.config",
}


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        if not _PUBLIC[name].endswith("config"):
            _env.import_tensorflow_quietly()
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'facegen' has no attribute {name!r}")
