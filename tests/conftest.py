"""Shared fixtures: a CelebA-layout sample drawn once per session and a tiny config that trains in seconds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import facegen  # noqa: F401  (sets the TensorFlow environment before any test imports it)
from facegen.config import DataConfig, RunConfig, TrainConfig, preset
from facegen.sample_data import write_sample


@pytest.fixture(scope="session")
def celeba_sample(tmp_path_factory) -> Path:
    """300 drawn faces in the exact aligned-CelebA layout (15 identities)."""
    return write_sample(tmp_path_factory.mktemp("data") / "celeba", count=300, seed=0)


def tiny_config(data: Path, **train) -> RunConfig:
    """The `tiny` preset at 32x32 with a small batch: real code, seconds to train."""
    t = dataclasses.replace(TrainConfig(), preset="tiny", batch_size=16, steps=4, seed=3, checkpoint_every=1000,
                            sample_every=1000, log_every=1)
    return RunConfig(model=preset("tiny", 32), data=DataConfig(path=str(data), resolution=32, partition="all"),
                     train=dataclasses.replace(t, **train))


@pytest.fixture
def tiny_cfg(celeba_sample):
    return lambda **train: tiny_config(celeba_sample, **train)
