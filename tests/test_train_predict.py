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
    assert run.final["test_top1"] is None  # the test split is not read unless asked for


def test_run_folder_contents(run):
    names = {p.name for p in run.run_dir.iterdir()}
    assert {"config.json", "metrics.jsonl", "model.safetensors", "curves.png"} <= names
    config = json.loads((run.run_dir / "config.json").read_text())
    assert config["model"] == "lenet5" and config["epochs"] == 2
    lines = (run.run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert {
        "train_loss",
        "val_loss",
        "val_top1",
        "val_top5",
        "test_loss",
        "test_top1",
        "test_top5",
        "lr",
        "images_per_s",
        "seconds",
    } <= set(json.loads(lines[0]))
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
        Image.fromarray(d.test.images[i, 0].numpy()).save(p)
        paths.append(p)
        labels.append(d.classes[int(d.test.labels[i])])
    preds = predict(run.run_dir, paths, top_k=3)
    assert sum(p.label == t for p, t in zip(preds, labels)) >= 17
    assert all(len(p.top) == 3 and abs(sum(q for _, q in p.top)) <= 1.0 + 1e-6 for p in preds)
    assert all(p.top[0][1] >= p.top[1][1] >= p.top[2][1] for p in preds)


def test_dark_ink_on_light_paper_is_inverted_and_says_so(run, tmp_path):
    d = load_data("mnist-sample")
    hits = 0
    for i in range(10):
        ink = 255 - d.test.images[i, 0].numpy()
        big = Image.fromarray(ink).resize((140, 140), Image.BILINEAR).convert("RGB")
        p = tmp_path / f"photo{i}.jpg"
        big.save(p, quality=95)
        (pred,) = predict(run.run_dir, [p])
        assert any("inverted" in n for n in pred.notes) and any("resized from 140x140" in n for n in pred.notes)
        hits += pred.label == d.classes[int(d.test.labels[i])]
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


def write_mixed_folder(d, folder):
    """PNG (grey), JPEG (RGB), RGBA PNG, a palette GIF, a nested file, and a non-image with an image name."""
    folder.mkdir()
    (folder / "sub").mkdir()
    digits = [(d.test.images[i, 0].numpy(), d.classes[int(d.test.labels[i])]) for i in range(5)]
    Image.fromarray(digits[0][0]).save(folder / "a_grey.png")
    Image.fromarray(digits[1][0]).convert("RGB").save(folder / "b_rgb.jpg", quality=95)
    rgba = np.dstack([np.repeat(digits[2][0][..., None], 3, 2), np.full((28, 28), 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "c_rgba.png")
    Image.fromarray(digits[3][0]).convert("P").save(folder / "d_palette.gif")
    Image.fromarray(digits[4][0]).save(folder / "sub" / "e_nested.png")
    (folder / "readme.txt").write_text("not an image, and not named like one: left out of a folder")
    return [label for _, label in digits]


def test_predict_a_folder_of_mixed_images_in_batches(run, tmp_path):
    import warnings

    d = load_data("mnist-sample")
    folder = tmp_path / "mixed"
    labels = write_mixed_folder(d, folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy "not writable" warning (or any other)
        preds = predict(run.run_dir, [folder], batch_size=2)
    assert [p.file.split("/")[-1] for p in preds] == [
        "a_grey.png",
        "b_rgb.jpg",
        "c_rgba.png",
        "d_palette.gif",
        "e_nested.png",
    ]
    assert sum(p.label == t for p, t in zip(preds, labels)) >= 4
    # batching does not change a probability: the same images one at a time
    single = predict(run.run_dir, [folder], batch_size=1)
    for a, b in zip(preds, single):
        assert a.label == b.label and a.top[0][1] == pytest.approx(b.top[0][1], abs=1e-5)
    # a glob and a file list give the same files
    assert [p.file for p in predict(run.run_dir, [str(folder / "*.png")])] == [
        str(folder / "a_grey.png"),
        str(folder / "c_rgba.png"),
    ]
    # a non-image with an image name stops the run naming it, or is skipped and reported
    (folder / "broken.png").write_text("this is text")
    with pytest.raises(CnnlabError, match="broken.png: not a readable image"):
        predict(run.run_dir, [folder])
    skipped = predict(run.run_dir, [folder], bad_images="skip")
    assert [p.file.split("/")[-1] for p in skipped if p.error] == ["broken.png"] and len(skipped) == 6


def test_predict_cli_table_csv_json(run, tmp_path, capsys):
    import csv

    from cnnlab.cli import main

    d = load_data("mnist-sample")
    folder = tmp_path / "mixed"
    write_mixed_folder(d, folder)
    assert main(["predict", str(run.run_dir), str(folder), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "b_rgb.jpg" in out and "5 image(s) classified" in out
    assert main(["predict", str(run.run_dir), str(folder), "--csv"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert len(rows) == 5 and {"file", "class", "probability", "top1", "notes"} <= set(rows[0])
    assert main(["predict", str(run.run_dir), str(folder / "b_rgb.jpg"), "--json"]) == 0
    (one,) = json.loads(capsys.readouterr().out)
    assert one["file"].endswith("b_rgb.jpg") and len(one["top"]) == 3


def test_a_run_folder_is_a_model_everywhere(run, capsys):
    from cnnlab.cli import main

    assert main(["summary", str(run.run_dir)]) == 0
    assert f"lenet5 ({run.run_dir.name}), input 1 x 1x28x28" in capsys.readouterr().out
    assert main(["summary", str(run.run_dir / "best.safetensors"), "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["input_size"] == [1, 28, 28] and d["params"]["total"] == 61_706
    assert main(["compare", str(run.run_dir), "lenet5", "--json"]) == 0
    c = json.loads(capsys.readouterr().out)
    assert [m["params"] for m in c["models"]] == [61_706] * 2 and c["models"][0]["input_size"] == [1, 28, 28]
    assert main(["weights", str(run.run_dir)]) == 0
    assert f"{run.run_dir / 'model.safetensors'}" in capsys.readouterr().out


def test_an_old_run_folder_still_loads_evaluates_and_predicts(run, tmp_path):
    """A run folder of the previous version: no test fields in metrics.jsonl, no final_test in config.json."""
    import shutil

    from cnnlab.viz.curves import plot_curves

    old = tmp_path / "old"
    shutil.copytree(run.run_dir, old)
    config = json.loads((old / "config.json").read_text())
    config.pop("final_test")
    config["resolved"].pop("precision")
    (old / "config.json").write_text(json.dumps(config))
    rows = [json.loads(x) for x in (old / "metrics.jsonl").read_text().splitlines()]
    rows = [{k: v for k, v in r.items() if not k.startswith("test_")} for r in rows]
    (old / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    plot_curves(rows, old / "curves.png")
    d = load_data("mnist-sample")
    img = tmp_path / "x.png"
    Image.fromarray(d.test.images[0, 0].numpy()).save(img)
    assert predict(old, [img])[0].label == d.classes[int(d.test.labels[0])]
    r = cnnlab.evaluate(old, "mnist-sample", "test", progress=False)
    assert r.n == 2_000 and r.top1 > 85 and r.precision == "fp32"


def test_rgb_image_already_at_the_model_size_prepares_without_a_warning():
    import warnings

    from cnnlab.predict import prepare

    a = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    meta = {"input_size": [3, 32, 32], "mean": [0.5] * 3, "std": [0.25] * 3, "background": "light"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns on non-writable NumPy arrays
        x, notes = prepare(Image.fromarray(a), meta)
    assert notes == [] and x.shape == (1, 3, 32, 32)
    torch.testing.assert_close(x[0], (torch.from_numpy(a.copy()).permute(2, 0, 1).float() / 255 - 0.5) / 0.25)


def test_a_colour_photo_with_a_bright_border_is_never_inverted():
    from cnnlab.predict import prepare

    sky = np.full((32, 32, 3), 230, dtype=np.uint8)
    sky[12:20, 8:24] = (40, 40, 90)  # a dark ship on a bright sky
    meta = {"input_size": [3, 32, 32], "mean": [0.5] * 3, "std": [0.25] * 3, "background": "dark"}
    x, notes = prepare(Image.fromarray(sky), meta)
    assert not any("inverted" in n for n in notes)
    assert x[0, :, 0, 0].tolist() == pytest.approx([(230 / 255 - 0.5) / 0.25] * 3)
