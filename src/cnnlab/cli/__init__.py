"""The command line: ``cnnlab COMMAND ...``. Thin: each command parses and calls the library.

One module per command in this package, each with ``register(subparsers)``; list it in
``COMMANDS`` to add it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ..errors import CnnlabError

COMMANDS = [
    "train",
    "recipes",
    "evaluate",
    "predict",
    "models",
    "data",
    "explain",
    "filter",
    "summary",
    "compare",
    "weights",
    "serve",
    "viz",
    "experiment",
    "plot",
    "features",
    "export",
    "quantize",
    "bench",
    "anomaly",
    "shard",
]

DESCRIPTION = """cnnlab: convolutional neural networks from the lecture slides to deployment.

Start with:
  cnnlab train lenet5 --data mnist-sample       train LeNet-5 on the built-in MNIST sample
  cnnlab evaluate RUN_DIR --data mnist:PATH     test accuracy, per-class table, confusion, calibration
  cnnlab predict RUN_DIR digit.png              classify image files with a trained run
  cnnlab models 'resnet*'                       list registered networks
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnlab", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"cnnlab {__version__}")
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        metavar="N",
        help="decode images of up to N pixels (width x height; default 64,000,000 or the "
        "CNNLAB_MAX_PIXELS environment variable): larger files are refused before decoding",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if args.max_pixels is not None:
            from ..images import set_max_pixels

            set_max_pixels(args.max_pixels)
        return int(args.func(args) or 0)
    except CnnlabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `cnnlab summary vgg16 | head`: the reader left, nothing to report
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:  # the file system refused a path the user gave (name too long, not a folder, ...)
        from ..errors import printable

        where = f"{printable(e.filename, 120)}: " if e.filename is not None else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
