"""The ``cnnlab summary`` options of lectures 000, 001 and 004: --train-cost (FLOPs and time of a
training run) and --plot (the per-layer bar charts). Kept apart from cli/summary.py, which adds them
with one call each."""

from __future__ import annotations

import argparse


def add_arguments(p) -> None:
    g = p.add_argument_group("training cost and per-layer chart (lectures 000, 001, 004)")
    g.add_argument(
        "--train-cost",
        action="store_true",
        help="total training FLOPs and time: forward MACs x FLOPs/MAC x train factor x images x "
        "epochs, on --hardware or --tflops at --utilisation (assumptions printed)",
    )
    g.add_argument("--images", type=float, default=1_281_167, help="training images per epoch (default ImageNet's)")
    g.add_argument("--epochs", type=float, default=90, help="epochs")
    g.add_argument(
        "--hardware",
        default=None,
        metavar="NAME",
        help="a device of the peak table: h100, a100, v100 (+ -bf16/-fp16 tensor cores), titan-rtx, "
        "lecture-cpu, lecture-gpu, this-cpu, this-cpu-bf16 (default this-cpu); --device already "
        "selects where the layers are counted",
    )
    g.add_argument("--tflops", type=float, default=None, help="peak TFLOPS of your device instead of --hardware")
    g.add_argument(
        "--measure",
        choices=("fp32", "bf16"),
        default=None,
        help="measure this machine's torch.mm peak now (a few seconds) and use it",
    )
    g.add_argument(
        "--utilisation",
        "--utilization",
        type=float,
        default=1.0,
        help="fraction of the peak reached (1 = peak, as lecture 000 assumes)",
    )
    g.add_argument(
        "--train-factor",
        type=float,
        default=3.0,
        help="training step / forward FLOPs: 3 (backward = 2 forwards, the usual), 2 (lecture 000), "
        "1 (forward only, lecture 001)",
    )
    g.add_argument(
        "--flops-per-mac",
        type=int,
        choices=(1, 2),
        default=2,
        help="2 (a multiply and an add); 1 is lecture 001's count",
    )
    g.add_argument(
        "--plot",
        metavar="PNG",
        default=None,
        help="draw lecture 004's per-layer bars (memory, parameters, MACs) to this PNG",
    )


def run_extras(args: argparse.Namespace, s) -> str:
    """Text to append to the summary (empty when no option of this block was given)."""
    parts = []
    if args.train_cost:
        from ..analysis.train_cost import measure_mm_peak, train_cost

        tflops, label = args.tflops, None
        if args.measure:
            tflops = measure_mm_peak(args.measure)
            label = f"this machine, torch.mm {args.measure} measured now: {tflops:.3g} TFLOPS"
        c = train_cost(
            s,
            images=int(args.images),
            epochs=args.epochs,
            device=label or args.hardware,
            tflops=tflops,
            utilisation=args.utilisation,
            train_factor=args.train_factor,
            flops_per_mac=args.flops_per_mac,
        )
        parts.append(c.text())
    if args.plot:
        from ..analysis.plots import plot_layers

        parts.append(f"per-layer chart: {plot_layers(s, args.plot)}")
    return "\n\n".join(parts)
