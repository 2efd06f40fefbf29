"""The GAN step: one step moves both networks; GPU options (mixed precision, XLA) still train on the CPU."""

import numpy as np
import pytest

from facegen.config import ARTICLE_LEARNING_RATE
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


def _fake_logit_shift(data_path, preset_name: str, learning_rate: float = ARTICLE_LEARNING_RATE,
                      d_learning_rate: float | None = None) -> float:
    """How far one D step (Adam, from init) moves D's mean logit on a fixed batch of fakes."""
    import tensorflow as tf

    from facegen.config import DataConfig, TrainConfig, preset
    from facegen.training.gan import discriminator_loss

    model = preset(preset_name, 32)
    gan = DCGAN(model, TrainConfig(preset=preset_name, learning_rate=learning_rate, d_learning_rate=d_learning_rate,
                                   mixed_precision="off", seed=5))
    real = next(iter(TrainingData(discover(str(data_path)), DataConfig(path=str(data_path), resolution=32),
                                  progress=False).dataset(32, seed=0)))
    fake = gan.generator(gan.latents(32)[:, 0], training=True)
    before = tf.reduce_mean(gan.discriminator(fake, training=True))
    with tf.GradientTape() as tape:
        loss = discriminator_loss(gan.discriminator(real, training=True), gan.discriminator(fake, training=True))
    variables = gan.discriminator.trainable_variables
    gan.d_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return abs(float(tf.reduce_mean(gan.discriminator(fake, training=True)) - before))


def test_every_preset_trains_at_the_articles_step():
    """`paper` included: at 1/8 of it (the former preset rate) `paper` never left one z-independent texture."""
    from facegen.config import PRESETS, TrainConfig

    assert ARTICLE_LEARNING_RATE == 2e-4
    for name in PRESETS:
        t = TrainConfig(preset=name)
        assert t.learning_rate == t.d_learning_rate == ARTICLE_LEARNING_RATE
    assert TrainConfig(preset="paper", learning_rate=1e-3).learning_rate == 1e-3  # an explicit choice wins


def test_d_learning_rate_sets_the_discriminators_step_alone(celeba_sample):
    """--d-learning-rate (two time-scale updates) gives D its own Adam step; G keeps --learning-rate."""
    from facegen.config import TrainConfig, preset

    t = TrainConfig(preset="small", d_learning_rate=ARTICLE_LEARNING_RATE / 4)
    assert TrainConfig(preset="paper").d_learning_rate == TrainConfig(preset="paper").learning_rate  # the article's
    gan = DCGAN(preset("tiny", 32), t)
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(ARTICLE_LEARNING_RATE)
    assert float(gan.d_optimizer.learning_rate) == pytest.approx(ARTICLE_LEARNING_RATE / 4)
    same = _fake_logit_shift(celeba_sample, "small")
    slower = _fake_logit_shift(celeba_sample, "small", d_learning_rate=ARTICLE_LEARNING_RATE / 4)
    print(f"one D step moves the fake logit: {same:.3f} at D's default rate, {slower:.3f} at a quarter")
    assert slower < same / 2
