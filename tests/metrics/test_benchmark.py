"""`facegen benchmark` on a tiny export: every arm trains and is verified by the 10-fold protocol, the tables and
the card gain the figures, finished arms are reused, and a killed benchmark resumed equals an uninterrupted one."""

import json

import pandas as pd
import pytest

from facegen.config import ExportConfig, FacegenError
from facegen.export.card import CARD
from facegen.metrics.benchmark import BenchmarkConfig, benchmark, check_request
from facegen.training import supervised


@pytest.fixture(scope="module")
def synth(celeba_sample, tmp_path_factory):
    from conftest import tiny_config

    from facegen.export.render import export
    from facegen.training.loop import train

    run = tmp_path_factory.mktemp("run") / "tiny"
    train(run, tiny_config(celeba_sample, steps=4), progress=False)
    out = tmp_path_factory.mktemp("synth") / "synth"
    export(run, out, ExportConfig(identities=4, per_identity=10, seed=2), progress=False)
    return out


def cfg(real, synth, **kw):
    base = dict(real=str(real), synth=(str(synth),), real_identities=("2", "50%"), seeds=(0,), steps=6,
                batch_size=16, preset="tiny", resolution=32, folds=2, per_fold=20)
    return BenchmarkConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def done(verification_sample, synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "b"
    return out, benchmark(cfg(verification_sample, synth), out, progress=False)


def test_every_arm_is_trained_and_verified_by_the_protocol(done, synth):
    out, result = done
    record = result.record
    assert result.out == out and any(line.startswith("real+synth") for line in result.lines())
    table = pd.read_csv(out / "results.csv")
    # 16 training identities: 2 and 50% = 8 real identities, each alone and with the export; the export alone.
    assert sorted(zip(table["arm"], table["real_identities"])) == [
        ("real", 2), ("real", 8), ("real+synth", 2), ("real+synth", 8), ("synth", 0)]
    assert table["accuracy"].between(0, 1).all() and (table["pairs"] == 80).all()
    assert (table["best_threshold_accuracy"] >= table["accuracy"] - 1e-9).all()  # chosen on the test pairs
    assert {g["real_identities"] for g in record["gains"]} == {2, 8}
    mixed = json.loads((out / "data" / "real+synth1-8" / "mix.json").read_text())["counts"]
    assert (mixed["real_identities"], mixed["synth_identities"]) == (8, [4])
    assert (out / "results.png").stat().st_size > 0 and "10-fold" in (out / "README.md").read_text()
    card = (synth / CARD).read_text()
    assert "## Recognition benchmark" in card and "real+synth" in card


def test_finished_arms_are_reused_when_more_seeds_are_asked(done, verification_sample, synth):
    out, _ = done
    first = {p.parent.name: p.stat().st_mtime_ns for p in (out / "arms").glob("*/result.json")}
    benchmark(cfg(verification_sample, synth, seeds=(0, 1)), out, progress=False)
    after = {p.parent.name: p.stat().st_mtime_ns for p in (out / "arms").glob("*/result.json")}
    assert {k: after[k] for k in first} == first and len(after) == 2 * len(first)
    assert len(pd.read_csv(out / "results.csv")) == 10


def test_killed_benchmark_resumed_equals_an_uninterrupted_one(verification_sample, synth, tmp_path, monkeypatch):
    one = dict(arms=("real",), real_identities=("4",), steps=8)
    benchmark(cfg(verification_sample, synth, **one), tmp_path / "straight", progress=False)
    real_rows = supervised.batch_rows

    def dies_after_five(*args):
        for k, batch in enumerate(real_rows(*args)):
            if k == 5:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(supervised, "batch_rows", dies_after_five)
    with pytest.raises(FacegenError, match="interrupted"):
        benchmark(cfg(verification_sample, synth, **one), tmp_path / "killed", progress=False)
    monkeypatch.undo()
    benchmark(cfg(verification_sample, synth, **one), tmp_path / "killed", progress=False)
    results = [json.loads((tmp_path / b / "arms" / "real-4-s0" / "result.json").read_text()) for b in ("straight",
                                                                                                       "killed")]
    assert results[0] == results[1]


def test_refusals(celeba_sample, verification_sample, synth, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for p in sorted((celeba_sample / "img_align_celeba").iterdir())[:20]:
        (flat / p.name).write_bytes(p.read_bytes())
    with pytest.raises(FacegenError, match="no identity labels"):
        check_request(cfg(flat, synth))
    with pytest.raises(FacegenError, match="too few"):
        check_request(cfg(verification_sample, synth, folds=10))
    with pytest.raises(FacegenError, match="--real-identities"):
        cfg(verification_sample, synth, real_identities=("0",))
    with pytest.raises(FacegenError, match="need --synth"):
        BenchmarkConfig(real=str(verification_sample))
