"""``cnnlab train MODEL --data NAME[:PATH] ...``: every TrainConfig field is an option.

Settings come, later ones winning, from: the defaults, ``--recipe NAME|FILE.toml``, the options
given on the command line, then ``--set key=value``. ``--resume RUN_DIR`` continues a run from its
checkpoint with the run's own config.json. Under ``torchrun --nproc_per_node=N -m cnnlab train``
the same command trains with DistributedDataParallel.
"""

from __future__ import annotations

import argparse
import dataclasses

from .common import Formatter, parse_assignments, parse_value

SKIP = {"model", "model_args", "data_options"}


def _list_of_floats(text: str) -> list[float]:
    text = text.strip().strip("[]")
    return [float(v) for v in text.split(",") if v.strip()]


DESCRIPTION = (
    "Train MODEL on a data set. Writes RUN_DIR with config.json, metrics.jsonl, model.safetensors "
    "(last weights), best.safetensors (best validation epoch), curves.png and checkpoint/ (exact resume), and "
    "prints the validation accuracy.\n\n"
    "Splits: training reports on and selects with a validation split carved from the training "
    "images (--val-split; default 10%, 5,000 for CIFAR); the official test split is read only "
    "with --test (once, after training) or by `cnnlab evaluate`.\n\n"
    "Settings: defaults < --recipe < options < --set.\n\n"
    "examples:\n"
    "  cnnlab train lenet5 --data mnist-sample --epochs 15\n"
    "  cnnlab train --recipe fast-cifar --data cifar10:PATH\n"
    "  cnnlab train --recipe resnet-cifar --data cifar10:PATH --set model=resnet56\n"
    "  cnnlab train --resume runs/lenet5-mnist-sample-20261122-030000\n"
    "  torchrun --nproc_per_node=2 -m cnnlab train lenet5 --threads 1"
)


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model and write a run folder",
        formatter_class=Formatter,
        description=DESCRIPTION,
    )
    _add_source_arguments(p)
    from .data import add_data_arguments

    add_data_arguments(p, seed=False)
    _add_config_options(p)
    p.set_defaults(func=run)


def _add_source_arguments(p) -> None:
    """Where the settings come from: MODEL, --recipe, --set, --resume (+ --data-changed), --model-arg."""
    p.add_argument(
        "model",
        nargs="?",
        default=argparse.SUPPRESS,
        help="registered model name (see `cnnlab models`); optional with --recipe or --resume",
    )
    p.add_argument(
        "--recipe",
        "-r",
        metavar="NAME|FILE",
        default=None,
        help="start from a named recipe (see `cnnlab recipes`) or a recipe TOML file",
    )
    p.add_argument(
        "--set",
        "-s",
        action="append",
        metavar="KEY=VALUE",
        dest="set",
        default=None,
        help="override any setting, repeatable (e.g. --set epochs=5 --set model_args.depth=32)",
    )
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="continue RUN_DIR from its last checkpoint (exactly where it stopped)",
    )
    p.add_argument(
        "--data-changed",
        action="store_true",
        default=False,
        help="with --resume: continue even though the data differs from the data the run was trained on "
        "(refused otherwise: config.json records a fingerprint of it)",
    )
    p.add_argument(
        "--model-arg",
        "-m",
        action="append",
        metavar="KEY=VALUE",
        dest="model_arg",
        help="option for the model builder, repeatable (e.g. -m activation=relu -m pool=max)",
    )


def _add_config_options(p) -> None:
    """One option per TrainConfig field (but SKIP), typed from its default, with its help and default."""
    from ..train.config import TrainConfig

    for f in dataclasses.fields(TrainConfig):
        if f.name in SKIP:
            continue
        flag = "--" + f.name.replace("_", "-")
        flags = (flag, "--test") if f.name == "final_test" else (flag,)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        shown = f"{f.metadata['help']} (default: {default if default not in ('', None, []) else 'none'})"
        if isinstance(default, bool):
            p.add_argument(
                *flags, dest=f.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=shown
            )
        elif isinstance(default, list):
            p.add_argument(flag, type=_list_of_floats, default=argparse.SUPPRESS, metavar="A,B", help=shown)
        else:
            typ = type(default) if default is not None else str
            p.add_argument(flag, type=typ, default=argparse.SUPPRESS, help=shown)


def settings_from_args(args) -> dict:
    """The settings given on the command line (options, then --model-arg, then --set)."""
    from ..train import TrainConfig

    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(TrainConfig)
        if f.name not in SKIP and hasattr(args, f.name)
    }
    if hasattr(args, "model"):
        given["model"] = args.model
    for key, value in parse_assignments(args.model_arg, "--model-arg").items():
        given[f"model_args.{key}"] = value
    from ..data import DataOptions

    defaults = DataOptions()
    for f in dataclasses.fields(DataOptions):  # data options given on the command line
        if (
            hasattr(args, f.name)
            and f.name not in ("seed", "progress")
            and getattr(args, f.name) != getattr(defaults, f.name)
        ):
            given[f"data_options.{f.name}"] = getattr(args, f.name)
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise_bad_set(item)
        key = key.strip().replace("-", "_")
        value = value.strip()
        given[key] = _list_of_floats(value) if key == "milestones" else parse_value(value)
    return given


def raise_bad_set(item: str):
    from ..errors import CnnlabError

    raise CnnlabError(f"--set {item!r} is not KEY=VALUE", "write e.g. --set epochs=5 or --set model_args.depth=32")


def run(args) -> int:
    from ..errors import CnnlabError
    from ..train import train

    given = settings_from_args(args)
    if args.data_changed and not args.resume:
        raise CnnlabError("--data-changed only applies to --resume RUN_DIR")
    if args.resume:
        if args.recipe:
            raise CnnlabError("--resume continues a run with its own settings; it takes no --recipe")
        result = train(resume=args.resume, data_changed=args.data_changed, **given)
    elif args.recipe:
        result = train(recipe=args.recipe, **given)
    else:
        if "model" not in given:
            raise CnnlabError(
                "which model? give MODEL, --recipe NAME or --resume RUN_DIR",
                "e.g. cnnlab train lenet5 --data mnist-sample (see `cnnlab models`, `cnnlab recipes`)",
            )
        result = train(**given)
    from ..train.distributed import env_info

    if not env_info().is_main:  # under torchrun only rank 0 reports
        return 0
    final = result.final
    epochs = f"{final['epoch']} epoch{'s' if final['epoch'] != 1 else ''}"
    took = f"after {epochs} ({sum(m['seconds'] for m in result.metrics):.1f} s of training)"
    key = result.monitor  # the task's headline number: top-1 for classification
    for split in ("val", "test"):
        if final.get(f"{split}_{key}") is None:
            continue
        if key == "top1":
            top5 = f", {final[f'{split}_top5']:.2f}% top-5" if final.get(f"{split}_top5") is not None else ""
            print(f"{split} accuracy: {final[f'{split}_top1']:.2f}% top-1{top5} {took}")
        else:
            print(f"{split} {key}: {final[f'{split}_{key}']:.4f} {took}")
    if final.get(f"val_{key}") is None and final.get(f"test_{key}") is None:
        print(
            f"trained {epochs} without a validation split; `cnnlab evaluate {result.run_dir} --data "
            f"{result_data(result)}` reports the test split"
        )
    print(f"run folder: {result.run_dir}")
    return 0


def result_data(result) -> str:
    import json

    return json.loads((result.run_dir / "config.json").read_text()).get("data", "SPEC")
