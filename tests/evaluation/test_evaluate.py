"""`cnnlab.evaluate` / `cnnlab evaluate` on data the test writes: every number recomputed here."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnlab.cli import main
from cnnlab.evaluation import evaluate
from cnnlab.runs import load_run

from helpers.eval_support import CLASSES, DATA_OPTIONS


def independent_logits(run_dir, images: list[np.ndarray]) -> torch.Tensor:
    """The model on the PNGs' own arrays, normalised by hand with the run's mean and std."""
    loaded = load_run(run_dir)
    mean, std = loaded.meta["mean"][0], loaded.meta["std"][0]
    x = torch.tensor(np.stack(images), dtype=torch.float32).unsqueeze(1) / 255
    with torch.no_grad():
        return loaded.model((x - mean) / std).float()


def test_every_number_against_an_independent_computation(folder, trained, tmp_path):
    root, arrays = folder
    r = evaluate(
        trained.run_dir, f"imagefolder:{root}", "test", precision="fp32", progress=False, data_options=DATA_OPTIONS
    )
    labels = np.array([k for k, _ in arrays["test"]])
    logits = independent_logits(trained.run_dir, [a for _, a in arrays["test"]])
    probs = torch.softmax(logits, 1).numpy()
    preds = probs.argmax(1)
    assert r.n == 30 and r.classes == CLASSES and r.labels.tolist() == labels.tolist()
    np.testing.assert_allclose(r.probs, probs, rtol=1e-5, atol=1e-6)
    # confusion matrix by counting
    counted = [[sum(1 for t, p in zip(labels, preds) if t == i and p == j) for j in range(3)] for i in range(3)]
    assert r.confusion.tolist() == counted
    # precision / recall / F1 / support by hand
    for k in range(3):
        tp = sum(1 for t, p in zip(labels, preds) if t == k and p == k)
        predicted, true = sum(1 for p in preds if p == k), sum(1 for t in labels if t == k)
        prec = tp / predicted if predicted else 0.0
        rec = tp / true
        assert r.per_class.precision[k] == pytest.approx(prec)
        assert r.per_class.recall[k] == pytest.approx(rec)
        assert r.per_class.f1[k] == pytest.approx(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
        assert r.per_class.support[k] == true == 10
    # accuracy, loss, no top-5 with 3 classes
    assert r.top1 == pytest.approx(100 * float((preds == labels).mean()))
    assert r.loss == pytest.approx(float(F.cross_entropy(logits, torch.tensor(labels))), rel=1e-5)
    assert r.top5 is None and "top-5" not in r.text()
    # ECE by its formula (15 equal bins, right-closed)
    conf, hit = probs.max(1), (preds == labels)
    ece = 0.0
    for m in range(15):
        inb = (conf > m / 15) & (conf <= (m + 1) / 15)
        if inb.any():
            ece += inb.sum() / len(conf) * abs(hit[inb].mean() - conf[inb].mean())
    assert r.ece == pytest.approx(ece, abs=1e-6)
    # top losses: wrongly classified, highest loss first
    losses = F.cross_entropy(logits, torch.tensor(labels), reduction="none").numpy()
    wrong = [i for i in range(30) if preds[i] != labels[i]]
    assert r.top_losses(50) == sorted(wrong, key=lambda i: -losses[i])
    # JSON and CSV carry the same numbers, named for their split
    d = json.loads(r.to_json())
    assert d["test_top1"] == pytest.approx(r.top1) and d["test_top5"] is None and d["split"] == "test"
    assert d["confusion"] == counted and d["calibration"]["bins"] == 15
    assert d["macro_avg"]["recall"] == pytest.approx(float(np.mean(r.per_class.recall)))
    rows = list(csv.DictReader(open(r.to_csv(tmp_path / "p.csv"))))
    assert len(rows) == 30 and rows[3]["true"] == CLASSES[labels[3]]
    assert float(rows[3]["loss"]) == pytest.approx(float(losses[3]), abs=1e-5)
    assert rows[3]["predicted"] == CLASSES[preds[3]]


def test_splits_val_and_all(folder, trained):
    root, arrays = folder
    val = evaluate(
        trained.run_dir, f"imagefolder:{root}", "val", precision="fp32", progress=False, data_options=DATA_OPTIONS
    )
    # the run's own validation split: the same images the trainer reported on
    assert val.n == 6 and val.top1 == pytest.approx(trained.final["val_top1"])
    everything = evaluate(
        trained.run_dir, f"imagefolder:{root}", "all", precision="fp32", progress=False, data_options=DATA_OPTIONS
    )
    assert everything.n == 3 * (24 + 10)


def test_cli_prints_the_table_and_writes_pictures_csv_json(folder, trained, tmp_path, capsys):
    root, _ = folder
    out = tmp_path / "ev"
    argv = [
        "evaluate",
        str(trained.run_dir),
        "--data",
        f"imagefolder:{root}",
        "--image-size",
        "28",
        "--out",
        str(out),
        "--csv",
        str(tmp_path / "rows.csv"),
        "--threads",
        "1",
        "--no-progress",
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "test accuracy:" in text and "macro avg" in text and "weighted avg" in text
    assert all(c in text for c in CLASSES) and "held-out" not in text
    for name in ("confusion.png", "reliability.png", "top-losses.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((tmp_path / "rows.csv").read_text().splitlines()) == 31
    assert main(argv + ["--json", "--no-plots"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["images"] == 30 and len(d["per_class"]) == 3 and "test_top1" in d
    assert main(["evaluate", str(trained.run_dir), "--data", "mnist-sample"]) == 2
    assert "mnist-sample has 10 classes but" in capsys.readouterr().err


def test_a_custom_runner_is_used_for_every_logit(folder, trained):
    root, _ = folder
    calls = []

    def runner(x):
        calls.append(len(x))
        return torch.zeros(len(x), 3).index_fill_(1, torch.tensor([1]), 1.0)  # always "noise"

    r = evaluate(
        trained.run_dir,
        f"imagefolder:{root}",
        "test",
        runner=runner,
        engine="constant",
        progress=False,
        data_options=DATA_OPTIONS,
        batch_size=8,
    )
    assert sum(calls) == 30 and max(calls) == 8
    assert r.confusion[:, 1].tolist() == [10, 10, 10] and r.top1 == pytest.approx(100 / 3)
    assert r.per_class.precision.tolist() == pytest.approx([0.0, 1 / 3, 0.0])


def test_flip_tta_averages_the_image_and_its_mirror(folder, trained):
    root, arrays = folder
    r = evaluate(
        trained.run_dir,
        f"imagefolder:{root}",
        "test",
        tta="flip",
        precision="fp32",
        progress=False,
        data_options=DATA_OPTIONS,
    )
    images = [a for _, a in arrays["test"]]
    plain = independent_logits(trained.run_dir, images)
    mirrored = independent_logits(trained.run_dir, [a[:, ::-1].copy() for a in images])
    expect = torch.softmax(0.5 * plain + 0.5 * mirrored, 1).numpy()
    np.testing.assert_allclose(r.probs, expect, rtol=1e-5, atol=1e-6)
    assert r.tta == "flip" and "tta flip" in r.text()


def test_engine_onnxruntime_gives_the_eager_numbers(folder, trained, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    root, _ = folder
    base = [
        "evaluate",
        str(trained.run_dir),
        "--data",
        f"imagefolder:{root}",
        "--image-size",
        "28",
        "--threads",
        "1",
        "--no-progress",
        "--no-plots",
        "--json",
        "--precision",
        "fp32",
    ]
    assert main(base) == 0
    eager = json.loads(capsys.readouterr().out)
    assert main(base + ["--engine", "onnxruntime"]) == 0
    ort = json.loads(capsys.readouterr().out)
    assert ort["engine"] == "onnxruntime" and eager["engine"] == "pytorch"
    assert ort["test_top1"] == eager["test_top1"] and ort["confusion"] == eager["confusion"]
    images = sorted((root / "test").rglob("*.png"))[:6]
    argv = ["predict", str(trained.run_dir), *map(str, images), "--json", "--no-progress"]
    assert main(argv) == 0
    eager_p = json.loads(capsys.readouterr().out)
    assert main(argv + ["--engine", "onnxruntime"]) == 0
    ort_p = json.loads(capsys.readouterr().out)
    assert [p["top"][0]["class"] for p in ort_p] == [p["top"][0]["class"] for p in eager_p]
    for a, b in zip(ort_p, eager_p):
        assert a["top"][0]["probability"] == pytest.approx(b["top"][0]["probability"], abs=1e-4)


def test_notebook_views_are_short_and_tabular(folder, trained):
    root, _ = folder
    r = evaluate(
        trained.run_dir, f"imagefolder:{root}", "test", precision="fp32", progress=False, data_options=DATA_OPTIONS
    )
    text = repr(r)
    assert len(text) <= 200 and "\n" not in text and f"top-1 {r.top1:.2f}%" in text
    page = r._repr_html_()
    assert page.count("<tr>") == 1 + 3 + 2  # header, three classes, macro and weighted means
    df = r.to_pandas()
    assert list(df["class"]) == CLASSES and df["support"].sum() == 30
    assert df["recall"].tolist() == pytest.approx(r.per_class.recall.tolist())
