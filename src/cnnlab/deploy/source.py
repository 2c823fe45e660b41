"""What the deployment commands start from: a run folder (trained weights + how its inputs were
prepared) or a bare registered model name (random weights), and example inputs for it.

``load_source("runs/r20")`` / ``load_source("resnet18")`` -> :class:`Source` with the eval-mode model,
its preprocessing metadata and, for a run, the data spec it was trained on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import CnnlabError

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


@dataclass
class Source:
    """A model ready to export or run, with what a deployed copy needs to know about its input."""

    model: nn.Module
    name: str  # registered model name
    meta: dict  # model, classes, input_size [C, H, W], mean, std, background, ...
    run_dir: Path | None = None
    data_spec: str | None = None  # the data set the run was trained on (NAME:PATH)
    data_options: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def input_size(self) -> tuple[int, int, int]:
        return tuple(self.meta["input_size"])  # type: ignore[return-value]

    @property
    def trained(self) -> bool:
        return self.run_dir is not None


def load_source(spec: str | Path, num_classes: int | None = None, input_size=None) -> Source:
    """A run folder / cnnlab ``.safetensors`` file, or a registered model name (random weights)."""
    from ..models import create_model, get_entry
    from ..runs import load_run

    path = Path(spec)
    if path.exists():
        run = load_run(path)
        meta = dict(run.meta)
        run_dir = run.path
        config = {}
        if (run_dir / "config.json").is_file():
            config = json.loads((run_dir / "config.json").read_text())
        meta.setdefault("input_size", list(_card_size(meta["model"])))
        return Source(
            run.model.eval(), meta["model"], meta, run_dir, config.get("data"), dict(config.get("data_options") or {})
        )
    if "/" in str(spec) or str(spec).endswith((".safetensors", ".onnx", ".xml", ".pt")):
        raise CnnlabError(
            f"{spec}: no such run folder or file",
            "pass a run folder written by `cnnlab train` or a registered model name (see `cnnlab models`)",
        )
    entry = get_entry(str(spec))  # unknown names raise with the closest ones
    from ..analysis.summary import parse_input_size

    size = parse_input_size(input_size)
    card_size = tuple(entry.card.input_size)
    if size is not None and len(size) == 2:
        size = (card_size[0], *size)
    size = tuple(size or card_size)
    classes = num_classes or entry.card.num_classes or 1000
    model = create_model(str(spec), num_classes=classes).eval()
    c = size[0]
    imagenet = c == 3 and "ImageNet" in (entry.card.dataset or "")
    meta = {
        "model": str(spec),
        "model_args": {},
        "classes": [str(i) for i in range(classes)],
        "input_size": list(size),
        "mean": IMAGENET_MEAN if imagenet else [0.5] * c,
        "std": IMAGENET_STD if imagenet else [0.5] * c,
    }
    return Source(model, str(spec), meta, notes=["random weights (a bare model name, not a trained run)"])


def _card_size(name: str) -> tuple[int, ...]:
    from ..models import get_entry

    return tuple(get_entry(name).card.input_size)


def randomize_zero_layers(model: nn.Module, seed: int = 3) -> list[str]:
    """Give the all-zero linear layers of a bare model small random weights (N(0, 0.02), seeded) and
    return their names. A zero-initialised classifier (the ViTs', as torchvision's and DeiT's) makes
    every output 0, so the engines' outputs cannot be compared. Only for bare models."""
    g = torch.Generator().manual_seed(seed)
    names = []
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.Linear) and not m.weight.any() and (m.bias is None or not m.bias.any()):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.02)
                names.append(name)
    return names


def calibrate_bn(model: nn.Module, x: torch.Tensor, passes: int = 2) -> None:
    """Give a randomly initialised network real batch-norm statistics (a few train-mode passes over
    ``x``), so that eval-mode activations do not shrink into float32 denormals, which run 10-50x
    slower on CPUs (docs/deployment.md). Only for bare models: a trained run keeps its statistics."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = {m: m.momentum for m in norms}
    model.train()
    try:
        with torch.no_grad():
            for m in norms:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the passes
            for _ in range(passes):
                model(x)
    finally:
        for m, mom in saved.items():
            m.momentum = mom
        model.eval()


def example_inputs(
    source: Source, n: int, split: str = "val", seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """``n`` normalised float32 images (N x C x H x W), their labels (None for random inputs) and a
    description: real images of the run's data split, or standard-normal noise for a bare model."""
    if source.data_spec:
        data = load_split(source, split)
        n = min(n, len(data))
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(data), generator=g)[:n]
        which = "training" if split == "train" else "held-out"
        return normalize(source.meta, data.images[idx]), data.labels[idx], f"{n} {which} images of {source.data_spec}"
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, *source.input_size), generator=g), None, f"{n} random normal inputs"


def load_split(source: Source, split: str, data_spec: str | None = None):
    """The ``train`` or ``val`` (held-out) ImageDataset of the run's data (or of ``data_spec``); see
    :func:`held_out` for which images ``val`` means."""
    data = read_data(source, data_spec)
    return data.train if split == "train" else _held_out(data, source)[0]


def held_out(source: Source, data_spec: str | None = None, data=None):
    """(ImageDataset, how to name it) of the images a deployed copy is compared on: the run's
    validation split, or the data set's test split when the run kept none (``val_split=0``, the
    published protocol of resnet-cifar and fast-cifar). The comparison chooses nothing, so reading
    the test split is allowed; the name says which it was. ``data``: the splits, already read
    (:func:`read_data`)."""
    return _held_out(data if data is not None else read_data(source, data_spec), source)


def read_data(source: Source, data_spec: str | None = None):
    """The splits of the run's data set (or of ``data_spec``), checked against the model's input size."""
    from ..data import load_data

    spec = data_spec or source.data_spec
    if not spec:
        raise CnnlabError(
            f"{source.name} is a bare model: it has no data set",
            "pass --data NAME:PATH (e.g. --data cifar10:PATH), or a run folder from `cnnlab train`",
        )
    data = load_data(spec, source.data_options or None)
    got = data.train.image_shape
    want = tuple(source.input_size)
    if tuple(got) != want:
        raise CnnlabError(
            f"{spec}: images are {'x'.join(map(str, got))}, the model expects {'x'.join(map(str, want))}",
            "pass the data set the run was trained on",
        )
    return data


def _held_out(data, source: Source):
    if len(data.val):
        split = (source.data_options or {}).get("val_split")
        if isinstance(split, float) and 0 < split < 1:
            return data.val, f"validation split ({split:.0%} of the training images)"
        if isinstance(split, int) and split >= 1:
            return data.val, f"validation split ({split:,} of the training images)"
        return data.val, "validation split"
    if data.has_test:
        return data.test, "test split (the run kept no validation split; this comparison chooses nothing)"
    raise CnnlabError(
        f"{data.name}: the run kept no validation split and the data set has no test split",
        "pass --data with a data set that has a test split, or a run trained with a validation split",
    )


def normalize(meta: dict, images: torch.Tensor) -> torch.Tensor:
    """uint8 N x C x H x W -> float32 ``(x / 255 - mean) / std``, as the run was trained."""
    c = images.shape[1]
    mean = torch.tensor(meta["mean"], dtype=torch.float32).view(1, c, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32).view(1, c, 1, 1)
    return (images.float() / 255 - mean) / std
