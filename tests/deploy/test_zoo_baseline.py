"""benchmarks/zoo_baseline.py: the CPU is named from /proc/cpuinfo, the table carries every
configuration with its same-run ratio, and (slow) the script runs end to end on LeNet-5."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_script():
    spec = importlib.util.spec_from_file_location("zoo_baseline", ROOT / "benchmarks" / "zoo_baseline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_name_flags_and_slug():
    zb = load_script()
    assert zb.cpu_slug("Intel(R) Xeon(R) Processor") == "intel-xeon-processor"
    assert zb.cpu_slug("AMD EPYC 9R14 96-Core Processor") == "amd-epyc-9r14-96-core-processor"
    assert zb.cpu_slug("???") == "cpu"
    info = zb.cpu_info()
    assert set(info["flags"]) == {"amx_bf16", "amx_tile", "avx512_bf16", "avx512f"}
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():  # the same answer as reading the file by hand
        text = cpuinfo.read_text()
        name = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name"))
        flags = next(line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags"))
        assert info["name"] == name
        assert info["flags"] == {f: f in flags for f in info["flags"]}


def test_markdown_lists_every_configuration_with_its_ratios():
    zb = load_script()
    run = {
        "b1_p50_ms": 10.0,
        "b1_p95_ms": 12.0,
        "b32_images_per_s": 100.0,
        "b1_x_eager_fp32": 1.0,
        "b32_x_eager_fp32": 1.0,
        "rel_diff": 0.0,
        "top1_agreement": 1.0,
        "setup_s": 0.1,
    }
    fast = {
        **run,
        "b1_p50_ms": 4.0,
        "b32_images_per_s": 250.0,
        "b1_x_eager_fp32": 2.5,
        "b32_x_eager_fp32": 2.5,
        "rel_diff": 4e-3,
    }
    row = {
        "model": "resnet18",
        "input_size": [3, 224, 224],
        "runs": {
            "eager fp32": run,
            "eager bf16": fast,
            "compile fp32": {"skipped": "no compiler"},
            "compile bf16": fast,
        },
    }
    text = zb.markdown([row], "HEADER", 32)
    lines = text.splitlines()
    assert "HEADER" in lines
    assert "| resnet18 3x224x224 | b1 p50 ms |" in text
    assert "| eager fp32 | 10.00 | 12.00 | 100.0 | 1.00x / 1.00x | 0.0e+00 | 0.1 |" in lines
    assert "| eager bf16 (autocast, channels-last) | 4.00 | 12.00 | 250.0 | 2.50x / 2.50x | 4.0e-03 | 0.1 |" in lines
    assert "| compiled fp32 | skipped: no compiler | | | | | |" in lines


@pytest.mark.slow
def test_the_script_runs_end_to_end_on_lenet(tmp_path):
    """Four configurations of LeNet-5 (compiling twice per precision), 1 round: seconds to a minute."""
    zb = load_script()
    out = tmp_path / "zoo.md"
    zb.main(["--quick", "--models", "lenet5", "--side", "28", "--threads", "1", "--output", str(out)])
    data = json.loads(out.with_suffix(".json").read_text())
    (row,) = data["rows"]
    assert row["model"] == "lenet5" and row["input_size"] == [1, 28, 28] and row["batch"] == 4
    assert set(row["runs"]) == {"eager fp32", "eager bf16", "compile fp32", "compile bf16"}
    ref = row["runs"]["eager fp32"]
    assert ref["b1_x_eager_fp32"] == pytest.approx(1.0) and ref["b4_x_eager_fp32"] == pytest.approx(1.0)
    for name, r in row["runs"].items():
        if "skipped" not in r:
            assert r["b1_p50_ms"] > 0 and r["b4_images_per_s"] > 0
            assert r["b1_x_eager_fp32"] == pytest.approx(ref["b1_p50_ms"] / r["b1_p50_ms"])
            assert r["rel_diff"] < (1e-4 if "fp32" in name else 5e-2)  # compiled fp32 = eager; bf16 close
    assert data["cpu"]["name"] in out.read_text()
