"""Atomic writes: the final name holds the old or the complete new contents, never a part; no temp is left."""

import json

import pytest

from facegen.atomic import replacing, temp_name, write_bytes, write_json, write_text


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
