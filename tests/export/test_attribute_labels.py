"""export --attributes and --balance (facegen.export.attributes): a probability column per attribute,
identity-level attributes constant within an identity and recorded as shares, balanced shares hit exactly,
and the exactness guarantees kept (batch size, shards, resume)."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import digest, interrupt_export_after
from conftest import export_cfg as cfg

from facegen.export.attributes import IDENTITY_PREFIX
from facegen.export.merge import merge
from facegen.export.render import export
from facegen.models.attributes import IDENTITY_ATTRIBUTES

K, M = 5, 6


def acfg(classifier, **kw):
    return cfg(**{**dict(identities=K, per_identity=M, attributes=str(classifier)), **kw})


@pytest.fixture(scope="module")
def labelled(run, trained_attributes, tmp_path_factory):
    out = tmp_path_factory.mktemp("labelled") / "a"
    export(run, out, acfg(trained_attributes[0]), progress=False)
    return out


def test_manifest_carries_attribute_probabilities_and_identity_values(labelled, trained_attributes):
    names = json.loads((trained_attributes[0] / "config.json").read_text())["attributes"]
    frame = pd.read_csv(labelled / "manifest.csv")
    assert len(frame) == K * M
    assert frame[names].notna().all().all() and frame[names].ge(0).all().all() and frame[names].le(1).all().all()
    identity_cols = [IDENTITY_PREFIX + n for n in names if n in IDENTITY_ATTRIBUTES]
    assert identity_cols and "identity_Smiling" not in frame.columns  # Smiling belongs to an image
    assert frame[identity_cols].isin([0, 1]).all().all()
    assert (frame.groupby("identity")[identity_cols].nunique() == 1).all().all()  # constant within an identity
    record = json.loads((labelled / "export.json").read_text())["attributes"]
    shares = frame.drop_duplicates("identity")[identity_cols].mean()
    assert {IDENTITY_PREFIX + k: v for k, v in record["identity_shares"].items()} == pytest.approx(shares.to_dict())


def test_same_bytes_across_batch_sizes_and_shards(run, trained_attributes, labelled, tmp_path):
    export(run, tmp_path / "b48", acfg(trained_attributes[0], batch_size=48, workers=1), progress=False)
    assert digest(tmp_path / "b48") == digest(labelled)
    parts = [tmp_path / f"p{i}" for i in range(2)]
    for i, part in enumerate(parts):
        export(run, part, acfg(trained_attributes[0], shard=(i, 2)), progress=False)
    merge(parts, tmp_path / "merged", progress=False)
    assert digest(tmp_path / "merged") == digest(labelled)


def test_without_a_classifier_there_are_no_attribute_columns(straight_manifest):
    assert "Male" not in straight_manifest.columns


@pytest.fixture
def straight_manifest(run, tmp_path):
    export(run, tmp_path / "plain", cfg(identities=2, per_identity=3), progress=False)
    return pd.read_csv(tmp_path / "plain" / "manifest.csv")


def _identity_shares(folder, names):
    frame = pd.read_csv(folder / "manifest.csv").drop_duplicates("identity")
    return {n: frame[IDENTITY_PREFIX + n].mean() for n in names}


@pytest.fixture(scope="module")
def balanced_target(run, trained_attributes, tmp_path_factory):
    """The identity attribute the unbalanced export splits most evenly, and that export's share of it."""
    out = tmp_path_factory.mktemp("unbalanced") / "u"
    export(run, out, acfg(trained_attributes[0], identities=20, per_identity=1), progress=False)
    names = [n for n in json.loads((trained_attributes[0] / "config.json").read_text())["attributes"]
             if n in IDENTITY_ATTRIBUTES]
    shares = _identity_shares(out, names)
    name = min(names, key=lambda n: abs(shares[n] - 0.5))
    assert 0 < shares[name] < 1, shares  # the test needs an attribute the generator makes both ways
    return name, shares[name]


def test_balance_hits_the_share_exactly_and_exports_stay_exact(run, trained_attributes, balanced_target, tmp_path,
                                                                monkeypatch):
    from facegen.config import Interrupted

    name, before = balanced_target
    target = 0.5 if abs(before - 0.5) > 0.1 else 0.3
    # The test classifier is barely trained (its probabilities sit near 0.5), so every reading counts here;
    # test_balance_counts_only_identities_the_classifier_is_sure_of covers --balance-confidence.
    kw = dict(identities=10, per_identity=2, balance=((name, target),), balance_confidence=0.5, max_candidates=20)
    export(run, tmp_path / "b", acfg(trained_attributes[0], **kw), progress=False)
    assert _identity_shares(tmp_path / "b", [name])[name] == pytest.approx(target)
    record = json.loads((tmp_path / "b" / "export.json").read_text())
    assert record["identity_check"]["rejected_for_balance"] > 0 and record["settings"]["balance"] == [[name, target]]
    parts = [tmp_path / f"p{i}" for i in range(2)]
    for i, part in enumerate(parts):
        export(run, part, acfg(trained_attributes[0], shard=(i, 2), **kw), progress=False)
    merge(parts, tmp_path / "merged", progress=False)
    assert digest(tmp_path / "merged") == digest(tmp_path / "b")
    interrupt_export_after(monkeypatch, 7)
    with pytest.raises(Interrupted):
        export(run, tmp_path / "r", acfg(trained_attributes[0], workers=1, **kw), progress=False)
    monkeypatch.undo()
    export(run, tmp_path / "r", acfg(trained_attributes[0], **kw), progress=False)
    assert digest(tmp_path / "r") == digest(tmp_path / "b")


def test_unreachable_or_unknown_balance_is_a_one_line_error_and_leaves_nothing(run, trained_attributes, tmp_path):
    from facegen.config import ExportConfig, FacegenError

    names = json.loads((trained_attributes[0] / "config.json").read_text())["attributes"]
    identity_names = [n for n in names if n in IDENTITY_ATTRIBUTES]
    every = tuple((n, 1.0) for n in identity_names)  # every identity attribute at once: no face has them all
    with pytest.raises(FacegenError, match=r"reached .*=0\.\d\d of 1 asked"):
        export(run, tmp_path / "x", acfg(trained_attributes[0], balance=every, max_candidates=2), progress=False)
    assert not (tmp_path / "x").exists()
    with pytest.raises(FacegenError, match="not an attribute"):
        export(run, tmp_path / "y", acfg(trained_attributes[0], balance=(("Wings", 0.5),)), progress=False)
    with pytest.raises(FacegenError, match="belongs to an image"):
        export(run, tmp_path / "y", acfg(trained_attributes[0], balance=(("Smiling", 0.5),)), progress=False)
    with pytest.raises(FacegenError, match="--balance needs --attributes"):
        ExportConfig(identities=2, per_identity=2, balance=(("Male", 0.5),))


def test_evaluate_shows_the_attribute_distribution_beside_the_real_data(labelled, celeba_sample, tmp_path):
    import shutil

    from facegen.metrics.evaluate import evaluate

    folder = tmp_path / "copy"
    shutil.copytree(labelled, folder)
    result = evaluate(celeba_sample, tmp_path / "ev", export_dir=folder, n=K * M, n_real=30, progress=False)
    attrs = result.metrics["metrics"]["attributes"]
    assert set(attrs["export"]) == set(attrs["real"]) and "Male" in attrs["real"]
    assert all(0 <= v <= 1 for v in list(attrs["export"].values()) + list(attrs["real"].values()))
    assert (tmp_path / "ev" / "attributes.png").exists()
    card = (folder / "README.md").read_text()
    male = next(line for line in card.splitlines() if line.startswith("| Male |"))
    assert male.split("|")[3].strip() == f"{100 * attrs['real']['Male']:.1f}%"


def test_real_data_without_attribute_labels_leaves_the_real_column_empty_and_says_so_once(
        labelled, celeba_sample, tmp_path, caplog):
    import logging
    import shutil

    from facegen.metrics.evaluate import evaluate

    data = tmp_path / "no-attributes"
    shutil.copytree(celeba_sample, data)
    (data / "list_attr_celeba.txt").unlink()
    folder = tmp_path / "copy"
    shutil.copytree(labelled, folder)
    with caplog.at_level(logging.INFO, logger="facegen"):
        result = evaluate(data, tmp_path / "ev", export_dir=folder, n=K * M, n_real=30, progress=False)
    attrs = result.metrics["metrics"]["attributes"]
    assert attrs["real"] == {} and "Male" in attrs["export"]
    assert sum("has no attribute labels" in r.getMessage() for r in caplog.records) == 1
    male = next(line for line in (folder / "README.md").read_text().splitlines() if line.startswith("| Male |"))
    assert male.split("|")[3].strip() == "-"


class _ReadsTheLatent:
    """A stand-in renderer whose 'classifier' reads attribute 0 straight off the latent: the probability is a
    known function of the candidate, so acceptance can be checked against values computed here."""

    block = 64

    def __call__(self, z):
        from facegen.export.scores import Rendered

        p = 1.0 / (1.0 + np.exp(-2.0 * z[..., :1]))  # [blocks, block, 1]
        return Rendered(np.zeros((*z.shape[:2], 1, 1, 3), np.uint8), {"attributes": p})


def test_balance_counts_only_identities_the_classifier_is_sure_of():
    from facegen.export.identities import IdentityPlan
    from facegen.export.attributes import Balance
    from facegen.export.verify import REFERENCE_IMAGES, accept_identities

    plan = IdentityPlan(seed=3, identities=40, per_identity=2)
    balance = Balance([0], ["Male"], [0.5], confidence=0.8)
    acc = accept_identities(_ReadsTheLatent(), plan, None, max_candidates=20, blocks_per_call=2, balance=balance)
    examined = np.arange(acc.drawn)
    refs = plan.reference_latents(examined, REFERENCE_IMAGES)[..., 0].reshape(acc.drawn, REFERENCE_IMAGES)
    p = (1.0 / (1.0 + np.exp(-2.0 * refs))).mean(axis=1)  # each candidate's reference probability, recomputed
    sure = (p >= 0.8) | (p <= 0.2)
    assert sure[acc.candidates].all() and (p[acc.candidates] >= 0.8).sum() == 20  # exactly half, all clear
    assert acc.ambiguous == int((~sure).sum()) > 0
    assert acc.record()["rejected_ambiguous"] == acc.ambiguous
    loose = accept_identities(_ReadsTheLatent(), plan, None, max_candidates=20, blocks_per_call=2,
                              balance=Balance([0], ["Male"], [0.5], confidence=0.5))
    assert loose.ambiguous == 0 and loose.drawn < acc.drawn
