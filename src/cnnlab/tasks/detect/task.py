"""``DetectionTask``: the trainer's contract (cnnlab.train.task) for object detection.

Targets are lists of per-image dicts (boxes, labels, iscrowd, area, scale, image_id); the model
is a detector (``fcos``); the loss is FCOS's; a split's numbers are COCO's twelve box metrics (in
percent) computed by :mod:`.cocoeval` in the files' own pixel coordinates, plus the loss. The
validation number that picks ``best.safetensors`` is ``ap`` (AP@[.50:.95]). Distributed training is refused (classification only).
"""

from __future__ import annotations

import torch

from ...errors import CnnlabError
from ...train.state import batch_sum
from ...train.task import Task
from .augment import BoxAugment
from .cocoeval import STATS, Detections, GroundTruth, evaluate_boxes
from .loader import DetectionLoader
from .loss import fcos_loss

PARTS = ("cls", "box", "ctr")


def is_detector(model) -> bool:
    return getattr(model, "task", None) == "detect" and hasattr(model, "postprocess")


class DetectionTask(Task):
    name = "detect"
    monitor = "ap"
    metrics = ("loss", *(key for key, *_ in STATS))
    batch_augment = False  # --augment is read here (box-aware), not by the classification transforms

    def build_model(self, cfg, data, in_chans: int):
        from ...models import create_model
        from ...train import distributed as ddp

        if ddp.env_info().enabled:
            raise CnnlabError(
                "distributed (torchrun) training is for classification only; detection trains in one process",
                "run `cnnlab train ... --task detect` without torchrun",
            )

        args = dict(cfg.model_args)
        args.setdefault("in_chans", in_chans)
        self.model_args = args  # saved with the weights: a run rebuilds the detector with its input channels
        model = create_model(cfg.model, num_classes=len(data.classes), **args)
        if not is_detector(model):
            raise CnnlabError(
                f"{cfg.model} is a classifier; --task detect trains a detector",
                "use a detector such as fcos (with --model-arg backbone=resnet18)",
            )
        return model

    def train_loader(self, data, cfg, mean, std, batch_size: int, transform=None) -> DetectionLoader:
        return DetectionLoader(
            data.train,
            batch_size,
            mean,
            std,
            shuffle=True,
            seed=cfg.seed,
            augment=BoxAugment.parse(cfg.augment),
            channels_last=cfg.channels_last,
        )

    def eval_loader(self, split, mean, std, cfg) -> DetectionLoader:
        return DetectionLoader(split, cfg.batch_size, mean, std, channels_last=cfg.channels_last)

    def loss(self, out, target) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        total, parts = fcos_loss(out, target, out["ranges"], out["radius"])
        n = len(target)
        sums = {"seen": n, "loss": batch_sum(total, n)}
        sums.update({f"loss_{k}": batch_sum(parts[k], n) for k in PARTS})
        return total, sums

    def train_record(self, sums: dict[str, float]) -> dict[str, float]:
        seen = max(float(sums["seen"]), 1.0)
        return {"loss": float(sums["loss"]) / seen, **{f"loss_{k}": float(sums[f"loss_{k}"]) / seen for k in PARTS}}

    @torch.no_grad()
    def evaluate(self, model, loader, autocast, device) -> dict[str, float]:
        stats, _ = evaluate_detector(model, loader, autocast, device)
        return stats

    def weights_meta(self) -> dict:
        return {"task": self.name, **({"model_args": self.model_args} if getattr(self, "model_args", None) else {})}

    def describe(self, numbers: dict) -> str:
        shown = [
            ("loss", "loss", "{:.4f}"),
            ("ap", "AP", "{:.1f}"),
            ("ap50", "AP50", "{:.1f}"),
            ("ap75", "AP75", "{:.1f}"),
        ]
        return " ".join(f"{label} {fmt.format(numbers[k])}" for k, label, fmt in shown if numbers.get(k) is not None)


@torch.no_grad()
def evaluate_detector(model, loader, autocast=None, device="cpu", progress: bool = False, desc: str = "evaluate"):
    """Loss and COCO numbers (percent; None where COCO gives -1: no object of that size) of ``model`` over ``loader``, and
    the per-image detections in the files' pixel coordinates."""
    import contextlib

    from tqdm.auto import tqdm

    model.eval()
    gts, dts, loss_sum, seen = [], [], 0.0, 0
    for x, targets in tqdm(loader, desc=desc, disable=not progress, leave=False):
        with autocast if autocast is not None else contextlib.nullcontext():
            out = model(x.to(device))
        total, _ = fcos_loss(out, targets, out["ranges"], out["radius"])
        loss_sum += float(total) * len(targets)
        seen += len(targets)
        for t, d in zip(targets, model.postprocess(out)):
            gt, dt = in_file_pixels(t, d)
            gts.append(gt)
            dts.append(dt)
    n_classes = len(getattr(loader.data, "classes", [])) or getattr(model, "num_classes", None)
    result = evaluate_boxes(gts, dts, num_classes=n_classes)
    stats = {"loss": loss_sum / max(seen, 1)}
    stats.update({key: 100 * result[key] if result[key] >= 0 else None for key, *_ in STATS})
    return stats, {"ground_truth": gts, "detections": dts, "per_class_ap": result["per_class_ap"]}


def in_file_pixels(target: dict, det: dict) -> tuple[GroundTruth, Detections]:
    """One image's ground truth and detections, moved from the letterboxed input back to the
    file's pixels (where COCO's area ranges are defined)."""
    sx, sy = target["scale"]
    back = torch.tensor([sx, sy, sx, sy], dtype=torch.float64)
    gt = GroundTruth(target["boxes"].double() / back, target["labels"], target["iscrowd"], target["area"])
    return gt, Detections(det["boxes"].double().cpu() / back, det["scores"].float().cpu(), det["labels"].cpu())
