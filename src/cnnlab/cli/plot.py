"""``cnnlab plot RUN... -o FILE``: overlay the training curves of runs (error or loss, train and/or held-out,
against epochs or wall time)."""

from __future__ import annotations

from .common import Formatter


def register(sub) -> None:
    p = sub.add_parser(
        "plot", help="overlay the curves of several runs in one PNG", description=__doc__, formatter_class=Formatter
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders (holding metrics.jsonl)")
    p.add_argument("--metric", default="error", choices=("error", "loss"), help="top-1 error (%%) or loss")
    p.add_argument(
        "--split",
        default="both",
        choices=("train", "val", "both"),
        help="training (running, per epoch), held-out, or both (solid / dashed)",
    )
    p.add_argument(
        "--x", default="epoch", choices=("epoch", "time"), help="epochs, or wall time (training + evaluation minutes)"
    )
    p.add_argument("--label", action="append", help="legend label per run, in order (default: folder names)")
    p.add_argument("--title", default="", help="figure title (default: what is plotted)")
    p.add_argument("-o", "--output", required=True, help="PNG file to write")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..viz.overlay import plot_runs

    path = plot_runs(args.runs, args.output, args.metric, args.split, args.x, args.label, args.title)
    print(f"wrote {path}")
    return 0
