"""The DCGAN's shapes, parameter counts and initialisation, for every preset and resolution."""

import numpy as np
import pytest

from facegen.config import PRESETS, FacegenError, ModelConfig, preset
from facegen.models.dcgan import build_discriminator, build_generator


def expected_generator_params(cfg: ModelConfig) -> int:
    w, k = cfg.generator_widths, cfg.kernel_size
    n = cfg.latent_dim * 16 * w[0] + 4 * w[0]  # dense (no bias) + BN (gamma, beta, mean, var)
    for a, b in zip(w, w[1:]):
        n += k * k * a * b + 4 * b  # transposed conv (no bias, BN follows) + BN
    return n + k * k * w[-1] * 3 + 3  # image layer with bias


def expected_discriminator_params(cfg: ModelConfig) -> int:
    w, k = cfg.discriminator_widths, cfg.kernel_size
    n = k * k * 3 * w[0] + w[0]  # first conv has a bias and no BN
    for a, b in zip(w, w[1:]):
        n += k * k * a * b + 4 * b
    return n + 16 * w[-1] + 1  # 4x4xC -> one logit


@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_shapes_and_parameter_counts(name, resolution):
    cfg = preset(name, resolution)
    g, d = build_generator(cfg, seed=0), build_discriminator(cfg, seed=0)
    assert g.output_shape == (None, resolution, resolution, 3)
    assert d.output_shape == (None, 1)
    assert g.count_params() == expected_generator_params(cfg)
    assert d.count_params() == expected_discriminator_params(cfg)


def test_paper_preset_is_the_article():
    cfg = preset("paper")
    g, d = build_generator(cfg), build_discriminator(cfg)
    assert cfg.generator_widths == (1024, 512, 256, 128)
    assert cfg.discriminator_widths == (128, 256, 512, 1024)
    assert [g.get_layer(f"up{s}").output.shape[1:] for s in (8, 16, 32, 64)] == [
        (8, 8, 512), (16, 16, 256), (32, 32, 128), (64, 64, 3)]
    assert g.get_layer("up8").kernel.shape[:2] == (5, 5)
    # No BN on D's first layer; BN on the others.
    bn = [layer.name for layer in d.layers if "bn" in layer.name]
    assert bn == ["down16_bn", "down8_bn", "down4_bn"]
    assert g.count_params() == 18_858_883  # the article's G at 64x64


def test_initialisation_follows_dcgan_not_the_article_code():
    g = build_generator(preset("small"), seed=1)
    kernel = g.get_layer("up16").kernel.numpy()
    assert abs(kernel.std() - 0.02) < 0.002 and abs(kernel.mean()) < 0.002
    dense = g.get_layer("project").kernel.numpy()
    assert dense.min() < 0 and abs(dense.std() - 0.02) < 0.002  # not uniform[0, 1)
    gamma = g.get_layer("up16_bn").gamma.numpy()
    assert abs(gamma.mean() - 1.0) < 0.01 and 0.01 < gamma.std() < 0.03  # around 1, not around 0


def test_same_seed_same_weights():
    a, b = build_generator(preset("tiny"), seed=5), build_generator(preset("tiny"), seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


def test_bad_resolution_is_refused():
    with pytest.raises(FacegenError, match="resolution"):
        preset("small", 48)
    with pytest.raises(FacegenError, match="--preset"):
        preset("huge")
