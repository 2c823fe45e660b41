"""The zoo's eager fp32 vs bf16 vs compiled latency on this CPU: the baseline the engines must beat.

For each network (default: ResNet-18, ResNet-50, MobileNetV2, EfficientNet-B0, ViT-S/16 at their
cards' 224x224; ``--models`` changes the set) this runs ``cnnlab bench``'s measurement
(:func:`cnnlab.deploy.bench.bench`) with the PyTorch engines only:

- eager fp32 (NCHW, the reference),
- eager bf16 (``torch.autocast('cpu', bfloat16)`` + channels-last),
- compiled fp32 and compiled bf16 (``torch.compile``, Inductor, one compile per input shape),

at batch 1 (latency p50 / p95 over all timed calls) and batch 32 (throughput, median of the
rounds). All four are timed in the same interleaved rounds of one process (A B C D A B C D ...), so
a neighbour's load hits them alike and the "x eager fp32" ratios hold even on a busy machine; the
absolute milliseconds hold only on a quiet one (check ``uptime``: a load average above ~0.5 on
2 cores spoils them). Random weights, batch-norm statistics calibrated first (no float32
denormals). The header names the CPU (``/proc/cpuinfo`` model name) and its bf16 hardware
(AMX-BF16, AVX512-BF16), so tables from different machines can sit side by side: the default
output file carries a slug of the CPU name.

    .venv/bin/python benchmarks/zoo_baseline.py                          # the real run (~15 min on 2 cores)
    .venv/bin/python benchmarks/zoo_baseline.py --models resnet18 mobilenet_v2 --rounds 3
    .venv/bin/python benchmarks/zoo_baseline.py --quick --models resnet18 --output /tmp/zoo.md   # smoke test

The per-family zoo table (fp32/bf16 images/s and GMAC/s of 16 networks) is ``zoo_latency.py``; the
other engines (ONNX Runtime, OpenVINO, int8) are ``inference_engines.py`` / ``cnnlab bench``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

DEFAULT_MODELS = ["resnet18", "resnet50", "mobilenet_v2", "efficientnet_b0", "vit_s_16"]
CONFIGS = [("eager", "fp32"), ("eager", "bf16"), ("compile", "fp32"), ("compile", "bf16")]
LABELS = {
    ("eager", "fp32"): "eager fp32",
    ("eager", "bf16"): "eager bf16 (autocast, channels-last)",
    ("compile", "fp32"): "compiled fp32",
    ("compile", "bf16"): "compiled bf16 (channels-last)",
}
# cpuinfo flags that decide the bf16 path: AMX tiles (oneDNN's AMX kernels), AVX512-BF16 (dot products)
BF16_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f")


def cpu_info() -> dict:
    """Model name and the bf16-relevant flags of this CPU (Linux ``/proc/cpuinfo``)."""
    name, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not name:
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    import platform

    return {"name": name or platform.processor() or platform.machine(), "flags": {f: f in flags for f in BF16_FLAGS}}


def cpu_slug(name: str) -> str:
    """``Intel(R) Xeon(R) Processor`` -> ``intel-xeon-processor`` (the default file name's tail)."""
    return re.sub(r"[^a-z0-9]+", "-", re.sub(r"\((r|tm)\)", "", name.lower())).strip("-") or "cpu"


def measure(name: str, batch: int, rounds: int, latency_calls: int, threads: int | None, side: int | None) -> dict:
    """One model: the four PyTorch configurations in the same interleaved rounds."""
    from cnnlab.deploy.bench import bench
    from cnnlab.deploy.source import load_source

    source = load_source(name, input_size=(side, side) if side else None)
    engines = ",".join(f"{e}:{p}" for e, p in CONFIGS)
    t = time.perf_counter()
    result = bench(source, batch=batch, engines=engines, rounds=rounds, latency_calls=latency_calls, threads=threads)
    rows = {(r.engine, r.precision): r for r in result.rows}
    base = rows[("eager", "fp32")]
    out = {
        "model": name,
        "input_size": list(result.input_size),
        "batch": batch,
        "threads": result.threads,
        "seconds": time.perf_counter() - t,
        "runs": {},
    }
    for key in CONFIGS:
        r = rows.get(key)
        if r is None or r.skipped:
            out["runs"][f"{key[0]} {key[1]}"] = {"skipped": r.skipped if r else "not run"}
            continue
        out["runs"][f"{key[0]} {key[1]}"] = {
            "b1_p50_ms": r.p50_ms,
            "b1_p95_ms": r.p95_ms,
            f"b{batch}_images_per_s": r.throughput,
            "b1_x_eager_fp32": base.p50_ms / r.p50_ms if base.p50_ms and r.p50_ms else None,
            f"b{batch}_x_eager_fp32": r.speedup,
            "rel_diff": r.rel_diff,
            "top1_agreement": r.top1_agreement,
            "setup_s": r.setup_s,
        }
    return out


def markdown(rows: list[dict], header: str, batch: int) -> str:
    lines = [
        "# The zoo's PyTorch baseline: eager fp32 vs bf16 vs compiled",
        "",
        header,
        "",
        f"Batch 1: median latency (p50 / p95 ms over all timed calls); batch {batch}: images/s (median of the "
        "rounds). `x` = the ratio to eager fp32 in the same interleaved rounds (batch-1 latency ratio / "
        f"batch-{batch} throughput ratio). Forward pass only, eval mode, random weights with calibrated "
        "batch-norm statistics. The deployment engines (`cnnlab bench`, docs/deployment.md) are measured "
        "against the eager fp32 column.",
        "",
    ]
    for r in rows:
        lines += [
            f"| {r['model']} {'x'.join(map(str, r['input_size']))} | b1 p50 ms | b1 p95 ms | "
            f"b{batch} img/s | x eager fp32 (b1 / b{batch}) | max\\|diff\\|/max\\|logit\\| | setup s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for key in CONFIGS:
            run = r["runs"][f"{key[0]} {key[1]}"]
            if "skipped" in run:
                lines.append(f"| {LABELS[key]} | skipped: {run['skipped']} | | | | | |")
                continue
            x1, xb = run["b1_x_eager_fp32"], run[f"b{batch}_x_eager_fp32"]
            lines.append(
                f"| {LABELS[key]} | {run['b1_p50_ms']:.2f} | {run['b1_p95_ms']:.2f} | "
                f"{run[f'b{batch}_images_per_s']:,.1f} | {x1:.2f}x / {xb:.2f}x | {run['rel_diff']:.1e} | "
                f"{run['setup_s']:.1f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--models",
        nargs="+",
        default=DEFAULT_MODELS,
        help=f"registered model names (default: {' '.join(DEFAULT_MODELS)})",
    )
    ap.add_argument("--batch", type=int, default=32, help="the throughput batch (batch 1 is always timed)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    ap.add_argument("--latency-calls", type=int, default=10, help="batch-1 calls per configuration and round")
    ap.add_argument("--threads", type=int, default=None, help="intra-op threads (default: available cores)")
    ap.add_argument("--side", type=int, default=None, help="input side for every model (default: each card's)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 round, 2 latency calls, batch 4, side 64")
    ap.add_argument(
        "--output",
        type=Path,
        default=None,
        help="markdown file (default: docs/zoo-baseline-CPU.md); the JSON goes next to it",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.latency_calls, args.batch = 1, 2, min(args.batch, 4)
        args.side = args.side or 64

    from tqdm import tqdm

    from cnnlab import list_models

    unknown = [m for m in args.models if m not in set(list_models())]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)} (see `cnnlab models`)")
    cpu = cpu_info()
    output = args.output or ROOT / "docs" / f"zoo-baseline-{cpu_slug(cpu['name'])}.md"
    started = datetime.now(UTC)
    load = _load_average()
    rows = []
    for name in tqdm(args.models, desc="zoo baseline", unit="model"):
        rows.append(measure(name, args.batch, args.rounds, args.latency_calls, args.threads, args.side))
    import torch

    flags = ", ".join(f"{f} {'yes' if v else 'no'}" for f, v in cpu["flags"].items())
    threads = rows[0]["threads"] if rows else 0
    busy = _busy(load, threads)
    header = (
        f"Measured {started:%Y-%m-%d %H:%M} UTC on **{cpu['name']}** ({flags}); torch {torch.__version__}, "
        f"{threads} thread{'s' if threads != 1 else ''}; load average at the start {load}"
        f"{' (a busy machine: only the ratios mean something, not the milliseconds)' if busy else ''}. "
        f"{args.rounds} interleaved rounds, {args.latency_calls} batch-1 calls each. "
        f"Command: `python benchmarks/zoo_baseline.py{' ' + ' '.join(argv) if argv else ''}`."
    )
    text = markdown(rows, header, args.batch)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    output.with_suffix(".json").write_text(
        json.dumps({"header": header, "cpu": cpu, "load_average": load, "rows": rows}, indent=1)
    )
    print(text)
    print(f"wrote {output} and {output.with_suffix('.json')}")


def _busy(load: str, threads: int) -> bool:
    """Whether the 1-minute load average says other processes compete for this run's cores."""
    import os

    try:
        return float(load.split()[0]) > 0.5 + max(0, (os.cpu_count() or 1) - max(threads, 1))
    except (ValueError, IndexError):
        return False


def _load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


if __name__ == "__main__":
    main(sys.argv[1:])
