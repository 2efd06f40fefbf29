"""The GAN: generator, discriminator, their EMA copy and optimizers, the losses and the tf.function step."""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from facegen import hardware
from facegen.config import ModelConfig, TrainConfig
from facegen.models.dcgan import POLICIES, build_discriminator, build_generator, build_pair_discriminator
from facegen.models.embedder import Embedder



def discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor, global_batch: int | None = None) -> tf.Tensor:
    """Sigmoid cross-entropy: real -> 1, fake -> 0; mean over the global batch (summed over replicas)."""
    real = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits)
    fake = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
    return tf.nn.compute_average_loss(real[:, 0] + fake[:, 0], global_batch_size=global_batch)


def generator_loss(fake_logits: tf.Tensor, global_batch: int | None = None) -> tf.Tensor:
    """The non-saturating loss of Goodfellow et al., as the article trains G: fake -> 1."""
    per_example = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits)[:, 0]
    return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)


# Logit scale of the identity contrast (temperature 0.1, as in SimCLR): at 10 a same-identity cosine of 0.6 against
# different-identity ones near 0.2 already weighs the pair e^4 ~ 55 times any other identity, so the pull fades
# once the embedder tells the batch's identities apart instead of pushing every pair to cosine 1. (With
# several replicas each contrasts its own share of the batch.)
IDENTITY_LOSS_SCALE = 10.0


def identity_contrast_loss(embeddings: tf.Tensor, global_batch: int | None = None) -> tf.Tensor:
    """Unit embeddings [b, 2, d] of b identities seen twice -> a symmetric InfoNCE loss: each image must pick
    its identity's other image among the batch's b second images (and back), mean over the global batch."""
    first, second = embeddings[:, 0], embeddings[:, 1]
    logits = IDENTITY_LOSS_SCALE * tf.matmul(first, second, transpose_b=True)
    own = tf.range(tf.shape(logits)[0])
    per_example = 0.5 * (tf.nn.sparse_softmax_cross_entropy_with_logits(own, logits)
                         + tf.nn.sparse_softmax_cross_entropy_with_logits(own, tf.transpose(logits)))
    return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)


SAME_PERSON_PENALTY = 1e4  # logit subtracted from another photo of the row's person: out of the softmax in float32


def condition_contrast_loss(embeddings: tf.Tensor, condition: tf.Tensor, global_batch: int | None = None,
                            people: tf.Tensor | None = None) -> tf.Tensor:
    """Embedding mode: unit embeddings [b, 2, d] of images rendered from unit conditions [b, d] -> InfoNCE that
    picks each image's own condition among the batch's other people's (both images of a pair), mean over the global
    batch. With `people` [b] (each row's person), another photo of the row's person is left out: it is neither
    another person nor the image's own condition, and contrasting against it would ask G to render what sets two
    photos of one person apart (pose and light), which a batch drawn from few people holds for many rows.
    The same scale as identity_contrast_loss: the pull fades once the embedder tells the batch's people apart."""
    b = tf.shape(condition)[0]
    own = tf.range(b)
    same_person = 0.0
    if people is not None:
        same_person = tf.cast(tf.logical_and(tf.equal(people[:, None], people[None, :]),
                                             tf.logical_not(tf.eye(b, dtype=tf.bool))), tf.float32)
    per_example = 0.0
    for k in range(2):
        logits = IDENTITY_LOSS_SCALE * tf.matmul(embeddings[:, k], condition, transpose_b=True)
        logits -= SAME_PERSON_PENALTY * same_person
        per_example += 0.5 * tf.nn.sparse_softmax_cross_entropy_with_logits(own, logits)
    return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)


# Uniformity's sharpness t (Wang & Isola 2020, their default): exp(-t |x - y|^2) weighs pairs that sit together.
UNIFORMITY_T = 2.0


def uniformity_loss(embeddings: tf.Tensor) -> tf.Tensor:
    """Unit embeddings [b, d] of b people -> log of the mean over pairs of exp(-t |x - y|^2) (Wang & Isola 2020):
    lowest when the people spread evenly over the sphere, as real people's embeddings do. One replica's batch; the
    step averages it over replicas."""
    b = tf.shape(embeddings)[0]
    squared = 2.0 - 2.0 * tf.matmul(embeddings, embeddings, transpose_b=True)
    others = 1.0 - tf.eye(b)
    mean = tf.reduce_sum(tf.exp(-UNIFORMITY_T * squared) * others) / tf.cast(b * (b - 1), tf.float32)
    return tf.math.log(mean)


class DCGAN:
    """Everything a checkpoint holds: G, D, the EMA generator, both Adams, the latent RNG and the step.

    Variables live in `strategy`'s scope; the latent RNG stays on the host so every replica and worker
    slices the same global latent batch, and a distributed step computes what one device would.
    """

    def __init__(self, model: ModelConfig, train: TrainConfig, strategy: tf.distribute.Strategy | None = None) -> None:
        self.strategy = strategy or tf.distribute.get_strategy()
        if train.mixed_precision == "auto":  # callers that skip resolve_config (tests, notebooks)
            train = dataclasses.replace(train, mixed_precision=hardware.resolve("auto", "train"))
        self.model_cfg, self.train_cfg = model, train
        policy = POLICIES[train.mixed_precision]
        with self.strategy.scope():
            self.generator = build_generator(model, seed=train.seed, dtype=policy, sync_bn=train.sync_bn)
            # Identity mode (SD-GAN): D judges pairs of images and must tell real same-person pairs from
            # generated pairs that share z_id.
            build_d = build_pair_discriminator if model.identity_dim else build_discriminator
            self.discriminator = build_d(model, seed=train.seed + 1, dtype=policy, sync_bn=train.sync_bn)
            self.ema_generator = build_generator(model, name="ema_generator")
            self.ema_generator.set_weights(self.generator.get_weights())
            self.g_optimizer = self._optimizer(train, train.learning_rate)
            self.d_optimizer = self._optimizer(train, train.d_learning_rate)
            # Build the slots now so a checkpoint restores into existing variables.
            self.g_optimizer.build(self.generator.trainable_variables)
            self.d_optimizer.build(self.discriminator.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            # Frozen and read from its own folder: not part of the checkpoint, never updated.
            self.identity_embedder = (Embedder.from_folder(train.identity_embedder,
                                                           hardware.trunk_policy(train.mixed_precision))
                                      if train.identity_loss else None)
        self.rng = tf.random.Generator.from_seed(train.seed)
        self._space: tuple[tf.Tensor, tf.Tensor] | None = None  # embedding mode: draw_from's mean and factor
        self.checkpoint = tf.train.Checkpoint(
            generator=self.generator, discriminator=self.discriminator, ema_generator=self.ema_generator,
            g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer, rng=self.rng, step=self.step)
        self._pairs = list(zip(self.ema_generator.weights, self.generator.weights))
        self._trainable = {id(v) for v in self.generator.trainable_weights}
        self._replica_step = tf.function(self._replica_step_fn, jit_compile=train.xla)
        self._step = tf.function(self._train_step_fn, reduce_retracing=True)

    @staticmethod
    def _optimizer(train: TrainConfig, learning_rate: float):
        adam = keras.optimizers.Adam(learning_rate, beta_1=train.beta_1)
        # float16 gradients underflow without loss scaling; bfloat16 has float32's range and needs none.
        return keras.optimizers.LossScaleOptimizer(adam) if train.mixed_precision == "float16" else adam

    def draw_from(self, space) -> None:
        """Embedding mode with --novel-share: the identity space (facegen.models.identity_space) G's new people
        are drawn from in training, as the export draws them (before the first step)."""
        if self.train_cfg.novel_share:
            self._space = (tf.constant(space.mean, tf.float32), tf.constant(space.factor.T, tf.float32))

    def train_step(self, real) -> dict[str, tf.Tensor]:
        """One D update on a real and a fake minibatch (kept separate, as in the article), then one G update."""
        return self._step(real)

    def _train_step_fn(self, real) -> dict[str, tf.Tensor]:
        # `real` is per-replica (distribute_global_batches) or a plain batch on one device; in embedding mode a
        # (pairs, conditions, people) tuple.
        first = real[0] if isinstance(real, tuple) else real
        per_replica = self.strategy.experimental_local_results(first)[0].shape[0]
        global_batch = per_replica * self.strategy.num_replicas_in_sync
        z_d, z_g = self.latents(global_batch), self.latents(global_batch)
        novel = self._novel_conditions(global_batch) if self._space is not None else None
        out = self.strategy.run(self._replica_step, args=(real, z_d, z_g, global_batch, novel))
        out = {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in out.items()}
        self.step.assign_add(1)
        self._update_ema()
        return out

    def latents(self, n: int) -> tf.Tensor:
        """[n, k, latent]: k = 1 image per example (plain) or a pair sharing z_id (identity mode)."""
        cfg = self.model_cfg
        if not cfg.identity_dim:
            return self.rng.normal([n, 1, cfg.latent_dim])
        z_id = self.rng.normal([n, 1, cfg.identity_dim])
        z_obs = self.rng.normal([n, 2, cfg.latent_dim - cfg.identity_dim])
        return tf.concat([tf.repeat(z_id, 2, axis=1), z_obs], axis=-1)

    def _generate(self, z: tf.Tensor) -> tf.Tensor:
        """[b, k, latent] -> [b, r, r, 3] (k = 1) or pairs [b, 2, r, r, 3], in one G call so BN sees all."""
        b, k = tf.shape(z)[0], z.shape[1]
        images = self.generator(tf.reshape(z, [-1, self.model_cfg.latent_dim]), training=True)
        if k == 1:
            return images
        r = self.model_cfg.resolution
        return tf.reshape(images, [b, k, r, r, 3])

    def _novel_conditions(self, n: int) -> tf.Tensor:
        """[n, d] unit identities drawn from the identity space (IdentitySpace.unit, on the step's RNG)."""
        mean, factor_t = self._space
        x = mean + tf.matmul(self.rng.normal([n, self.model_cfg.identity_dim]), factor_t)
        return tf.math.l2_normalize(x, axis=-1)

    def _replica_step_fn(self, real, z_d, z_g, global_batch, novel=None):
        ctx = tf.distribute.get_replica_context()
        condition = people = None
        if isinstance(real, tuple):
            real, condition, people = real
        b = tf.shape(real)[0]
        start = ctx.replica_id_in_sync_group * b
        z_d, z_g = z_d[start:start + b], z_g[start:start + b]
        if novel is not None:
            # The batch's last rows render new people: D sees them among the fakes, G learns to render them.
            per = real.shape[0]
            keep = per - round(self.train_cfg.novel_share * per)
            condition = tf.concat([condition[:keep], novel[start + keep:start + per]], axis=0)
            # Each new person is nobody else in the batch (training people's labels are >= 0).
            people = tf.concat([people[:keep], -1 - tf.range(start + keep, start + per)], axis=0)
        if condition is not None:  # embedding mode: z_id is the pair's real image's embedding, not a draw
            z_d, z_g = self._conditioned(z_d, condition), self._conditioned(z_g, condition)

        # Train the discriminator.
        with tf.GradientTape() as tape:
            fake = self._generate(z_d)
            real_logits = tf.cast(self.discriminator(real, training=True), tf.float32)
            fake_logits = tf.cast(self.discriminator(fake, training=True), tf.float32)
            d_loss = discriminator_loss(real_logits, fake_logits, global_batch)
            scaled = self.d_optimizer.scale_loss(d_loss) if hasattr(self.d_optimizer, "scale_loss") else d_loss
        grads = tape.gradient(scaled, self.discriminator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))

        # Train the generator on fresh latents.
        extra = {}
        with tf.GradientTape() as tape:
            fake = self._generate(z_g)
            g_logits = tf.cast(self.discriminator(fake, training=True), tf.float32)
            g_loss = generator_loss(g_logits, global_batch)
            total = g_loss
            if self.identity_embedder is not None:
                extra = self._identity_terms(fake, global_batch, condition, people)
                total += self.train_cfg.identity_loss * extra["id_loss"]
            scaled = self.g_optimizer.scale_loss(total) if hasattr(self.g_optimizer, "scale_loss") else total
        grads = tape.gradient(scaled, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))

        scale = tf.cast(global_batch, tf.float32)
        return {"d_loss": d_loss, "g_loss": g_loss,
                "d_real": tf.reduce_sum(tf.sigmoid(real_logits)) / scale,
                "d_fake": tf.reduce_sum(tf.sigmoid(fake_logits)) / scale, **extra}

    def _conditioned(self, z: tf.Tensor, condition: tf.Tensor) -> tf.Tensor:
        """[b, 2, latent] with z_id replaced by sqrt(d) times the unit condition [b, d] (identity_space.latent)."""
        d = self.model_cfg.identity_dim
        z_id = tf.repeat(condition[:, None, :] * tf.sqrt(float(d)), 2, axis=1)
        return tf.concat([z_id, z[..., d:]], axis=-1)

    def _identity_terms(self, pairs: tf.Tensor, global_batch: int, condition: tf.Tensor | None = None,
                        people: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """The frozen embedder on G's pairs [b, 2, r, r, 3]: the contrast loss and the pairs' mean cosine. In
        embedding mode each image must be nearest its own condition among the batch's other people's
        (condition_contrast_loss), and id_cosine is the images' mean cosine to their condition. With
        --identity-uniformity, id_loss also holds the uniformity term (uniformity_loss), reported alone as
        id_uniformity."""
        b, r = tf.shape(pairs)[0], self.model_cfg.resolution
        flat = tf.cast(tf.reshape(pairs, [-1, r, r, 3]), tf.float32)
        embeddings = tf.reshape(self.identity_embedder.embed_float(flat), [b, 2, -1])
        if condition is not None:
            to_condition = tf.reduce_sum(embeddings * condition[:, None, :], axis=-1)
            terms = {"id_loss": condition_contrast_loss(embeddings, condition, global_batch, people),
                     "id_cosine": tf.reduce_sum(to_condition) / tf.cast(2 * global_batch, tf.float32)}
        else:
            same = tf.reduce_sum(embeddings[:, 0] * embeddings[:, 1], axis=-1)
            terms = {"id_loss": identity_contrast_loss(embeddings, global_batch),
                     "id_cosine": tf.reduce_sum(same) / tf.cast(global_batch, tf.float32)}
        if self.train_cfg.identity_uniformity:
            # Each pair's first image stands for its person (its two images are one person, not two). The term is
            # part of the identity loss, so --identity-loss scales both; replicas' terms average.
            terms["id_uniformity"] = uniformity_loss(embeddings[:, 0])
            terms["id_loss"] += (self.train_cfg.identity_uniformity * terms["id_uniformity"]
                                 / tf.distribute.get_replica_context().num_replicas_in_sync)
        return terms

    def _update_ema(self) -> None:
        # Warm-up as in tf.train.ExponentialMovingAverage(num_updates=step): short runs are not dominated
        # by the random init. BN moving statistics are copied, not averaged.
        step = tf.cast(self.step, tf.float32)
        decay = tf.minimum(self.train_cfg.ema_decay, (1.0 + step) / (10.0 + step))
        for ema, var in self._pairs:
            value = tf.cast(var, tf.float32)
            if id(var) in self._trainable:
                ema.assign(decay * ema + (1.0 - decay) * value)
            else:
                ema.assign(value)

    def weights_finite(self) -> bool:
        return bool(all(tf.reduce_all(tf.math.is_finite(tf.cast(v, tf.float32))) for v in
                        self.generator.weights + self.discriminator.weights + self.ema_generator.weights))
