"""Making a dataset: the folder's layout, schema and records (layout); what an export is asked and will do
(request: ExportRequest -> plan -> ExportPlan); the pipeline that runs a plan (pipeline); which latent every
image gets (identities); batched exact rendering and parallel writes (render) with the per-image scores it
computes (scores: realism, identity, attributes; realism, verify and attributes hold what each needs); the
journal (manifest); how many people a model makes (capacity); joining shards (merge); real + synthetic sets
(mix); packed forms (pack, one module per format); the dataset card (card). Only render, scores, realism, verify
and attributes use TensorFlow, so this package imports none at import time.

    from facegen.export import ExportRequest, export, plan
    result = export(ExportRequest(checkpoint="runs/quickstart", out="synth", count=2000))  # = `facegen export`
"""

_LAZY = {"export": "facegen.export.pipeline", "ExportPipeline": "facegen.export.pipeline",
         "ExportRequest": "facegen.export.request", "ExportPlan": "facegen.export.request",
         "plan": "facegen.export.request", "ExportResult": "facegen.export.request"}


def __getattr__(name: str):
    # The entry points by name, loaded on use: the TF-free modules stay importable without TensorFlow.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'facegen.export' has no attribute {name!r}")
