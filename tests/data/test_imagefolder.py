"""imagefolder on trees the test writes: both layouts, stratified split, resizing, corrupt images,
wrong layouts, the memory limit and the decode cache."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnnlab.data import decode, load_data
from cnnlab.errors import CnnlabError


def make_tree(root, classes=("cat", "dog", "emu"), per_class=10, size=(24, 20), seed=0):
    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        d = root / name
        d.mkdir(parents=True)
        for i in range(per_class):
            arr = np.full((size[1], size[0], 3), 40 * k, dtype=np.uint8)
            arr[0, 0] = rng.integers(0, 256, 3)
            Image.fromarray(arr).save(d / f"{i:03d}.{'png' if i % 2 else 'bmp'}")
    return root


def opts(tmp_path, **kw):
    return {"cache_dir": str(tmp_path / "cache"), "workers": 1, **kw}


def test_train_val_layout(tmp_path):
    make_tree(tmp_path / "ds" / "train", per_class=6)
    make_tree(tmp_path / "ds" / "val", per_class=2, seed=1)
    data = load_data(f"imagefolder:{tmp_path / 'ds'}", **opts(tmp_path, image_size=8))
    assert data.classes == ["cat", "dog", "emu"]
    assert data.train.class_counts() == [6, 6, 6] and data.val.class_counts() == [2, 2, 2]
    assert data.train.image_shape == (3, 8, 8)
    # class k was painted 40 k (the corner pixel is random; the 8x8 centre crop of the resize avoids it)
    assert (data.train.images[data.train.labels == 2] == 80).all()
    assert "train/ + val/" in data.describe() and not data.has_test
    assert "cat: 6/2" in data.describe()


def test_one_folder_stratified_split_is_seeded(tmp_path):
    make_tree(tmp_path / "ds", per_class=10)
    a = load_data(f"imagefolder:{tmp_path / 'ds'}", **opts(tmp_path, image_size=4, val_split=0.3, seed=1))
    b = load_data(f"imagefolder:{tmp_path / 'ds'}", **opts(tmp_path, image_size=4, val_split=0.3, seed=1))
    c = load_data(f"imagefolder:{tmp_path / 'ds'}", **opts(tmp_path, image_size=4, val_split=0.3, seed=2))
    assert a.train.class_counts() == [7, 7, 7] and a.val.class_counts() == [3, 3, 3]
    assert (a.val.images == b.val.images).all()
    assert not (a.val.images == c.val.images).all()
    assert "30% of each class" in a.describe()
    default = load_data(f"imagefolder:{tmp_path / 'ds'}", **opts(tmp_path, image_size=4))
    assert default.val.class_counts() == [1, 1, 1]  # 10% (at least one) when the folder has no val/


def test_resize_shorter_side_then_centre_crop(tmp_path):
    arr = np.zeros((10, 30, 3), dtype=np.uint8)  # 30 wide, 10 high: left/right thirds 0, middle 200
    arr[:, 10:20] = 200
    for cls in ("a", "b"):
        (tmp_path / "ds" / cls).mkdir(parents=True)
        Image.fromarray(arr).save(tmp_path / "ds" / cls / "x.png")
        Image.fromarray(arr).save(tmp_path / "ds" / cls / "y.png")
    data = load_data(f"imagefolder:{tmp_path / 'ds'}", **opts(tmp_path, image_size=10, val_split=0.5))
    # shorter side is already 10: the centre 10x10 crop is exactly the middle third
    assert (data.train.images == 200).all()
    grey = load_data(f"imagefolder:{tmp_path / 'ds'}", **opts(tmp_path, image_size=5, channels=1, val_split=0.5))
    # 30x10 -> 15x5, centre 5 columns; the outer two are blended with the black thirds by the filter
    assert grey.train.image_shape == (1, 5, 5) and (grey.train.images[..., 1:4] == 200).all()
    assert (grey.train.images[..., [0, 4]] < 200).all()


def test_corrupt_image_named_or_skipped(tmp_path):
    make_tree(tmp_path / "ds", per_class=5)
    bad = tmp_path / "ds" / "dog" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(CnnlabError, match=f"{bad}: not a readable image") as e:
        load_data(f"imagefolder:{tmp_path / 'ds'}", **opts(tmp_path))
    assert "--bad-images skip" in e.value.hint
    data = load_data(f"imagefolder:{tmp_path / 'ds'}", **opts(tmp_path, bad_images="skip", val_split=0.2))
    assert len(data.train) + len(data.val) == 15
    assert "skipped 1 unreadable image(s)" in data.describe() and str(bad) in data.describe()


def test_workers_decode_the_same_pixels(tmp_path):
    make_tree(tmp_path / "ds", per_class=70)  # 210 images: 4 chunks of 64
    one = load_data(f"imagefolder:{tmp_path / 'ds'}", **opts(tmp_path, cache=False, image_size=6))
    two = load_data(f"imagefolder:{tmp_path / 'ds'}", **opts(tmp_path, cache=False, image_size=6, workers=2))
    assert (one.train.images == two.train.images).all() and (one.train.labels == two.train.labels).all()


def test_cache_skips_decoding(tmp_path, monkeypatch):
    make_tree(tmp_path / "ds", per_class=4)
    first = load_data(f"imagefolder:{tmp_path / 'ds'}", **opts(tmp_path))
    monkeypatch.setattr(decode, "decode_all", lambda *a, **k: (_ for _ in ()).throw(AssertionError("decoded")))
    second = load_data(f"imagefolder:{tmp_path / 'ds'}", **opts(tmp_path))
    assert (first.train.images == second.train.images).all()
    assert "read from the cache" in second.describe()
    with pytest.raises(AssertionError, match="decoded"):  # another size is another entry
        load_data(f"imagefolder:{tmp_path / 'ds'}", **opts(tmp_path, image_size=32))


@pytest.mark.parametrize(
    "layout, message",
    [
        ("loose", "images directly in it, but images must sit in one sub-folder per class"),
        ("empty", "class folder\\(s\\) with no image files .*: dog"),
        ("one_class", "has only one class folder \\(cat\\); a classifier needs two or more"),
        ("nested", "has only one class folder \\(set1\\)"),
        ("val_extra", "has class folder\\(s\\) that .*train lacks: yak"),
        ("val_only", "has val/ but no train/"),
        ("missing", "is not a folder"),
    ],
)
def test_wrong_layouts_are_explained(tmp_path, layout, message):
    root = tmp_path / "ds"
    if layout == "loose":
        root.mkdir()
        Image.new("RGB", (4, 4)).save(root / "a.png")
    elif layout == "empty":
        make_tree(root, classes=("cat",), per_class=2)
        (root / "dog").mkdir()
        (root / "dog" / "notes.txt").write_text("no images")
    elif layout == "one_class":
        make_tree(root, classes=("cat",), per_class=2)
    elif layout == "nested":
        make_tree(root / "set1", per_class=2)
    elif layout == "val_extra":
        make_tree(root / "train", classes=("cat", "dog"), per_class=2)
        make_tree(root / "val", classes=("cat", "yak"), per_class=1)
    elif layout == "val_only":
        make_tree(root / "val", classes=("cat",), per_class=1)
    with pytest.raises(CnnlabError, match=message) as e:
        load_data(f"imagefolder:{root}", **opts(tmp_path))
    if layout == "nested":
        assert f"use imagefolder:{root / 'set1'}" in e.value.hint


def test_too_large_for_memory_is_refused_before_decoding(tmp_path, monkeypatch):
    make_tree(tmp_path / "ds", per_class=4)
    monkeypatch.setattr(decode, "decode_all", lambda *a, **k: (_ for _ in ()).throw(AssertionError("decoded")))
    # 12 images x 3 x 512 x 512 = 9 MiB > 4 MiB; what fits: sqrt(4 MiB / (12 x 3)) = 341.3 pixels
    with pytest.raises(CnnlabError, match="12 images at 3x512x512 need 9.0 MB in memory, more than the 4.0 MB") as e:
        load_data(
            f"imagefolder:{tmp_path / 'ds'}",
            **opts(tmp_path, image_size=512, max_memory_gb=4 / 1024, data_cache="memory"),
        )
    assert "--image-size, e.g. 341" in e.value.hint and "--data-cache disk" in e.value.hint


def test_every_colour_mode_becomes_rgb_with_alpha_on_white(tmp_path):
    a, b = tmp_path / "ds" / "a", tmp_path / "ds" / "b"
    a.mkdir(parents=True)
    b.mkdir()
    Image.new("L", (8, 8), 90).save(a / "grey.png")
    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(a / "clear.png")  # fully transparent: white
    Image.new("RGB", (300, 200), (10, 200, 30)).save(b / "big.jpg", quality=95)  # JPEG draft path
    Image.new("P", (8, 8), 3).save(b / "pal.gif")
    data = load_data(f"imagefolder:{tmp_path / 'ds'}", **opts(tmp_path, image_size=4, val_split=0.5))
    both = torch_cat(data)
    by_mean = sorted(both.float().mean((2, 3)).round().tolist())
    assert [90.0, 90.0, 90.0] in by_mean and [255.0, 255.0, 255.0] in by_mean
    jpeg = [m for m in by_mean if abs(m[1] - 200) <= 3]
    assert len(jpeg) == 1 and abs(jpeg[0][0] - 10) <= 3 and abs(jpeg[0][2] - 30) <= 3


def torch_cat(data):
    import torch

    return torch.cat([data.train.images, data.val.images])


def test_val_and_test_folders_are_validation_and_test(tmp_path):
    make_tree(tmp_path / "ds" / "train", per_class=6)
    make_tree(tmp_path / "ds" / "val", per_class=2, seed=1)
    make_tree(tmp_path / "ds" / "test", per_class=3, seed=2)
    data = load_data(f"imagefolder:{tmp_path / 'ds'}", **opts(tmp_path, image_size=8))
    assert data.train.class_counts() == [6, 6, 6] and data.val.class_counts() == [2, 2, 2]
    assert data.test.class_counts() == [3, 3, 3] and "train/ + val/ + test/" in data.describe()
    assert len(data.split("all")) == 3 * (6 + 2 + 3)
    no_val = tmp_path / "nv"
    make_tree(no_val / "train", per_class=10)
    make_tree(no_val / "test", per_class=3, seed=2)
    data = load_data(f"imagefolder:{no_val}", **opts(tmp_path, image_size=8))
    # validation comes from train/ (10% of each class), never from test/
    assert data.val.class_counts() == [1, 1, 1] and data.train.class_counts() == [9, 9, 9]
    assert data.test.class_counts() == [3, 3, 3]


def test_upsampled_small_images_are_noted_once(tmp_path):
    make_tree(tmp_path / "ds", per_class=4)
    data = load_data(f"imagefolder:{tmp_path / 'ds'}", **opts(tmp_path, image_size=64))
    notes = [n for n in data.notes if "upsampled" in n]
    assert len(notes) == 1 and notes[0].startswith("12 of 12 images were smaller than 64x64")
    cached = load_data(f"imagefolder:{tmp_path / 'ds'}", **opts(tmp_path, image_size=64))
    assert any("upsampled" in n for n in cached.notes)  # a cache hit says so too
