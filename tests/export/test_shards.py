"""Shards from the scheduler: `--shard auto` reads a Slurm array, a Kubernetes Indexed Job or TF_CONFIG and writes
the bytes of the explicit `--shard i/n`; `facegen merge` takes the shards as a glob or an `{i}` pattern and names a
missing one."""

import hashlib
import json

import pytest

from facegen.cli import main
from facegen.config import FacegenError
from facegen.export.identities import SHARDS_VARIABLE, parse_shard, shard_from_environment


def test_each_scheduler_gives_its_slice():
    assert shard_from_environment({"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"}) == (2, 4)
    # sbatch --array=1-4 numbers tasks from 1: task 3 is the third slice.
    assert shard_from_environment({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4",
                                   "SLURM_ARRAY_TASK_MIN": "1"}) == (2, 4)
    assert shard_from_environment({"JOB_COMPLETION_INDEX": "5"}, shards=8) == (5, 8)
    assert shard_from_environment({"JOB_COMPLETION_INDEX": "5", SHARDS_VARIABLE: "6"}) == (5, 6)
    tf_config = {"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}, "task": {"type": "worker", "index": 1}}
    assert shard_from_environment({"TF_CONFIG": json.dumps(tf_config)}) == (2, 3)
    with pytest.raises(FacegenError, match="SLURM_ARRAY_TASK_ID.*JOB_COMPLETION_INDEX.*TF_CONFIG"):
        shard_from_environment({})
    with pytest.raises(FacegenError, match="--shards N"):
        shard_from_environment({"JOB_COMPLETION_INDEX": "1"})
    with pytest.raises(FacegenError, match="not a whole number"):
        shard_from_environment({"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "4"})
    assert parse_shard("1/3") == (1, 3) and parse_shard("auto", environ={"JOB_COMPLETION_INDEX": "0"}, shards=2) == (0, 2)
    with pytest.raises(FacegenError, match="--shards goes with --shard auto"):
        parse_shard("1/3", shards=3)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, celeba_sample):
    from conftest import tiny_config

    from facegen.training.loop import train

    run_dir = tmp_path_factory.mktemp("shardrun") / "run"
    train(run_dir, tiny_config(celeba_sample, steps=4), progress=False)
    return run_dir


def export(run_dir, out, *extra):
    with pytest.raises(SystemExit) as e:
        main(["export", "--checkpoint", str(run_dir), "--identities", "8", "--per-identity", "20", "--seed", "5",
              "--batch-size", "64", "--out", str(out), "--quiet", *extra])
    assert e.value.code == 0


def digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in ("export.json", "README.md")}


@pytest.mark.parametrize("scheduler", ["slurm", "kubernetes", "tf_config"])
def test_shard_auto_writes_the_explicit_shards_bytes_and_they_merge(tiny_run, tmp_path, monkeypatch, scheduler):
    for name in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN", "JOB_COMPLETION_INDEX",
                 SHARDS_VARIABLE, "TF_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    for i in range(3):
        env = {"slurm": {"SLURM_ARRAY_TASK_ID": str(i), "SLURM_ARRAY_TASK_COUNT": "3"},
               "kubernetes": {"JOB_COMPLETION_INDEX": str(i), SHARDS_VARIABLE: "3"},
               "tf_config": {"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1", "b:1", "c:1"]},
                                                      "task": {"type": "worker", "index": i}})}}[scheduler]
        with monkeypatch.context() as m:
            for k, v in env.items():
                m.setenv(k, v)
            export(tiny_run, tmp_path / f"auto-{i}", "--shard", "auto")
        export(tiny_run, tmp_path / f"explicit-{i}", "--shard", f"{i}/3")
        assert digest(tmp_path / f"auto-{i}") == digest(tmp_path / f"explicit-{i}")
    with pytest.raises(SystemExit) as e:
        main(["merge", str(tmp_path / "auto-{i}"), "--out", str(tmp_path / "merged")])
    assert e.value.code == 0
    export(tiny_run, tmp_path / "single")
    assert digest(tmp_path / "merged") == digest(tmp_path / "single")


def test_merge_takes_a_glob_and_names_a_missing_shard(tiny_run, tmp_path, capsys):
    from facegen.export.merge import merge

    for i in (0, 2):
        export(tiny_run, tmp_path / f"part-{i}", "--shard", f"{i}/3")
    with pytest.raises(FacegenError, match=r"shard 1/3 \(.*part-1\) is missing"):
        merge([str(tmp_path / "part-{i}")], tmp_path / "m1", progress=False)
    with pytest.raises(FacegenError, match="missing 1/3"):
        merge([str(tmp_path / "part-*")], tmp_path / "m2", progress=False)
    with pytest.raises(SystemExit) as e:
        main(["export", "--checkpoint", str(tiny_run), "--count", "40", "--out", str(tmp_path / "x"), "--shard", "auto"])
    assert e.value.code != 0 and "none is set" in capsys.readouterr().err
    export(tiny_run, tmp_path / "part-1", "--shard", "1/3")
    assert merge([str(tmp_path / "part-*")], tmp_path / "m3", progress=False).images == 160
