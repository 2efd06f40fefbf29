"""The config records check every value once, naming the flag; the run's mode is derived, not stored."""

import dataclasses

import pytest

from facegen.config import DataConfig, ExportConfig, FacegenError, RunConfig, TrainConfig, preset


@pytest.mark.parametrize("field, value, flag", [
    ("variation", 2.5, "--variation"), ("variation", -0.1, "--variation"), ("identities", 0, "--identities"),
    ("per_identity", 0, "--per-identity"),
    ("batch_size", 0, "--batch-size"), ("quality", 0, "--quality"), ("min_realism", 1.0, "--min-realism")])
def test_export_config_checks_each_value(field, value, flag):
    with pytest.raises(FacegenError, match=flag):
        ExportConfig(**{"identities": 1, "per_identity": 1, field: value})


def test_any_batch_size_rounds_up_to_whole_blocks():
    assert [ExportConfig(1, 1, batch_size=b).blocks_per_call for b in (1, 64, 65, 100, 256)] == [1, 1, 2, 2, 4]


@pytest.mark.parametrize("field, value, flag", [
    ("steps", 0, "--steps"), ("batch_size", 0, "--batch-size"), ("keep_checkpoints", 0, "--keep"),
    ("eval_every", -1, "--eval-every"), ("learning_rate", 0.0, "--learning-rate"), ("strategy", "ring", "--strategy"),
    ("d_learning_rate", 1.5, "--d-learning-rate"),
    ("mixed_precision", "fp8", "--mixed-precision")])
def test_train_config_checks_each_value(field, value, flag):
    with pytest.raises(FacegenError, match=flag):
        TrainConfig(**{field: value})


def test_mode_is_derived_from_the_model_and_round_trips():
    plain = RunConfig(model=preset("tiny", 32), data=DataConfig(resolution=32))
    identity = dataclasses.replace(plain, model=preset("tiny", 32, "identity", 20))
    assert (plain.mode, identity.mode, identity.model.identity_dim) == ("plain", "identity", 20)
    stored = identity.to_dict()
    assert stored["mode"] == "identity" and RunConfig.from_dict(stored) == identity


def test_model_and_data_resolutions_must_agree():
    with pytest.raises(FacegenError, match="same --resolution"):
        RunConfig(model=preset("tiny", 32), data=DataConfig(resolution=64))


@pytest.mark.parametrize("args, flag", [(("tiny", 64, "pairs"), "--mode"), (("tiny", 64, "identity", 100),
                                                                           "--identity-dim"), (("huge",), "--preset")])
def test_presets_refuse_unknown_modes_and_sizes(args, flag):
    with pytest.raises(FacegenError, match=flag):
        preset(*args)
