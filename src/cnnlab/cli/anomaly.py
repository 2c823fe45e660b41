"""``cnnlab anomaly fit|score|evaluate``: defect detection trained on normal images only."""

from __future__ import annotations

import json

from .common import Formatter

DATA_HELP = "mvtec:PATH (one MVTec-AD-layout category folder) or defects-sample[:weave|grain] (built in)"


def register(sub) -> None:
    p = sub.add_parser(
        "anomaly",
        help="find defects: PaDiM / PatchCore on CNN features",
        formatter_class=Formatter,
        description="Anomaly (defect) detection fitted on normal images only, scored per image "
        "and per pixel.\n\nexamples:\n"
        "  cnnlab anomaly fit --data defects-sample --method padim --backbone resnet18 "
        "--out runs/weave\n"
        "  cnnlab anomaly evaluate runs/weave --data defects-sample --out runs/weave/eval\n"
        "  cnnlab anomaly score runs/weave photo.png --out overlays/",
    )
    s = p.add_subparsers(dest="anomaly_command", metavar="ACTION", required=True)

    f = s.add_parser("fit", help="fit a detector on train/good", formatter_class=Formatter)
    f.add_argument("--data", required=True, help=DATA_HELP)
    f.add_argument(
        "--method",
        choices=["padim", "patchcore"],
        default="padim",
        help="padim: a Gaussian per position; patchcore: a coreset memory bank of patch features",
    )
    f.add_argument("--backbone", default="resnet18", help="zoo model name (see `cnnlab models`) or a cnnlab RUN_DIR")
    f.add_argument("--weights", help="weight file for a named backbone (torchvision, timm or cnnlab)")
    f.add_argument("--out", required=True, help="folder for detector.safetensors and detector.json")
    f.add_argument("--image-size", type=int, help="working side in pixels (default 256; 128 for defects-sample)")
    f.add_argument(
        "--stages", nargs="+", help="feature_info stages by module name or index (default: padim 0 1 2, patchcore 1 2)"
    )
    f.add_argument("--val-fraction", type=float, default=0.1, help="part of train/good held out to set the threshold")
    f.add_argument("--quantile", type=float, default=0.99, help="threshold = this quantile of held-out normal scores")
    f.add_argument("--dims", type=int, default=100, help="PaDiM: random channel subset size")
    f.add_argument("--coreset", type=float, default=0.1, help="PatchCore: fraction of patches kept in the memory bank")
    f.add_argument(
        "--no-reweight",
        action="store_true",
        help="PatchCore: image score = max patch distance, without the paper's re-weighting",
    )
    f.add_argument("--batch-size", type=int, default=8, help="images per backbone forward")
    f.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds a random backbone initialisation, the held-out split, "
        "PaDiM's channel subset and the coreset's start and projection",
    )
    f.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    f.set_defaults(func=run_fit)

    c = s.add_parser("score", help="score image files (and write heat-map overlays)", formatter_class=Formatter)
    c.add_argument("detector", metavar="DIR", help="folder written by `cnnlab anomaly fit`")
    c.add_argument("images", metavar="IMAGE", nargs="+")
    c.add_argument("--out", help="folder for <name>_anomaly.png overlays (default: DIR/overlays)")
    c.add_argument("--json", action="store_true", help="print machine-readable JSON")
    c.set_defaults(func=run_score)

    e = s.add_parser(
        "evaluate", help="AUROC, PRO, per-defect table and heat-map grid on the test split", formatter_class=Formatter
    )
    e.add_argument("detector", metavar="DIR")
    e.add_argument("--data", required=True, help=DATA_HELP)
    e.add_argument("--out", help="folder for evaluation.json and heatmaps.png (default: DIR/evaluation)")
    e.add_argument("--json", action="store_true", help="print machine-readable JSON")
    e.set_defaults(func=run_evaluate)


def run_fit(args) -> int:
    from ..tasks.anomaly import fit

    det = fit(
        args.data,
        args.method,
        args.backbone,
        out=args.out,
        weights=args.weights,
        image_size=args.image_size,
        val_fraction=args.val_fraction,
        quantile=args.quantile,
        overwrite=args.overwrite,
        stages=args.stages,
        batch_size=args.batch_size,
        seed=args.seed,
        **(
            {"padim_dims": args.dims}
            if args.method == "padim"
            else {"coreset": args.coreset, "reweight": not args.no_reweight}
        ),
    )
    m = det.meta
    print(
        f"fitted {m['method']} on {m['backbone']['model']} (stages {', '.join(m['stage_names'])}) with "
        f"{m['train_images']} normal images at {m['image_size']} px; "
        f"image threshold {m['image_threshold']:.4g} from {len(m['val_scores'])} held-out normal images"
    )
    print(f"time {m['fit_seconds']} s, peak memory {m['fit_peak_rss_mib']:.0f} MiB; saved to {args.out}")
    return 0


def run_score(args) -> int:
    from pathlib import Path

    from ..tasks.anomaly import score

    results = score(args.detector, args.images, out=args.out or Path(args.detector) / "overlays")
    if args.json:
        print(json.dumps([r.__dict__ for r in results], indent=2))
        return 0
    for r in results:
        print(f"{r.file}: {'ANOMALOUS' if r.anomalous else 'normal'} (score {r.score:.4g})  -> {r.overlay}")
    return 0


def run_evaluate(args) -> int:
    from pathlib import Path

    from ..tasks.anomaly import evaluate, format_table

    res = evaluate(args.detector, args.data, out=args.out or Path(args.detector) / "evaluation")
    print(json.dumps(res, indent=2) if args.json else format_table(res) + f"\n  heat maps: {res['grid']}")
    return 0
