"""The BN-folded inference graph of the residual trunk computes what the trained model computes."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from facegen.config import AttributeConfig, EmbedderConfig
from facegen.data.pipeline import to_float
from facegen.models.attributes import AttributeClassifier, build_classifier
from facegen.models.embedder import Embedder, build_backbone


def _trained_statistics(model, seed: int) -> None:
    # Fresh BN layers are the identity; give every one the statistics and affine a trained one has.
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.2, beta.shape),
                               rng.normal(0, 0.2, mean.shape), rng.uniform(0.3, 2.0, var.shape)])


@pytest.mark.parametrize("preset,blocks,resolution", [("tiny", 1, 32), ("small", 2, 64)])
def test_the_folded_embedder_embeds_as_the_trained_one(preset, blocks, resolution):
    cfg = EmbedderConfig(preset=preset, blocks=blocks, resolution=resolution)
    model = build_backbone(cfg)
    _trained_statistics(model, 1)
    embedder = Embedder(cfg, model, Path("."), 0)
    images = np.random.default_rng(2).integers(0, 256, (37, resolution, resolution, 3), dtype=np.uint8)
    expected = model(to_float(images), training=False).numpy()
    got = embedder.embed(images, batch=16)  # three batches, the last one padded
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-5)
    assert not any(isinstance(layer, layers.BatchNormalization) for layer in embedder.inference.layers)


def test_the_folded_classifier_gives_the_trained_ones_probabilities():
    cfg = AttributeConfig(preset="tiny", resolution=32)
    model = build_classifier(cfg, 3)
    _trained_statistics(model, 3)
    classifier = AttributeClassifier(cfg, model, Path("."), 0, names=["Male", "Smiling", "Young"])
    images = np.random.default_rng(4).integers(0, 256, (10, 64, 64, 3), dtype=np.uint8)  # resized in the graph
    expected = tf.sigmoid(model(classifier.at_resolution(to_float(images)), training=False)).numpy()
    np.testing.assert_allclose(classifier.probabilities(images), expected, atol=2e-5)
