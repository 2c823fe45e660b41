"""Image files: a pixel limit checked before decoding, reduced decodes, 16-bit and float images
scaled to 8 bits, FIFOs and devices never opened, image folders walked without loops."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from PIL import Image

from cnnlab import images
from cnnlab.data import load_data
from cnnlab.errors import CnnlabError

from helpers.hostile import cli_capped, png_stream


@pytest.fixture(autouse=True)
def default_limit(monkeypatch):
    monkeypatch.delenv(images.MAX_PIXELS_ENV, raising=False)
    images.set_max_pixels(None)
    yield
    images.set_max_pixels(None)


def test_pixel_limit_is_checked_before_decoding(tmp_path):
    """A 30000x30000 PNG was a traceback (Pillow's bomb error); a 12000x12000 one decoded to GBs."""
    for side in (12000, 30000):
        path = png_stream(tmp_path / f"p{side}.png", side, side, rows=2)  # header only needs to be right
        with pytest.raises(CnnlabError, match=f"{side}x{side} pixels") as e:
            images.open_image(path)
        assert f"--max-pixels {side * side}" in e.value.hint and images.MAX_PIXELS_ENV in e.value.hint


def test_pixel_limit_can_be_raised(tmp_path, monkeypatch):
    path = png_stream(tmp_path / "p.png", 3000, 2000)
    images.set_max_pixels(5_000_000)
    with pytest.raises(CnnlabError, match="more than the 5 MP"):
        images.open_image(path)
    images.set_max_pixels(6_000_000)
    assert images.open_image(path).size == (3000, 2000)
    images.set_max_pixels(None)
    monkeypatch.setenv(images.MAX_PIXELS_ENV, "1e6")
    with pytest.raises(CnnlabError, match="more than the 1 MP"):
        images.open_image(path)
    monkeypatch.setenv(images.MAX_PIXELS_ENV, "lots")
    with pytest.raises(CnnlabError, match="not a number of pixels"):
        images.open_image(path)


def test_large_jpeg_is_decoded_reduced(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), (10, 200, 30)).save(path, quality=80)
    im = images.open_image(path, reduce_to=64)
    assert min(im.size) >= 64 and max(im.size) <= 1000  # 1/8 scale by the decoder (500x375), then no more
    images.set_max_pixels(1_000_000)  # 12 MP JPEG over a 1 MP limit: decoded at 1/4 instead of refused
    assert images.open_image(path).size == (1000, 750)
    big = images.open_image(path, fit_within=300)
    assert max(big.size) >= 300 and max(big.size) < 1000


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    im = images.open_image(tmp_path / "deep.png")
    assert im.mode == "L"
    assert np.asarray(im).tolist() == [[0, 1, round(32768 * 255 / 65535), 255]]
    a = images.to_array(images.open_image(tmp_path / "deep.png"), 3)
    assert a[0, :, 0].tolist() == [0, 1, 128, 255] and (a[..., 0] == a[..., 2]).all()


def test_float_tiff_is_scaled_by_its_range(tmp_path):
    unit = np.array([[0.0, 0.25, 0.5, 1.0]], dtype=np.float32)
    Image.fromarray(unit, mode="F").save(tmp_path / "unit.tif")
    assert np.asarray(images.open_image(tmp_path / "unit.tif")).tolist() == [[0, 64, 128, 255]]
    wide = np.array([[-100.0, 60.0, 100.0, float("nan")]], dtype=np.float32)
    Image.fromarray(wide, mode="F").save(tmp_path / "wide.tif")
    # min..max stretched: (60 + 100) / 200 x 255 = 204; NaN -> 0
    assert np.asarray(images.open_image(tmp_path / "wide.tif")).tolist() == [[0, 204, 255, 0]]


def test_fifo_named_png_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    result = {}

    def attempt():
        try:
            images.open_image(tmp_path / "pipe.png")
        except CnnlabError as e:
            result["error"] = str(e)

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "open_image blocked on a FIFO"
    assert "FIFO" in result["error"]


def test_dev_null_named_as_image(tmp_path):
    (tmp_path / "null.png").symlink_to("/dev/null")
    with pytest.raises(CnnlabError, match="a device"):
        images.open_image(tmp_path / "null.png")


# -- image folders --------------------------------------------------------------------------------------


def tree(root, per_class=3):
    for i, cls in enumerate(("cat", "dog")):
        (root / cls).mkdir(parents=True)
        for j in range(per_class):
            Image.new("RGB", (16, 16), (40 * j, 100 * i, 0)).save(root / cls / f"{j}.png")
    return root


def load(root, tmp_path, **kw):
    return load_data(f"imagefolder:{root}", image_size=8, cache=False, workers=1, val_split=0.5, **kw)


def test_symlink_loop_is_followed_once(tmp_path):
    """A link back to the parent made 12 files into 5,412 images with crossed labels."""
    root = tree(tmp_path / "ds")
    (root / "cat" / "again").symlink_to(root / "cat")  # loop
    (root / "cat" / "up").symlink_to(root)  # loop through the root: dog files under cat
    (root / "dog" / "cats").symlink_to(root / "cat")  # a whole class linked into another
    data = load(root, tmp_path)
    assert len(data.train) + len(data.val) == 6
    counts = [a + b for a, b in zip(data.train.class_counts(), data.val.class_counts())]
    assert counts == [3, 3]
    assert "not read" in data.describe()


def test_one_file_linked_twice_counts_once(tmp_path):
    root = tree(tmp_path / "ds")
    (root / "dog" / "alias.png").symlink_to(root / "cat" / "0.png")
    data = load(root, tmp_path)
    assert len(data.train) + len(data.val) == 6


def test_fifo_and_device_in_a_folder_are_skipped(tmp_path):
    root = tree(tmp_path / "ds")
    os.mkfifo(root / "cat" / "pipe.png")
    (root / "dog" / "null.jpg").symlink_to("/dev/null")
    data = load(root, tmp_path)
    assert len(data.train) + len(data.val) == 6 and "not a regular file" in data.describe()


def test_dangling_symlink_is_named_or_skipped(tmp_path):
    root = tree(tmp_path / "ds")
    (root / "cat" / "gone.png").symlink_to(tmp_path / "deleted.png")
    with pytest.raises(CnnlabError, match="gone.png is a symbolic link to .*deleted.png, which does not exist"):
        load(root, tmp_path)
    data = load(root, tmp_path, bad_images="skip")
    assert len(data.train) + len(data.val) == 6 and "dangling" in data.describe()


def test_huge_image_in_a_folder_is_a_bad_image(tmp_path):
    root = tree(tmp_path / "ds")
    png_stream(root / "dog" / "huge.png", 12000, 12000, rows=1)
    with pytest.raises(CnnlabError, match="huge.png.*more than the 64 MP"):
        load(root, tmp_path)
    skipped = load(root, tmp_path, bad_images="skip")
    assert len(skipped.train) + len(skipped.val) == 6 and "huge.png" in skipped.describe()


@pytest.fixture(scope="module")
def big_png(tmp_path_factory):
    """The issue's picture: a ~450 KB PNG declaring 12000 x 12000 RGB pixels (written once per module)."""
    return png_stream(tmp_path_factory.mktemp("big") / "big.png", 12000, 12000, mode="RGB")


@pytest.mark.parametrize(
    "args",
    [["filter", "sharpen", "BIG", "-o", "out.png"], ["data", "imagefolder:TREE", "--no-cache", "--val-split", "0.5"]],
)
def test_12000_square_png_in_a_capped_process(tmp_path, args, big_png):
    """The 450 KB 12000x12000 PNG made `cnnlab filter` reach 17.6 GB: now refused in a 1.5 GiB cap."""
    big = big_png
    tree(tmp_path / "tree")
    os.link(big, tmp_path / "tree" / "cat" / "big.png")
    args = [a.replace("BIG", str(big)).replace("TREE", str(tmp_path / "tree")) for a in args]
    r = cli_capped(args, tmp_path, cap=int(1.5 * 2**30))
    assert r.returncode == 2 and "more than the 64 MP" in r.stderr, r.stderr[-800:]


@pytest.mark.slow
def test_12000_square_png_with_the_limit_raised_stays_bounded(tmp_path, big_png):
    """With --max-pixels raised, filter works in strips: under 3 GiB for 144 MP (was 17.6 GB)."""
    big = big_png
    r = cli_capped(
        ["--max-pixels", "150000000", "filter", "box", str(big), "-o", "out.png"], tmp_path, cap=3 << 30, timeout=900
    )
    assert r.returncode == 0, r.stderr[-800:]
    assert Image.open(tmp_path / "out.png").size == (12000, 12000)
