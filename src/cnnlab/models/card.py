"""Model cards: where a network comes from and what its paper reported."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class ModelCard:
    """What a user should know before picking a network.

    ``params`` and ``macs`` are the reference figures (from the paper or torchvision's
    documentation, cited in ``source``); the counts of the built module come from
    ``cnnlab.analysis``. Accuracy figures are ImageNet-1k single-crop unless ``dataset`` says
    otherwise.
    """

    name: str
    family: str
    paper: str = ""
    year: int | None = None
    input_size: tuple[int, int, int] = (3, 224, 224)
    num_classes: int = 1000
    params: int | None = None
    macs: int | None = None  # multiply-adds at input_size, batch 1 (the lectures' "FLOPs")
    top1: float | None = None
    top5: float | None = None
    dataset: str = "ImageNet-1k"
    source: str = ""  # where the reported figures come from
    torchvision: str | None = None  # the torchvision builder with the same state dict, if any
    timm: str | None = None
    departures: tuple[str, ...] = field(default_factory=tuple)  # how this form departs from the paper
    task: str = "classify"  # what the network does: classify | segment (N x classes x H x W) | detect
    notes: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["departures"] = list(self.departures)
        return d
