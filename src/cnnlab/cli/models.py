"""``cnnlab models [PATTERN ...] [--details NAME]``."""

from __future__ import annotations

import json

from .common import Formatter


def register(sub) -> None:
    p = sub.add_parser(
        "models",
        help="list registered models, or show a model card",
        formatter_class=Formatter,
        description="List registered models with their parameter counts (counted on the meta "
        "device: nothing is computed).\n\n"
        "examples: cnnlab models 'resnet*' 'vgg1?'\n"
        "          cnnlab models --details lenet5",
    )
    p.add_argument("patterns", nargs="*", default=["*"], metavar="PATTERN", help="shell-style wildcards")
    p.add_argument("--details", metavar="NAME", help="print the model card of NAME")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def count_params(name: str) -> int:
    import torch

    from ..models import create_model

    with torch.device("meta"):
        model = create_model(name)
    return sum(p.numel() for p in model.parameters())


def run(args) -> int:
    from ..errors import CnnlabError
    from ..models import get_entry, list_models

    if args.details:
        card = get_entry(args.details).card
        d = {**card.to_dict(), "params_built": count_params(args.details)}
        if args.json:
            print(json.dumps(d, indent=2))
            return 0
        width = max(len(k) for k in d)
        for k, v in d.items():
            if v in (None, "", [], ()):
                continue
            if isinstance(v, list) and k == "departures":
                print(f"{k:<{width}}  " + ("\n" + " " * (width + 2)).join(f"- {x}" for x in v))
            elif isinstance(v, int) and not isinstance(v, bool) and k not in ("year",):
                print(f"{k:<{width}}  {v:,}")
            else:
                print(f"{k:<{width}}  {v}")
        return 0
    names = list_models(args.patterns)
    if not names and len(args.patterns) == 1 and not set(args.patterns[0]) & set("*?["):
        get_entry(args.patterns[0])  # raises with the closest names
    if not names:
        raise CnnlabError(f"no model matches {' '.join(args.patterns)}", "run `cnnlab models` for the full list")
    rows = [(n, count_params(n), get_entry(n).card) for n in names]
    if args.json:
        print(
            json.dumps(
                [{"name": n, "params": c, "family": card.family, "year": card.year} for n, c, card in rows], indent=2
            )
        )
        return 0
    width = max(len(n) for n in names)
    print(f"{'model':<{width}}  {'params':>13}  {'input':>11}  family (year)")
    for n, c, card in rows:
        size = "x".join(map(str, card.input_size))
        print(f"{n:<{width}}  {c:>13,}  {size:>11}  {card.family} ({card.year or '-'})")
    print(f"{len(rows)} model(s)")
    return 0
