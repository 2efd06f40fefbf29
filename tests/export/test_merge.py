"""`facegen merge`: shards join into the single export's bytes; refusals."""

import json

import pytest
from conftest import EXPORT_K as K
from conftest import EXPORT_M as M
from conftest import digest
from conftest import export_cfg as cfg

from facegen.config import FacegenError
from facegen.export.card import CARD
from facegen.export.manifest import EXPORT_JSON, read_manifest
from facegen.export.merge import merge
from facegen.export.render import export



def test_shards_merge_into_the_same_dataset(run, straight, tmp_path):
    parts = [tmp_path / f"part{i}" for i in range(3)]
    for i, part in enumerate(parts):
        export(run, part, cfg(shard=(i, 3)), progress=False)
    sizes = [len(read_manifest(p)) for p in parts]
    assert sum(sizes) == K * M and min(sizes) > 0
    with pytest.raises(FacegenError, match="exactly once"):
        merge(parts[:2], tmp_path / "bad", progress=False)
    merge(parts, tmp_path / "merged", progress=False)
    assert digest(tmp_path / "merged") == digest(straight)


def test_merge_refuses_paths_outside_the_folder(run, tmp_path):
    export(run, tmp_path / "a", cfg(identities=2, per_identity=4), progress=False)
    text = (tmp_path / "a" / "manifest.csv").read_text().replace("id_000001/id_000001_0000.png", "../../etc/passwd")
    (tmp_path / "a" / "manifest.csv").write_text(text)
    with pytest.raises(FacegenError, match="outside"):
        merge([tmp_path / "a"], tmp_path / "m", progress=False)


def _record(folder):
    """export.json without the fields that say when and by which command it was made."""
    from facegen.export.layout import RUN_FIELDS

    return {k: v for k, v in json.loads((folder / EXPORT_JSON).read_text()).items() if k not in RUN_FIELDS}


def _card(folder):
    return [line for line in (folder / CARD).read_text().splitlines() if not line.startswith("Command: ")]


def test_merged_scored_export_equals_the_single_export_in_every_file(run, trained_embedder, trained_attributes,
                                                                     tmp_path):
    """With every score on (embedder, attributes, realism): the record and the card, not only the images."""
    kw = dict(identities=6, per_identity=8, embedder=str(trained_embedder[0]), max_similarity=0.99,
              max_leakage=0.995, attributes=str(trained_attributes[0]), realism=True)
    export(run, tmp_path / "single", cfg(**kw), progress=False)
    parts = [tmp_path / f"p{i}" for i in range(2)]
    for i, part in enumerate(parts):
        export(run, part, cfg(shard=(i, 2), **kw), progress=False)
    merge(parts, tmp_path / "merged", progress=False)
    single, merged = tmp_path / "single", tmp_path / "merged"
    assert digest(merged, skip=(EXPORT_JSON, CARD)) == digest(single, skip=(EXPORT_JSON, CARD))
    assert _record(merged) == _record(single)
    assert {"identity_check", "attributes", "hardware", "replicas"} <= set(_record(merged))
    assert _card(merged) == _card(single) and "## Attributes" in "\n".join(_card(merged))


def test_a_shard_counts_its_own_images_and_identities(run, tmp_path):
    result = export(run, tmp_path / "s", cfg(identities=4, per_identity=10, shard=(1, 2)), progress=False)
    counts = json.loads((tmp_path / "s" / EXPORT_JSON).read_text())["counts"]
    frame = read_manifest(tmp_path / "s")
    assert counts["images"] == len(frame) == result.images < 40
    assert counts["identities"] == frame["identity"].nunique() == result.identities < 4


def test_shards_without_a_block_are_empty_mergeable_folders(run, tmp_path):
    """40 images are one 64-image block: three of four shards have no work and still finish, and merge."""
    parts = [tmp_path / f"q{i}" for i in range(4)]
    block = dict(identities=4, per_identity=10, block=64, batch_size=64)
    for i, part in enumerate(parts):
        result = export(run, part, cfg(shard=(i, 4), **block), progress=False)
        assert result.images == len(read_manifest(part))
    assert sorted(len(read_manifest(p)) for p in parts) == [0, 0, 0, 40]
    merge(parts, tmp_path / "merged", progress=False)
    export(run, tmp_path / "single", cfg(**block), progress=False)
    assert digest(tmp_path / "merged") == digest(tmp_path / "single")
    assert _record(tmp_path / "merged") == _record(tmp_path / "single")


def test_cli_exports_an_empty_shard_in_one_line(run, tmp_path):
    from facegen.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["export", "--checkpoint", str(run), "--identities", "4", "--per-identity", "10", "--shard", "0/4",
              "--out", str(tmp_path / "e"), "--quiet"])
    assert exit_.value.code == 0 and len(read_manifest(tmp_path / "e")) == 0
