"""``cnnlab predict RUN_DIR PATH [PATH ...]``: files, folders and globs, in batches; table, CSV or JSON."""

from __future__ import annotations

import argparse
import csv
import json
import sys

from .common import Formatter, add_engine_options, runner_from_args


def register(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="classify image files, folders or globs with a trained run",
        formatter_class=Formatter,
        description="Top-k classes with probabilities for each image. PATH may be a file, a folder "
        "(every image file under it) or a glob pattern ('photos/*.jpg'). Any size or "
        "colour mode is converted to what the model was trained on; what was done to an "
        "image is printed as a note.\n\n"
        "examples: cnnlab predict runs/demo digit.png --top-k 3\n"
        "          cnnlab predict runs/nuts new_photos/ --csv > predictions.csv\n"
        "          cnnlab predict runs/nuts 'shelf/*.jpg' --json",
    )
    p.add_argument(
        "run", metavar="RUN_DIR", help="run folder written by `cnnlab train` (or a cnnlab .safetensors file)"
    )
    p.add_argument("images", metavar="PATH", nargs="+", help="image files, folders or glob patterns")
    p.add_argument("--top-k", "-k", type=int, default=3, help="how many classes to show per image")
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass")
    p.add_argument(
        "--bad-images",
        choices=("error", "skip"),
        default="error",
        help="stop at an unreadable file (naming it), or skip it and report it as skipped",
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")
    out.add_argument(
        "--csv",
        nargs="?",
        const="-",
        default=None,
        metavar="FILE",
        help="write CSV (file, class, probability, top-k, notes) to FILE, or to stdout without one",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="progress bar (drawn only on a terminal)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="segmentation runs: folder for the colour overlays, one PNG per image (default RUN_DIR/predictions)",
    )
    add_engine_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..tasks.detect.cli import is_detector_spec

    if is_detector_spec(args.run):  # a detector: boxes drawn into PNGs (cnnlab.tasks.detect)
        from ..tasks.detect.cli import predict_command

        return predict_command(args)
    from ..deploy.source import load_source
    from ..predict import predict
    from ..runs import resolve_model

    if resolve_model(args.run).meta.get("task") == "segment":  # colour overlays of the predicted classes
        from ..tasks.segment.commands import predict_command

        return predict_command(args)

    runner = (
        runner_from_args(args, load_source(args.run), batch=args.batch_size)
        if args.engine != "eager" or args.precision != "fp32"
        else None
    )
    results = predict(
        args.run,
        args.images,
        top_k=args.top_k,
        batch_size=args.batch_size,
        bad_images=args.bad_images,
        progress=args.progress,
        runner=runner,
    )
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
        return 0
    if args.csv is not None:
        write_csv(results, args.csv)
        return 0
    width = min(60, max(len(r.file) for r in results))
    for r in results:
        if r.error:
            print(f"{r.file:<{width}}  skipped: {r.error}")
            continue
        best = ", ".join(f"{c} {p:.1%}" for c, p in r.top)
        print(f"{r.file:<{width}}  {r.label}   ({best})")
        for note in r.notes:
            print(f"{'':<{width}}    note: {note}")
    skipped = sum(r.error is not None for r in results)
    if len(results) > 1:
        print(f"{len(results) - skipped:,} image(s) classified" + (f", {skipped} skipped" if skipped else ""))
    return 0


def write_csv(results, target: str) -> None:
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    k = max((len(r.top) for r in results), default=1)
    w.writerow(["file", "class", "probability"] + [f"top{i + 1}" for i in range(k)] + ["notes", "error"])
    for r in results:
        top = [f"{c}:{p:.4f}" for c, p in r.top] + [""] * (k - len(r.top))
        w.writerow(
            [r.file, r.label or "", f"{r.top[0][1]:.6f}" if r.top else "", *top, "; ".join(r.notes), r.error or ""]
        )
    if target == "-":
        sys.stdout.write(buf.getvalue())
    else:
        from pathlib import Path

        from ..runs import atomic_write_bytes

        atomic_write_bytes(Path(target), buf.getvalue().encode())
