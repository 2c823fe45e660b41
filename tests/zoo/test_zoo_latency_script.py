"""benchmarks/zoo_latency.py stays runnable: a tiny smoke run (timings are meaningless here)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "zoo_latency.py"


def test_zoo_latency_smoke(tmp_path):
    spec = importlib.util.spec_from_file_location("zoo_latency", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "zoo.md"
    threads = torch.get_num_threads()
    try:
        module.main(
            [
                "--models",
                "mcunet_10fps",
                "vit_ti_4_28",
                "not_a_model",
                "--batch-sizes",
                "1",
                "2",
                "--side",
                "32",
                "--iters",
                "1",
                "--warmup",
                "0",
                "--min-time",
                "0",
                "--threads",
                "1",
                "--output",
                str(out),
            ]
        )
    finally:
        torch.set_num_threads(threads)
    text = out.read_text()
    assert "| mcunet_10fps | MCUNet | 32 | 0.75M |" in text and "| vit_ti_4_28 |" in text
    assert "not_a_model" not in text
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["mcunet_10fps", "vit_ti_4_28"]
    run = rows[0]["runs"]["fp32/b2"]
    assert run["images_per_s"] > 0 and abs(run["gmacs_per_s"] - rows[0]["macs"] * run["images_per_s"] / 1e9) < 1e-6
    assert set(rows[1]["runs"]) == {"fp32/b1", "fp32/b2", "bf16/b1", "bf16/b2"}
