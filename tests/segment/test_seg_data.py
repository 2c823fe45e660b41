"""segfolder:PATH and the built-in seg-sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab import CnnlabError
from cnnlab.data import load_data
from cnnlab.tasks.segment.dataset import SegmentationDataset, SegmentationSplits


def write_pair(root: Path, stem: str, image: np.ndarray, mask: np.ndarray | Image.Image, ext: str = ".png") -> None:
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(root / "images" / f"{stem}{ext}")
    (mask if isinstance(mask, Image.Image) else Image.fromarray(mask)).save(root / "masks" / f"{stem}.png")


def make_folder(root: Path, n: int = 10, h: int = 12, w: int = 16, k: int = 3, seed: int = 0) -> list[np.ndarray]:
    """RGB images whose red channel is 40 x label, with greyscale index masks."""
    rng = np.random.default_rng(seed)
    masks = []
    for i in range(n):
        m = rng.integers(0, k, (h, w)).astype(np.uint8)
        img = np.stack([40 * m, np.full_like(m, i), np.zeros_like(m)], -1).astype(np.uint8)
        write_pair(root, f"img{i:02d}", img, m)
        masks.append(m)
    return masks


def test_flat_folder_with_a_seeded_validation_carve(tmp_path):
    masks = make_folder(tmp_path)
    data = load_data(f"segfolder:{tmp_path}", val_split=0.3, seed=4, progress=False)
    assert isinstance(data, SegmentationSplits) and data.task == "segment"
    assert (len(data.train), len(data.val)) == (7, 3) and not data.has_test
    assert data.classes == ["0", "1", "2"]  # no classes.txt: the labels found
    assert data.train.image_shape == (3, 12, 16) and data.train.labels.shape == (7, 12, 16)
    for ds in (data.train, data.val):  # every image with its own mask (the green channel numbers the files)
        for img, m in zip(ds.images, ds.labels):
            i = int(img[1, 0, 0])
            assert torch.equal(m, torch.from_numpy(masks[i])) and torch.equal(img[0], 40 * m)
    again = load_data(f"segfolder:{tmp_path}", val_split=0.3, seed=4, progress=False)
    assert torch.equal(again.val.images, data.val.images)
    other = load_data(f"segfolder:{tmp_path}", val_split=0.3, seed=5, progress=False)
    assert not torch.equal(other.val.images[:, 1, 0, 0].sort().values, data.val.images[:, 1, 0, 0].sort().values)


def test_split_folders_classes_and_lazy_test(tmp_path):
    make_folder(tmp_path / "train", n=6)
    make_folder(tmp_path / "val", n=2, seed=1)
    make_folder(tmp_path / "test", n=3, seed=2)
    (tmp_path / "classes.txt").write_text("sky\nroad\ncar\nperson\n")
    data = load_data(f"segfolder:{tmp_path}", progress=False)
    assert (len(data.train), len(data.val), len(data.test)) == (6, 2, 3)
    assert data.classes == ["sky", "road", "car", "person"] and data.palette is None
    assert data.train.class_counts()[3] == 0 and sum(data.train.class_counts()) == 6 * 12 * 16
    assert "pixels per class" in data.describe()


def test_colour_masks_through_the_palette_and_ignore(tmp_path):
    colours = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0)}
    label = np.array([[0, 1, 2, 255]], np.uint8)
    rgb = np.array([[colours.get(v, (224, 224, 192)) for v in row] for row in label], np.uint8)
    write_pair(tmp_path, "a", np.zeros((1, 4, 3), np.uint8), rgb)
    write_pair(tmp_path, "b", np.zeros((1, 4, 3), np.uint8), rgb)
    (tmp_path / "classes.txt").write_text("background 0 0 0\naeroplane 128 0 0\nbicycle 0 128 0\nignore 224 224 192\n")
    data = load_data(f"segfolder:{tmp_path}", val_split=0, progress=False)
    assert data.palette == [(0, 0, 0), (128, 0, 0), (0, 128, 0)]
    assert data.train.labels[0].tolist() == [[0, 1, 2, 255]]
    (tmp_path / "classes.txt").write_text("background 0 0 0\naeroplane 128 0 0\n")
    with pytest.raises(CnnlabError, match=r"colour \(0, 128, 0\)"):
        load_data(f"segfolder:{tmp_path}", val_split=0, progress=False)


def test_palette_png_masks_hold_indices(tmp_path):
    mask = Image.fromarray(np.array([[0, 1], [2, 255]], np.uint8), "P")
    mask.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [224, 224, 192] * 253)
    for stem in "ab":
        write_pair(tmp_path, stem, np.zeros((2, 2, 3), np.uint8), mask)
    data = load_data(f"segfolder:{tmp_path}", val_split=0, progress=False)
    assert data.train.labels[0].tolist() == [[0, 1], [2, 255]] and data.classes == ["0", "1", "2"]


def test_image_size_covers_and_crops_images_and_masks_alike(tmp_path):
    h, w = 20, 40
    m = np.zeros((h, w), np.uint8)
    m[:, w // 2 :] = 1  # left half 0, right half 1
    img = np.stack([200 * m] * 3, -1).astype(np.uint8)
    write_pair(tmp_path, "a", img, m)
    write_pair(tmp_path, "b", img, m)
    data = load_data(f"segfolder:{tmp_path}", image_size=10, val_split=0, progress=False)
    assert data.train.image_shape == (3, 10, 10)
    # 20 x 40 -> 10 x 20, centre crop columns 5..14: labels 0 for columns 0-4, 1 for 5-9
    assert data.train.labels[0, 0].tolist() == [0] * 5 + [1] * 5
    assert (data.train.images[0, 0, :, :4] == 0).all() and (data.train.images[0, 0, :, 6:] == 200).all()


def test_strict_errors_name_the_files(tmp_path):
    make_folder(tmp_path, n=3)
    (tmp_path / "masks" / "img01.png").unlink()
    with pytest.raises(CnnlabError, match="img01.png has no mask"):
        load_data(f"segfolder:{tmp_path}", progress=False)
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "masks" / "img01.png")
    with pytest.raises(CnnlabError, match=r"mask .*img01.png is 5x5 but its image .*img01.png is 16x12"):
        load_data(f"segfolder:{tmp_path}", progress=False)
    Image.fromarray(np.zeros((12, 16), np.uint8)).save(tmp_path / "masks" / "img01.png")
    Image.fromarray(np.zeros((12, 16), np.uint8)).save(tmp_path / "masks" / "stray.png")
    with pytest.raises(CnnlabError, match="stray.png has no image"):
        load_data(f"segfolder:{tmp_path}", progress=False)
    (tmp_path / "masks" / "stray.png").unlink()
    write_pair(tmp_path, "big", np.zeros((13, 16, 3), np.uint8), np.zeros((13, 16), np.uint8))
    with pytest.raises(CnnlabError, match="--image-size"):
        load_data(f"segfolder:{tmp_path}", progress=False)
    (tmp_path / "images" / "big.png").unlink()
    (tmp_path / "masks" / "big.png").unlink()
    (tmp_path / "classes.txt").write_text("a\nb\n")  # the masks hold label 2
    with pytest.raises(CnnlabError, match="label 2, but there are 2 classes"):
        load_data(f"segfolder:{tmp_path}", progress=False)
    with pytest.raises(CnnlabError, match="does not exist"):
        load_data(f"segfolder:{tmp_path / 'nothing'}", progress=False)


def test_seg_sample():
    data = load_data("seg-sample")
    assert data.task == "segment" and data.classes[0] == "background" and len(data.classes) == 11
    assert (len(data.train), len(data.val)) == (1800, 200) and len(data.test) == 400
    assert data.train.image_shape == (1, 64, 64)
    labels = torch.cat([data.train.labels, data.val.labels])
    assert set(torch.unique(labels).tolist()) == set(range(11))
    # the label is the digit where the ink is bright: ink >= 128 on every digit pixel, background elsewhere
    images = torch.cat([data.train.images, data.val.images])[:, 0]
    assert (images[labels > 0] >= 128).all()
    small = load_data("seg-sample", image_size=32, val_split=0)
    assert small.train.image_shape == (1, 32, 32) and len(small.train) == 2000
    assert set(torch.unique(small.train.labels).tolist()) <= set(range(11))


def test_seg_sample_is_reproduced_by_its_generator(shared_dir):
    """tools/make_seg_sample.py's canvases, regenerated from the real MNIST test digits, equal the shipped ones."""
    import importlib.util

    from cnnlab.data.idx import read_idx

    mnist = shared_dir / "data" / "mnist"
    if not (mnist / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"the real MNIST is expected at {mnist}")
    spec = importlib.util.spec_from_file_location(
        "make_seg_sample", Path(__file__).parents[2] / "tools" / "make_seg_sample.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    from cnnlab.tasks.segment.sample import scatter_digits

    images, masks = scatter_digits(
        read_idx(mnist / "t10k-images-idx3-ubyte.gz"),
        read_idx(mnist / "t10k-labels-idx1-ubyte.gz"),
        tool.COUNTS["t10k"],
        tool.SEEDS["t10k"],
    )
    shipped = load_data("seg-sample").test
    assert np.array_equal(images, shipped.images[:, 0].numpy()) and np.array_equal(masks, shipped.labels.numpy())


def test_dataset_checks_its_tensors():
    with pytest.raises(ValueError, match="masks"):
        SegmentationDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(2, 4, 5, dtype=torch.uint8), ["a"])
    ds = SegmentationDataset(
        torch.zeros(3, 1, 4, 4, dtype=torch.uint8), torch.ones(3, 4, 4, dtype=torch.uint8), ["a", "b"]
    )
    assert ds.class_counts() == [0, 48] and len(ds.subset(torch.tensor([0, 2]))) == 2
