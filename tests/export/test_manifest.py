"""The export folder's bookkeeping, without TensorFlow: rows match the columns, the journal survives a torn
line and writes a sorted manifest, im2rec.lst and metadata.csv, unsafe manifests and foreign folders are refused."""

import json

import pandas as pd
import pytest

from facegen.config import FacegenError
from facegen.export.manifest import (COLUMNS, EXPORT_JSON, LST, MANIFEST, STATE_DIR, Journal, check_out_folder,
                                     manifest_row, prepare_out, read_manifest)


def _row(g, realism=None):
    label, index = divmod(g, 3)
    path = f"id_{label + 1:06d}/id_{label + 1:06d}_{index:04d}.png"
    return manifest_row(path, label, index, g, 7, 0.35, 0, realism, None if realism is None else -2.0, "run/ckpt-5", 5)


def test_journal_writes_a_sorted_manifest_and_lst_after_a_torn_line(tmp_path):
    journal = Journal(tmp_path / "journal.csv")
    journal.append([_row(g) for g in (3, 4, 5)])
    journal.append([_row(g, 0.25) for g in (0, 1, 2)])
    with open(tmp_path / "journal.csv", "a") as f:
        f.write("id_000003/id_0000")  # a kill mid-line
    journal = Journal(tmp_path / "journal.csv")
    assert sorted(journal.global_indices().tolist()) == [0, 1, 2, 3, 4, 5]
    assert journal.write_manifest(tmp_path) == 6
    frame = read_manifest(tmp_path)
    assert list(frame.columns) == COLUMNS and frame["global_index"].tolist() == list(range(6))
    assert frame["identity"].tolist() == ["id_000001"] * 3 + ["id_000002"] * 3
    assert frame["realism"].tolist()[:3] == [0.25] * 3 and frame["realism"][3:].isna().all()  # empty = not scored
    lst = (tmp_path / LST).read_text().splitlines()
    assert lst[0] == "0\t0\tid_000001/id_000001_0000.png" and lst[5] == "5\t1\tid_000002/id_000002_0002.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["journal.csv", MANIFEST, LST, "metadata.csv"])


def test_rows_journaled_twice_are_kept_once(tmp_path):
    """Two processes that wrote one folder at once (before the folder lock) journaled some images twice: the
    journal keeps one row each, so the export finishes instead of counting more rows than images."""
    journal = Journal(tmp_path / "journal.csv")
    journal.append([_row(g) for g in (0, 1, 2, 3)])
    journal.append([_row(g) for g in (2, 3, 4, 5)])
    journal = Journal(tmp_path / "journal.csv")
    assert sorted(journal.global_indices().tolist()) == [0, 1, 2, 3, 4, 5]
    assert journal.write_manifest(tmp_path) == 6
    assert read_manifest(tmp_path)["global_index"].tolist() == list(range(6))
    assert len((tmp_path / LST).read_text().splitlines()) == 6


@pytest.mark.parametrize("bad, message", [("../../etc/passwd", "outside"), ("/etc/passwd", "outside")])
def test_read_manifest_refuses_paths_outside_the_folder(tmp_path, bad, message):
    pd.DataFrame([{**_row(0), "path": bad}], columns=COLUMNS).to_csv(tmp_path / MANIFEST, index=False)
    with pytest.raises(FacegenError, match=message):
        read_manifest(tmp_path)
    pd.DataFrame([{"path": "a.png"}]).to_csv(tmp_path / MANIFEST, index=False)
    with pytest.raises(FacegenError, match="lacks columns"):
        read_manifest(tmp_path)


def test_out_folder_rules(tmp_path):
    settings = {"seed": 1}
    (tmp_path / "file").write_text("x")
    with pytest.raises(FacegenError, match="is a file"):
        check_out_folder(tmp_path / "file", overwrite=False)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(FacegenError, match="not empty and is not a facegen export"):
        prepare_out(mine, settings, overwrite=False)
    assert (mine / "notes.txt").read_text() == "keep"
    out = tmp_path / "synth"
    state = prepare_out(out, settings, overwrite=False)
    assert state == out / STATE_DIR and json.loads((state / "settings.json").read_text()) == settings
    with pytest.raises(FacegenError, match="unfinished export with other settings"):
        prepare_out(out, {"seed": 2}, overwrite=False)
    assert prepare_out(out, settings, overwrite=False) == state  # resumes
    (out / EXPORT_JSON).write_text(json.dumps({"settings": settings}))
    (state / "settings.json").unlink()
    state.rmdir()
    assert prepare_out(out, settings, overwrite=False) is None  # finished: nothing to do
    with pytest.raises(FacegenError, match="holds a different export"):
        prepare_out(out, {"seed": 2}, overwrite=False)
    assert prepare_out(mine, settings, overwrite=True) == mine / STATE_DIR and not (mine / "notes.txt").exists()
