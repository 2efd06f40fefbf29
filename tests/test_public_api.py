"""The library's entry points: importable from `facegen` and `facegen.export` by name, TensorFlow only on use."""

import subprocess
import sys


def test_entry_points_resolve_lazily_and_importing_facegen_starts_no_tensorflow():
    code = """
import sys
import facegen, facegen.config, facegen.data, facegen.export, facegen.export.manifest, facegen.run
assert "tensorflow" not in sys.modules, "importing facegen started TensorFlow"
from facegen import DataConfig, ExportConfig, ModelConfig, RunConfig, TrainConfig
assert "tensorflow" not in sys.modules, "the config records started TensorFlow"
from facegen import Generator, evaluate, init_run, merge, train
from facegen.export import export
from facegen.data import TrainingData, discover
print(train.__module__, export.__module__, merge.__module__, evaluate.__module__, Generator.__module__)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["facegen.training.loop", "facegen.export.pipeline", "facegen.export.merge",
                                "facegen.metrics.evaluate", "facegen.models.generator"]
    assert r.stderr == ""  # TensorFlow's start-up lines stay hidden
