"""`facegen pack`: RecordIO read back by a reader written here from the format's spec (not facegen's), byte-exact
records worked out by hand, split records, WebDataset and Hugging Face read by the real libraries, resume."""

import json
import shutil
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from facegen.cli import main
from facegen.config import FacegenError, Interrupted
from facegen.export.card import CARD
from facegen.export.manifest import read_manifest
from facegen.export.pack import PackConfig, pack
from facegen.export.pack_rec import image_record

MAGIC = 0xCED7230A


def spec_records(data):
    """dmlc-core recordio.h, read from its description: [magic u32][cflag<<29 | len u32][data][pad to 4]; parts of a
    split record (cflag 1, 2.., 3) are joined with the magic they were cut at."""
    pos, records = 0, []
    while pos < len(data):
        magic, lrec = struct.unpack("<II", data[pos:pos + 8])
        assert magic == MAGIC
        cflag, length = lrec >> 29, lrec & (2 ** 29 - 1)
        body = data[pos + 8:pos + 8 + length]
        if cflag in (0, 1):
            records.append([pos, body])
        else:
            records[-1][1] += struct.pack("<I", MAGIC) + body
        pos += 8 + length + (4 - length % 4) % 4
    return [(offset, body) for offset, body in records]


def spec_image(payload):
    flag, label, key, key2 = struct.unpack("<IfQQ", payload[:24])
    assert flag == 0 and key2 == 0
    return int(label), key, payload[24:]


def test_two_records_match_bytes_worked_out_by_hand():
    expected = bytes.fromhex(
        "0a23d7ce" "1a000000"  # magic; whole record (cflag 0) of 26 bytes
        "00000000" "00004040" "0000000000000000" "0000000000000000"  # flag 0, label 3.0f, id 0, id2 0
        "6162" "0000"  # b"ab", padding to 4
        "0a23d7ce" "1c000000"  # the second record: 28 bytes
        "00000000" "0000803f" "0100000000000000" "0000000000000000" "7778797a")  # label 1.0f, id 1, b"wxyz"
    assert image_record(0, 3, b"ab") + image_record(1, 1, b"wxyz") == expected


def test_a_payload_holding_the_magic_is_split_where_it_stands():
    image = b"abcd" + struct.pack("<I", MAGIC) + b"efgh"  # the magic at payload offset 28, 4-aligned
    data = image_record(5, 2, image)
    first, = struct.unpack("<I", data[4:8])
    assert first >> 29 == 1 and first & (2 ** 29 - 1) == 28  # first part: the header and b"abcd"
    assert data.count(struct.pack("<I", MAGIC)) == 2  # the cut drops the payload's own magic
    [(offset, payload)] = spec_records(data)
    assert offset == 0 and spec_image(payload) == (2, 5, image)
    unaligned = b"abc" + struct.pack("<I", MAGIC) + b"e"  # at offset 27: not a split point
    assert struct.unpack("<I", image_record(0, 0, unaligned)[4:8])[0] >> 29 == 0


def png_with_magic(png: bytes) -> bytes:
    """The same picture with a tEXt chunk after IHDR that puts the magic number at a 4-aligned file offset
    (payload offset = 24 + file offset, so aligned in the record too)."""
    start = 33 + 8  # signature + IHDR chunk, then this chunk's length and type
    fill = b"x" * ((-(start + 2)) % 4)
    body = b"k\0" + fill + struct.pack("<I", MAGIC) + b"y"
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    return png[:33] + chunk + png[33:]


@pytest.fixture(scope="module")
def dataset(straight, tmp_path_factory):
    """The export with one image re-saved to hold the magic (it decodes to the same pixels)."""
    folder = tmp_path_factory.mktemp("pack") / "synth"
    shutil.copytree(straight, folder)
    frame = read_manifest(folder)
    target = folder / frame["path"].iloc[7]
    before = np.asarray(Image.open(target))
    target.write_bytes(png_with_magic(target.read_bytes()))
    assert np.array_equal(np.asarray(Image.open(target)), before)
    return folder


@pytest.fixture(scope="module")
def rec(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("rec") / "r"
    return out, pack(dataset, out, PackConfig(to="rec"), progress=False).record


def test_rec_reads_back_as_the_manifest_and_the_files(dataset, rec):
    out, record = rec
    frame = read_manifest(dataset)
    records = spec_records((out / "train.rec").read_bytes())
    assert len(records) == len(frame) == record["num_image"]
    idx = [line.split("\t") for line in (out / "train.idx").read_text().splitlines()]
    assert [int(k) for k, _ in idx] == list(range(len(frame)))  # header-less: keys 0..N-1
    assert [int(o) for _, o in idx] == [o for o, _ in records]  # every offset lands on its record's magic
    for (offset, payload), path, label in zip(records, frame["path"], frame["label"]):
        got_label, key, image = spec_image(payload)
        assert got_label == label and image == (dataset / path).read_bytes()
    split = [o for o, p in records if (dataset / frame["path"].iloc[7]).read_bytes() in p]
    assert split == [records[7][0]]
    raw = (out / "train.rec").read_bytes()
    assert struct.unpack("<I", raw[records[7][0] + 4:records[7][0] + 8])[0] >> 29 == 1  # it was split
    assert (out / "property").read_text().strip() == f"{frame['label'].nunique()},32,32"
    assert record["arcface_torch"] == {"rec": str(out.resolve()), "num_classes": 12, "num_image": 600}


def test_shuffled_rec_is_seeded_and_holds_every_image_once(dataset, tmp_path):
    frame = read_manifest(dataset)
    for name in ("a", "b"):
        pack(dataset, tmp_path / name, PackConfig(to="rec", shuffle_seed=4), progress=False)
    assert (tmp_path / "a" / "train.rec").read_bytes() == (tmp_path / "b" / "train.rec").read_bytes()
    images = [spec_image(p)[2] for _, p in spec_records((tmp_path / "a" / "train.rec").read_bytes())]
    files = [(dataset / p).read_bytes() for p in frame["path"]]
    assert images != files and sorted(images) == sorted(files)


def test_interrupted_rec_resumes_to_the_same_bytes(dataset, rec, tmp_path, monkeypatch):
    from facegen.export import pack_rec as pack_mod

    monkeypatch.setattr(pack_mod, "CHECKPOINT_EVERY", 64)
    real = pack_mod.image_record
    calls = {"n": 0}

    def dies_at_200(*args):
        calls["n"] += 1
        if calls["n"] == 200:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(pack_mod, "image_record", dies_at_200)
    with pytest.raises(Interrupted):
        pack(dataset, tmp_path / "r", PackConfig(to="rec"), progress=False)
    assert not (tmp_path / "r" / "train.rec").exists()
    monkeypatch.setattr(pack_mod, "image_record", real)
    pack(dataset, tmp_path / "r", PackConfig(to="rec"), progress=False)
    for name in ("train.rec", "train.idx", "property"):
        assert (tmp_path / "r" / name).read_bytes() == (rec[0] / name).read_bytes()


@pytest.fixture(scope="module")
def shards(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("wds") / "w"
    return out, pack(dataset, out, PackConfig(to="webdataset", shard_images=256), progress=False).record


def test_webdataset_library_reads_every_sample(dataset, shards):
    import webdataset as wds

    out, record = shards
    assert record["files"] == ["faces-000000.tar", "faces-000001.tar", "faces-000002.tar"]
    frame = read_manifest(dataset)
    samples = list(wds.WebDataset(f"{out}/{record['pattern']}", shardshuffle=False))
    assert len(samples) == len(frame)
    for sample, path, label in zip(samples, frame["path"], frame["label"]):
        assert sample["png"] == (dataset / path).read_bytes()
        assert int(sample["cls"]) == label and json.loads(sample["json"])["path"] == path
    assert len({int(s["cls"]) for s in samples}) == 12


def test_hugging_face_reads_the_shards_and_the_folder(dataset, shards):
    from datasets import load_dataset

    out, record = shards
    packed = load_dataset("webdataset", data_files={"train": [str(out / f) for f in record["files"]]})["train"]
    assert len(packed) == 600 and len(set(packed["cls"])) == 12
    # The first call a Hugging Face user types, on the folder itself (packs.json now beside the images).
    folder = load_dataset("imagefolder", data_dir=str(dataset))["train"]
    frame = read_manifest(dataset)
    assert len(folder) == len(frame) and folder["label"] == frame["label"].tolist()
    assert np.array_equal(np.asarray(folder[7]["image"]), np.asarray(Image.open(dataset / frame["path"].iloc[7])))


def test_the_card_says_how_to_load_each_pack(dataset, rec, shards):
    text = (dataset / CARD).read_text()
    assert f'config.rec = "{rec[0].resolve()}"' in text and "config.num_classes = 12" in text
    assert f"{shards[0].resolve()}/{shards[1]['pattern']}" in text


def test_refusals_are_one_line_errors(dataset, straight, tmp_path, capsys):
    with pytest.raises(FacegenError, match="overlaps"):
        pack(dataset, dataset / "rec", PackConfig(to="rec"), progress=False)
    with pytest.raises(FacegenError, match="--to must be one of"):
        PackConfig(to="lmdb")
    unfinished = tmp_path / "u"
    shutil.copytree(straight, unfinished)
    (unfinished / ".facegen-export").mkdir()
    with pytest.raises(SystemExit) as exit_:
        main(["pack", str(unfinished), "--to", "rec", "--out", str(tmp_path / "o")])
    assert exit_.value.code != 0 and "unfinished export" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_tfrecord_reads_back_with_tf_data_and_shows_in_the_card_and_help(dataset, tmp_path, capsys):
    import tensorflow as tf

    out = tmp_path / "t"
    with pytest.raises(SystemExit) as exit_:
        main(["pack", str(dataset), "--to", "tfrecord", "--out", str(out), "--shard-images", "250", "--shuffle-seed",
              "2", "--quiet"])
    assert exit_.value.code == 0 and "tf.data.TFRecordDataset" in capsys.readouterr().out
    record = json.loads((out / "pack.json").read_text())
    assert record["files"] == [f"faces-{k:05d}-of-00003.tfrecord" for k in range(3)]
    spec = {"image/encoded": tf.io.FixedLenFeature([], tf.string), "image/format": tf.io.FixedLenFeature([], tf.string),
            "image/class/label": tf.io.FixedLenFeature([], tf.int64),
            "image/identity": tf.io.FixedLenFeature([], tf.string),
            "image/filename": tf.io.FixedLenFeature([], tf.string)}
    files = sorted(tf.io.gfile.glob(str(out / record["pattern"])))
    examples = [tf.io.parse_single_example(r, spec) for r in tf.data.TFRecordDataset(files)]
    frame = read_manifest(dataset).set_index("path")
    assert len(examples) == len(frame)
    paths = [e["image/filename"].numpy().decode() for e in examples]
    assert sorted(paths) == sorted(frame.index) and paths != sorted(paths)  # every image once, shuffled
    for e, path in zip(examples[:40], paths):
        assert e["image/encoded"].numpy() == (dataset / path).read_bytes() and e["image/format"].numpy() == b"png"
        assert int(e["image/class/label"]) == frame.loc[path, "label"]
        assert e["image/identity"].numpy().decode() == frame.loc[path, "identity"]
        assert tf.io.decode_png(e["image/encoded"]).shape == (32, 32, 3)
    # A repeated pack gives the same bytes; the card and the CLI help name the format from the registry.
    first = (out / record["files"][1]).read_bytes()
    again = pack(dataset, tmp_path / "t2", PackConfig(to="tfrecord", shard_images=250, shuffle_seed=2), progress=False)
    assert again.format == "tfrecord" and again.num_image == 600 and again.num_classes == 12
    assert (tmp_path / "t2" / again.files[1]).read_bytes() == first
    card = (dataset / CARD).read_text()
    assert "packed by `facegen pack --to tfrecord`" in card and str(out.resolve()) in card
    with pytest.raises(SystemExit):
        main(["pack", "--help"])
    assert "tfrecord (TFRecord shards" in " ".join(capsys.readouterr().out.split())
