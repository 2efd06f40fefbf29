"""The attribute classifier: the embedder's residual trunk (facegen.models.embedder) with one sigmoid output per
attribute, and a trained classifier loaded from its folder.

    ATTR/config.json      {"facegen_version", "kind": "attributes", ...AttributeConfig..., "attributes": [...]}
    ATTR/checkpoints/     model, optimizer, step
    ATTR/report.json      held-out accuracy per attribute (and the majority-class baseline), dropped columns
    ATTR/accuracy.png     the same as a bar chart
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from facegen.config import AttributeConfig
from facegen.models.dcgan import POLICIES
from facegen.models.embedder import TrunkModel, build_trunk, fold_batch_norm
from facegen.run import read_folder_config, restore_trained

ATTRIBUTES_KIND = "attributes"
REPORT = "report.json"
# Attributes of the person rather than of one photo: an identity's majority value labels all its images.
IDENTITY_ATTRIBUTES = frozenset({
    "Male", "Eyeglasses", "Bald", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Goatee", "Mustache",
    "No_Beard", "Sideburns", "Pale_Skin", "Big_Nose", "Pointy_Nose", "Narrow_Eyes", "Oval_Face", "Chubby",
    "Double_Chin", "Bushy_Eyebrows", "Arched_Eyebrows", "Receding_Hairline", "Young", "Straight_Hair", "Wavy_Hair",
    "Bangs", "High_Cheekbones", "Big_Lips"})


def build_classifier(cfg: AttributeConfig, n_attributes: int, folded: bool = False,
                     dtype: str | None = None) -> keras.Model:
    """[b, r, r, 3] float in [-1, 1] -> [b, n_attributes] logits. folded, dtype: the inference graph
    (build_trunk)."""
    image, x = build_trunk(cfg.resolution, cfg.widths, cfg.blocks, cfg.seed, folded, dtype)
    logits = layers.Dense(n_attributes, kernel_initializer=keras.initializers.GlorotUniform(seed=cfg.seed + 7),
                          name="attributes", dtype=dtype)(x if folded else layers.Dropout(0.2, seed=cfg.seed)(x))
    return keras.Model(image, logits, name="attribute_classifier")


@dataclass
class AttributeClassifier(TrunkModel):
    """A trained classifier: images -> the probability of each of its attributes."""

    config: AttributeConfig
    names: list[str] = field(default_factory=list)
    what: ClassVar[str] = "attribute classifier"
    command: ClassVar[str] = "facegen attributes train"

    @classmethod
    def from_folder(cls, folder: str | Path, precision: str = "off") -> "AttributeClassifier":
        folder = Path(folder)
        raw = read_folder_config(folder, ATTRIBUTES_KIND, "attribute classifier")
        cfg, names = AttributeConfig.from_dict(raw), list(raw["attributes"])
        model = build_classifier(cfg, len(names))
        return cls(cfg, model, folder, restore_trained(folder, "attributes", model=model), precision, names=names)

    def folded(self) -> keras.Model:
        inference = build_classifier(self.config, len(self.names), folded=True, dtype=POLICIES[self.precision])
        fold_batch_norm(self.model, inference, "attributes")
        return inference

    def probabilities_float(self, images: tf.Tensor) -> tf.Tensor:
        """Float images in [-1, 1], any square size -> [b, n] probabilities (in-graph)."""
        return tf.sigmoid(tf.cast(self.inference(self.at_resolution(images), training=False), tf.float32))

    def probabilities(self, images: np.ndarray, batch: int = 256) -> np.ndarray:
        """uint8 images [n, s, s, 3] -> [n, attributes] probabilities."""
        return self.batched(self.probabilities_float, images, len(self.names), batch)

