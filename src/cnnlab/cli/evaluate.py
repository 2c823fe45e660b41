"""``cnnlab evaluate RUN_DIR|WEIGHTS --data SPEC [--split test|val|train|all]``: accuracy, per-class
precision/recall/F1, confusion matrix, calibration, the most confidently wrong images."""

from __future__ import annotations

import argparse

from .common import Formatter, add_engine_options, runner_from_args

EPILOG = """examples:
  cnnlab evaluate runs/lenet --data mnist:../shared/data/mnist             the official test split
  cnnlab evaluate runs/lenet --data mnist-sample --split val               the run's own validation split
  cnnlab evaluate runs/nuts --data imagefolder:factory/new --split all     a whole folder as one test set
  cnnlab evaluate runs/cifar --data cifar10:PATH --tta flip --json > eval.json
  cnnlab evaluate runs/cifar/best.safetensors --data cifar10:PATH --csv predictions.csv --out eval/

The test split is read only here and by a final test of training (--test); training selects on
the validation split."""


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a trained run on a data split: accuracy, per-class table, confusion, calibration, top losses",
        formatter_class=Formatter,
        epilog=EPILOG,
        description="Evaluate a run folder (or a cnnlab .safetensors file) on a split of a data set: "
        "top-1 / top-5 (top-5 with more than 5 classes), loss, per-class precision, "
        "recall, F1 and support with macro and weighted means, the confusion matrix, "
        "the expected calibration error (15 bins). Writes confusion.png, "
        "reliability.png and top-losses.png to --out (default RUN_DIR/eval-SPLIT).",
    )
    p.add_argument(
        "run",
        metavar="RUN_DIR|WEIGHTS",
        help="run folder written by `cnnlab train`, or a cnnlab .safetensors file (e.g. RUN_DIR/best.safetensors)",
    )
    p.add_argument("--data", required=True, metavar="NAME[:PATH]", help="data set (see `cnnlab data`)")
    p.add_argument(
        "--split",
        choices=("test", "val", "train", "all"),
        default="test",
        help="which split: test (the official one), val (the run's validation split: same carve-out and "
        "seed), train, or all (every image: a whole folder as one test set)",
    )
    p.add_argument(
        "--tta",
        choices=("none", "flip", "flip-translate"),
        default="none",
        help="test-time augmentation: average the logits over mirrored (and shifted) views",
    )
    p.add_argument("--batch-size", type=int, default=256, help="images per forward pass")
    p.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="auto: bf16 autocast where the run trained in bf16",
    )
    p.add_argument(
        "--val-split",
        type=float,
        default=None,
        metavar="F",
        help="validation carve-out for --split val/train (default: the run's own)",
    )
    p.add_argument(
        "--image-size",
        type=int,
        default=None,
        metavar="S",
        help="resize the data set (default: the model's input size for image folders)",
    )
    p.add_argument("--top-losses", type=int, default=16, metavar="N", help="images in top-losses.png")
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="folder for the pictures (default RUN_DIR/eval-SPLIT, or WEIGHTS' folder/eval-SPLIT)",
    )
    p.add_argument("--no-plots", action="store_true", help="do not draw the pictures")
    p.add_argument(
        "--csv",
        metavar="FILE",
        default=None,
        help="write one row per image: index, true class, predicted class, probability, loss",
    )
    p.add_argument("--json", action="store_true", help="print everything as one JSON object instead of text")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: the available cores)")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="progress bar (only drawn on a terminal)",
    )
    add_engine_options(p, precision=False)
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from ..evaluation import evaluate
    from ..runs import resolve_model

    ref = resolve_model(args.run)
    if ref.meta.get("task") == "segment":  # pixel accuracy, IoU per class, confusion.png, examples.png
        from ..tasks.segment.commands import evaluate_command

        return evaluate_command(args, ref)
    from ..tasks.detect.api import is_detection_run

    if is_detection_run(ref):  # a detector: the COCO table (cnnlab.tasks.detect)
        from ..tasks.detect.cli import evaluate_command

        return evaluate_command(args, ref)
    options = {k: v for k, v in (("val_split", args.val_split), ("image_size", args.image_size)) if v is not None}
    options["progress"] = args.progress
    runner = None
    if args.engine != "eager":
        from ..deploy.source import load_source

        runner = runner_from_args(args, load_source(args.run), batch=args.batch_size)
    result = evaluate(
        ref,
        args.data,
        args.split,
        tta=args.tta,
        batch_size=args.batch_size,
        precision=args.precision,
        data_options=options,
        progress=args.progress,
        threads=args.threads,
        runner=runner,
        engine=args.engine if runner is not None else "pytorch",
    )
    written = {}
    if not args.no_plots:
        out = Path(args.out) if args.out else (ref.run_dir or ref.weights.parent) / f"eval-{args.split}"
        written = result.save_plots(out, args.top_losses)
    if args.csv:
        written["csv"] = result.to_csv(args.csv)
    if args.json:
        import json

        d = result.to_dict()
        d["files"] = {k: str(v) for k, v in written.items()}
        print(json.dumps(d, indent=2))
        return 0
    print(result.text())
    for what, path in written.items():
        print(f"{what.replace('_', ' ')}: {path}")
    return 0
