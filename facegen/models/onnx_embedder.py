"""A pretrained face recognizer in ONNX as an embedder that verifies and judges exports (onnxruntime), its
calibration folder, and a facegen embedder written as such a file.

insightface's convention: RGB faces at 112x112, NCHW, (x - 127.5) / 127.5 unless the graph normalises itself (a
Sub and a Mul among its first nodes, as insightface's model zoo tests), one embedding per face (512-d for its
recognizers). facegen's faces (64x64) are resized to the graph's input with the embedder's own resampling.

    F/config.json    {"facegen_version", "kind": "onnx-embedder", model, input_size, layout, ...}
    F/model.onnx     the recognizer, copied in (the folder stands alone)
    F/report.json    verification and the export's limits, calibrated on held-out identities of --data
    F/identities.npz the calibration's known people's means (leakage's reference where a run's people are unknown)

Calibration is training.embedder.calibrate_recognizer's (the held-out report every embedder has); loading by kind
is models.embedders.load_embedder's.

A recognizer is only an embedder here: it verifies and judges; the GAN's identity loss and embedding mode need
gradients and a facegen embedder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import tensorflow as tf

from facegen.atomic import replacing
from facegen.config import FacegenError
from facegen.models.embedder import Embedder
from facegen.run import ONNX_EMBEDDER_KIND, read_folder_config

MODEL_FILE = "model.onnx"
INPUT_SIZE = 112  # insightface's recognizers
ONNX_HINT = "pip install 'facegen[onnx]' (onnxruntime; onnx to write one)"


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise FacegenError(f"an ONNX recognizer needs onnxruntime: {ONNX_HINT}") from None
    return onnxruntime


@dataclass(frozen=True)
class OnnxConfig:
    """What the folder's recognizer expects, read from its graph at calibration."""

    model: str  # where it was calibrated from
    input_size: int
    layout: str  # NCHW (insightface) or NHWC
    graph_normalises: bool  # takes 0..255 pixels, not (x - 127.5) / 127.5
    embedding_dim: int
    data: str = ""  # the identity-labelled data its limits were calibrated on
    resolution: int = 64  # ... at the size of the faces it will judge (facegen's), resized to input_size
    held_out_every: int = 2
    seed: int = 0


def read_graph(path: str | Path) -> OnnxConfig:
    """The recognizer's input size, layout, normalisation and embedding size, from its graph."""
    ort = _onnxruntime()
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for unreadable graphs
        raise FacegenError(f"{path} is not an ONNX model onnxruntime can run ({str(e).splitlines()[0]})") from None
    shape = session.get_inputs()[0].shape
    if len(shape) != 4 or (shape[1] != 3 and shape[3] != 3):
        raise FacegenError(f"{path} takes input of shape {shape}, not a batch of RGB faces ([n, 3, h, w] or "
                           "[n, h, w, 3])")
    layout = "NCHW" if shape[1] == 3 else "NHWC"
    size = shape[2] if layout == "NCHW" else shape[1]
    out = session.get_outputs()[0].shape
    if len(out) != 2 or not isinstance(out[1], int):
        raise FacegenError(f"{path} outputs shape {out}, not one embedding per face")
    ops = set()
    try:
        import onnx

        ops = {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node[:8]}
    except ImportError:
        pass  # without onnx the graph's nodes are unread: the convention's normalisation applies
    return OnnxConfig(model=str(Path(path).resolve()), input_size=size if isinstance(size, int) else INPUT_SIZE,
                      layout=layout, graph_normalises={"Sub", "Mul"} <= ops, embedding_dim=int(out[1]))


@dataclass
class OnnxEmbedder(Embedder):
    """An ONNX recognizer behind the embedder's interface: uint8 or [-1, 1] faces in, unit embeddings out (the
    in-graph call runs onnxruntime through tf.numpy_function, so the export's block can verify with it)."""

    config: OnnxConfig
    session: object = field(default=None, repr=False)
    command: ClassVar[str] = "facegen embedder calibrate"

    @classmethod
    def from_folder(cls, folder: str | Path, precision: str = "off") -> "OnnxEmbedder":
        folder = Path(folder)
        cfg = OnnxConfig(**read_folder_config(folder, ONNX_EMBEDDER_KIND, "ONNX embedder"))
        session = _onnxruntime().InferenceSession(str(folder / MODEL_FILE), providers=["CPUExecutionProvider"])
        # onnxruntime runs the graph in float32 whatever G's policy: the folder's one precision.
        return cls(cfg, None, folder, 0, "off", session)

    def folded(self):
        return None

    def _run(self, images: np.ndarray) -> np.ndarray:
        name = self.session.get_inputs()[0].name
        return self.session.run(None, {name: images})[0].astype(np.float32)

    def embed_float(self, images: tf.Tensor) -> tf.Tensor:
        x = tf.cast(images, tf.float32)
        size = self.config.input_size
        if x.shape[1] != size:
            x = tf.image.resize(x, [size, size], method="bilinear", antialias=True)
        if self.config.graph_normalises:
            x = (x + 1.0) * 127.5
        if self.config.layout == "NCHW":
            x = tf.transpose(x, [0, 3, 1, 2])
        e = tf.numpy_function(self._run, [x], tf.float32, stateful=False)
        e.set_shape([images.shape[0], self.config.embedding_dim])
        return tf.math.l2_normalize(e, axis=1)


def write_onnx(embedder: Embedder, path: str | Path, input_size: int = INPUT_SIZE) -> Path:
    """A facegen embedder as an ONNX recognizer of insightface's convention (NCHW RGB at input_size, (x - 127.5) /
    127.5, unit embeddings): its BN-folded inference graph, layer by layer, behind a resize to its resolution."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        raise FacegenError(f"writing an ONNX file needs onnx: {ONNX_HINT}") from None
    import keras

    if embedder.precision != "off":
        embedder = Embedder.from_folder(embedder.folder)  # float32 weights and graph
    model = embedder.inference
    nodes, weights, names = [], [], {}
    r = embedder.config.resolution

    def const(name: str, value: np.ndarray) -> str:
        weights.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    x = "input.1"
    if r != input_size:
        nodes.append(helper.make_node("Resize", [x, "", const("resize_scales", np.array(
            [1, 1, r / input_size, r / input_size], np.float32))], ["resized"], mode="linear", antialias=1,
            coordinate_transformation_mode="half_pixel"))
        x = "resized"
    layout = "NCHW"
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            names[id(layer.output)] = x
            continue
        inputs = [names[id(t)] for t in (layer.input if isinstance(layer.input, list) else [layer.input])]
        out = layer.name
        if isinstance(layer, keras.layers.Conv2D):
            kernel, bias = layer.get_weights()
            k, s = kernel.shape[0], layer.strides[0]
            size = layer.input.shape[1]
            total = max((-(-size // s) - 1) * s + k - size, 0) if layer.padding == "same" else 0
            pads = [total // 2, total // 2, total - total // 2, total - total // 2]
            nodes.append(helper.make_node(
                "Conv", [inputs[0], const(f"{out}.w", kernel.transpose(3, 2, 0, 1)), const(f"{out}.b", bias)],
                [out], kernel_shape=[k, k], strides=[s, s], pads=pads))
        elif isinstance(layer, keras.layers.ReLU):
            nodes.append(helper.make_node("Relu", inputs, [out]))
        elif isinstance(layer, keras.layers.Add):
            nodes.append(helper.make_node("Add", inputs, [out]))
        elif isinstance(layer, keras.layers.AveragePooling2D):
            p = layer.pool_size[0]
            nodes.append(helper.make_node("AveragePool", inputs, [out], kernel_shape=[p, p], strides=[p, p]))
        elif isinstance(layer, keras.layers.Flatten):
            # Keras flattens [h, w, c] with c fastest: back to channels-last first.
            nodes.append(helper.make_node("Transpose", inputs, [f"{out}.nhwc"], perm=[0, 2, 3, 1]))
            nodes.append(helper.make_node("Flatten", [f"{out}.nhwc"], [out], axis=1))
            layout = "flat"
        elif isinstance(layer, keras.layers.Dense):
            kernel, bias = layer.get_weights()
            nodes.append(helper.make_node("Gemm", [inputs[0], const(f"{out}.w", kernel), const(f"{out}.b", bias)],
                                          [out]))
        elif isinstance(layer, keras.layers.UnitNormalization):
            nodes.append(helper.make_node("LpNormalization", inputs, [out], axis=1, p=2))
        else:
            raise FacegenError(f"{embedder.folder}: no ONNX form for its {type(layer).__name__} layer {layer.name}")
        names[id(layer.output)] = out
    assert layout == "flat", "the trunk ends in Flatten"
    dim = embedder.config.embedding_dim
    graph = helper.make_graph(
        nodes, "facegen_embedder", [helper.make_tensor_value_info("input.1", TensorProto.FLOAT,
                                                                   ["None", 3, input_size, input_size])],
        [helper.make_tensor_value_info(names[id(model.output)], TensorProto.FLOAT, ["None", dim])], weights)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="facegen")
    proto.ir_version = 8  # readable by onnxruntime releases back to 1.14
    onnx.checker.check_model(proto)
    path = Path(path)
    with replacing(path) as tmp:
        onnx.save(proto, str(tmp))
    return path
