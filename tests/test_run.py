"""The model folder: config.json that describes itself, one-line errors for folders that are not runs,
resume refusing changed settings, and restores that step past a checkpoint cut short."""

import dataclasses
import json

import pytest
import tensorflow as tf

import facegen
from facegen.config import FacegenError
from facegen.run import (CONFIG_FILE, read_folder_config, read_run_config, resolve_config, restore,
                         write_config, write_run_config)


def test_config_round_trips_with_version_and_kind(tiny_cfg, tmp_path):
    cfg = tiny_cfg()
    write_run_config(tmp_path / "run", cfg)
    raw = json.loads((tmp_path / "run" / CONFIG_FILE).read_text())
    assert raw["facegen_version"] == facegen.__version__ and raw["kind"] == "dcgan" and raw["mode"] == "plain"
    assert read_run_config(tmp_path / "run") == cfg
    write_config(tmp_path / "emb", {"width": 8}, "embedder")
    assert read_folder_config(tmp_path / "emb", "embedder", "embedder") == {"width": 8}
    with pytest.raises(FacegenError, match="holds a facegen embedder folder, not a run"):
        read_run_config(tmp_path / "emb")


@pytest.mark.parametrize("content, message", [(None, "not a facegen run folder"), ("{", "not valid JSON"),
                                              ('{"model": {"width": 3}}', "does not describe a run")])
def test_folders_that_are_not_runs_are_one_line_errors(tmp_path, content, message):
    tmp_path.joinpath("run").mkdir()
    if content is not None:
        (tmp_path / "run" / CONFIG_FILE).write_text(content)
    with pytest.raises(FacegenError, match=message):
        read_run_config(tmp_path / "run")


def test_resume_may_change_the_schedule_but_not_the_run(tiny_cfg, tmp_path):
    cfg = tiny_cfg()
    write_run_config(tmp_path, cfg)
    longer = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=99, checkpoint_every=7))
    assert resolve_config(tmp_path, longer) == longer
    with pytest.raises(FacegenError, match="train.seed=3, not 4"):
        resolve_config(tmp_path, dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=4)))


def test_restore_steps_past_a_truncated_checkpoint(tmp_path):
    step = tf.Variable(0, dtype=tf.int64)
    weights = tf.Variable(tf.zeros([1000]))
    ckpt = tf.train.Checkpoint(step=step, weights=weights)
    manager = tf.train.CheckpointManager(ckpt, str(tmp_path / "checkpoints"), max_to_keep=3)
    assert restore(ckpt, tmp_path) is None  # nothing saved yet
    for s in (1, 2):
        step.assign(s)
        weights.assign(tf.fill([1000], float(s)))
        manager.save(checkpoint_number=s)
    data = tmp_path / "checkpoints" / "ckpt-2.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])
    restored = tf.train.Checkpoint(step=tf.Variable(0, dtype=tf.int64), weights=tf.Variable(tf.zeros([1000])))
    assert restore(restored, tmp_path).endswith("ckpt-1")
    assert int(restored.step.numpy()) == 1 and float(restored.weights[0]) == 1.0
    (tmp_path / "checkpoints" / "ckpt-1.index").write_bytes(b"")
    with pytest.raises(FacegenError, match="no checkpoint in .* reads"):
        restore(restored, tmp_path)
