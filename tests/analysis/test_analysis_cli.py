"""`cnnlab summary` and `cnnlab compare` end to end, compare/stages/plot from Python, measured latency."""

from __future__ import annotations

import json

import pytest
import torch.nn as nn

import cnnlab
from cnnlab.analysis.compare import stages_of
from cnnlab.analysis.lectures import googlenet_stem, vgg
from cnnlab.analysis.timing import measure
from cnnlab.cli import main

from helpers.analysis_nets import resnet


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_summary_command_table_and_formats(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "summary", "lenet5")
    assert code == 0
    assert "convention: MACs = multiply-adds" in out and "features.c1" in out and "416,520" in out
    code, out, _ = run_cli(capsys, "summary", "lenet5", "--format", "json", "--batch", "4")
    d = json.loads(out)
    assert d["batch"] == 4 and d["totals"]["macs"] == 4 * 416_520 and d["params"]["total"] == 61_706
    path = tmp_path / "lenet.csv"
    code, out, _ = run_cli(capsys, "summary", "lenet5", "--format", "csv", "--out", str(path))
    assert path.read_text().splitlines()[0].startswith("index,name,type")
    code, out, _ = run_cli(capsys, "summary", "lenet5", "--format", "md", "--preset", "lecture")
    assert "| layer | C | H/W |" in out
    code, out, _ = run_cli(
        capsys, "summary", "resnet18", "--input", "3x64x64", "--depth", "1", "--preset", "torchvision"
    )
    assert "layer4" in out and "torchvision   GFLOPS" in out


def test_summary_command_errors(capsys):
    code, _, err = run_cli(capsys, "summary", "resnet1")
    assert code == 2 and "did you mean" in err
    code, _, err = run_cli(capsys, "summary", "lenet5", "--input", "1xfoo")
    assert code == 2 and "input size" in err


def test_summary_time_is_separate_from_the_counts(capsys):
    code, out, _ = run_cli(capsys, "summary", "lenet5", "--time", "--repeats", "2")
    assert code == 0
    counts, _, timing = out.partition("measured latency")
    assert "416,520" in counts and "median" in timing and "GFLOP/s" in timing and "slowest layers" in timing


def test_compare_command_with_stages_and_plot(capsys, tmp_path):
    png = tmp_path / "chart.png"
    code, out, _ = run_cli(
        capsys, "compare", "resnet18", "resnet34", "--input", "3x64x64", "--stages", "--plot", str(png)
    )
    assert code == 0
    assert "ratios (x) against resnet18" in out and "side by side" in out and "64x64 -> 32x32" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = run_cli(capsys, "compare", "resnet1?", "--input", "3x32x32", "--json")
    assert [m["model"] for m in json.loads(out)["models"]] == ["resnet18"]


def test_help_is_complete(capsys):
    for cmd in ("summary", "compare"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        out = capsys.readouterr().out
        assert "examples:" in out and "--input" in out


def test_compare_ratios_and_stages_from_python():
    c = cnnlab.compare([vgg(16), googlenet_stem()], input_size=(3, 224, 224), stages=True)
    a, b = c.summaries
    assert c.names == ["Sequential#1", "Sequential#2"]
    text = str(c)
    assert f"{b.params.total / a.params.total:.2f}x" in text
    stages = stages_of(a)
    assert [st.resolution for st in stages] == [(224, 224), (112, 112), (56, 56), (28, 28), (14, 14), (7, 7), ()]
    assert stages[-1].cum_macs == a.macs and stages[-1].cum_params == a.params.total
    assert sum(st.memory_bytes for st in stages) == a.memory.lecture_bytes
    d = c.to_dict()
    assert d["models"][0]["macs"] == a.macs and len(d["stages"]["Sequential#1"]) == 7


def test_measure_latency():
    m = resnet((1, 1, 1, 1))
    t = measure(m, (3, 32, 32), batch=2, warmup=1, repeats=3, flops=10**6)
    assert t.median_s > 0 and t.min_s <= t.median_s and t.repeats == 3
    assert "conv1" in t.layers and set(t.layers) <= {n for n, mod in m.named_modules() if not list(mod.children())}
    assert t.gflops_per_s > 0 and m.training  # mode restored
    with pytest.raises(cnnlab.CnnlabError, match="meta"):
        measure(nn.Linear(2, 2, device="meta"), (2,))


def test_lecture_networks_by_name(capsys):
    """`lecture:NAME` builds the lecture's own layer list and prints its errata next to the table."""
    from cnnlab.analysis import summary
    from cnnlab.analysis.lectures import NETS

    expected = {
        "alexnet": 1_135_256_096,
        "alexnet_pad2": 1_139_124_224,
        "vgg16": 15_470_264_320,
        "googlenet_stem": 477_675_520,
        "inception3a": 128_049_152,
        "conv3x3_192_256": 346_816_512,
        "conv5x5_192_256": 963_379_200,
        "conv5x5_exercise": 352_800,
        "mlp1080p": (3 * 1080 * 1920) ** 2,
        "mlp1080p_x10": 10 * (3 * 1080 * 1920) ** 2,
        "conv5x5_100_x10": 10 * 100 * 100 * 25 * 64 * 64,
        "inception3a_naive": 28 * 28 * 192 * (64 + 9 * 128 + 25 * 32),
    }
    assert set(expected) == set(NETS)
    for name, macs in expected.items():
        s = summary(f"lecture:{name}")
        assert s.macs == macs, name
        assert s.model == f"lecture:{name}"
    notes = summary("lecture:googlenet_stem").notes
    assert any("418" in n and "481" in n for n in notes)
    code, out, _ = run_cli(capsys, "compare", "lecture:googlenet_stem", "lecture:vgg16", "--stages")
    line = [x for x in out.splitlines() if x.startswith("56x56 ")][-1]  # the side-by-side row
    assert line.split()[-3:] == ["6.87x", "13.95x", "19.54x"]
    code, out, _ = run_cli(capsys, "summary", "lecture:alexnet_pad2", "--preset", "lecture")
    assert "size floored" in out and "lecture erratum" in out and "1,176.0" in out
    code, _, err = run_cli(capsys, "summary", "lecture:alexnt")
    assert code == 2 and "lecture:alexnet" in err


def test_summary_device_and_dtype_options(capsys):
    code, out, _ = run_cli(capsys, "summary", "lenet5", "--device", "cpu", "--format", "json")
    d = json.loads(out)
    assert d["device"] == "cpu" and d["totals"]["macs"] == 416_520
    code, out, _ = run_cli(capsys, "summary", "lenet5", "--dtype", "bfloat16", "--format", "json")
    d = json.loads(out)
    assert d["dtype"] == "bfloat16" and d["params"]["bytes_by_dtype"] == {"bfloat16": 2 * 61_706}
    code, _, err = run_cli(capsys, "summary", "lenet5", "--device", "nonsense")
    assert code == 2 and "device" in err
    code, _, err = run_cli(capsys, "summary", "lenet5", "--device", "cpu", "--input", "3x28x28")
    assert code == 2 and "1-channel" in err  # the model's own input check, as a CnnlabError


def test_compare_one_network_at_two_sizes(capsys):
    """torchvision's AlexNet at 224 (0.714 G) and at the 227 the lecture uses (716.8 M)."""
    c = cnnlab.compare(["alexnet"], input_sizes=[224, 227])
    assert c.names == ["alexnet@224x224", "alexnet@227x227"]
    assert [s.macs for s in c.summaries] == [714_188_480, 716_767_232]
    code, out, _ = run_cli(capsys, "compare", "alexnet", "--input", "224", "227")
    assert code == 0 and "alexnet@227x227" in out
    code, _, err = run_cli(capsys, "compare", "alexnet", "vgg16", "--input", "224", "227", "228")
    assert code == 2 and "3 input sizes" in err
