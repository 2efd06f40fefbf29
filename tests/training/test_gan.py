"""The GAN step: one step moves both networks; GPU options (mixed precision, XLA) still train on the CPU."""

import numpy as np
import pytest

from facegen.data import TrainingData, discover
from facegen.training.gan import DCGAN


def test_one_step_changes_weights(tiny_cfg):
    cfg = tiny_cfg()
    gan = DCGAN(cfg.model, cfg.train)
    data = TrainingData(discover(cfg.data.path), cfg.data, progress=False)
    before_g = [w.copy() for w in gan.generator.get_weights()]
    before_d = [w.copy() for w in gan.discriminator.get_weights()]
    out = gan.train_step(next(iter(data.dataset(16, seed=0))))
    assert set(out) == {"d_loss", "g_loss", "d_real", "d_fake"} and np.isfinite(float(out["d_loss"]))
    assert all(not np.array_equal(a, b) for a, b in zip(before_g, gan.generator.get_weights()))
    assert all(not np.array_equal(a, b) for a, b in zip(before_d, gan.discriminator.get_weights()))
    assert int(gan.step.numpy()) == 1


@pytest.mark.parametrize("options", [dict(mixed_precision="float16"), dict(mixed_precision="bfloat16"),
                                     dict(xla=True)])
def test_gpu_options_still_train_on_cpu(tiny_cfg, options):
    """Mixed precision and XLA are for GPUs, but must not break a CPU run."""
    cfg = tiny_cfg(**options)
    gan = DCGAN(cfg.model, cfg.train)
    data = TrainingData(discover(cfg.data.path), cfg.data, progress=False)
    before = [w.copy() for w in gan.generator.get_weights()]
    batches = iter(data.dataset(16, seed=0))
    for _ in range(2):
        out = gan.train_step(next(batches))
    assert np.isfinite(float(out["d_loss"])) and np.isfinite(float(out["g_loss"]))
    assert any(not np.array_equal(a, b) for a, b in zip(before, gan.generator.get_weights()))
    if "mixed_precision" in options:
        assert gan.generator.get_layer("up8").compute_dtype != "float32"
        assert gan.generator.output.dtype == "float32"
