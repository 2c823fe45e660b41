"""Notebook views: bounded reprs, escaped HTML tables, pandas frames with the same numbers."""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

import pytest
import torch

import cnnlab
from cnnlab.data.dataset import DataSplits, ImageDataset
from cnnlab.errors import CnnlabError
from cnnlab.notebook import REPR_LIMIT, html_table, metrics_frame, metrics_table, short


def _cells(table_html: str) -> list[str]:
    return [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", table_html, flags=re.S)]


def test_short_is_one_bounded_line():
    assert short("a\n b\tc") == "a b c"
    long = short("x" * 1000)
    assert len(long) == REPR_LIMIT and long.endswith("...")


def test_html_table_escapes_every_string_and_elides_the_middle():
    rows = [[f"<b>{i}</b>", i] for i in range(100)]
    out = html_table(["name & co", "n"], rows, caption="<script>alert(1)</script>", max_rows=10)
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "<b>" not in out and "name &amp; co" in out
    cells = _cells(out)
    # 5 first rows, the elision row, 5 last rows: 2 cells each + 1
    assert len(cells) == 10 * 2 + 1
    assert "90 more rows" in cells[10]
    assert cells[0] == "<b>0</b>" and cells[-2] == "<b>99</b>" and cells[-1] == "99"


def test_summary_repr_html_and_pandas():
    s = cnnlab.summary("resnet18")
    r = repr(s)
    assert len(r) <= REPR_LIMIT and "\n" not in r
    assert "resnet18" in r and "11,689,512" in r  # torchvision's published parameter count
    page = s._repr_html_()
    assert page.count("<tr>") <= 60 + 2  # header + at most 60 rows + the elision row
    assert "11,689,512" in html.unescape(page)
    df = s.to_pandas()
    assert len(df) == len(s.layers)
    # the frame's MACs add up to the summary's total (rows never double count: leaf modules)
    assert int(df["macs"].sum()) == s.macs == 1_814_073_344
    assert int(df["params"].sum()) == s.params.total


def test_comparison_views():
    c = cnnlab.compare(["resnet18", "resnet34"], stages=True)
    r = repr(c)
    assert len(r) <= REPR_LIMIT and "resnet18" in r and "resnet34" in r
    df = c.to_pandas()
    assert list(df["params"]) == [11_689_512, 21_797_672]
    assert df["params_x"].iloc[1] == pytest.approx(21_797_672 / 11_689_512)
    page = c._repr_html_()
    assert page.count("<table>") == 3  # totals + one stage table per model


def _splits(n_classes: int = 3) -> DataSplits:
    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(0, 256, (30, 1, 8, 8), dtype=torch.uint8, generator=g)
    labels = torch.arange(30) % n_classes
    names = [f"<cls{i}>" for i in range(n_classes)]
    return DataSplits(
        "toy", ImageDataset(imgs[:24], labels[:24], names), ImageDataset(imgs[24:], labels[24:], names), source="memory"
    )


def test_datasplits_and_imagedataset_reprs_do_not_dump_tensors():
    d = _splits()
    for text in (repr(d), repr(d.train)):
        assert len(text) <= REPR_LIMIT and "tensor(" not in text
    assert "24 training / 6 held-out" in repr(d)
    df = d.to_pandas()
    assert list(df["train"]) == [8, 8, 8] and list(df["held_out"]) == [2, 2, 2]
    page = d._repr_html_()
    assert "<cls0>" not in page and "&lt;cls0&gt;" in page


def test_train_metrics_views():
    metrics = [{"epoch": 1, "train_loss": 1.5, "val_top1": 50.0}, {"epoch": 2, "train_loss": 0.5, "val_top1": 75.0}]
    df = metrics_frame(metrics)
    assert list(df["val_top1"]) == [50.0, 75.0]
    assert "held-out" in metrics_table(metrics)
    from cnnlab.train.trainer import TrainResult

    res = TrainResult(Path("runs/x"), metrics, torch.nn.Linear(2, 2))
    assert repr(res) == "<TrainResult Linear: 2 epoch(s), held-out top-1 75.00%, run folder runs/x>"
    assert _cells(res._repr_html_())[:3] == ["1", "1.5", "50"]


def test_loaded_run_repr(tmp_path):
    from cnnlab.runs import LoadedRun

    model = cnnlab.create_model("lenet5")
    run = LoadedRun(model, {"model": "lenet5", "classes": [str(i) for i in range(10)], "note": "<x>"}, tmp_path)
    r = repr(run)
    assert len(r) <= REPR_LIMIT and "61,706 parameters" in r and "Parameter containing" not in r
    page = run._repr_html_()
    assert "&lt;x&gt;" in page and "<x>" not in page


def test_to_pandas_without_pandas_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    with pytest.raises(CnnlabError, match="needs pandas") as e:
        _splits().to_pandas()
    assert "cnnlab[notebook]" in e.value.hint
