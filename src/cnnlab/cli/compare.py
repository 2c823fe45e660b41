"""``cnnlab compare A B C ...``: networks side by side, ratio columns, stage subtotals, bubble chart."""

from __future__ import annotations

from .common import Formatter

EPILOG = """examples:
  cnnlab compare resnet18 resnet34 resnet50                 totals with ratios against the first
  cnnlab compare lecture:googlenet_stem lecture:vgg16 --stages   lecture 004: GoogLeNet stem vs VGG-16 to 28x28
  cnnlab compare googlenet vgg16 --stages                   the same with the zoo's (batch-norm) networks
  cnnlab compare alexnet vgg16 googlenet resnet50 --plot chart.png
  cnnlab compare 'resnet*' --input 3x160x160                wildcards expand to registered names
  cnnlab compare alexnet --input 224 227                    one network at two input sizes"""


def register(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="models side by side: params, multiply-adds, memory, ratios, chart",
        formatter_class=Formatter,
        epilog=EPILOG,
        description="Count several networks at one input size (meta device, nothing computed) "
        "and print them side by side with ratio columns against the first; --stages "
        "adds per-resolution subtotals and cumulative costs; --plot draws multiply-adds "
        "against parameters with the cards' reported top-1 accuracy.",
    )
    p.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help="registered model names, wildcards, lecture networks (lecture:NAME, see "
        "`cnnlab summary --help`), or run folders / cnnlab .safetensors files",
    )
    p.add_argument(
        "--input",
        metavar="CxHxW",
        nargs="+",
        default=None,
        help="input size for all (default: each card's); several sizes: one per model, or one "
        "model at each size (e.g. alexnet --input 224 227)",
    )
    p.add_argument("--batch", type=int, default=1, help="batch size")
    p.add_argument("--mode", choices=("eval", "train"), default="eval", help="module mode during the count")
    p.add_argument(
        "--stages",
        action="store_true",
        help="group layers into stages by input resolution, with subtotals and cumulative totals",
    )
    p.add_argument("--plot", metavar="PNG", default=None, help="write the bubble chart to this PNG file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from ..analysis.compare import compare
    from ..analysis.lectures import is_lecture_name, lecture_net
    from ..errors import CnnlabError
    from ..models import get_entry, list_models
    from .common import model_or_run

    names: list = []
    run_sizes: list = []
    for pat in args.models:
        target, size = model_or_run(pat)
        if size is not None:
            names.append(target)
            run_sizes.append((len(names) - 1, size))
        elif set(pat) & set("*?["):
            found = list_models(pat)
            if not found:
                raise CnnlabError(f"no model matches {pat!r}", "run `cnnlab models` for the full list")
            names += [n for n in found if n not in names]
        elif is_lecture_name(pat):
            lecture_net(pat)  # unknown names raise with the closest ones
            names.append(pat)
        else:
            get_entry(pat)
            names.append(pat)
    one = args.input[0] if args.input and len(args.input) == 1 else None
    many = args.input if args.input and len(args.input) > 1 else None
    if run_sizes and not args.input:  # run folders at their own input size, the others at their card's
        from ..models import model_card

        many = [None] * len(names)
        for i, size in run_sizes:
            many[i] = "x".join(map(str, size))
        for i, n in enumerate(names):
            if many[i] is None:
                card = model_card(n) if isinstance(n, str) and not is_lecture_name(n) else None
                many[i] = "x".join(map(str, card.input_size)) if card and card.input_size else "3x224x224"
    c = compare(
        names,
        input_size=one,
        input_sizes=many,
        batch=args.batch,
        stages=args.stages,
        mode=args.mode,
        progress=len(names) > 2,
    )
    print(json.dumps(c.to_dict(), indent=2) if args.json else str(c))
    if args.plot:
        from .common import PLOT_SUFFIXES, check_output_path

        check_output_path(args.plot, "--plot", PLOT_SUFFIXES)
        print(f"chart: {c.plot(args.plot)}")
    return 0
