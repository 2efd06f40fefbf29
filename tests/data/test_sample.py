"""The drawn CelebA-shaped sample: the exact aligned-CelebA layout and label files."""

from PIL import Image

from facegen.data.sample import CELEBA_ATTRIBUTES, HEIGHT, WIDTH


def test_sample_is_laid_out_like_celeba(celeba_sample):
    images = sorted((celeba_sample / "img_align_celeba").iterdir())
    assert [p.name for p in images[:2]] == ["000001.jpg", "000002.jpg"] and len(images) == 300
    with Image.open(images[0]) as im:
        assert im.size == (WIDTH, HEIGHT) and im.format == "JPEG" and im.mode == "RGB"
    lines = (celeba_sample / "list_attr_celeba.txt").read_text().splitlines()
    assert lines[0] == "300" and lines[1].split() == CELEBA_ATTRIBUTES
    assert lines[2].split()[0] == "000001.jpg" and set(lines[2].split()[1:]) <= {"-1", "1"}
    first = (celeba_sample / "identity_CelebA.txt").read_text().splitlines()[0].split(" ")
    assert first[0] == "000001.jpg" and int(first[1]) >= 1
    assert "NOT CelebA" in (celeba_sample / "README.txt").read_text()
