"""The training configuration: one flat record, saved as ``config.json`` in every run folder.

Every field is also a ``cnnlab train --field-name`` option and a key of the recipe TOML files
(``cnnlab.train.recipes``), so the three faces (Python, CLI, recipe) cannot drift apart.
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


@dataclass
class TrainConfig:
    model: str = "lenet5"
    data: str = "mnist-sample"
    model_args: dict[str, Any] = field(default_factory=dict)  # e.g. {"activation": "relu"}
    data_options: dict[str, Any] = field(default_factory=dict)  # cnnlab.data.DataOptions, e.g. {"val_split": 0.1}
    task: str = "auto"  # auto (the data set's own) | classify | ... (cnnlab.train.task.TASKS)
    # -- how long ---------------------------------------------------------------------------
    epochs: int = 15  # the defaults are the make-demo recipe (lenet-mnist): 98.75-98.9% over seeds 0-2
    steps: int = 0  # optimizer steps in all; 0: epochs x steps per epoch (the ResNet paper counts iterations)
    batch_size: int = 64  # per process (DDP: the global batch is batch_size x processes)
    accumulate: int = 1  # batches whose gradients are summed into one optimizer step
    # -- optimizer --------------------------------------------------------------------------
    optimizer: str = "sgd"  # sgd | adamw | muon (Muon for conv filters, SGD for the rest)
    lr: float = 0.05
    momentum: float = 0.9  # SGD momentum; AdamW's beta1
    nesterov: bool = True
    weight_decay: float = 5e-4
    norm_lr_scale: float = 1.0  # learning-rate multiplier of normalisation layers (airbench: 64)
    bias_lr_scale: float = 1.0  # learning-rate multiplier of biases outside normalisation layers
    muon_lr: float = 0.24  # muon: learning rate of the convolution filters (airbench94_muon: 0.24)
    muon_momentum: float = 0.6  # muon: Nesterov momentum of the filters' Muon updates
    decay_all: bool = False  # weight decay on norms and biases too, same shrink per step as the weights (airbench)
    clip_grad: float = 0.0  # max global gradient norm; 0: no clipping
    # -- learning-rate schedule (per optimizer step) ----------------------------------------
    schedule: str = "onecycle"  # constant | step | multistep | cosine | linear | onecycle
    warmup_epochs: float = 0.0
    gamma: float = 0.1  # step / multistep: the factor at each decay
    step_epochs: float = 0.0  # step: decay every this many epochs; 0: at 1/3 and 2/3 of training
    milestones: list[float] = field(default_factory=list)  # multistep: decay points, fractions of training
    lr_start: float = 0.04  # onecycle: starting factor of the peak lr
    lr_peak_at: float = 0.25  # onecycle: fraction of training at which the peak is reached
    lr_end: float = 0.001  # onecycle, linear: final factor of the peak lr
    # -- loss, regularisation, averaging ----------------------------------------------------
    label_smoothing: float = 0.0
    augment: str = ""  # batched augmentation spec, e.g. "crop=4,flip" (cnnlab.data.transforms)
    alternating_flip: bool = False  # mirror each image in every other epoch (airbench), on top of --augment
    mixup: float = 0.0  # mixup alpha; 0: off
    cutmix: float = 0.0  # cutmix alpha; 0: off
    ema: float = 0.0  # EMA decay per step; 0: no EMA
    ema_every: int = 1  # update the EMA every this many steps (decay ema**ema_every per update)
    ema_ramp: float = 0.0  # decay x (step/total)**ema_ramp (airbench: 3); 0: constant decay
    ema_start_epochs: float = 0.0  # first EMA update after this many epochs
    lookahead: bool = False  # copy the EMA back into the model at each update (airbench's lookahead)
    eval_every: int = 1  # validation every this many epochs (0: after the last only; the last always)
    tta: str = "none"  # test-time augmentation of the final evaluation: none | flip | flip-translate
    final_test: bool = False  # evaluate once on the official test split after the last epoch (chooses nothing)
    # -- transfer learning (cnnlab.train.transfer) ------------------------------------------
    init_weights: str = ""  # start from this torchvision/timm/cnnlab weight file (a head of other shape is replaced)
    freeze: str = "none"  # none | backbone (train the classifier only: a linear probe) | module names, comma-separated
    backbone_lr_scale: float = 1.0  # learning-rate multiplier of everything outside the classifier (e.g. 0.1)
    normalize: str = "auto"  # input statistics: auto (the weight file's, else the data's) | data | imagenet | inception
    # -- reproducibility and speed ----------------------------------------------------------
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    threads: int = 0  # 0: the cores this process may use
    precision: str = "auto"  # auto | fp32 | bf16
    channels_last: bool = True
    compile: str = "off"  # off | on | auto (compile only networks where it pays: ResNet-class)
    sync_bn: bool = False  # DDP: synchronise batch-norm statistics across processes
    # -- run folder -------------------------------------------------------------------------
    log: str = ""  # extra loggers beside metrics.jsonl, comma-separated: csv (metrics.csv), tensorboard
    early_stop: str = ""  # METRIC:patience=N[:min_delta=D][:mode=min|max] on a validation metric, e.g. val_top1:patience=5
    checkpoint_every: int = 0  # also checkpoint every this many optimizer steps (0: at epoch ends only)
    out: str | None = None  # run folder; default runs/<model>-<data>-<time>
    overwrite: bool = False
    progress: bool = True

    def validate(self) -> "TrainConfig":
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
            bad(f"backbone_lr_scale={self.backbone_lr_scale}", "use a positive multiplier (freeze layers with --freeze)")
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
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            from ..errors import closest

            hints = [f"{u} -> {closest(u, known)[0]}" for u in unknown if closest(u, known)]
            raise CnnlabError(f"unknown training setting(s): {', '.join(unknown)}",
                              (f"did you mean {', '.join(hints)}? " if hints else "")
                              + f"known settings: {', '.join(sorted(known))}")
        d = dict(d)
        if "milestones" in d and d["milestones"] is not None:
            if not isinstance(d["milestones"], list) or not all(_is_number(m) for m in d["milestones"]):
                raise CnnlabError(f"setting milestones={d['milestones']!r} must be a list of numbers",
                                  "e.g. --milestones 0.5,0.75")
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
    ok = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: _is_number, str: lambda v: isinstance(v, str), list: lambda v: isinstance(v, list),
          dict: lambda v: isinstance(v, dict)}.get(kind, lambda v: True)
    if default is None:
        ok = lambda v: isinstance(v, (str, int, float))  # noqa: E731 - optional settings hold a scalar
    if not ok(value):
        from ..errors import printable

        want = {bool: "true or false", int: "a whole number", float: "a number", str: "a text",
                list: "a list", dict: "a table of KEY=VALUE"}.get(kind, "a scalar")
        raise CnnlabError(f"setting {f.name}={printable(repr(value), 60)} must be {want}",
                          f"e.g. --set {f.name}={default!r}" if kind in (int, float, bool) else
                          f"see `cnnlab train --help` for {f.name}")
    return float(value) if kind is float else value
