"""Atomic writes: the final name holds the old or the complete new contents, never a part; no temp is left.
One writer per output folder: a second is refused while the first holds it."""

import json

import pytest

from facegen.atomic import exclusive, replacing, temp_name, write_bytes, write_json, write_text
from facegen.config import FacegenError


def test_writes_replace_whole_files_and_leave_no_temp(tmp_path):
    write_bytes(tmp_path / "a.bin", b"\x00\x01")
    write_text(tmp_path / "a.txt", "one\ntwo\n")
    write_json(tmp_path / "a.json", {"k": [1, 2]})
    write_text(tmp_path / "a.txt", "three\n")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "a.txt").read_text() == "three\n"
    assert json.loads((tmp_path / "a.json").read_text()) == {"k": [1, 2]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "a.json", "a.txt"]


def test_a_failed_write_keeps_the_old_file_and_drops_the_temp(tmp_path):
    target = tmp_path / "config.json"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with replacing(target) as tmp:
            tmp.write_text("half of the new")
            raise RuntimeError("disk full")
    assert target.read_text() == "old" and not temp_name(target).exists()


def test_temp_names_are_hidden_beside_the_target_with_an_optional_suffix(tmp_path):
    assert temp_name(tmp_path / "x.png") == tmp_path / ".x.png.tmp"
    assert temp_name(tmp_path / "m.keras", ".keras").name == ".m.keras.tmp.keras"


def test_a_folder_has_one_writer_at_a_time(tmp_path):
    out = tmp_path / "synth"
    with exclusive(out):
        (out / "a.png").write_bytes(b"x")
        with pytest.raises(FacegenError, match="being written by another facegen command"):
            with exclusive(out):
                pass
        assert (out / "a.png").exists()  # the refusal touched nothing
    with exclusive(out):  # released when the holder ends
        pass
    assert (out / "a.png").exists()


def test_a_folder_made_for_a_command_that_failed_goes_again(tmp_path):
    with pytest.raises(FacegenError, match="bad checkpoint"):
        with exclusive(tmp_path / "new" / "synth"):
            raise FacegenError("bad checkpoint")
    assert not (tmp_path / "new" / "synth").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    with exclusive(kept):  # a folder the user made stays, empty or not
        pass
    assert kept.is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(FacegenError, match="is a file, not a folder"):
        with exclusive(tmp_path / "file"):
            pass
