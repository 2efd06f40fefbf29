"""Commands that read a dataset into a derived artifact (pack in every format, mix, benchmark, evaluate) refuse a
damaged one in one line naming the first bad file, before writing; a resumed pack re-checks only what it has not
packed; the intact dataset packs as before."""

import json
import shutil

import pytest

from facegen.cli import main
from facegen.export.layout import read_manifest
from facegen.export.packers import PACKERS


@pytest.fixture(scope="module")
def intact(tmp_path_factory, celeba_sample):
    from conftest import tiny_config

    from facegen.training.loop import train

    run_dir = tmp_path_factory.mktemp("damaged") / "run"
    train(run_dir, tiny_config(celeba_sample, steps=4), progress=False)
    out = run_dir.parent / "synth"
    with pytest.raises(SystemExit) as e:
        main(["export", "--checkpoint", str(run_dir), "--identities", "6", "--per-identity", "10", "--out", str(out),
              "--quiet"])
    assert e.value.code == 0
    return out


def copy_with(intact, tmp_path, damage):
    """A copy of the dataset with its 13th image damaged (`truncated`, `garbage`) or `missing`."""
    folder = tmp_path / f"synth-{damage}"
    shutil.copytree(intact, folder)
    bad = folder / read_manifest(folder)["path"].iloc[12]
    if damage == "missing":
        bad.unlink()
    elif damage == "truncated":
        bad.write_bytes(bad.read_bytes()[: len(bad.read_bytes()) // 2])
    else:
        data = bytearray(bad.read_bytes())
        data[60:200] = bytes(140)  # zeroes inside the image data: the PNG's checksums no longer match
        bad.write_bytes(bytes(data))
    return folder, bad


def refused(capsys, *args):
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if line.startswith("facegen:")]  # beside the progress bar's lines
    assert e.value.code != 0 and len(said) == 1 and "Traceback" not in err
    return said[0]


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage"])
def test_every_pack_format_refuses_a_damaged_dataset_before_writing(intact, tmp_path, capsys, damage):
    folder, bad = copy_with(intact, tmp_path, damage)
    for fmt in PACKERS:
        out = tmp_path / f"packed-{fmt}"
        line = refused(capsys, "pack", folder, "--to", fmt, "--out", out)
        assert str(bad) in line and ("missing" in line or "does not decode" in line), line
        assert not out.exists() or not [p for p in out.rglob("*") if p.is_file() and "facegen" not in str(p)]


def test_mix_benchmark_and_evaluate_refuse_it_too(intact, tmp_path, capsys, celeba_sample):
    folder, bad = copy_with(intact, tmp_path, "truncated")
    assert str(bad) in refused(capsys, "mix", "--real", celeba_sample, "--real-identities", "2", "--synth", folder,
                               "--out", tmp_path / "mixed")
    assert not (tmp_path / "mixed").exists()
    assert str(bad) in refused(capsys, "benchmark", "--real", celeba_sample, "--synth", folder, "--out",
                               tmp_path / "bench", "--folds", "2")
    assert str(bad) in refused(capsys, "evaluate", "--data", celeba_sample, "--export", folder, "--n", "10")
    # A manifest that lost a row disagrees with the record's count.
    short, _ = copy_with(intact, tmp_path, "none")
    lines = (short / "manifest.csv").read_text().splitlines(keepends=True)
    (short / "manifest.csv").write_text("".join(lines[:-1]))
    assert "lists 59 images but its record counts 60" in refused(capsys, "pack", short, "--to", "rec", "--out",
                                                                 tmp_path / "p")


def test_the_intact_dataset_packs_and_a_resumed_pack_checks_only_what_is_left(intact, tmp_path, monkeypatch):
    from facegen.export import layout
    from facegen.export.pack import PackConfig, pack

    out = tmp_path / "wds"
    record = pack(intact, out, PackConfig(to="webdataset", shard_images=20), progress=False).record
    assert record["num_image"] == 60 and len(record["files"]) == 3
    first = (out / record["files"][0]).read_bytes()
    # An interrupted pack: its first shard is on disk, the rest not; damage an image the first shard holds.
    shutil.rmtree(out)
    folder = tmp_path / "copy"
    shutil.copytree(intact, folder)
    pack(folder, out, PackConfig(to="webdataset", shard_images=20), progress=False)
    for name in record["files"][1:]:
        (out / name).unlink()
    (out / "pack.json").unlink()
    (out / ".facegen-pack").mkdir()
    (out / ".facegen-pack" / "settings.json").write_text(json.dumps(
        {"dataset": str(folder.resolve()), "to": "webdataset", "shuffle_seed": None, "images": 60,
         "shard_images": 20, "prefix": "faces"}))
    checked = []
    real = layout.check_files
    monkeypatch.setattr("facegen.export.pack.check_files",
                        lambda ds, rows=None, **kw: (checked.append(list(rows)), real(ds, rows, **kw)))
    (folder / read_manifest(folder)["path"].iloc[3]).write_bytes(b"not an image")  # in the packed first shard
    resumed = pack(folder, out, PackConfig(to="webdataset", shard_images=20), progress=False)
    assert checked == [list(range(20, 60))] and list(resumed.files) == record["files"]
    assert (out / record["files"][0]).read_bytes() == first
