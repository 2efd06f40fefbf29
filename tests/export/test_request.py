"""One resolve per export: ExportRequest -> plan -> pipeline. The plan applies the run's embedder, classifier and
judge and every default once, without TensorFlow; --dry-run prints it and writes nothing; Python and the CLI make
the same files; merged shards equal the single export, its judgement included."""

import hashlib
import json
import shutil
import subprocess
import sys

import pytest

from facegen.config import FacegenError
from facegen.export.card import CARD
from facegen.export.layout import EXPORT_JSON, RUN_FIELDS
from facegen.export.request import ExportRequest, plan

LOOSE = dict(max_similarity=0.99, max_leakage=0.995)  # a 30-step GAN's blobs look alike to the tiny embedder


@pytest.fixture(scope="module")
def staged_run(tmp_path_factory, celeba_sample, trained_embedder, trained_attributes):
    """A run folder as `facegen train` leaves it: the GAN, RUN/embedder, RUN/attributes and a judge of another seed."""
    from conftest import embedder_config, tiny_config

    from facegen.training.embedder import train_embedder
    from facegen.training.loop import train

    run_dir = tmp_path_factory.mktemp("staged") / "run"
    train(run_dir, tiny_config(celeba_sample, steps=30), progress=False)
    shutil.copytree(trained_embedder[0], run_dir / "embedder")
    shutil.copytree(trained_attributes[0], run_dir / "attributes")
    train_embedder(run_dir / "judge", embedder_config(celeba_sample, seed=7, steps=60), progress=False)
    return run_dir


def digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in (EXPORT_JSON, CARD)}


def record(folder):
    return {k: v for k, v in json.loads((folder / EXPORT_JSON).read_text()).items() if k not in RUN_FIELDS}


def card(folder):
    return [line for line in (folder / CARD).read_text().splitlines() if not line.startswith("Command: ")]


def request(run, out, **kw):
    return ExportRequest(checkpoint=run, out=out, **{**dict(identities=6, per_identity=8, seed=3, **LOOSE), **kw})


def test_the_plan_applies_the_runs_models_and_every_default_once(staged_run, tmp_path):
    p = plan(request(staged_run, tmp_path / "x"))
    limits = json.loads((staged_run / "embedder" / "report.json").read_text())["limits"]
    c = p.config
    assert c.embedder == str((staged_run / "embedder").resolve()) and c.attributes.endswith("attributes")
    assert p.judge == str((staged_run / "judge").resolve()) and p.judged_identities == 6 and p.judges_now
    assert c.precision in ("off", "bfloat16") and c.variation == 0.35  # concrete: auto and None resolved
    assert c.min_consistency == round(limits["consistency"], 6) and c.max_similarity == 0.99
    assert not (tmp_path / "x").exists()  # planning writes nothing
    # Opting out and shards: no embedder, no classifier; a shard leaves the judging to merge.
    bare = plan(request(staged_run, tmp_path / "x", verify=False, label_attributes=False, max_similarity=None,
                        max_leakage=None, shard=(1, 2)))
    assert (bare.config.embedder, bare.config.attributes) == ("", "") and not bare.judges_now
    assert bare.judge_record() == {"embedder": p.judge, "identities": 6}
    with pytest.raises(FacegenError, match="--embedder or --no-verify"):
        plan(request(staged_run, tmp_path / "x", verify=False, embedder=str(staged_run / "embedder")))
    with pytest.raises(FacegenError, match="not a facegen run"):
        plan(request(tmp_path, tmp_path / "x"))


def test_dry_run_prints_the_plan_without_tensorflow_and_writes_nothing(staged_run, tmp_path):
    out = tmp_path / "dry"
    code = f"""
import sys
from facegen.cli import main
try:
    main(["export", "--checkpoint", {str(staged_run)!r}, "--identities", "6", "--per-identity", "8", "--seed", "3",
          "--max-similarity", "0.99", "--max-leakage", "0.995", "--out", {str(out)!r}, "--dry-run"])
except SystemExit as e:
    assert e.code == 0, e.code
assert "tensorflow" not in sys.modules, "--dry-run started TensorFlow"
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    printed = json.loads(r.stdout)
    assert printed == json.loads(plan(request(staged_run, out)).to_json())
    assert printed["config"]["embedder"] and printed["judge"]["identities"] == 6 and not out.exists()


def test_python_and_the_cli_make_the_same_dataset(staged_run, tmp_path):
    from facegen.cli import main
    from facegen.export import export

    result = export(request(staged_run, tmp_path / "py"), progress=False)
    assert result.judgement and result.judgement["identities"] == 6 and result.identity_check
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--checkpoint", str(staged_run), "--identities", "6", "--per-identity", "8", "--seed", "3",
              "--max-similarity", "0.99", "--max-leakage", "0.995", "--out", str(tmp_path / "cli"), "--quiet"])
    assert exit_.value.code == 0
    py, cli = tmp_path / "py", tmp_path / "cli"
    assert "judgements.json" in digest(py) and any(c.startswith("attr_") or "Male" in c
                                                   for c in (py / "manifest.csv").read_text().splitlines()[0].split(","))
    assert digest(py) == digest(cli) and record(py) == record(cli) and card(py) == card(cli)


def test_merged_shards_equal_the_single_export_judgement_included(staged_run, tmp_path):
    from facegen.export import export
    from facegen.export.merge import merge

    export(request(staged_run, tmp_path / "single"), progress=False)
    parts = [tmp_path / f"part{i}" for i in range(2)]
    for i, part in enumerate(parts):
        assert export(request(staged_run, part, shard=(i, 2)), progress=False).judgement is None
    merged = merge(parts, tmp_path / "merged", progress=False)
    single, joined = tmp_path / "single", tmp_path / "merged"
    assert merged.judgement is not None and (joined / "judgements.json").exists()
    assert digest(joined) == digest(single)
    assert record(joined) == record(single) and card(joined) == card(single)
