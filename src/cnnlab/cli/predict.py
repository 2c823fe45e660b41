"""``cnnlab predict RUN_DIR IMAGE [IMAGE ...]``."""

from __future__ import annotations

import json

from .common import Formatter


def register(sub) -> None:
    p = sub.add_parser("predict", help="classify image files with a trained run", formatter_class=Formatter,
                       description="Top-k classes with probabilities for each image file. Any size or colour "
                                   "mode is converted to what the model was trained on.\n\n"
                                   "example: cnnlab predict runs/demo digit.png --top-k 3")
    p.add_argument("run", metavar="RUN_DIR", help="run folder written by `cnnlab train` (or its model.safetensors)")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files (PNG, JPEG, ...)")
    p.add_argument("--top-k", "-k", type=int, default=3, help="how many classes to show per image")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..predict import predict

    results = predict(args.run, args.images, top_k=args.top_k)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
        return 0
    for r in results:
        best = ", ".join(f"{c} {p:.1%}" for c, p in r.top)
        print(f"{r.file}: {r.label}   ({best})")
        for note in r.notes:
            print(f"    note: {note}")
    return 0
