"""End to end: train LeNet-5 briefly on the built-in sample, read the run folder, predict PNGs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import cnnlab
from cnnlab.data import load_data
from cnnlab.errors import CnnlabError
from cnnlab.predict import center_like_mnist, predict
from cnnlab.runs import load_run, read_model_file


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "lenet"
    return cnnlab.fit(model="lenet5", data="mnist-sample", epochs=2, out=str(out), progress=False)


def test_short_run_is_well_above_chance(run):
    assert run.final["val_top1"] > 90.0  # chance is 10%; two epochs reach ~93%
    assert run.final["val_top5"] >= run.final["val_top1"]


def test_run_folder_contents(run):
    names = {p.name for p in run.run_dir.iterdir()}
    assert {"config.json", "metrics.jsonl", "model.safetensors", "curves.png"} <= names
    config = json.loads((run.run_dir / "config.json").read_text())
    assert config["model"] == "lenet5" and config["epochs"] == 2
    lines = (run.run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert {"train_loss", "val_loss", "val_top1", "val_top5", "lr", "images_per_s", "seconds"} <= set(json.loads(lines[0]))
    png = Image.open(run.run_dir / "curves.png")
    assert png.size[0] > 500


def test_weights_carry_what_is_needed_to_rebuild(run):
    tensors, meta = read_model_file(run.run_dir / "model.safetensors")
    assert meta["model"] == "lenet5" and meta["classes"] == [str(i) for i in range(10)]
    assert meta["input_size"] == [1, 28, 28] and meta["background"] == "dark"
    loaded = load_run(run.run_dir)
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), run.model(x))


def test_predict_returns_the_class_of_saved_digits(run, tmp_path):
    d = load_data("mnist-sample")
    paths, labels = [], []
    for i in range(20):
        p = tmp_path / f"digit{i}.png"
        Image.fromarray(d.val.images[i, 0].numpy()).save(p)
        paths.append(p)
        labels.append(d.classes[int(d.val.labels[i])])
    preds = predict(run.run_dir, paths, top_k=3)
    assert sum(p.label == t for p, t in zip(preds, labels)) >= 17
    assert all(len(p.top) == 3 and abs(sum(q for _, q in p.top)) <= 1.0 + 1e-6 for p in preds)
    assert all(p.top[0][1] >= p.top[1][1] >= p.top[2][1] for p in preds)


def test_dark_ink_on_light_paper_is_inverted_and_says_so(run, tmp_path):
    d = load_data("mnist-sample")
    hits = 0
    for i in range(10):
        ink = 255 - d.val.images[i, 0].numpy()
        big = Image.fromarray(ink).resize((140, 140), Image.BILINEAR).convert("RGB")
        p = tmp_path / f"photo{i}.jpg"
        big.save(p, quality=95)
        (pred,) = predict(run.run_dir, [p])
        assert any("inverted" in n for n in pred.notes) and any("resized from 140x140" in n for n in pred.notes)
        hits += pred.label == d.classes[int(d.val.labels[i])]
    assert hits >= 8


def test_center_like_mnist_fits_and_centres_by_mass():
    a = np.zeros((100, 60, 1), np.uint8)
    a[10:90, 5:25] = 255  # a tall bar in the top-left
    out = center_like_mnist(a, 28)[..., 0].astype(float)
    rows, cols = np.nonzero(out > 128)
    assert rows.max() - rows.min() + 1 <= 21  # fitted into 20x20
    cy = (out.sum(1) * np.arange(28)).sum() / out.sum()
    cx = (out.sum(0) * np.arange(28)).sum() / out.sum()
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1


def test_predict_errors_name_the_file(run, tmp_path):
    not_image = tmp_path / "notes.txt"
    not_image.write_text("hello")
    with pytest.raises(CnnlabError, match="notes.txt: not a readable image"):
        predict(run.run_dir, [not_image])
    with pytest.raises(CnnlabError, match="image file not found"):
        predict(run.run_dir, [tmp_path / "missing.png"])
    with pytest.raises(CnnlabError, match="holds no model.safetensors"):
        load_run(tmp_path)


def test_existing_run_folder_is_not_overwritten(run):
    with pytest.raises(CnnlabError, match="already exists") as e:
        cnnlab.fit(model="lenet5", data="mnist-sample", epochs=1, out=str(run.run_dir), progress=False)
    assert "--overwrite" in e.value.hint
    assert (run.run_dir / "model.safetensors").is_file()
