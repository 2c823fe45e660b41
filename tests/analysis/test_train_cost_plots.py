"""Training cost (lectures 000 and 001) and the lecture figures drawn from the analyzer (lecture 004)."""

from __future__ import annotations

import pytest

from cnnlab.analysis import summary
from cnnlab.analysis.train_cost import HARDWARE, duration, train_cost
from cnnlab.cli import main
from cnnlab.errors import CnnlabError

YEAR = 365.25 * 86400


def test_l000_mlp_on_1080p_and_h100_years():
    # L000 "Recap: MLPs": a linear layer from a 1080p RGB image to one: (3 x 1920 x 1080)^2 parameters
    d = 3 * 1920 * 1080
    s = summary("lecture:mlp1080p")
    assert s.params.total == d * d == 38_698_352_640_000  # "38.7 trillion parameters"
    assert s.params.total * 4 / 1e12 == pytest.approx(154.8, abs=0.05)  # "~155 TB in FP32"
    assert 2 * s.macs == pytest.approx(77.4e12, rel=1e-3)  # "77.4 trillion inference FLOPs"
    # 10 layers, 1M images, 100 epochs: 1.5e23 FLOPs = 2 x forward per step; H100 67 TFLOPS: ~70 years
    c = train_cost(summary("lecture:mlp1080p_x10"), images=10**6, epochs=100, device="h100", train_factor=2)
    assert c.total_flops == 10 * 2 * d * d * 2 * 10**6 * 100 == pytest.approx(1.548e23, rel=1e-3)
    assert c.seconds / YEAR == pytest.approx(73.2, abs=0.05)  # "~70 years"
    assert 1.5e23 / 67e12 / YEAR == pytest.approx(70.94, abs=0.01)  # with the slide's rounded 1.5e23
    # with the usual training factor 3: 2.32e23, 110 years
    assert train_cost(d * d * 10, 10**6, 100, "h100").seconds / YEAR == pytest.approx(109.8, abs=0.1)


def test_l001_10pf_cpu_18h_gpu_14min():
    # L001 "2-D Convolution Layer Summary": c_i = c_o = 100, 5x5, 64x64 output: 1.024e9 per layer (MAC = 1 FLOP
    # on that slide); 10 layers, 1M examples, forward only: 10 PF; CPU 0.15 TF = 18 h, GPU 12 TF = 14 min
    s = summary("lecture:conv5x5_100_x10")
    assert s.macs == 10 * 100 * 100 * 25 * 64 * 64
    cpu = train_cost(s, images=10**6, epochs=1, device="lecture-cpu", train_factor=1, flops_per_mac=1)
    assert cpu.total_flops == pytest.approx(1.024e16)
    assert cpu.seconds / 3600 == pytest.approx(18.96, abs=0.01)  # the slide's 18 h is 1e16 / 0.15e12 = 18.5 h
    gpu = train_cost(s, images=10**6, epochs=1, tflops=12, train_factor=1, flops_per_mac=1)
    assert gpu.seconds / 60 == pytest.approx(14.22, abs=0.01)
    assert "forward only" in cpu.text() and "1 FLOPs/MAC" in cpu.text() and "18.96 h" in cpu.text()


def test_hardware_table_and_errors():
    assert HARDWARE["h100"].tflops == 67 and HARDWARE["a100"].tflops == 19.5 and HARDWARE["v100"].tflops == 15.7
    assert all(h.source for h in HARDWARE.values())
    assert duration(853.3) == "14.22 min" and duration(2 * YEAR) == "2 years"
    with pytest.raises(CnnlabError, match="unknown hardware"):
        train_cost(10, device="h200x")
    with pytest.raises(CnnlabError, match="utilisation"):
        train_cost(10, device="h100", utilisation=1.5)


def test_cli_train_cost_and_plots(capsys, tmp_path):
    assert (
        main(
            [
                "summary",
                "lecture:conv5x5_100_x10",
                "--train-cost",
                "--images",
                "1000000",
                "--epochs",
                "1",
                "--train-factor",
                "1",
                "--flops-per-mac",
                "1",
                "--tflops",
                "12",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "1.02e+16 FLOPs" in out and "14.22 min" in out and "assumptions:" in out
    assert main(["summary", "resnet18", "--train-cost", "--hardware", "a100-bf16", "--utilisation", "0.4"]) == 0
    out = capsys.readouterr().out
    assert "3 x forward" in out and "1,281,167 images x 90 epochs" in out and "40% utilisation" in out
    png = tmp_path / "alexnet.png"
    assert main(["summary", "lecture:alexnet", "--plot", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    chart = tmp_path / "canziani.png"
    assert main(["compare", "alexnet", "inception_v3", "lenet5", "--plot", str(chart)]) == 0
    assert chart.read_bytes()[:4] == b"\x89PNG"


def test_canziani_chart_axes_and_labels(tmp_path, monkeypatch):
    """x: multiply-adds, y: top-1, area ~ parameters; each label names the model's own input size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.axes

    from cnnlab.analysis.compare import compare

    seen = {}
    orig_scatter, orig_annotate = matplotlib.axes.Axes.scatter, matplotlib.axes.Axes.annotate
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "scatter",
        lambda self, x, y, s=None, **kw: (
            seen.setdefault("pts", []).append((x[0], y[0], s)) or orig_scatter(self, x, y, s=s, **kw)
        ),
    )
    monkeypatch.setattr(
        matplotlib.axes.Axes,
        "annotate",
        lambda self, text, *a, **kw: seen.setdefault("labels", []).append(text) or orig_annotate(self, text, *a, **kw),
    )
    c = compare(["alexnet", "inception_v3"])
    c.plot(tmp_path / "c.png")
    assert seen["labels"] == ["alexnet (224)", "inception_v3 (299)"]
    (x_a, y_a, s_a), (x_i, y_i, s_i) = seen["pts"]
    a, i = c.summaries
    assert (x_a, y_a) == (a.macs / 1e9, a.card["top1"]) and (x_i, y_i) == (i.macs / 1e9, i.card["top1"])
    assert s_a / s_i == pytest.approx(a.params.total / i.params.total)


def test_measured_peak_is_used(capsys, monkeypatch):
    from cnnlab.analysis import train_cost as tc

    assert tc.measure_mm_peak("fp32", n=128, repeats=1) > 0
    monkeypatch.setattr(tc, "measure_mm_peak", lambda dtype: 0.5)  # the CLI path, without timing this machine
    assert (
        main(
            [
                "summary",
                "lecture:conv5x5_100_x10",
                "--train-cost",
                "--measure",
                "bf16",
                "--images",
                "1000",
                "--epochs",
                "1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "torch.mm bf16 measured now: 0.5 TFLOPS" in out and "0.5 TFLOPS x 100% utilisation" in out
