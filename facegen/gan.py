"""The GAN: generator, discriminator, their EMA copy and optimizers, the losses and the tf.function step."""

from __future__ import annotations

import keras
import tensorflow as tf

from facegen.config import ModelConfig, TrainConfig
from facegen.models import build_discriminator, build_generator


def discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """Sigmoid cross-entropy: real -> 1, fake -> 0."""
    real = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits)
    fake = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
    return tf.reduce_mean(real) + tf.reduce_mean(fake)


def generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """The non-saturating loss of Goodfellow et al., as the article trains G: fake -> 1."""
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits))


class DCGAN:
    """Everything a checkpoint holds: G, D, the EMA generator, both Adams, the latent RNG and the step."""

    def __init__(self, model: ModelConfig, train: TrainConfig) -> None:
        self.model_cfg, self.train_cfg = model, train
        self.generator = build_generator(model, seed=train.seed)
        self.discriminator = build_discriminator(model, seed=train.seed + 1)
        self.ema_generator = build_generator(model, name="ema_generator")
        self.ema_generator.set_weights(self.generator.get_weights())
        self.g_optimizer = keras.optimizers.Adam(train.learning_rate, beta_1=train.beta_1)
        self.d_optimizer = keras.optimizers.Adam(train.learning_rate, beta_1=train.beta_1)
        # Build the slots now so a checkpoint restores into existing variables.
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.rng = tf.random.Generator.from_seed(train.seed)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = tf.train.Checkpoint(
            generator=self.generator, discriminator=self.discriminator, ema_generator=self.ema_generator,
            g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer, rng=self.rng, step=self.step)
        self._pairs = list(zip(self.ema_generator.weights, self.generator.weights))
        self._trainable = {id(v) for v in self.generator.trainable_weights}

    @tf.function(reduce_retracing=True)
    def train_step(self, real: tf.Tensor) -> dict[str, tf.Tensor]:
        """One D update on a real and a fake minibatch (kept separate, as in the article), then one G update."""
        batch = tf.shape(real)[0]
        latent = self.model_cfg.latent_dim

        # Train the discriminator.
        z = self.rng.normal([batch, latent])
        with tf.GradientTape() as tape:
            fake = self.generator(z, training=True)
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(fake, training=True)
            d_loss = discriminator_loss(real_logits, fake_logits)
        grads = tape.gradient(d_loss, self.discriminator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))

        # Train the generator on fresh latents.
        z = self.rng.normal([batch, latent])
        with tf.GradientTape() as tape:
            g_logits = self.discriminator(self.generator(z, training=True), training=True)
            g_loss = generator_loss(g_logits)
        grads = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))

        self.step.assign_add(1)
        self._update_ema()
        return {"d_loss": d_loss, "g_loss": g_loss,
                "d_real": tf.reduce_mean(tf.sigmoid(real_logits)),
                "d_fake": tf.reduce_mean(tf.sigmoid(fake_logits))}

    def _update_ema(self) -> None:
        # Warm-up as in tf.train.ExponentialMovingAverage(num_updates=step): short runs are not dominated
        # by the random init. BN moving statistics are copied, not averaged.
        step = tf.cast(self.step, tf.float32)
        decay = tf.minimum(self.train_cfg.ema_decay, (1.0 + step) / (10.0 + step))
        for ema, var in self._pairs:
            if id(var) in self._trainable:
                ema.assign(decay * ema + (1.0 - decay) * var)
            else:
                ema.assign(var)

    def weights_finite(self) -> bool:
        return bool(all(tf.reduce_all(tf.math.is_finite(v)) for v in
                        self.generator.weights + self.discriminator.weights + self.ema_generator.weights))
