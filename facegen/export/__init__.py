"""Making a dataset: the folder's layout, labels files, record and finish (layout); which latent every image
gets (identities); batched exact rendering and parallel writes (render) with the per-image scores it computes
(scores: realism, identity, attributes; realism, verify and attributes hold what each needs); the manifest and
journal (manifest); joining shards (merge); real + synthetic sets (mix); packed forms (pack); the dataset card
(card). layout, identities, manifest and pack need no TensorFlow, so this package imports none at import
time."""


def __getattr__(name: str):
    # `from facegen.export import export` (the library call) without importing TensorFlow for the TF-free modules.
    if name in ("export", "ExportResult"):
        import importlib

        from facegen import _env

        _env.import_tensorflow_quietly()
        return getattr(importlib.import_module("facegen.export.render"), name)
    raise AttributeError(f"module 'facegen.export' has no attribute {name!r}")
