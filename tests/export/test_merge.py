"""`facegen merge`: shards join into the single export's bytes; refusals."""

import hashlib

import pytest

from facegen.config import ExportConfig, FacegenError
from facegen.export.manifest import EXPORT_JSON, read_manifest
from facegen.export.merge import merge
from facegen.export.render import export
from facegen.training.loop import train

K, M = 12, 50  # 600 images: 1.8M pixels at 32x32, enough for a rare rounding flip to show


@pytest.fixture(scope="module")
def run(tmp_path_factory, celeba_sample):
    from conftest import tiny_config

    run_dir = tmp_path_factory.mktemp("run") / "tiny"
    train(run_dir, tiny_config(celeba_sample, steps=30), progress=False)
    return run_dir


def cfg(**kw):
    base = dict(identities=K, per_identity=M, seed=11, block=16, batch_size=64)
    return ExportConfig(**{**base, **kw})


def digest(folder):
    """sha256 of every file under the folder by relative path (the whole dataset's bytes)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != EXPORT_JSON}


@pytest.fixture(scope="module")
def straight(run, tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "straight"
    export(run, out, cfg(), progress=False)
    return out


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
