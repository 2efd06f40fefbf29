"""The dataset folder's owner: one prepare/resume-or-refuse for every writer, the manifest reader's checks, the
whole-dataset check before a derived artifact is written. TF-free."""

import json

import pandas as pd
import pytest

from facegen.config import FacegenError
from facegen.export.layout import (COLUMNS, MANIFEST, Dataset, check_files, prepare_state, read_manifest,
                                   stored_settings)


def test_prepare_resumes_refuses_and_reports_a_finished_result(tmp_path):
    out, state, record = tmp_path / "p", tmp_path / "p" / ".facegen-pack", tmp_path / "p" / "pack.json"
    assert prepare_state(out, "pack", state, record, {"a": 1}) == state and stored_settings(out, state, record) == {"a": 1}
    assert prepare_state(out, "pack", state, record, {"a": 1}) == state  # an unfinished one resumes
    with pytest.raises(FacegenError, match="unfinished pack with other settings; re-run that command with its own "
                                           "settings or pick a new --out"):
        prepare_state(out, "pack", state, record, {"a": 2})
    state.joinpath("settings.json").unlink()
    state.rmdir()
    record.write_text(json.dumps({"settings": {"a": 1}}))
    assert prepare_state(out, "pack", state, record, {"a": 1}) is None  # finished: nothing to do
    with pytest.raises(FacegenError, match="holds a different pack; pick a new --out"):
        prepare_state(out, "pack", state, record, {"a": 2})
    # The export's --overwrite empties the folder (keeping the folder itself, which holds the lock).
    (out / "other.txt").write_text("x")
    assert prepare_state(out, "export", out / ".s", out / "export.json", {"b": 1}, overwrite=True) == out / ".s"
    assert sorted(p.name for p in out.iterdir()) == [".s"]
    (tmp_path / "f").write_text("x")
    with pytest.raises(FacegenError, match="is a file, not a folder"):
        prepare_state(tmp_path / "f", "mix", tmp_path / "f" / ".m", tmp_path / "f" / "mix.json", {})
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("x")
    with pytest.raises(FacegenError, match="not a facegen mix; pick a new folder"):
        prepare_state(tmp_path / "busy", "mix", tmp_path / "busy" / ".m", tmp_path / "busy" / "mix.json", {})


def test_the_manifest_reader_refuses_missing_columns_and_paths_outside(tmp_path):
    row = {c: 0 for c in COLUMNS} | {"path": "id_000001/a.png", "identity": "id_000001", "checkpoint": "c"}
    pd.DataFrame([row]).to_csv(tmp_path / MANIFEST, index=False)
    assert list(read_manifest(tmp_path)["path"]) == ["id_000001/a.png"]
    pd.DataFrame([row | {"path": "../x.png"}]).to_csv(tmp_path / MANIFEST, index=False)
    with pytest.raises(FacegenError, match="points outside"):
        read_manifest(tmp_path)
    pd.DataFrame([{k: v for k, v in row.items() if k != "label"}]).to_csv(tmp_path / MANIFEST, index=False)
    with pytest.raises(FacegenError, match="lacks columns label"):
        read_manifest(tmp_path)


def test_check_files_names_the_first_bad_file_and_checks_only_the_rows_asked(tmp_path):
    from PIL import Image

    for name in ("a", "b", "c"):
        Image.new("RGB", (8, 8), "red").save(tmp_path / f"{name}.png")
    (tmp_path / "b.png").write_bytes(b"not a png")
    frame = pd.DataFrame({"path": ["a.png", "b.png", "c.png"]})
    ds = Dataset(tmp_path, "export", {"counts": {"images": 3}}, frame)
    with pytest.raises(FacegenError, match=r"b\.png does not decode"):
        check_files(ds)
    check_files(ds, rows=[0, 2])  # what a resumed command still reads
    (tmp_path / "c.png").unlink()
    with pytest.raises(FacegenError, match=r"c\.png is missing"):
        check_files(ds, rows=[2])
    with pytest.raises(FacegenError, match="lists 3 images but its record counts 4"):
        check_files(Dataset(tmp_path, "export", {"counts": {"images": 4}}, frame))
