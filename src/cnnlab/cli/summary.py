"""``cnnlab summary MODEL``: the lectures' per-layer table (shapes, parameters, multiply-adds, memory,
receptive field) of a registered network, counted on the meta device."""

from __future__ import annotations

from .common import Formatter

EPILOG = """examples:
  cnnlab summary resnet18                         the table at the card's input size (3x224x224)
  cnnlab summary alexnet --input 3x227x227 --preset lecture
  cnnlab summary efficientnet_b7 --input 600 --batch 256 --depth 2
  cnnlab summary vgg16 --format csv > vgg16.csv
  cnnlab summary resnet50 --time                  add a measured latency (a real forward on cpu)
  cnnlab summary resnet50 --backward --mode train --batch 32   the cost and memory of a training step

the lectures' tables (lecture 004), with the printed errors pointed out:
{lectures}

convention: MACs = multiply-adds of conv/linear/matmul without bias (torchvision's "GFLOPS", the
lectures' "FLOPs"); FLOPs = 2 x MACs + bias adds + 2 x norm + activation + pooling + element-wise
ops; memory KB = elements x bytes / 1024. Operators without a formula are listed, never counted as
zero silently (--strict makes them an error)."""


def _lecture_lines() -> str:
    from ..analysis.lectures import NETS, PREFIX

    return "\n".join(f"  cnnlab summary {PREFIX}{n:<17} --preset lecture   {net.what}" for n, net in NETS.items())


def register(sub) -> None:
    p = sub.add_parser(
        "summary",
        help="per-layer table: shapes, params, multiply-adds, memory, receptive field",
        formatter_class=Formatter,
        epilog=EPILOG.format(lectures=_lecture_lines()),
        description="Count a network layer by layer without computing anything (meta device): "
        "input/output C x H x W, filters, kernel, stride, padding, dilation, groups, "
        "parameters, multiply-adds and the other operation counters, activation "
        "memory, receptive field with its jump; totals (parameters trainable/frozen/"
        "buffers/unused, MACs, FLOPs, lecture memory sum, peak live memory, training "
        "bytes), and the warnings a teacher would give.",
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="a registered model name (see `cnnlab models`), a lecture network (lecture:NAME), or a run "
        "folder / cnnlab .safetensors file (its network at its input size)",
    )
    p.add_argument(
        "--input", metavar="CxHxW", default=None, help="input size, e.g. 3x224x224 or 224 (default: the model card's)"
    )
    p.add_argument("--batch", type=int, default=1, help="batch size (counts and memory scale with it)")
    p.add_argument(
        "--depth",
        type=int,
        default=None,
        help="show modules at this nesting depth, summed (default: every leaf module)",
    )
    p.add_argument("--format", choices=("table", "md", "csv", "json"), default="table", help="output format")
    p.add_argument(
        "--preset",
        choices=("full", "lecture", "torchvision"),
        default="full",
        help="full: every layer and counter; lecture: the lecture table's rows (conv, pool, fc) and "
        "columns; torchvision: also print the figures as torchvision's model table does",
    )
    p.add_argument(
        "--mode",
        choices=("eval", "train"),
        default="eval",
        help="module mode during the count (train runs auxiliary heads and batch statistics)",
    )
    p.add_argument(
        "--backward",
        action="store_true",
        help="also count the backward pass (gradients of every trainable parameter, from the real "
        "autograd graph, on the meta device) and the activations saved for it: the cost of a "
        "training step; use with --mode train for training-mode norms",
    )
    p.add_argument(
        "--device",
        default="meta",
        help="meta: shape only, nothing computed; cpu: a real forward pass (to check the counts)",
    )
    p.add_argument(
        "--dtype",
        choices=("float32", "bfloat16", "float16", "float64", "int8"),
        default=None,
        help="parameter and input dtype (memory and bytes follow it; default: the model's); int8: the "
        "microcontroller budget (flash of int8 weights, peak SRAM at batch 1; options below)",
    )
    p.add_argument("--strict", action="store_true", help="fail if an operator has no counting formula")
    p.add_argument(
        "--time",
        action="store_true",
        help="also measure latency with a real forward pass on cpu (warm-up, repeats, median, "
        "per layer, achieved GFLOP/s), printed apart from the counts",
    )
    p.add_argument("--repeats", type=int, default=10, help="timed passes for --time")
    p.add_argument("--out", metavar="FILE", default=None, help="also write the output to FILE")
    _mcu_options(p)
    from .summary_cost import add_arguments  # --train-cost ... --plot (lectures 000, 001, 004)

    add_arguments(p)
    p.set_defaults(func=run)


def _mcu_options(p) -> None:
    """The microcontroller budget (with --dtype int8; cnnlab.analysis.mcu)."""
    g = p.add_argument_group("microcontroller budget (--dtype int8)")
    g.add_argument("--fold-bn", action="store_true", help="fold each batch norm into the convolution before it")
    g.add_argument(
        "--inplace-depthwise",
        action="store_true",
        help="depthwise convolutions overwrite their input (TinyEngine / MCUNetV2)",
    )
    g.add_argument(
        "--patches",
        type=int,
        default=None,
        metavar="P",
        help="MCUNetV2 patch-based inference: the first stage runs on P x P spatial patches",
    )
    g.add_argument(
        "--patch-until",
        metavar="LAYER",
        default=None,
        help="last module of the patch stage (default: the end of the last stage at stride <= 8)",
    )
    g.add_argument(
        "--budget",
        metavar="sram=320KB,flash=1MB",
        default=None,
        help="say whether the int8 model fits this SRAM / flash (KB = 1024 bytes)",
    )


def _run_mcu(args) -> int:
    import json

    from ..analysis.mcu import mcu_budget

    b = mcu_budget(
        args.model,
        input_size=args.input,
        fold_bn=args.fold_bn,
        inplace_depthwise=args.inplace_depthwise,
        patches=args.patches,
        patch_until=args.patch_until,
        budget=args.budget,
    )
    text = json.dumps(b.to_dict(), indent=2) if args.format == "json" else b.text()
    print(text)
    if args.out:
        from pathlib import Path

        Path(args.out).write_text(text + "\n")
    return 0 if b.fits() else 1


def run(args) -> int:
    import torch

    if args.dtype == "int8":
        return _run_mcu(args)
    from ..analysis import render, summary
    from .common import check_output_path

    if args.out:
        check_output_path(args.out, "--out")
    from .common import model_or_run

    target, run_size = model_or_run(args.model)
    s = summary(
        target,
        input_size=args.input or run_size,
        batch=args.batch,
        depth=args.depth,
        strict=args.strict,
        preset=args.preset,
        mode=args.mode,
        backward=args.backward,
        device=args.device,
        dtype=getattr(torch, args.dtype) if args.dtype else None,
    )
    text = render(s, args.format)
    if args.time:
        from ..analysis.lectures import is_lecture_name, lecture_net
        from ..analysis.timing import measure
        from ..models import create_model

        model = (
            target
            if not isinstance(target, str)
            else lecture_net(args.model).build()
            if is_lecture_name(args.model)
            else create_model(args.model)
        )
        t = measure(model, s.input_size, batch=args.batch, repeats=args.repeats, flops=s.flops, progress=True)
        if args.format == "json":
            import json

            d = s.to_dict()
            d["timing"] = t.to_dict()
            text = json.dumps(d, indent=2)
        elif args.format != "csv":
            text += "\n\n" + t.text()
    from .summary_cost import run_extras  # --train-cost, --plot

    extra = run_extras(args, s)
    text = text + "\n\n" + extra if extra and args.format != "json" else text
    print(text)
    if args.out:
        from pathlib import Path

        from ..runs import write_errors

        with write_errors(Path(args.out)):
            Path(args.out).write_text(text + "\n")
    return 0
