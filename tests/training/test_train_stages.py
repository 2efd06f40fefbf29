"""`facegen train`'s stages as a user meets them: the card's two commands give a verified, attribute-labelled
export; a kill in any stage and the same command again end with an uninterrupted run's weights; unlabelled data
trains plain and says so; runs made before the stages still export."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facegen.cli import main
from facegen.run import run_parts

# Tiny stages at 32 px: each long enough to be killed in the middle (checkpoints every 10 steps). Identity mode: a
# 40-step tiny GAN in the default embedding mode renders one face for every bank person (2 of 256 candidates
# separable), too few for the export tests; embedding mode's own stages and export are tested in
# tests/training/test_embedding_mode.py and the default in the dry run below.
TRAIN = ["--preset", "tiny", "--resolution", "32", "--batch-size", "16", "--steps", "40", "--embedder-steps", "60",
         "--attributes-steps", "40", "--judge-steps", "60", "--checkpoint-every", "10", "--mode", "identity", "--quiet"]

DEFAULT = [a for a in TRAIN if a not in ("--mode", "identity")]  # no --mode: decided by the data


def REQUEST(data, out):
    """TRAIN's flags as the library's request."""
    from facegen.training.request import TrainRequest

    return TrainRequest(data=data, out=out, preset="tiny", resolution=32, batch_size=16, steps=40, embedder_steps=60,
                        attributes_steps=40, judge_steps=60, checkpoint_every=10, mode="identity")


def run(*args):
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    assert e.value.code == 0


@pytest.fixture(scope="module")
def trained_run(celeba_sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline") / "run"
    run("train", "--data", celeba_sample, "--out", out, *TRAIN)
    return out


def test_train_runs_every_stage_into_one_self_describing_folder(trained_run):
    cfg = json.loads((trained_run / "config.json").read_text())
    assert cfg["mode"] == "identity" and cfg["train"]["identity_loss"] == 1.0
    assert cfg["train"]["identity_embedder"] == str((trained_run / "embedder").resolve())
    parts = run_parts(trained_run)
    assert parts.embedder == (trained_run / "embedder").resolve()
    assert parts.attributes == (trained_run / "attributes").resolve()
    assert parts.judge == (trained_run / "judge").resolve()
    for stage, kind in (("embedder", "embedder"), ("attributes", "attributes"), ("judge", "embedder")):
        assert json.loads((trained_run / stage / "config.json").read_text())["kind"] == kind
    judge, embedder = (json.loads((trained_run / s / "config.json").read_text()) for s in ("judge", "embedder"))
    assert judge["seed"] != embedder["seed"]  # another embedder, not the filter twice
    # Every stage trains at the GAN's policy, stored as the concrete one auto stood for.
    policies = {json.loads((trained_run / s / "config.json").read_text())["mixed_precision"]
                for s in ("embedder", "attributes", "judge")}
    assert policies == {cfg["train"]["mixed_precision"]} and "auto" not in policies
    capacity = json.loads((trained_run / "capacity.json").read_text())
    assert capacity["candidates"] == 256 and 0 < capacity["accepted"] <= 256
    assert capacity["embedder"] == str(parts.embedder)
    # The generator's identity spread beside held-out real people's, by the same embedder and rule.
    generated, real = capacity["spread"], capacity["real_spread"]
    assert generated["people"] == 256 and 0 <= generated["pairs_above_limit"] <= 1
    assert real == json.loads((trained_run / "embedder" / "report.json").read_text())["held_out_spread"]
    assert real["max_similarity"] == generated["max_similarity"] == capacity["max_similarity"]


def test_the_card_commands_give_a_verified_attribute_labelled_judged_export(trained_run, celeba_sample, tmp_path,
                                                                             capsys):
    # A 40-step tiny GAN makes few distinct people: a loose separation limit lets 4 identities through.
    out = tmp_path / "synth"
    run("export", "--checkpoint", trained_run, "--count", "24", "--identities", "4", "--out", out,
        "--max-similarity", "0.995", "--quiet")
    printed = capsys.readouterr().out
    record = json.loads((out / "export.json").read_text())
    s = record["settings"]
    assert s["embedder"] == str(trained_run / "embedder") and s["attributes"] == str(trained_run / "attributes")
    assert s["variation"] == 1.5  # the measured best for verified identity-mode exports
    frame = pd.read_csv(out / "manifest.csv")
    assert len(frame) == 24 and frame["identity_similarity"].notna().all()
    assert {"Male", "Smiling"} <= set(frame.columns) and frame["Male"].between(0, 1).all()
    judged = json.loads((out / "judgements.json").read_text())[str(trained_run.resolve() / "judge")]
    assert judged["identities"] == 4 and 0 <= judged["consistency"] <= 1
    assert "judged by" in printed and "leaked" in printed
    card = (out / "README.md").read_text()
    assert "identities verified by" in card and "Judged by an identity embedder" in card
    assert "identity capacity of the checkpoint" not in card  # measured at the calibrated limit, not at 0.995

    # evaluate judges with the run's judge by default and refuses the embedder that filtered the export.
    from facegen.config import FacegenError
    from facegen.metrics.evaluate import check_request

    assert check_request(celeba_sample, None, out, 24, 0) == (trained_run / "judge").resolve()
    with pytest.raises(FacegenError, match="filtered this export"):
        check_request(celeba_sample, None, out, 24, 0, judge=trained_run / "embedder")
    run("evaluate", "--data", celeba_sample, "--export", out, "--n", "24", "--n-real", "40", "--quiet")
    printed = capsys.readouterr().out
    assert f"(embedder {(trained_run / 'judge').resolve()})" in printed


def test_opting_out_gives_a_plain_export(trained_run, tmp_path):
    out = tmp_path / "plain"
    run("export", "--checkpoint", trained_run, "--count", "8", "--identities", "2", "--out", out, "--no-verify",
        "--no-attributes", "--quiet")
    s = json.loads((out / "export.json").read_text())["settings"]
    assert "embedder" not in s and "attributes" not in s and s["variation"] == 1.0
    assert "identity_similarity" not in pd.read_csv(out / "manifest.csv").columns or \
        pd.read_csv(out / "manifest.csv")["identity_similarity"].isna().all()


def test_an_export_beyond_the_models_capacity_fails_before_writing(trained_run, tmp_path):
    out = tmp_path / "too-many"
    r = subprocess.run([sys.executable, "-m", "facegen", "export", "--checkpoint", str(trained_run), "--identities",
                        "300", "--per-identity", "2", "--out", str(out), "--quiet"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 1, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert "this checkpoint makes" in line and "of the first 512 candidates" in line, line
    assert "--max-similarity" in line and "--identities" in line
    assert not out.exists()  # failed before any image: nothing to clean up


def _weights(folder: Path) -> dict:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(folder / "checkpoints"))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if "OBJECT_GRAPH" not in k and not k.startswith("save_counter")}


def test_a_kill_in_each_stage_then_the_same_request_from_python_equals_an_uninterrupted_cli_run(
        celeba_sample, trained_run, tmp_path):
    from facegen.training.pipeline import run_plan
    from facegen.training.request import plan

    out = tmp_path / "killed"
    command = [sys.executable, "-m", "facegen", "train", "--data", str(celeba_sample), "--out", str(out), *TRAIN]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    # Each stage is killed (SIGKILL: no chance to save) once its first periodic checkpoint is on disk.
    for stage_dir in ("embedder", ".", "judge", "attributes"):
        marker = out / stage_dir / "checkpoints" / "checkpoint"
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while not marker.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not (out / stage_dir / "report.json").exists() or stage_dir == "."
    # The rest from Python: the same request through the library finishes the run the CLI started.
    result = run_plan(plan(REQUEST(celeba_sample, out)), progress=False)
    assert [s.stage for s in result.stages] == ["embedder", "gan", "judge", "attributes", "capacity"]
    for stage_dir in ("embedder", ".", "attributes", "judge"):
        a, b = _weights(out / stage_dir), _weights(trained_run / stage_dir)
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{stage_dir}: {k}")
    assert json.loads((out / "capacity.json").read_text())["accepted"] == \
        json.loads((trained_run / "capacity.json").read_text())["accepted"]


def test_unlabelled_data_trains_plain_and_says_so(celeba_sample, tmp_path, caplog):
    flat = tmp_path / "flat"
    flat.mkdir()
    for p in sorted((celeba_sample / "img_align_celeba").iterdir())[:40]:
        shutil.copy(p, flat / p.name)
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "facegen", "train", "--data", str(flat), "--out", str(out), *DEFAULT],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    notes = [line for line in r.stderr.splitlines() if "no identity labels" in line]
    assert len(notes) == 1 and "latent neighbourhoods" in notes[0]
    assert json.loads((out / "config.json").read_text())["mode"] == "plain"
    assert run_parts(out) == run_parts(tmp_path / "nothing") and not (out / "embedder").exists()


def test_a_run_made_before_the_stages_still_exports(celeba_sample, tmp_path, trained_embedder, capsys):
    from conftest import tiny_config

    from facegen.training.loop import train

    old = tmp_path / "old"
    train(old, tiny_config(celeba_sample, "identity"), progress=False)  # an identity run, no stage folders
    out = tmp_path / "synth"
    capsys.readouterr()
    run("export", "--checkpoint", old, "--count", "8", "--identities", "2", "--out", out, "--quiet")
    assert "has no embedder: exporting unverified identities" in capsys.readouterr().err
    assert "embedder" not in json.loads((out / "export.json").read_text())["settings"]
    # A hand-built identity run names its loss embedder in its config: that embedder verifies its exports.
    hand = tmp_path / "hand"
    train(hand, tiny_config(celeba_sample, "identity", identity_loss=0.5, identity_embedder=str(trained_embedder[0])),
          progress=False)
    assert run_parts(hand).embedder == Path(trained_embedder[0]).resolve()
    out = tmp_path / "hand-synth"
    run("export", "--checkpoint", hand, "--count", "8", "--identities", "2", "--out", out, "--max-similarity", "1",
        "--quiet")
    assert json.loads((out / "export.json").read_text())["settings"]["embedder"] == str(trained_embedder[0])


def test_dry_run_prints_the_plan_python_gets_and_trains_nothing(celeba_sample, tmp_path, capsys):
    from facegen.training.request import plan

    run("train", "--data", celeba_sample, "--out", tmp_path / "py", *TRAIN, "--dry-run")
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(plan(REQUEST(celeba_sample, tmp_path / "py")).to_json())
    assert not (tmp_path / "py").exists()
    assert printed["stages"] == ["embedder", "gan", "judge", "attributes", "capacity"]
    run("train", "--data", celeba_sample, "--out", tmp_path / "default", *DEFAULT, "--dry-run")
    assert json.loads(capsys.readouterr().out)["config"]["mode"] == "embedding"  # on identity-labelled data
    assert printed["config"]["train"]["mixed_precision"] in ("off", "bfloat16")  # auto resolved in the plan
    assert printed["embedder"]["mixed_precision"] == printed["config"]["train"]["mixed_precision"]


def test_embedding_mode_with_a_wider_identity_space_is_planned_before_anything_trains(celeba_sample, tmp_path):
    from PIL import Image

    from facegen.config import FacegenError
    from facegen.data.sample import write_sample
    from facegen.training.request import TrainRequest, plan

    people = write_sample(tmp_path / "people", count=60, seed=5)  # other people than the GAN's
    p = plan(TrainRequest(data=celeba_sample, out=tmp_path / "r", preset="tiny", resolution=32, mode="embedding",
                          embedder_data=people))
    model = p.config.model
    assert p.config.mode == "embedding" and model.conditioned and (model.identity_dim, model.latent_dim) == (128, 178)
    assert p.recipe.embedder.data == str(people) and p.recipe.judge.data == str(people)
    assert p.config.data.path == str(celeba_sample) and p.config.train.identity_loss == 1.0
    assert p.recipe.stages == ["embedder", "gan", "judge", "attributes", "capacity"]
    with pytest.raises(FacegenError, match="--identity-dim is the identity mode's"):
        plan(TrainRequest(data=celeba_sample, out=tmp_path / "r", mode="embedding", identity_dim=20))
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        Image.new("RGB", (40, 40), (i * 60, 90, 120)).save(flat / f"{i}.png")
    with pytest.raises(FacegenError, match="--embedder-data .* has no identity labels"):
        plan(TrainRequest(data=celeba_sample, out=tmp_path / "r", embedder_data=flat))
    assert not (tmp_path / "r").exists()


def test_count_alone_fits_the_model_and_explicit_identities_are_still_refused(trained_run, tmp_path, capsys):
    from facegen.export.capacity import Capacity
    from facegen.export.request import FIT_SHARE, ExportRequest, plan

    curve = Capacity.from_record(json.loads((trained_run / "capacity.json").read_text()))
    most = max(1, int(FIT_SHARE * curve.deliverable(10)))
    assert most < 30, curve  # a 40-step tiny model: few separable people at the calibrated limit
    count = 20 * 30  # 30 identities at the default 20 per identity: beyond it
    fitted = plan(ExportRequest(checkpoint=trained_run, out=tmp_path / "x", count=count)).config
    assert fitted.identities <= most and fitted.identities * fitted.per_identity == count
    small = 20 * most  # what the model makes at 20 each: left as asked
    assert plan(ExportRequest(checkpoint=trained_run, out=tmp_path / "x", count=small)).config.identities == most
    out = tmp_path / "fitted"
    run("export", "--checkpoint", trained_run, "--count", count, "--out", out, "--quiet")
    said = [line for line in capsys.readouterr().err.splitlines() if "exporting --count" in line]
    assert len(said) == 1 and f"as {fitted.identities} identities" in said[0]
    frame = pd.read_csv(out / "manifest.csv")
    assert len(frame) == count and frame["identity"].nunique() == fitted.identities
    assert json.loads((out / "export.json").read_text())["identity_check"]["identities"] == fitted.identities


def test_count_alone_at_limits_no_record_covers_is_fitted_to_the_capacity_measured_at_the_start(trained_run,
                                                                                                 tmp_path, capsys):
    from facegen.export.request import ExportRequest, plan

    calibrated = json.loads((trained_run / "embedder" / "report.json").read_text())["limits"]["separation"]
    tighter = round(calibrated - 0.05, 3)  # a stricter separation limit than the run's capacity.json measured
    count = 20 * 30
    planned = plan(ExportRequest(checkpoint=trained_run, out=tmp_path / "x", count=count, max_similarity=tighter))
    assert planned.fit_at_start and planned.capacity is None and planned.config.identities == 30
    out = tmp_path / "fitted"
    run("export", "--checkpoint", trained_run, "--count", count, "--max-similarity", tighter, "--out", out)
    err = capsys.readouterr().err
    assert "measuring it on the first" in err
    said = [line for line in err.splitlines() if "exporting --count" in line]
    assert len(said) == 1, err[-2000:]
    frame = pd.read_csv(out / "manifest.csv")
    k = frame["identity"].nunique()
    assert f"as {k} identities" in said[0] and k < 30 and len(frame) == count
    record = json.loads((out / "export.json").read_text())
    assert record["settings"]["max_similarity"] == tighter and record["identity_check"]["identities"] == k
    # An explicit --identities at that limit is still refused before any image is written.
    with pytest.raises(SystemExit) as refused:
        main([str(a) for a in ("export", "--checkpoint", trained_run, "--identities", 30, "--per-identity", 20,
                               "--max-similarity", tighter, "--out", tmp_path / "refused", "--quiet")])
    assert refused.value.code != 0
    assert not (tmp_path / "refused").exists()


def test_embedding_mode_renders_new_people_in_training_by_default_and_a_run_keeps_its_share(celeba_sample, tmp_path):
    from facegen.config import FacegenError
    from facegen.run import write_run_config
    from facegen.training.request import TrainRequest, plan

    default = plan(TrainRequest(data=celeba_sample, out=tmp_path / "r", preset="tiny", resolution=32))
    assert default.config.mode == "embedding" and default.config.train.novel_share == 0.5
    assert plan(TrainRequest(data=celeba_sample, out=tmp_path / "r", preset="tiny", resolution=32,
                             novel_share=0.25)).config.train.novel_share == 0.25
    identity = plan(TrainRequest(data=celeba_sample, out=tmp_path / "r", preset="tiny", mode="identity"))
    assert identity.config.train.novel_share == 0.0
    with pytest.raises(FacegenError, match="--novel-share needs --mode embedding"):
        plan(TrainRequest(data=celeba_sample, out=tmp_path / "r", mode="identity", novel_share=0.5))
    # A run trained before the share existed resumes as it trained: on photos' embeddings only.
    old = tmp_path / "old"
    old.mkdir()
    write_run_config(old, default.config)
    stored = json.loads((old / "config.json").read_text())
    del stored["train"]["novel_share"]
    (old / "config.json").write_text(json.dumps(stored))
    assert plan(TrainRequest(data=celeba_sample, out=old, preset="tiny", resolution=32)).config.train.novel_share == 0.0
