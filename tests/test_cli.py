"""The command line as a user meets it: real subprocesses, one-line errors, exit codes, files written."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image


def facegen(*args, cwd=None, **env):
    env = {**{k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "FACEGEN_TF_LOGS")}, **env}
    return subprocess.run([sys.executable, "-m", "facegen", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "nowhere", "--out", "r"], "data folder nowhere does not exist"),
    (["train", "--data", "x", "--out", "r", "--steps", "0"], "--steps must be at least 1"),
    (["train", "--data", "x", "--out", "r", "--steps", "5", "--epochs", "1"], "not both"),
    (["train", "--data", "x", "--out", "r", "--epochs", "0"], "--epochs must be at least 1"),
    (["train", "--data", "x", "--out", "r", "--preset", "huge"], "--preset must be one of"),
    (["train", "--data", "x", "--out", "r", "--resolution", "48"], "--resolution must be 32, 64 or 128"),
    (["train", "--data", "x", "--out", "r", "--batch-size", "many"], "'--batch-size'"),
    (["train", "--bogus"], "No such option: --bogus"),
    (["train", "--data", "x", "--out", "r", "--strategy", "ring"], "--strategy must be one of"),
    (["train", "--data", "x", "--out", "r", "--mixed-precision", "fp8"], "--mixed-precision must be one of"),
    (["sample", "--checkpoint", "nowhere", "--out", "g.png"], "not a facegen run folder"),
    (["sample", "--checkpoint", "nowhere", "--out", "g.jpg"], "--out must be a .png"),
    (["data", "sample", "--count", "0"], "--count must be at least 1"),
    (["mix", "--out", "m"], "give --real, or --real-identities 0"),
    (["mix", "--real", "x", "--out", "m"], "without --synth, give --size"),
    (["embedder", "train", "--data", "x", "--out", "e", "--preset", "huge"], "--preset must be one of"),
    (["train", "--data", "x", "--out", "r", "--mode", "plain", "--identity-loss", "1"],
     "--identity-loss needs --mode identity"),
    (["train", "--data", "x", "--out", "r", "--mode", "plain", "--identity-loss", "1", "--identity-embedder", "e"],
     "--identity-loss needs --mode identity"),
    (["train", "--data", "x", "--out", "r", "--embedder-steps", "0"], "--embedder-steps must be at least 1"),
    (["train", "--data", "x", "--out", "r", "--mode", "identity", "--identity-loss", "-1"],
     "--identity-loss must be at least 0"),
    (["train", "--data", "x", "--out", "r", "--mode", "identity", "--identity-loss", "0", "--identity-embedder", "e"],
     "--identity-embedder is only used with --identity-loss"),
])
def test_bad_input_is_one_line_and_non_zero(tmp_path, args, message):
    r = facegen(*args, cwd=tmp_path)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facegen: error:") and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "nowhere", "--out", "r"], "data folder nowhere does not exist"),
    (["train", "--data", "file.txt", "--out", "r"], "is not a folder"),
    (["export", "--checkpoint", "nowhere", "--out", "s", "--count", "20"], "not a facegen run folder"),
    (["export", "--checkpoint", "run", "--out", "full", "--count", "20"], "not empty and is not a facegen export"),
    (["sample", "--checkpoint", "nowhere", "--out", "g.png"], "not a facegen run folder"),
    (["evaluate", "--data", "nowhere", "--export", "s"], "data folder nowhere does not exist"),
    (["embedder", "train", "--data", "nowhere", "--out", "e"], "data folder nowhere does not exist"),
    (["train", "--data", "nowhere", "--out", "r", "--mode", "identity", "--identity-loss", "1",
      "--identity-embedder", "run"], "holds a facegen dcgan folder, not an embedder"),
    (["mix", "--real", "nowhere", "--size", "64", "--out", "m"], "data folder nowhere does not exist"),
])
def test_user_errors_come_before_tensorflow_starts(tmp_path, args, message):
    """A typo must not wait for TensorFlow's import (~9 s): the error comes from a process that never imported it."""
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("x")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text('{"model": {}, "data": {}, "train": {}}')
    code = ("import sys\nfrom facegen.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    print(e.code, 'tensorflow' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.stdout.split() == ["1", "False"], (r.stdout, r.stderr)
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_folder_another_command_is_writing_is_refused_in_one_line(tmp_path, celeba_sample):
    """Two commands writing one --out at once would interleave their journals; the second one stops at once,
    before TensorFlow starts, and touches nothing."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text('{"model": {}, "data": {}, "train": {}}')
    holder = subprocess.Popen([sys.executable, "-c", "import sys\nfrom facegen.atomic import exclusive\n"
                               "with exclusive('busy'):\n    print('held', flush=True)\n    sys.stdin.read()"],
                              cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        code = ("import sys\nfrom facegen.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
                "    print(e.code, 'tensorflow' in sys.modules)")
        for args in (["export", "--checkpoint", "run", "--out", "busy", "--count", "20"],
                     ["train", "--data", celeba_sample, "--out", "busy", "--preset", "tiny"],
                     ["mix", "--real-identities", "0", "--synth", "run", "--out", "busy"],
                     ["embedder", "train", "--data", celeba_sample, "--out", "busy"]):
            r = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                               cwd=tmp_path, timeout=120)
            assert r.stdout.split() == ["1", "False"], (args, r.stdout, r.stderr)
            assert r.stderr.strip() == ("facegen: error: busy is being written by another facegen command; wait for "
                                        "it to end or pick another --out"), r.stderr
        assert list((tmp_path / "busy").iterdir()) == []
    finally:
        holder.communicate("")
    assert not (tmp_path / "busy").exists()  # the holder made it and wrote nothing: it is gone again


def test_data_train_sample_end_to_end(tmp_path):
    assert facegen("data", "sample", "--out", tmp_path / "d", "--count", "64").returncode == 0
    r = facegen("train", "--data", tmp_path / "d", "--out", tmp_path / "run", "--mode", "plain", "--preset", "tiny", "--resolution",
                "32", "--steps", "3", "--batch-size", "8", "--partition", "all", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "trained" in r.stdout and r.stderr == ""  # no TensorFlow start-up noise
    r = facegen("sample", "--checkpoint", tmp_path / "run", "--out", tmp_path / "grid.png", "--n", "9")
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "grid.png").size == (3 * 34 + 2, 3 * 34 + 2)
    r = facegen("sample", "--checkpoint", tmp_path / "run", "--out", tmp_path / "walk.png", "--seed", "1",
                "--interpolate", "2", "--n", "5")
    walk = np.asarray(Image.open(tmp_path / "walk.png"))
    assert r.returncode == 0 and walk.shape[:2] == (36, 5 * 34 + 2)
    # Re-running the finished command is a no-op that says so.
    r = facegen("train", "--data", tmp_path / "d", "--out", tmp_path / "run", "--mode", "plain", "--preset", "tiny", "--resolution",
                "32", "--steps", "3", "--batch-size", "8", "--partition", "all", "--quiet")
    assert r.returncode == 0 and "already at step 3" in r.stdout
    # Training further says where it resumes, and a shell's TF_CPP_MIN_LOG_LEVEL=2 lets no TensorFlow line through.
    r = facegen("train", "--data", tmp_path / "d", "--out", tmp_path / "run", "--mode", "plain", "--preset", "tiny", "--resolution",
                "32", "--steps", "5", "--batch-size", "8", "--partition", "all", "--quiet", TF_CPP_MIN_LOG_LEVEL="2")
    assert r.returncode == 0 and "trained" in r.stdout, r.stderr
    assert r.stderr.splitlines() == [f"facegen: resuming {tmp_path / 'run'} at step 3 of 5"]


def test_a_truncated_checkpoint_falls_back_or_fails_in_one_line(tmp_path, celeba_sample):
    r = facegen("train", "--data", celeba_sample, "--out", tmp_path / "run", "--mode", "plain", "--preset", "tiny", "--resolution", "32",
                "--steps", "4", "--checkpoint-every", "2", "--batch-size", "8", "--partition", "all", "--quiet")
    assert r.returncode == 0, r.stderr
    for step in (4, 2):  # cut the newest checkpoint short, then the older one too
        data = tmp_path / "run" / "checkpoints" / f"ckpt-{step}.data-00000-of-00001"
        data.write_bytes(data.read_bytes()[:len(data.read_bytes()) // 2])
        r = facegen("sample", "--checkpoint", tmp_path / "run", "--out", tmp_path / "g.png", "--n", "4")
        if step == 4:
            assert r.returncode == 0 and "from step 2" in r.stdout, r.stderr
            assert r.stderr.splitlines() == ["facegen: warning: ckpt-4 is unreadable (cut short?); using ckpt-2"]
        else:
            assert r.returncode == 1 and "Traceback" not in r.stderr
            assert r.stderr.splitlines() == [f"facegen: error: no checkpoint in {tmp_path / 'run' / 'checkpoints'} "
                                             f"reads (newest: {tmp_path / 'run' / 'checkpoints' / 'ckpt-4'}.data-*); "
                                             "the files are damaged: restore them from a copy or train a new run"]


@pytest.mark.parametrize("args, message", [
    (["--count", "105"], "not divisible by --per-identity 20"),
    (["--identities", "3", "--per-identity", "4", "--count", "10"], "must equal"),
    (["--count", "10", "--variation", "3"], "--variation must be between 0 and 1 (up to 2 for an identity"),
    (["--count", "10", "--identity-noise", "-1"], "--identity-noise must be between 0 and 2"),
    (["--count", "10", "--nuisance", "3"], "--nuisance must be between 0 and 2"),
    (["--count", "10", "--shard", "2/2"], "--shard 2/2"),
    (["--count", "10", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["--count", "10"], "not a facegen run folder"),
])
def test_export_flags_are_checked(tmp_path, args, message):
    r = facegen("export", "--checkpoint", tmp_path / "none", "--out", tmp_path / "synth", *args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0 and len(lines) == 1 and message in lines[0], r.stderr


def test_export_and_merge_commands(tmp_path, celeba_sample):
    r = facegen("train", "--data", celeba_sample, "--out", tmp_path / "run", "--mode", "plain", "--preset", "tiny", "--resolution", "32",
                "--steps", "2", "--batch-size", "8", "--partition", "all", "--quiet")
    assert r.returncode == 0, r.stderr
    for i in range(2):
        r = facegen("export", "--checkpoint", tmp_path / "run", "--out", tmp_path / f"s{i}", "--identities", "3",
                    "--per-identity", "40", "--shard", f"{i}/2", "--batch-size", "100", "--quiet")
        assert r.returncode == 0 and r.stderr == "facegen: --batch-size 100 rounded up to 128 (whole 64-image blocks)\n"
    r = facegen("export", "--checkpoint", tmp_path / "run", "--out", tmp_path / "wide", "--count", "10",
                "--variation", "1.5")  # above 1 is for identity mode only: a plain latent cannot mix further
    assert r.returncode == 1 and r.stderr.splitlines() == [
        "facegen: error: --variation 1.5 is above 1, which only an identity-mode checkpoint takes (a plain run "
        "mixes identity and noise: 1 already makes every image unrelated)"] and not (tmp_path / "wide").exists()
    r = facegen("export", "--checkpoint", tmp_path / "run", "--out", tmp_path / "wide", "--count", "10",
                "--identity-noise", "1")
    assert r.returncode == 1 and r.stderr.splitlines() == [
        "facegen: error: --identity-noise moves an embedding-mode model's identity embedding; this checkpoint is "
        "not one (--variation sets its images' variety)"] and not (tmp_path / "wide").exists()
    r = facegen("merge", tmp_path / "s0", tmp_path / "s1", "--out", tmp_path / "synth")
    assert r.returncode == 0 and "120 images" in r.stdout, r.stderr
    r = facegen("export", "--checkpoint", tmp_path / "run", "--out", tmp_path / "synth", "--identities", "3",
                "--per-identity", "40", "--quiet")
    assert r.returncode == 0 and "already holds this export" in r.stdout, r.stderr


def test_embedder_train_then_verified_export(tmp_path, celeba_sample, trained_embedder):
    """The flags reach the library: an embedder trains from the command line, and an export with --embedder
    reports its identity check and records the limits it was given."""
    r = facegen("embedder", "train", "--data", celeba_sample, "--out", tmp_path / "emb", "--preset", "tiny",
                "--resolution", "32", "--steps", "5", "--batch-size", "16", "--quiet")
    assert r.returncode == 0 and "held-out verification" in r.stdout, r.stderr
    assert json.loads((tmp_path / "emb" / "report.json").read_text())["step"] == 5
    r = facegen("train", "--data", celeba_sample, "--out", tmp_path / "run", "--mode", "plain", "--preset", "tiny", "--resolution", "32",
                "--steps", "2", "--batch-size", "8", "--partition", "all", "--quiet")
    assert r.returncode == 0, r.stderr
    r = facegen("export", "--checkpoint", tmp_path / "run", "--out", tmp_path / "v", "--identities", "3",
                "--per-identity", "4", "--embedder", trained_embedder[0], "--max-similarity", "1",
                "--max-leakage", "1", "--min-consistency", "-1", "--quiet")
    assert r.returncode == 0 and "identities: 3 accepted of" in r.stdout, r.stderr
    settings = json.loads((tmp_path / "v" / "export.json").read_text())["settings"]
    assert (settings["max_similarity"], settings["max_leakage"], settings["min_consistency"]) == (1.0, 1.0, -1.0)
    r = facegen("export", "--checkpoint", tmp_path / "run", "--out", tmp_path / "w", "--count", "20", "--embedder",
                celeba_sample)
    assert r.returncode == 1 and r.stderr.strip().splitlines() == [
        f"facegen: error: {celeba_sample} is not a facegen embedder folder (no config.json)"]


def test_every_command_is_thin():
    """Each command: its options (shared ones declared once, at module level), one plan, one call, one print."""
    import ast
    import inspect

    import facegen.cli as cli

    tree = ast.parse(inspect.getsource(cli))
    commands = [n for n in tree.body if isinstance(n, ast.FunctionDef)
                and any("command" in ast.unparse(d) for d in n.decorator_list)]
    assert len(commands) >= 12
    long = {n.name: n.end_lineno - n.lineno + 1 for n in commands if n.end_lineno - n.lineno + 1 > 70}
    assert long == {}
