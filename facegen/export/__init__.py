"""Making a dataset: which latent every image gets (identities), batched exact rendering and parallel writes
(render), the manifest and journal (manifest), and joining shards (merge). identities and manifest need no
TensorFlow, so this package imports none at import time."""


def __getattr__(name: str):
    # `from facegen.export import export` (the library call) without importing TensorFlow for the TF-free modules.
    if name in ("export", "ExportResult"):
        import importlib

        from facegen import _env

        _env.import_tensorflow_quietly()
        return getattr(importlib.import_module("facegen.export.render"), name)
    raise AttributeError(f"module 'facegen.export' has no attribute {name!r}")
