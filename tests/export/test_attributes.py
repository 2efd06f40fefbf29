"""export --attributes: a probability column per attribute, identity-level attributes constant within an
identity and recorded as shares, and the exactness guarantees kept (batch size, shards)."""

import json

import pandas as pd
import pytest
import test_render
from test_render import cfg, digest

from facegen.export.attributes import IDENTITY_PREFIX
from facegen.export.merge import merge
from facegen.export.render import export
from facegen.models.attributes import IDENTITY_ATTRIBUTES

run = test_render.run
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
