"""The Task protocol: what the training loop asks of classification, segmentation or detection.

The trainer (:mod:`cnnlab.train.trainer`) knows epochs, steps, optimizers, checkpoints and run
folders; everything that depends on what the network predicts goes through a :class:`Task`::

    build_model(cfg, data, in_chans)        the network for these data (a registered cfg.model)
    check_model(model, cfg, data, device)   a user's own module (cnnlab.fit(model=...)) fits the data
    train_loader(data, cfg, mean, std, batch_size, transform)    batches (x, target) of an epoch
    eval_loader(split, mean, std, cfg)      batches of a validation or test split
    loss(out, target)                       (the scalar to back-propagate, the batch's detached sums)
    train_record(sums)                      the epoch's train_* numbers from the summed batches
    evaluate(model, loader, autocast, device[, tta=])   a split's numbers (the trainer prefixes val_/test_)
    describe(numbers)                       those numbers as the one-line text of the epoch report
    weights_meta()                          metadata saved beside the weights ({"task": name, ...})

``monitor`` names the validation number (higher is better) that picks best.safetensors, logged as
``val_<monitor>``; ``metrics`` names what ``evaluate`` returns (a split that is not evaluated is
logged as None for each). A loader is anything with ``__len__``, ``set_epoch(epoch)`` and
``iter_from(start_batch)``, whose batches depend only on (seed, epoch, batch index) - exact resume.

``TASKS`` maps a task name to ``"module:Class"``, imported on first use (:func:`get_task`); a new
task adds its line. ``TrainConfig.task`` (``auto``) lets the data decide: a data set says what it
holds with a ``task`` attribute (``classify`` when absent); an explicit task that contradicts the
data, or a model's own ``task`` attribute, is a :class:`~cnnlab.errors.CnnlabError`.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import CnnlabError
from .metrics import evaluate_sums, summarize, topk_hits
from .state import batch_sum

TASKS: dict[str, str] = {
    "classify": "cnnlab.train.task:ClassificationTask",
    "detect": "cnnlab.tasks.detect.task:DetectionTask",
    "segment": "cnnlab.tasks.segment.task:SegmentationTask",
}


class Task(ABC):
    """The base class of every task: override the abstract methods; the others have defaults."""

    name: str = "classify"
    monitor: str = "top1"  # the validation number that picks best.safetensors (higher is better)
    metrics: tuple[str, ...] = ("loss",)  # the keys evaluate() returns

    @abstractmethod
    def build_model(self, cfg, data, in_chans: int) -> nn.Module:
        """The registered network ``cfg.model`` (with ``cfg.model_args``) for ``data``."""

    def check_model(self, model: nn.Module, cfg, data, device: torch.device) -> None:  # noqa: B027 - optional hook
        """A network the user built (``cnnlab.fit(model=...)``): raise CnnlabError if it cannot fit ``data``."""

    @abstractmethod
    def train_loader(self, data, cfg, mean: list[float], std: list[float], batch_size: int, transform):
        """The training batches ``(x, target)``: ``batch_size`` is the global batch (DDP ranks shard it)."""

    @abstractmethod
    def eval_loader(self, split, mean: list[float], std: list[float], cfg):
        """The batches of a validation or test split (under DDP, this rank's part of it)."""

    @abstractmethod
    def loss(self, out, target) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The scalar to back-propagate, and the batch's detached SUMS (``seen``: the item count, ``loss``:
        the summed loss, e.g. ``batch_sum(mean_loss, n)``, and whatever ``train_record`` needs). The
        trainer keeps them on the device and reads them only when it logs (and checks ``loss`` is finite)."""

    def train_record(self, sums: dict[str, float]) -> dict[str, float | list[float]]:
        """The epoch's training numbers from the summed batches (default: every sum per item seen)."""
        seen = max(sums.get("seen", 0.0), 1)
        return {k: v / seen for k, v in sums.items() if k != "seen"}

    @abstractmethod
    def evaluate(self, model: nn.Module, loader, autocast, device: torch.device) -> dict[str, float | None]:
        """The numbers of ``model`` over ``loader`` (all DDP ranks together), keyed as ``metrics``."""

    def describe(self, numbers: dict) -> str:
        """One split's numbers as text for the epoch line, e.g. ``loss 0.4210 miou 61.20``."""
        return " ".join(f"{k} {v:.4f}" for k, v in numbers.items() if isinstance(v, (int, float)))

    def weights_meta(self) -> dict:
        """Metadata saved beside the weights, so evaluate/predict/bench know the task."""
        return {"task": self.name}


def get_task(name: str) -> Task:
    """A fresh :class:`Task` of that name (its module imported now)."""
    if name not in TASKS:
        raise CnnlabError(f"unknown task {name!r}", f"use auto or one of {', '.join(TASKS)}")
    module, _, cls = TASKS[name].partition(":")
    return getattr(importlib.import_module(module), cls)()


def task_for(requested: str, data) -> Task:
    """The task of a run: the data's own (``auto``), or ``requested`` if the data agree."""
    declared = getattr(data, "task", None) or "classify"
    if requested not in ("auto", declared):
        raise CnnlabError(
            f"task {requested!r} does not fit the data: {getattr(data, 'name', 'the data set')} is a "
            f"{declared} data set",
            f"drop --task (auto picks {declared}), or give a {requested} data set",
        )
    return get_task(declared)


def check_model_task(model: nn.Module, task: Task) -> None:
    """A model that says which task it is for (a ``task`` attribute) must be trained for that task."""
    declared = getattr(model, "task", None)
    if isinstance(declared, str) and declared != task.name:
        name = getattr(model, "model_name", type(model).__name__)
        raise CnnlabError(
            f"{name} is a {declared} model, but this run trains the {task.name} task",
            f"give a {declared} data set (or --task {declared}), or a {task.name} model",
        )


# -- classification ---------------------------------------------------------------------------
def split_heads(out) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(main logits, auxiliary logits) of a forward output: a tensor, or a (logits, *aux) named tuple
    (GoogLeNet / Inception-v3 in training mode with ``aux_logits=True``)."""
    if isinstance(out, torch.Tensor):
        return out, []
    return out[0], [a for a in out[1:] if a is not None]


def head_losses(
    out, target: torch.Tensor, aux_weight: float, label_smoothing: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """(total loss to minimise, main-head loss, auxiliary-head losses) of one forward output.

    With auxiliary heads the total is the papers' main + ``aux_weight`` x (sum of the auxiliary
    losses): GoogLeNet 0.3 (Szegedy et al. 2015, section 5), Inception-v3 0.4; without, the main loss.
    """
    logits, aux = split_heads(out)
    main = F.cross_entropy(logits.float(), target, label_smoothing=label_smoothing)
    aux_losses = [F.cross_entropy(a.float(), target, label_smoothing=label_smoothing) for a in aux]
    total = main + aux_weight * sum(aux_losses) if aux_losses else main
    return total, main, aux_losses


class MixedBatches:
    """A training loader whose batches are mixed (mixup, cutmix: soft targets), each by a generator
    seeded with (seed, epoch, batch index), so that a resumed epoch mixes as the original did."""

    def __init__(self, loader, num_classes: int, mixup: float, cutmix: float, seed: int):
        self.loader, self.num_classes, self.mixup, self.cutmix, self.seed = loader, num_classes, mixup, cutmix, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.loader.set_epoch(epoch)

    def iter_from(self, start_batch: int):
        from ..data.transforms import mix_batch

        for i, (x, y) in enumerate(self.loader.iter_from(start_batch), start_batch):
            g = torch.Generator().manual_seed(self.seed * 15_485_863 + (self.epoch * 1_000_003 + i))
            yield mix_batch(x, y, self.num_classes, self.mixup, self.cutmix, g)

    def __getattr__(self, name: str):  # normalize, order, data: the wrapped loader's
        if name == "loader":
            raise AttributeError(name)
        return getattr(self.loader, name)


class ClassificationTask(Task):
    """One label per image: cross-entropy (auxiliary heads weighted as their papers do), top-1/top-5."""

    name = "classify"
    monitor = "top1"
    metrics = ("loss", "top1", "top5")

    def __init__(self):
        self.aux_weight, self.label_smoothing, self.num_classes = 0.3, 0.0, None

    def _bind(self, cfg, model: nn.Module, data) -> None:
        self.aux_weight = float(getattr(model, "aux_loss_weight", 0.3))
        self.label_smoothing, self.num_classes = cfg.label_smoothing, len(data.classes)

    def build_model(self, cfg, data, in_chans):
        from ..models import create_model

        model = create_model(cfg.model, num_classes=len(data.classes), in_chans=in_chans, **cfg.model_args)
        self._bind(cfg, model, data)
        return model

    def check_model(self, model, cfg, data, device):
        from .inputs import check_output

        check_output(model, data.train.image_shape, len(data.classes), device)
        self._bind(cfg, model, data)

    def train_loader(self, data, cfg, mean, std, batch_size, transform):
        from ..data.stream_loader import make_loader
        from . import distributed as ddp

        mixing = cfg.mixup > 0 or cfg.cutmix > 0  # mixes images across the whole batch: no per-rank reading
        info = ddp.env_info()
        loader = make_loader(
            data.train,
            batch_size,
            mean,
            std,
            shuffle=True,
            drop_last=True,
            seed=cfg.seed,
            transform=transform,
            channels_last=cfg.channels_last,
            alternating_flip=cfg.alternating_flip,
            workers=cfg.data_options.get("loader_workers"),
            shard=(info.rank, info.world_size) if info.enabled and not mixing else None,
        )
        if mixing:
            return MixedBatches(loader, len(data.classes), cfg.mixup, cfg.cutmix, cfg.seed)
        return loader

    def eval_loader(self, split, mean, std, cfg):
        from ..data.stream_loader import make_loader
        from . import distributed as ddp

        info = ddp.env_info()  # DDP: each rank evaluates its shard; evaluate() all-reduces the sums
        part = split if not info.enabled else split.subset(torch.arange(info.rank, len(split), info.world_size))
        return make_loader(
            part, 500, mean, std, channels_last=cfg.channels_last, workers=cfg.data_options.get("loader_workers")
        )

    def loss(self, out, target):
        total, main, aux = head_losses(out, target, self.aux_weight, self.label_smoothing)
        labels = target.argmax(1) if target.dim() == 2 else target  # mixup/cutmix: the dominant class
        n = len(labels)  # accuracy and train_loss are the main head's own
        sums = {
            "seen": n,
            "loss": batch_sum(main, n),
            "correct": topk_hits(split_heads(out)[0].detach(), labels, (1,))[0],
        }
        sums.update({f"aux_loss.{i}": batch_sum(a, n) for i, a in enumerate(aux)})
        return total, sums

    def train_record(self, sums):
        seen = max(sums.get("seen", 0.0), 1)
        record = {"loss": sums.get("loss", 0.0) / seen, "top1": 100 * sums.get("correct", 0.0) / seen}
        aux = [v / seen for k, v in sums.items() if k.startswith("aux_loss.")]
        return {**record, "aux_loss": aux} if aux else record

    def evaluate(self, model, loader, autocast, device, tta: str = "none"):
        from . import distributed as ddp

        sums = ddp.all_sum(evaluate_sums(model, loader, autocast, device, tta), ddp.env_info(), device)
        return summarize(sums, self.num_classes or len(loader.data.classes))

    def describe(self, numbers):
        text = f"loss {numbers['loss']:.4f} acc {numbers['top1']:.2f}%"
        if numbers.get("aux_loss"):
            text += "  aux loss " + "/".join(f"{a:.4f}" for a in numbers["aux_loss"])
        return text
