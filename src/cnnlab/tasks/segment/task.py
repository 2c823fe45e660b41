"""``SegmentationTask``: what the trainer needs to train a segmentation network (the Task protocol).

The loss is the per-pixel cross-entropy averaged over the labelled pixels (255 = ignore, as in PASCAL
VOC; Long et al. 2015 train FCNs with this per-pixel multinomial logistic loss); the validation
number that selects ``best.safetensors`` is the mean IoU (``val_miou``, in percent).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import CnnlabError
from ...train.state import batch_sum
from ...train.task import Task
from .augment import parse_joint_augment
from .loader import SegmentationLoader
from .metrics import IGNORE_INDEX, confusion_matrix, iou_per_class, summarize

EVAL_BATCH = 64


class SegmentationTask(Task):
    """One label per pixel: per-pixel cross-entropy (255 ignored), pixel accuracy and mean IoU."""

    name = "segment"
    monitor = "miou"
    metrics = ("loss", "pixel_acc", "miou")
    palette: list | None = None  # the data set's class colours, kept for the weights' metadata (overlays)

    def build_model(self, cfg, data, in_chans: int) -> nn.Module:
        from ...models import create_model, model_card
        from ...train import distributed as ddp

        self.palette = getattr(data, "palette", None)
        if ddp.env_info().enabled:
            raise CnnlabError(
                "distributed (torchrun) training is available for classification only",
                "train a segmentation network in one process (plain `cnnlab train`)",
            )
        card = model_card(cfg.model)
        if card.task != "segment":
            raise CnnlabError(
                f"{cfg.model} is a classifier (N x classes out); {data.name} is a segmentation data set",
                "train a segmentation network: fcn32s, fcn16s, fcn8s or unet, with "
                f"--set model_args.backbone={cfg.model}",
            )
        return create_model(cfg.model, num_classes=len(data.classes), in_chans=in_chans, **cfg.model_args)

    def check_model(self, model: nn.Module, cfg, data, device: torch.device) -> None:
        """A user's own network must map N x C x H x W to N x classes x H x W."""
        self.palette = getattr(data, "palette", None)
        c, h, w = data.train.image_shape
        was = model.training
        try:
            with torch.no_grad():
                out = model.eval()(torch.zeros(1, c, h, w, device=device))
        finally:
            model.train(was)
        k = len(data.classes)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, k, h, w):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise CnnlabError(
                f"{type(model).__name__} gives {got} for a 1 x {c} x {h} x {w} input; segmentation needs "
                f"1 x {k} x {h} x {w} (a score per class and pixel)",
                "end the network with a 1x1 convolution to the classes, upsampled to the input size",
            )

    @staticmethod
    def parse_augment(spec: str):
        """``--augment`` for segmentation: ``scale``, ``crop``, ``flip`` applied to image and mask together."""
        return parse_joint_augment(spec)

    def train_loader(self, data, cfg, mean, std, batch_size: int, transform=None) -> SegmentationLoader:
        """``transform``: the joint augmentation (:meth:`parse_augment` of ``cfg.augment``)."""
        if transform is None and cfg.augment:
            transform = parse_joint_augment(cfg.augment)
        return SegmentationLoader(
            data.train,
            batch_size,
            mean,
            std,
            shuffle=True,
            drop_last=True,
            seed=cfg.seed,
            transform=transform,
            channels_last=getattr(cfg, "channels_last", False),
        )

    def eval_loader(self, split, mean, std, cfg) -> SegmentationLoader:
        return SegmentationLoader(split, EVAL_BATCH, mean, std, channels_last=getattr(cfg, "channels_last", False))

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Mean cross-entropy over the labelled pixels, and the batch's sums (loss, correct pixels, pixels)."""
        out = out.float()
        total = F.cross_entropy(out, target, ignore_index=IGNORE_INDEX, reduction="sum")
        labelled = target != IGNORE_INDEX
        pixels = labelled.sum()
        with torch.no_grad():
            correct = ((out.argmax(1) == target) & labelled).sum()
        loss = total / pixels.clamp_min(1)
        return loss, {"seen": target.shape[0], "loss": batch_sum(total, 1), "correct": correct, "pixels": pixels}

    def train_record(self, sums: dict[str, float]) -> dict[str, float]:
        """The epoch's loss per labelled pixel and pixel accuracy (train mIoU is not tracked: it would need
        a confusion matrix per batch)."""
        pixels = max(float(sums.get("pixels", 0)), 1.0)
        return {
            "loss": float(sums.get("loss", 0.0)) / pixels,
            "pixel_acc": 100.0 * float(sums.get("correct", 0)) / pixels,
        }

    @torch.no_grad()
    def confusion(
        self, model: nn.Module, loader, autocast, device, num_classes: int | None = None
    ) -> tuple[torch.Tensor, float]:
        """(the confusion matrix of a split, its summed loss)."""
        model.eval()
        cm, loss = None, 0.0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            with autocast:
                out = model(x)
            out = out.float()
            k = num_classes or out.shape[1]
            loss += float(F.cross_entropy(out, y, ignore_index=IGNORE_INDEX, reduction="sum"))
            part = confusion_matrix(out.argmax(1).cpu(), y.cpu(), k)
            cm = part if cm is None else cm + part
        return (cm if cm is not None else torch.zeros(num_classes or 1, num_classes or 1, dtype=torch.long)), loss

    def evaluate(self, model: nn.Module, loader, autocast, device, tta: str = "none") -> dict[str, float]:
        """``{"loss", "pixel_acc", "miou"}`` of a split (percentages; mIoU over the classes that occur)."""
        if tta != "none":
            raise CnnlabError(f"test-time augmentation {tta!r} is for classification", "drop --tta for segmentation")
        cm, loss = self.confusion(model, loader, autocast, device, len(loader.data.classes))
        return {"loss": loss / max(int(cm.sum()), 1), **summarize(cm)}

    def describe(self, numbers: dict) -> str:
        text = f"loss {numbers['loss']:.4f} pixel acc {numbers['pixel_acc']:.2f}%"
        return text + (f" mIoU {numbers['miou']:.2f}%" if numbers.get("miou") is not None else "")

    def weights_meta(self) -> dict:
        meta = {"task": self.name, "ignore_index": IGNORE_INDEX}
        if self.palette:
            meta["palette"] = [list(map(int, c)) for c in self.palette]
        return meta

    @staticmethod
    def per_class_iou(cm: torch.Tensor) -> list[float | None]:
        return iou_per_class(cm)
