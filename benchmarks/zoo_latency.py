"""Forward latency of the zoo's efficient networks: fewer multiply-adds is not always faster.

Depthwise and grouped convolutions do little arithmetic per byte moved, so on a CPU they run far
below the machine's multiply-add rate (pytorch/pytorch#13716); a MobileNet can be slower per
multiply-add than a ResNet by an order of magnitude. This script measures, for one network per
family at its default resolution (the card's input size):

- parameters and multiply-adds (PyTorch's FlopCounterMode on the meta device: convolutions, linear
  layers, attention products; FLOPs = 2 x MACs),
- forward (inference, ``torch.inference_mode``, eval mode) images/s and ms per batch in float32
  and in bfloat16 autocast, both channels-last, at batch 1 and batch 32,
- the effective GMAC/s (multiply-adds per second actually achieved),

and writes a markdown table (``docs/zoo-latency.md``) plus the raw numbers as JSON next to it.
Timings are only meaningful on a quiet machine:

    .venv/bin/python benchmarks/zoo_latency.py                                  # the real run
    .venv/bin/python benchmarks/zoo_latency.py --models mobilenet_v2 vit_ti_4_32 \\
        --batch-sizes 1 --side 64 --iters 1 --warmup 0 --output /tmp/zoo.md    # smoke test
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
# One network per family (plus the sizes that make the point), cheapest first within a family.
# Names that are not registered (another engineer's family not merged yet) are skipped.
DEFAULT_MODELS = [
    "mcunet", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "shufflenet_v1",
    "shufflenet_v2_x1_0", "efficientnet_b0", "efficientnet_v2_s", "vit_ti_16", "vit_b_16",
    # references: a plain ResNet (dense 3x3 convolutions) and the other issue-5 families
    "resnet18", "resnet50", "se_resnet50", "inception_v4", "nfnet_f0",
]


def count(model: torch.nn.Module, chans: int, side: int) -> tuple[int, int]:
    """(parameters, multiply-adds of one image) without computing anything."""
    params = sum(p.numel() for p in model.parameters())
    meta = copy.deepcopy(model).to("meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        meta.eval()(torch.empty(1, chans, side, side, device="meta"))
    return params, counter.get_total_flops() // 2


def time_forward(model: torch.nn.Module, x: torch.Tensor, bf16: bool, warmup: int, iters: int,
                 min_time: float) -> float:
    """Median seconds per forward (at least ``iters`` timed runs, and at least ``min_time`` seconds)."""
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    times: list[float] = []
    with torch.inference_mode(), autocast:
        for _ in range(warmup):
            model(x)
        start = time.perf_counter()
        while len(times) < iters or time.perf_counter() - start < min_time:
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
            if len(times) >= 1000:
                break
    return statistics.median(times)


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}; torch {torch.__version__}; {torch.get_num_threads()} threads"


def run(models: list[str], batch_sizes: list[int], precisions: list[str], side: int | None, warmup: int,
        iters: int, min_time: float) -> list[dict]:
    from tqdm import tqdm

    from cnnlab import create_model, list_models, model_card

    known = set(list_models())
    names = [n for n in models if n in known]
    rows = []
    jobs = [(n, p, b) for n in names for p in precisions for b in batch_sizes]
    bar = tqdm(total=len(jobs), desc="zoo latency", unit="run")
    for name in names:
        card = model_card(name)
        chans, h = card.input_size[0], side or card.input_size[-1]
        torch.manual_seed(0)
        model = create_model(name).eval().to(memory_format=torch.channels_last)
        params, macs = count(model, chans, h)
        row = dict(model=name, family=card.family, side=h, params=params, macs=macs, runs={})
        for precision in precisions:
            for batch in batch_sizes:
                bar.set_postfix_str(f"{name} {precision} b{batch}")
                x = torch.randn(batch, chans, h, h).contiguous(memory_format=torch.channels_last)
                sec = time_forward(model, x, precision == "bf16", warmup, iters, min_time)
                row["runs"][f"{precision}/b{batch}"] = dict(ms=1000 * sec, images_per_s=batch / sec,
                                                            gmacs_per_s=macs * batch / sec / 1e9)
                bar.update()
        rows.append(row)
    bar.close()
    return rows


def markdown(rows: list[dict], batch_sizes: list[int], precisions: list[str], header: str) -> str:
    cols = [f"{p}/b{b}" for p in precisions for b in batch_sizes]
    ref = f"fp32/b{max(batch_sizes)}" if "fp32" in precisions else cols[-1]
    lines = [
        "# Zoo forward latency",
        "",
        header,
        "",
        "Forward pass only (eval, `torch.inference_mode`, channels-last; bf16 = `torch.autocast('cpu', "
        "bfloat16)`), median over the timed runs. MACs = multiply-adds of one image at the given side "
        f"(FLOPs = 2 x MACs). GMAC/s = multiply-adds actually achieved in the {ref} run: the lower it is, "
        "the worse the network uses the CPU (depthwise/grouped convolutions, pytorch/pytorch#13716).",
        "",
        "| model | family | side | params | MMACs | " + " | ".join(f"{c} img/s" for c in cols)
        + " | GMAC/s |",
        "|" + "---|" * (6 + len(cols)),
    ]
    for r in rows:
        speeds = " | ".join(f"{r['runs'][c]['images_per_s']:.1f}" for c in cols)
        lines.append(f"| {r['model']} | {r['family']} | {r['side']} | {r['params'] / 1e6:.2f}M | "
                     f"{r['macs'] / 1e6:.1f} | {speeds} | {r['runs'][ref]['gmacs_per_s']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help="registered names (unregistered ones are "
                    "skipped); default: one network per family")
    ap.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 32])
    ap.add_argument("--precisions", nargs="+", choices=["fp32", "bf16"], default=["fp32", "bf16"])
    ap.add_argument("--side", type=int, default=None, help="input side for every model (default: each card's)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed forwards before timing")
    ap.add_argument("--iters", type=int, default=5, help="minimum timed forwards")
    ap.add_argument("--min-time", type=float, default=1.0, help="minimum seconds of timed forwards per setting")
    ap.add_argument("--threads", type=int, default=None, help="intra-op threads (default: available cores)")
    ap.add_argument("--output", type=Path, default=ROOT / "docs" / "zoo-latency.md")
    args = ap.parse_args(argv)

    from cnnlab.runtime import bf16_supported, configure

    configure(args.threads)
    note = "" if bf16_supported(torch.device("cpu")) else " (this CPU has no fast bf16: bf16 numbers are emulated)"
    header = (f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {machine()}{note}. "
              f"Command: `python benchmarks/zoo_latency.py` "
              f"(batch sizes {', '.join(map(str, args.batch_sizes))}).")
    rows = run(args.models, args.batch_sizes, args.precisions, args.side, args.warmup, args.iters, args.min_time)
    text = markdown(rows, args.batch_sizes, args.precisions, header)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    args.output.with_suffix(".json").write_text(json.dumps(dict(header=header, rows=rows), indent=1))
    print(text)
    print(f"wrote {args.output} and {args.output.with_suffix('.json')}")


if __name__ == "__main__":
    main()
