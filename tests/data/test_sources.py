"""Discovery: the CelebA layout with its label files, flat and per-identity folders, unusable folders."""

import pytest
from conftest import write_odd_images

from facegen.config import FacegenError
from facegen.data import discover, read_celeba_attributes
from facegen.data.sample import CELEBA_ATTRIBUTES


def test_celeba_loader_gives_identities_attributes_and_partitions(celeba_sample):
    source = discover(celeba_sample)
    assert source.layout == "celeba" and len(source) == 300
    assert source.frame["identity"].nunique() == 15
    assert source.frame["Eyeglasses"].isin([-1, 1]).all()
    assert (source.frame["Attractive"] == -1).all()  # not drawn, so not claimed
    # Identities never cross partitions, as in CelebA.
    assert source.frame.groupby("identity")["partition"].nunique().max() == 1
    train = discover(celeba_sample, "train")
    assert 0 < len(train) < 300 and (train.frame["partition"] == 0).all()
    # The images folder itself is accepted too.
    assert len(discover(celeba_sample / "img_align_celeba")) == 300


def test_attribute_file_with_bom_and_padding(tmp_path):
    names = " ".join(CELEBA_ATTRIBUTES[:3])
    (tmp_path / "a.txt").write_text("\ufeff2\n" + names + " \n000001.jpg -1  1 -1\n000002.jpg  1 -1  1\n",
                                    encoding="utf-8")
    df = read_celeba_attributes(tmp_path / "a.txt")
    assert list(df.columns) == CELEBA_ATTRIBUTES[:3] and df.loc["000002.jpg"].tolist() == [1, -1, 1]


def test_identity_folders(tmp_path):
    for who in ("bob", "alice"):
        write_odd_images(tmp_path / "people" / who)
    source = discover(tmp_path / "people")
    assert source.layout == "identity-folders"
    labels = dict(zip(source.frame["identity_name"], source.frame["identity"]))
    assert labels == {"alice": 0, "bob": 1}  # sorted folder names, as ImageFolder does


@pytest.mark.parametrize("make", ["missing", "empty", "no_images"])
def test_unusable_folders_are_one_clear_error(tmp_path, make):
    path = tmp_path / "d"
    if make != "missing":
        path.mkdir()
    if make == "no_images":
        (path / "a.txt").write_text("x")
    with pytest.raises(FacegenError, match=str(path)):
        discover(path)
