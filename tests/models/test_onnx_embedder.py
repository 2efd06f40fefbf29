"""An ONNX recognizer verifies and judges exports: a facegen embedder written as ONNX gives its own embeddings
through onnxruntime, calibrates to its own limits, and filters an export as the embedder does."""

import numpy as np
import pandas as pd
import pytest
from conftest import export_cfg, facegen_cli

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from facegen.config import DataConfig  # noqa: E402
from facegen.data import TrainingData, discover  # noqa: E402
from facegen.models.embedder import Embedder  # noqa: E402
from facegen.models.embedders import load_embedder  # noqa: E402
from facegen.models.onnx_embedder import OnnxEmbedder, read_graph, write_onnx  # noqa: E402
from facegen.training.embedder import calibrate_recognizer  # noqa: E402


@pytest.fixture(scope="module")
def onnx_judge(trained_embedder, celeba_sample, tmp_path_factory):
    """The tiny embedder as a 32x32 ONNX file (no resize: the graph is exactly the embedder), calibrated on the
    sample it was trained on: (ONNX file, calibrated folder)."""
    work = tmp_path_factory.mktemp("onnx")
    path = write_onnx(Embedder.from_folder(trained_embedder[0]), work / "judge.onnx", input_size=32)
    calibrate_recognizer(path, celeba_sample, work / "judge", resolution=32, seed=1, progress=False)  # the embedder's seed
    return path, work / "judge"


def faces(celeba_sample, resolution=32):
    return TrainingData(discover(celeba_sample, "val"), DataConfig(path=str(celeba_sample), resolution=resolution),
                        progress=False).images


def test_the_onnx_file_gives_the_embedders_embeddings(onnx_judge, trained_embedder, celeba_sample):
    path, folder = onnx_judge
    graph = read_graph(path)
    assert (graph.layout, graph.input_size, graph.graph_normalises) == ("NCHW", 32, False)
    embedder = Embedder.from_folder(trained_embedder[0])
    loaded = load_embedder(folder)  # the folder's kind picks the ONNX runtime
    assert isinstance(loaded, OnnxEmbedder) and graph.embedding_dim == embedder.config.embedding_dim
    images = faces(celeba_sample)
    assert np.abs(loaded.embed(images) - embedder.embed(images)).max() < 1e-4


def test_at_insightfaces_112_the_graph_resizes_as_tensorflow_does(trained_embedder, celeba_sample, tmp_path):
    import tensorflow as tf

    embedder = Embedder.from_folder(trained_embedder[0])
    path = write_onnx(embedder, tmp_path / "judge112.onnx")
    assert read_graph(path).input_size == 112
    onnx = OnnxEmbedder(read_graph(path), None, tmp_path, 0, "off",
                        __import__("onnxruntime").InferenceSession(str(path), providers=["CPUExecutionProvider"]))
    images = faces(celeba_sample, 64)
    # A 64x64 face goes up to 112 (the convention) and the graph brings it down to 32: TensorFlow's same round trip.
    up = tf.image.resize(tf.cast(images, tf.float32), [112, 112], method="bilinear", antialias=True)
    there_and_back = tf.image.resize(up, [32, 32], method="bilinear", antialias=True)
    expected = embedder.embed_float(there_and_back / 127.5 - 1.0).numpy()
    assert np.sum(onnx.embed(images) * expected, axis=1).min() > 0.999


def test_calibration_gives_the_embedders_own_limits(onnx_judge, trained_embedder):
    # Calibrated on the held-out people the embedder was calibrated on, with its training people as the known
    # ones: the same limits.
    _, folder = onnx_judge
    own, onnx = trained_embedder[1].limits, load_embedder(folder).report["limits"]
    for name in ("consistency", "separation", "leakage"):
        assert onnx[name] == pytest.approx(getattr(own, name), abs=1e-3)


def test_an_export_verified_by_the_onnx_recognizer_is_the_embedders(run, trained_embedder, onnx_judge, tmp_path):
    from facegen.export.render import export

    settings = dict(identities=6, per_identity=8, max_similarity=0.99, max_leakage=0.995)
    export(run, tmp_path / "facegen", export_cfg(embedder=str(trained_embedder[0]), precision="off", **settings),
           progress=False)
    export(run, tmp_path / "onnx", export_cfg(embedder=str(onnx_judge[1]), precision="off", **settings),
           progress=False)
    a, b = (pd.read_csv(tmp_path / name / "manifest.csv") for name in ("facegen", "onnx"))
    assert list(a["path"]) == list(b["path"]) and len(b) == 48
    assert np.abs(a["identity_similarity"] - b["identity_similarity"]).max() < 1e-4


def test_the_commands_write_calibrate_and_refuse_what_is_not_a_recognizer(trained_embedder, celeba_sample, onnx_judge,
                                                                         run, tmp_path):
    r = facegen_cli("embedder", "onnx", "--embedder", trained_embedder[0], "--out", tmp_path / "e.onnx",
                    "--input-size", "32")
    assert r.returncode == 0 and (tmp_path / "e.onnx").is_file(), r.stderr
    (tmp_path / "bad.onnx").write_text("not a graph")
    r = facegen_cli("embedder", "calibrate", "--model", tmp_path / "bad.onnx", "--data", celeba_sample,
                    "--out", tmp_path / "j")
    assert r.returncode != 0 and "not an ONNX model" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    # The calibrated folder is an embedder to the export's request, as a trained one is.
    r = facegen_cli("export", "--checkpoint", run, "--identities", "4", "--per-identity", "4", "--out",
                    tmp_path / "x", "--embedder", onnx_judge[1], "--dry-run")
    assert r.returncode == 0 and str(onnx_judge[1]) in r.stdout, r.stderr
