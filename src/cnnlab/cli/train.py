"""``cnnlab train MODEL --data NAME[:PATH] ...``: every TrainConfig field is an option."""

from __future__ import annotations

import argparse
import dataclasses

from .common import Formatter, parse_assignments

HELP = {
    "data": "data set NAME or NAME:PATH (see `cnnlab data`)",
    "epochs": "passes over the training split",
    "batch_size": "images per step",
    "optimizer": "sgd or adamw",
    "lr": "peak learning rate",
    "momentum": "SGD momentum",
    "nesterov": "Nesterov momentum (SGD)",
    "weight_decay": "L2 weight decay on conv/linear weights (never on norms and biases)",
    "schedule": "learning-rate schedule per step: constant, cosine, onecycle or step (/10 at 1/3 and 2/3)",
    "warmup_epochs": "linear warm-up length in epochs (may be fractional)",
    "label_smoothing": "label smoothing of the cross-entropy loss",
    "seed": "random seed (weights and data order)",
    "device": "auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps",
    "threads": "intra-op CPU threads; 0 = the cores this process may use",
    "precision": "auto (bf16 where the hardware is fast at it), fp32 or bf16 autocast",
    "channels_last": "channels-last memory layout (faster convolutions on CPUs with oneDNN)",
    "out": "run folder (default runs/MODEL-DATA-TIME)",
    "overwrite": "replace an existing run folder",
    "progress": "show progress bars",
}
SKIP = {"model", "model_args"}


def register(sub) -> None:
    from ..train.config import TrainConfig

    p = sub.add_parser("train", help="train a model and write a run folder", formatter_class=Formatter,
                       description="Train MODEL on a data set. Writes RUN_DIR with config.json, metrics.jsonl, "
                                   "model.safetensors and curves.png, and prints the held-out accuracy.\n\n"
                                   "example: cnnlab train lenet5 --data mnist-sample --epochs 12")
    p.add_argument("model", help="registered model name (see `cnnlab models`)")
    p.add_argument("--model-arg", "-m", action="append", metavar="KEY=VALUE", dest="model_arg",
                   help="option for the model builder, repeatable (e.g. -m activation=relu -m pool=max)")
    for f in dataclasses.fields(TrainConfig):
        if f.name in SKIP:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        if isinstance(default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=HELP[f.name])
        else:
            typ = type(default) if default is not None else str
            p.add_argument(flag, type=typ, default=default, help=HELP[f.name])
    p.set_defaults(func=run)


def run(args) -> int:
    from ..train import TrainConfig, train

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if f.name not in SKIP}
    cfg = TrainConfig(model=args.model, model_args=parse_assignments(args.model_arg, "--model-arg"), **values)
    result = train(cfg)
    final = result.final
    print(f"held-out accuracy: {final['val_top1']:.2f}% top-1, {final['val_top5']:.2f}% top-5 "
          f"after {final['epoch']} epochs ({sum(m['seconds'] for m in result.metrics):.1f} s of training)")
    print(f"run folder: {result.run_dir}")
    return 0
