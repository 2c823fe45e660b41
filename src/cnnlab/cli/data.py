"""``cnnlab data [NAME[:PATH]]``: list the data sets, or load one and print its class counts."""

from __future__ import annotations

from .common import Formatter


def register(sub) -> None:
    p = sub.add_parser("data", help="list data sets, or load one and show its splits", formatter_class=Formatter,
                       description="Without an argument: the data set names and what each PATH must hold.\n"
                                   "With NAME[:PATH]: load it and print sizes and per-class counts.\n\n"
                                   "examples: cnnlab data\n          cnnlab data mnist:~/data/mnist")
    p.add_argument("spec", nargs="?", metavar="NAME[:PATH]", help="data set to load and describe")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..data import SOURCES, load_data

    if args.spec:
        print(load_data(args.spec).describe())
        return 0
    width = max(len(n) for n in SOURCES)
    for name, src in SOURCES.items():
        usage = name + (":PATH" if src.needs_path else "")
        print(f"{usage:<{width + 5}}  {src.expects}")
    return 0
