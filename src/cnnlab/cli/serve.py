"""``cnnlab serve [RUN_DIR ...]``: the interactive page on a local address."""

from __future__ import annotations

from .common import Formatter


def register(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="the interactive page: draw and predict, convolution, model explorer, runs",
        formatter_class=Formatter,
        description="Start a local web app and print its address (it opens nothing by itself).\n"
        "Views: draw a digit (or drop an image) and see the top-5, the network's input, "
        "every layer's feature maps and Grad-CAM; the convolution playground (the "
        "sliding window with its sum of products, as `cnnlab explain conv`); the model "
        "explorer (`cnnlab summary` / `compare` with charts); the training monitor "
        "(live curves from metrics.jsonl, evaluation pictures).\n\n"
        "The demo run (the LeNet-5 of `make demo`) is trained on first start if absent.\n"
        "Needs the serve extra: pip install 'cnnlab[serve]'.\n\n"
        "examples:\n"
        "  cnnlab serve                       runs/ and the demo run, on 127.0.0.1:8000\n"
        "  cnnlab serve runs/ ~/experiments --port 8080",
    )
    p.add_argument(
        "runs",
        metavar="RUN_DIR",
        nargs="*",
        help="run folders, or folders holding runs (default: runs/ when it exists)",
    )
    p.add_argument("--port", type=int, default=8000, help="TCP port")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind; anything but loopback exposes the page to the network (a warning is printed)",
    )
    p.add_argument(
        "--demo",
        default="runs/demo",
        metavar="DIR",
        help="folder of the demo run (trained with the lenet-mnist recipe when it holds no model)",
    )
    p.add_argument("--no-demo", dest="demo", action="store_const", const=None, help="no demo run")
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=8.0,
        metavar="MB",
        help="largest image upload accepted (images over 24 megapixels are refused too)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from ..errors import CnnlabError

    try:
        from ..serve import run as serve
    except ImportError as e:
        raise CnnlabError(
            f"cnnlab serve needs the web packages ({e.name} is missing)", "pip install 'cnnlab[serve]'"
        ) from None
    if not 1 <= args.port <= 65535:
        raise CnnlabError(f"--port {args.port} is not a TCP port", "use a number from 1 to 65535, e.g. 8000")
    if args.max_upload_mb <= 0:
        raise CnnlabError(f"--max-upload-mb {args.max_upload_mb} must be positive")
    runs = args.runs or (["runs"] if Path("runs").is_dir() else [])
    serve(runs, host=args.host, port=args.port, demo_dir=args.demo, max_upload_mb=args.max_upload_mb)
    return 0
