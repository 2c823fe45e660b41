"""What ``cnnlab evaluate`` and ``cnnlab predict`` do for a segmentation run (they dispatch here on the
weights' ``task`` metadata; the options are theirs)."""

from __future__ import annotations

import json
from pathlib import Path


def evaluate_command(args, ref) -> int:
    from .evaluate import evaluate_segmentation

    options = {k: v for k, v in (("val_split", args.val_split), ("image_size", args.image_size)) if v is not None}
    options["progress"] = args.progress
    result = evaluate_segmentation(
        ref,
        args.data,
        args.split,
        batch_size=min(args.batch_size, 64),
        data_options=options,
        progress=args.progress,
        threads=args.threads,
    )
    written = {}
    if not args.no_plots:
        out = Path(args.out) if args.out else (ref.run_dir or ref.weights.parent) / f"eval-{args.split}"
        written = result.save_plots(out)
    if args.json:
        d = result.to_dict()
        d["files"] = {k: str(v) for k, v in written.items()}
        print(json.dumps(d, indent=2))
        return 0
    print(result.text())
    for what, path in written.items():
        print(f"{what}: {path}")
    return 0


def predict_command(args) -> int:
    from ...errors import CnnlabError
    from .predict import predict_segmentation

    if getattr(args, "engine", "eager") != "eager" or getattr(args, "precision", "fp32") != "fp32":
        raise CnnlabError(
            "a segmentation run predicts in eager fp32 PyTorch, at each image's own size",
            "drop --engine/--precision; for a fixed-size deployed copy, `cnnlab export RUN` and run the file",
        )

    results = predict_segmentation(
        args.run, args.images, out_dir=getattr(args, "out", None), bad_images=args.bad_images, progress=args.progress
    )
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
        return 0
    for r in results:
        if r.error:
            print(f"{r.file}  skipped: {r.error}")
            continue
        top = sorted(r.pixels.items(), key=lambda kv: -kv[1])[:4]
        print(f"{r.file}  -> {r.overlay}   ({', '.join(f'{c} {p:.1f}%' for c, p in top)} of the pixels)")
        for note in r.notes:
            print(f"    note: {note}")
    return 0
