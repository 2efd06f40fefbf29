"""`facegen merge`: shards join into the single export's bytes; refusals."""

import pytest
import test_render
from test_render import K, M, cfg, digest

from facegen.config import FacegenError
from facegen.export.manifest import read_manifest
from facegen.export.merge import merge
from facegen.export.render import export

run, straight = test_render.run, test_render.straight  # the export tests' tiny run and its export (fixtures)


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
