"""coco:PATH and yolo:PATH readers on folders built here, det-sample, and their errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab import CnnlabError
from cnnlab.data import load_data


def write_png(path, w, h, value=80):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(path)


@pytest.fixture
def coco_dir(tmp_path):
    write_png(tmp_path / "train2017" / "a.png", 200, 100)
    write_png(tmp_path / "train2017" / "b.png", 50, 100)
    write_png(tmp_path / "train2017" / "c.png", 64, 64)
    doc = {
        "images": [
            {"id": 10, "file_name": "a.png", "width": 200, "height": 100},
            {"id": 11, "file_name": "b.png", "width": 50, "height": 100},
            {"id": 12, "file_name": "c.png", "width": 64, "height": 64},
        ],
        "categories": [{"id": 7, "name": "nut"}, {"id": 3, "name": "bolt"}],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 7, "bbox": [20, 10, 40, 30], "area": 900.0, "iscrowd": 0},
            {"id": 2, "image_id": 10, "category_id": 3, "bbox": [100, 50, 100, 50], "iscrowd": 1},
            {"id": 3, "image_id": 11, "category_id": 3, "bbox": [5, 5, 10, 20]},
        ],
    }
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_train2017.json").write_text(json.dumps(doc))
    return tmp_path, doc


def test_coco_reader_letterboxes_and_keeps_boxes(coco_dir):
    root, _ = coco_dir
    data = load_data(f"coco:{root}", image_size=100, val_split=0, progress=False)
    assert data.task == "detect" and data.classes == ["bolt", "nut"]  # category ids 3, 7 in id order
    a, b, c = data.train.targets
    assert data.train.images.shape == (3, 3, 100, 100)
    assert a["scale"] == (0.5, 0.5)  # 200 x 100 fitted into 100 x 100
    assert a["boxes"].tolist() == [[10, 5, 30, 20], [50, 25, 100, 50]]
    assert a["labels"].tolist() == [1, 0] and a["iscrowd"].tolist() == [False, True]
    assert a["area"].tolist() == [900.0, 5000.0]  # the annotation's area, else the box's, in file pixels
    assert b["scale"] == (1.0, 1.0) and b["boxes"].tolist() == [[5, 5, 15, 25]]  # 50 x 100 already fits
    assert len(c["boxes"]) == 0  # an image without objects stays (a negative)
    # the padding is black, the image is not
    assert data.train.images[0, :, :50].float().mean() > 70 and data.train.images[0, :, 50:].max() == 0


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), "annotation 1: 'bbox' must be four numbers"),
        (lambda d: d["annotations"][1].update(category_id=99), "annotation 2 has category_id 99"),
        (lambda d: d["annotations"][2].update(image_id=5), "annotation 3 refers to image_id 5"),
        (lambda d: d["images"][1].update(file_name="missing.png"), "missing.png"),
        (lambda d: d.pop("categories"), "no 'categories' list"),
    ],
)
def test_coco_errors_name_the_file_and_annotation(coco_dir, change, message):
    root, doc = coco_dir
    change(doc)
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps(doc))
    with pytest.raises(CnnlabError, match=message.replace("[", r"\[")) as e:
        load_data(f"coco:{root}", image_size=64, progress=False)
    assert "instances_train2017.json" in str(e.value)


def test_coco_bad_json_and_missing_folder(tmp_path):
    with pytest.raises(CnnlabError, match="no instances"):
        load_data(f"coco:{tmp_path}")
    (tmp_path / "instances_train.json").write_text("{ not json")
    with pytest.raises(CnnlabError, match="not valid JSON"):
        load_data(f"coco:{tmp_path}")


def test_yolo_reader(tmp_path):
    write_png(tmp_path / "images" / "train" / "p.png", 100, 50)
    write_png(tmp_path / "images" / "train" / "q.png", 40, 40)
    write_png(tmp_path / "images" / "val" / "r.png", 40, 40)
    (tmp_path / "labels" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "val").mkdir(parents=True)
    (tmp_path / "labels" / "train" / "p.txt").write_text("1 0.5 0.5 0.2 0.4\n\n0 0.1 0.2 0.2 0.2\n")
    (tmp_path / "labels" / "val" / "r.txt").write_text("0 0.5 0.5 1 1\n")
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    data = load_data(f"yolo:{tmp_path}", image_size=50, progress=False)
    assert data.classes == ["cat", "dog"] and len(data.train) == 2 and len(data.val) == 1
    p = data.train.targets[0]
    assert p["scale"] == (0.5, 0.5)
    assert torch.allclose(p["boxes"], torch.tensor([[20.0, 7.5, 30, 17.5], [0, 2.5, 10, 7.5]]))
    assert p["labels"].tolist() == [1, 0]
    assert p["area"].tolist() == pytest.approx([20 * 20, 20 * 10])  # file pixels
    assert len(data.train.targets[1]["boxes"]) == 0  # no .txt: no objects
    (tmp_path / "labels" / "train" / "q.txt").write_text("0 0.5 0.5 0.2\n")
    with pytest.raises(CnnlabError, match=r"q.txt:1: expected 'class cx cy w h'"):
        load_data(f"yolo:{tmp_path}", image_size=50, progress=False)
    (tmp_path / "labels" / "train" / "q.txt").write_text("0 0.5 0.5 0.2 0.2\n2 0.5 0.5 0.2 0.2\n")
    with pytest.raises(CnnlabError, match=r"q.txt:2: class 2 is not one of the 2"):
        load_data(f"yolo:{tmp_path}", image_size=50, progress=False)


def test_det_sample_is_built_in_and_seeded():
    data = load_data("det-sample")
    assert data.task == "detect" and data.classes == [str(i) for i in range(10)]
    assert len(data.train) + len(data.val) == 1200 and len(data.test) == 300
    assert data.train.image_shape == (1, 128, 128)
    boxes = torch.cat([t["boxes"] for t in data.train.targets])
    assert (boxes[:, 2:] > boxes[:, :2]).all() and boxes.min() >= 0 and boxes.max() <= 128
    # every box holds ink on its border rows/columns (the tight extent of the pasted digit)
    t, im = data.train.targets[0], data.train.images[0, 0]
    for x0, y0, x1, y1 in t["boxes"].long().tolist():
        patch = im[y0:y1, x0:x1]
        assert patch[0].max() >= 64 and patch[-1].max() >= 64 and patch[:, 0].max() >= 64 and patch[:, -1].max() >= 64
    again = load_data("det-sample")
    assert torch.equal(again.val.images, data.val.images)
    small = load_data("det-sample", image_size=64)
    assert small.train.image_shape == (1, 64, 64)
    assert torch.allclose(small.train.targets[0]["boxes"], data.train.targets[0]["boxes"] / 2)
    assert torch.equal(small.train.targets[0]["area"], data.train.targets[0]["area"])  # file pixels
