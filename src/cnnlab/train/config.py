"""The training configuration: one flat record, saved as ``config.json`` in every run folder.

Every field is also a ``cnnlab train --field-name`` option and a key of the recipe TOML files
(``cnnlab.train.recipes``), so the three faces (Python, CLI, recipe) cannot drift apart; its help
text lives once, in the field's metadata (``setting(default, help)``), and the CLI reads it there.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from ..errors import CnnlabError

OPTIMIZERS = ("sgd", "adamw", "muon")
SCHEDULES = ("constant", "step", "multistep", "cosine", "linear", "onecycle")
PRECISIONS = ("auto", "fp32", "bf16")
COMPILE = ("off", "on", "auto")
TTA = ("none", "flip", "flip-translate")


def setting(default: Any, help: str):
    """A TrainConfig field: its default and its one-line help (the field metadata ``help``, which
    ``cnnlab train --help`` shows). A list or dict default is copied for every instance."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    """Every setting of a training run. Each field's ``help`` (its metadata) is the one description
    of it: ``cnnlab train --help`` shows it, and it is what this class documents."""

    model: str = setting("lenet5", "registered model name (see `cnnlab models`)")
    data: str = setting("mnist-sample", "data set NAME or NAME:PATH (see `cnnlab data`)")
    model_args: dict[str, Any] = setting(
        {}, 'options for the model builder, e.g. {"activation": "relu"} (CLI: -m KEY=VALUE)'
    )
    data_options: dict[str, Any] = setting(
        {}, "how the data set is read (cnnlab.data.DataOptions), e.g. {\"val_split\": 0.1}"
    )
    task: str = setting(
        "auto",
        "what the network learns: auto (the data set's own task) or a task name "
        "(cnnlab.train.task.TASKS: classify, detect, ...); a task the data contradict is an error",
    )
    # -- how long (defaults: plain LeNet-5 on mnist-sample; the make-demo recipe lenet-mnist adds augmentation) --
    epochs: int = setting(15, "passes over the training split")
    steps: int = setting(
        0,
        "optimizer steps in all, instead of --epochs (0: epochs x steps per epoch; the ResNet paper counts iterations)",
    )
    batch_size: int = setting(64, "images per step and process (torchrun: the global batch is this x processes)")
    accumulate: int = setting(1, "sum the gradients of this many batches into one optimizer step")
    # -- optimizer --------------------------------------------------------------------------
    optimizer: str = setting("sgd", "sgd, adamw, or muon (Muon for the convolution filters, SGD for the rest)")
    lr: float = setting(0.05, "peak learning rate")
    momentum: float = setting(0.9, "SGD momentum (AdamW: beta1)")
    nesterov: bool = setting(True, "Nesterov momentum (SGD)")
    weight_decay: float = setting(5e-4, "L2 weight decay on conv/linear weights (norms and biases: see --decay-all)")
    norm_lr_scale: float = setting(
        1.0, "learning-rate multiplier for the parameters of normalisation layers (airbench: 64)"
    )
    bias_lr_scale: float = setting(1.0, "learning-rate multiplier for biases outside normalisation layers")
    muon_lr: float = setting(0.24, "muon: learning rate of the convolution filters (airbench94_muon: 0.24)")
    muon_momentum: float = setting(0.6, "muon: Nesterov momentum of the filters' updates")
    decay_all: bool = setting(
        False, "also decay norms and biases, by the same fraction per step as the weights (airbench)"
    )
    clip_grad: float = setting(0.0, "clip the global gradient norm to this value (0: off)")
    # -- learning-rate schedule (per optimizer step) ----------------------------------------
    schedule: str = setting(
        "onecycle", "learning-rate schedule per step: constant, step, multistep, cosine, linear or onecycle"
    )
    warmup_epochs: float = setting(0.0, "linear warm-up length in epochs (may be fractional)")
    gamma: float = setting(0.1, "step/multistep: factor at each decay")
    step_epochs: float = setting(0.0, "step: decay every this many epochs (0: /gamma at 1/3 and 2/3 of training)")
    milestones: list[float] = setting([], "multistep: decay points as fractions of training, e.g. 0.5,0.75")
    lr_start: float = setting(0.04, "onecycle: starting factor of the peak learning rate")
    lr_peak_at: float = setting(0.25, "onecycle: fraction of training where the peak is reached")
    lr_end: float = setting(0.001, "onecycle, linear: final factor of the peak learning rate")
    # -- loss, regularisation, averaging ----------------------------------------------------
    label_smoothing: float = setting(0.0, "label smoothing of the cross-entropy loss")
    augment: str = setting(
        "",
        "batched augmentation, e.g. crop=4,flip (crop, flip, rrc, affine, elastic, jitter, pca, cutout; "
        "cnnlab.data.transforms)",
    )
    alternating_flip: bool = setting(
        False,
        "mirror each image in every other epoch, a random half starting mirrored "
        "(airbench's derandomised flip; use instead of flip in --augment)",
    )
    mixup: float = setting(0.0, "mixup alpha (0: off)")
    cutmix: float = setting(0.0, "cutmix alpha (0: off)")
    ema: float = setting(0.0, "EMA decay of the weights per step (0: off); evaluation and saved weights use the EMA")
    ema_every: int = setting(1, "update the EMA every this many steps (decay ema^ema_every per update)")
    ema_ramp: float = setting(0.0, "EMA decay x (step/total)^this (0: constant; airbench: 3)")
    ema_start_epochs: float = setting(0.0, "first EMA update after this many epochs")
    lookahead: bool = setting(False, "copy the EMA back into the model at each update (lookahead, as airbench)")
    eval_every: int = setting(
        1, "evaluate on the validation split every N epochs (0: after the last only; the last always)"
    )
    tta: str = setting("none", "test-time augmentation of the final evaluation: none, flip or flip-translate (6 views)")
    final_test: bool = setting(
        False,
        "after the last epoch, evaluate once on the data set's official test split and "
        "report it as test (it chooses nothing; without it training never reads the "
        "test split)",
    )
    # -- transfer learning (cnnlab.train.transfer) ------------------------------------------
    init_weights: str = setting(
        "",
        "start from this weight file (torchvision .pth, timm, or a cnnlab "
        "model.safetensors); a classifier for another number of classes is replaced by a "
        "new one",
    )
    freeze: str = setting(
        "none",
        "none, backbone (train only the classifier: a linear probe), or module names "
        "(layer1,layer2); frozen modules keep their batch-norm statistics",
    )
    backbone_lr_scale: float = setting(1.0, "learning-rate multiplier outside the classifier (fine-tuning: e.g. 0.1)")
    normalize: str = setting(
        "auto",
        "input statistics: auto (the weight file's: ImageNet's for torchvision/timm "
        "files; else the training split's), data, imagenet or inception (0.5/0.5)",
    )
    # -- reproducibility and speed ----------------------------------------------------------
    seed: int = setting(0, "random seed (weights, data order, augmentation)")
    deterministic: bool = setting(False, "deterministic algorithms only (bitwise-repeatable runs)")
    device: str = setting("auto", "auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    threads: int = setting(0, "intra-op CPU threads; 0 = the cores this process may use")
    precision: str = setting("auto", "auto (bf16 where the hardware is fast at it), fp32 or bf16 autocast")
    channels_last: bool = setting(True, "channels-last memory layout (faster convolutions on CPUs with oneDNN)")
    compile: str = setting(
        "off", "torch.compile: off, on, or auto (only dense nets >= 300 MMAC/image, where it pays on CPU)"
    )
    sync_bn: bool = setting(
        False, "torchrun: batch-norm statistics over the global batch (GPU: nn.SyncBatchNorm; CPU: cnnlab's)"
    )
    # -- run folder -------------------------------------------------------------------------
    log: str = setting(
        "",
        "extra loggers beside metrics.jsonl, comma-separated: csv (metrics.csv), tensorboard "
        "(RUN_DIR/tensorboard; needs the tensorboard package)",
    )
    early_stop: str = setting(
        "",
        "stop when a validation metric stops improving: METRIC:patience=N[:min_delta=D]"
        "[:mode=min|max], e.g. val_top1:patience=5 (never a test_* metric: the test split "
        "chooses nothing)",
    )
    checkpoint_every: int = setting(0, "also write the resume checkpoint every this many steps (0: epoch ends only)")
    out: str | None = setting(None, "run folder (default runs/MODEL-DATA-TIME)")
    overwrite: bool = setting(False, "replace an existing run folder")
    progress: bool = setting(True, "show progress bars")

    def validate(self) -> TrainConfig:
        def bad(what: str, fix: str):
            raise CnnlabError(f"invalid training setting: {what}", fix)

        from .task import TASKS

        if self.task != "auto" and self.task not in TASKS:
            bad(f"task={self.task!r}", f"use auto (the data set decides) or one of {', '.join(TASKS)}")
        if self.epochs < 1:
            bad(f"epochs={self.epochs}", "use --epochs 1 or more")
        if self.steps < 0:
            bad(f"steps={self.steps}", "use --steps 0 (train for --epochs) or a positive step count")
        if self.batch_size < 1:
            bad(f"batch_size={self.batch_size}", "use --batch-size 1 or more")
        if self.accumulate < 1:
            bad(f"accumulate={self.accumulate}", "use --accumulate 1 (no accumulation) or more")
        if not self.lr > 0:
            bad(f"lr={self.lr}", "the learning rate must be positive (e.g. --lr 0.05)")
        if self.optimizer not in OPTIMIZERS:
            bad(f"optimizer={self.optimizer!r}", "use sgd, adamw or muon")
        if not (self.norm_lr_scale > 0 and self.bias_lr_scale > 0 and self.muon_lr > 0):
            bad("a learning-rate scale or muon_lr <= 0", "norm_lr_scale, bias_lr_scale and muon_lr must be positive")
        if self.schedule not in SCHEDULES:
            bad(f"schedule={self.schedule!r}", f"use one of {', '.join(SCHEDULES)}")
        if self.schedule == "multistep" and not self.milestones:
            bad("schedule=multistep without milestones", "give --milestones 0.5,0.75 (fractions of training)")
        if any(not 0 < m <= 1 for m in self.milestones):
            bad(f"milestones={self.milestones}", "milestones are fractions of training in (0, 1], e.g. 0.5,0.75")
        if not 0 < self.lr_peak_at < 1:
            bad(f"lr_peak_at={self.lr_peak_at}", "use a fraction of training in (0, 1), e.g. 0.25")
        if self.precision not in PRECISIONS:
            bad(f"precision={self.precision!r}", "use auto, fp32 or bf16")
        if self.compile not in COMPILE:
            bad(f"compile={self.compile!r}", "use off, on or auto")
        from .transfer import NORMALIZE

        if self.normalize not in NORMALIZE:
            bad(f"normalize={self.normalize!r}", f"use one of {', '.join(NORMALIZE)}")
        if not self.backbone_lr_scale > 0:
            bad(
                f"backbone_lr_scale={self.backbone_lr_scale}", "use a positive multiplier (freeze layers with --freeze)"
            )
        if self.tta not in TTA:
            bad(f"tta={self.tta!r}", f"use one of {', '.join(TTA)}")
        if not 0 <= self.label_smoothing < 1:
            bad(f"label_smoothing={self.label_smoothing}", "use a value in [0, 1)")
        if not 0 <= self.ema < 1:
            bad(f"ema={self.ema}", "the EMA decay is in [0, 1), e.g. 0.999; 0 turns it off")
        if self.lookahead and not self.ema:
            bad("lookahead without ema", "lookahead copies the EMA back: also give --ema (airbench: 0.95)")
        if self.ema_every < 1:
            bad(f"ema_every={self.ema_every}", "use 1 or more")
        if self.clip_grad < 0 or self.mixup < 0 or self.cutmix < 0:
            bad("a negative clip_grad, mixup or cutmix", "use 0 to turn them off")
        if self.eval_every < 0:
            bad(f"eval_every={self.eval_every}", "use 1 (every epoch), N, or 0 (after the last epoch only)")
        if self.log:
            from .loggers import LOGGERS

            unknown = [n for n in self.log.split(",") if n.strip() and n.strip().lower() not in LOGGERS]
            if unknown:
                bad(f"log={self.log!r}", f"use any of {', '.join(LOGGERS)}, comma-separated")
        if self.early_stop:
            from .callbacks import parse_early_stop

            parse_early_stop(self.early_stop)  # a bad spec or a test_* metric raises its own error
        if self.checkpoint_every < 0:
            bad(f"checkpoint_every={self.checkpoint_every}", "use 0 (epoch ends only) or a step count")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            from ..errors import closest

            hints = [f"{u} -> {closest(u, known)[0]}" for u in unknown if closest(u, known)]
            raise CnnlabError(
                f"unknown training setting(s): {', '.join(unknown)}",
                (f"did you mean {', '.join(hints)}? " if hints else "") + f"known settings: {', '.join(sorted(known))}",
            )
        d = dict(d)
        if "milestones" in d and d["milestones"] is not None:
            if not isinstance(d["milestones"], list) or not all(_is_number(m) for m in d["milestones"]):
                raise CnnlabError(
                    f"setting milestones={d['milestones']!r} must be a list of numbers", "e.g. --milestones 0.5,0.75"
                )
            d["milestones"] = [float(m) for m in d["milestones"]]
        for f in fields(cls):
            if f.name in d:
                d[f.name] = _checked(f, d[f.name])
        return cls(**d)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _checked(f, value):
    """``value`` for field ``f`` if it has the field's type (an int is also a float); a CnnlabError otherwise."""
    default = f.default if f.default is not MISSING else f.default_factory()
    kind = type(default)
    if value is None and default is None:
        return value
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: _is_number,
        str: lambda v: isinstance(v, str),
        list: lambda v: isinstance(v, list),
        dict: lambda v: isinstance(v, dict),
    }.get(kind, lambda v: True)
    if default is None:
        ok = lambda v: isinstance(v, (str, int, float))  # noqa: E731 - optional settings hold a scalar
    if not ok(value):
        from ..errors import printable

        want = {
            bool: "true or false",
            int: "a whole number",
            float: "a number",
            str: "a text",
            list: "a list",
            dict: "a table of KEY=VALUE",
        }.get(kind, "a scalar")
        raise CnnlabError(
            f"setting {f.name}={printable(repr(value), 60)} must be {want}",
            f"e.g. --set {f.name}={default!r}"
            if kind in (int, float, bool)
            else f"see `cnnlab train --help` for {f.name}",
        )
    return float(value) if kind is float else value
