"""The training configuration: one flat record, saved as ``config.json`` in every run folder."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import CnnlabError


@dataclass
class TrainConfig:
    model: str = "lenet5"
    data: str = "mnist-sample"
    model_args: dict[str, Any] = field(default_factory=dict)  # e.g. {"activation": "relu"}
    epochs: int = 12
    batch_size: int = 64
    optimizer: str = "sgd"  # sgd | adamw
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "onecycle"  # constant | cosine | onecycle | step
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # 0: the cores this process may use
    precision: str = "auto"  # auto | fp32 | bf16
    channels_last: bool = True
    out: str | None = None  # run folder; default runs/<model>-<data>-<time>
    overwrite: bool = False
    progress: bool = True

    def validate(self) -> "TrainConfig":
        def bad(what: str, fix: str):
            raise CnnlabError(f"invalid training setting: {what}", fix)

        if self.epochs < 1:
            bad(f"epochs={self.epochs}", "use --epochs 1 or more")
        if self.batch_size < 1:
            bad(f"batch_size={self.batch_size}", "use --batch-size 1 or more")
        if not self.lr > 0:
            bad(f"lr={self.lr}", "the learning rate must be positive (e.g. --lr 0.05)")
        if self.optimizer not in ("sgd", "adamw"):
            bad(f"optimizer={self.optimizer!r}", "use sgd or adamw")
        if self.schedule not in ("constant", "cosine", "onecycle", "step"):
            bad(f"schedule={self.schedule!r}", "use constant, cosine, onecycle or step")
        if self.precision not in ("auto", "fp32", "bf16"):
            bad(f"precision={self.precision!r}", "use auto, fp32 or bf16")
        if not 0 <= self.label_smoothing < 1:
            bad(f"label_smoothing={self.label_smoothing}", "use a value in [0, 1)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CnnlabError(f"unknown training setting(s): {', '.join(unknown)}",
                              f"known settings: {', '.join(sorted(known))}")
        return cls(**d)
