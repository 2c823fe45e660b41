"""``cnnlab evaluate RUN --data SPEC`` for a segmentation run: pixel accuracy, mean IoU, IoU per class,
the pixel confusion matrix (confusion.png) and a grid of predictions next to the truth (examples.png)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ... import runtime
from ...errors import CnnlabError
from ...runs import LoadedRun, ModelRef, resolve_model
from .loader import SegmentationLoader
from .metrics import iou_per_class, mean_iou, pixel_accuracy
from .task import SegmentationTask
from .viz import palette_for, save_confusion, save_examples

EXAMPLES = 8


@dataclass
class SegmentationEvaluation:
    model: str
    data: str
    split: str
    classes: list[str]
    confusion: np.ndarray  # pixels: rows true class, columns predicted class
    loss: float  # mean cross-entropy per labelled pixel
    n_images: int
    palette: list | None = None
    notes: list[str] = field(default_factory=list)
    examples: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def pixel_acc(self) -> float:
        return 100.0 * pixel_accuracy(torch.from_numpy(self.confusion))

    @property
    def miou(self) -> float:
        return 100.0 * mean_iou(torch.from_numpy(self.confusion))

    @property
    def iou(self) -> list[float | None]:
        return [None if v is None else 100.0 * v for v in iou_per_class(torch.from_numpy(self.confusion))]

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": "segment",
            "model": self.model,
            "data": self.data,
            "split": self.split,
            "images": self.n_images,
            "pixels": int(self.confusion.sum()),
            "loss": self.loss,
            "pixel_acc": self.pixel_acc,
            "miou": self.miou,
            "iou": dict(zip(self.classes, self.iou)),
            "confusion": self.confusion.tolist(),
            "notes": self.notes,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def text(self) -> str:
        absent = [c for c, v in zip(self.classes, self.iou) if v is None]
        lines = [
            (
                f"{self.model} on {self.data}, {self.split} split: {self.n_images:,} images, "
                f"{int(self.confusion.sum()):,} labelled pixels"
            ),
            (
                f"  pixel accuracy {self.pixel_acc:.2f}%   mean IoU {self.miou:.2f}% (over the "
                f"{len(self.classes) - len(absent)} classes present in truth or prediction)   loss {self.loss:.4f}"
            ),
        ]
        width = max(len(c) for c in self.classes)
        truth = self.confusion.sum(1)
        total = max(int(truth.sum()), 1)
        lines.append(f"  {'class':<{width}}   IoU %   pixels (truth)   share")
        for c, v, t in zip(self.classes, self.iou, truth):
            value = f"{v:6.2f}" if v is not None else "     -"
            lines.append(f"  {c:<{width}}  {value}   {int(t):>14,}   {100 * t / total:5.1f}%")
        if absent:
            lines.append(f"  - absent from truth and prediction, left out of the mean: {', '.join(absent)}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<SegmentationEvaluation {self.model} on {self.data} {self.split}: mIoU {self.miou:.2f}%>"

    def save_plots(self, out_dir: str | Path, *_args) -> dict[str, Path]:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        table = palette_for(len(self.classes), self.palette)
        title = (
            f"{self.model} on {self.data} ({self.split} split): pixel accuracy {self.pixel_acc:.2f}%, "
            f"mean IoU {self.miou:.2f}%"
        )
        written = {"confusion": save_confusion(out / "confusion.png", self.confusion, self.classes, self.iou, title)}
        if self.examples is not None:
            images, masks, preds = self.examples
            written["examples"] = save_examples(
                out / "examples.png",
                images,
                masks,
                preds,
                self.classes,
                table,
                f"{self.model}, {self.split} split: image, truth, prediction",
            )
        return written


def _data_for(ref: ModelRef, data, data_options: dict | None):
    from ...data import load_data

    if not isinstance(data, str):
        return data
    options = dict(ref.config().get("data_options") or {})  # the run's validation carve-out and seed
    c = (ref.input_size or (None,))[0]
    if c in (1, 3) and data.partition(":")[0] == "segfolder":
        options.setdefault("channels", c)
    options.update(data_options or {})
    return load_data(data, options)


def evaluate_segmentation(
    run_or_weights,
    data,
    split: str = "test",
    *,
    batch_size: int = 32,
    data_options: dict | None = None,
    progress: bool = True,
    threads: int = 0,
    precision: str = "fp32",
) -> SegmentationEvaluation:
    """Evaluate a segmentation run (folder or .safetensors) on ``split`` of ``data`` (a spec or loaded splits)."""
    from tqdm.auto import tqdm

    from ...progress import bar_enabled

    runtime.configure(threads or None)
    if isinstance(run_or_weights, LoadedRun):
        ref, model = run_or_weights.ref, run_or_weights.model
    else:
        ref = run_or_weights if isinstance(run_or_weights, ModelRef) else resolve_model(run_or_weights)
        model = ref.build()
    splits = _data_for(ref, data, data_options)
    if getattr(splits, "task", "classify") != "segment":
        raise CnnlabError(
            f"{ref.label} is a segmentation model; {splits.name} is not a segmentation data set",
            "evaluate it on seg-sample or segfolder:PATH",
        )
    part = splits.split(split)
    if not len(part):
        raise CnnlabError(f"the {split} split of {splits.name} is empty", "choose another --split")
    if part.image_shape[0] != model.in_chans:
        raise CnnlabError(
            f"{splits.name} images have {part.image_shape[0]} channel(s) but {ref.label} takes {model.in_chans}",
            "use a data set with the model's channels",
        )
    if len(part.classes) != len(ref.classes):
        raise CnnlabError(
            f"{splits.name} has {len(part.classes)} classes but {ref.label} predicts {len(ref.classes)}",
            "evaluate a model on the data set it was trained for",
        )
    notes = (
        []
        if list(part.classes) == list(ref.classes)
        else [f"the data set names its classes {part.classes[:4]}..., the model {ref.classes[:4]}...: matched by index"]
    )
    mean, std = ref.meta.get("mean") or splits.mean, ref.meta.get("std") or splits.std
    loader = SegmentationLoader(part, batch_size, mean, std)
    device = torch.device("cpu")
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    bar = tqdm(loader, desc=f"evaluating {split}", leave=False, disable=not bar_enabled(progress))
    cm, loss = SegmentationTask().confusion(model, bar, autocast, device, len(ref.classes))
    k = min(EXAMPLES, len(part))
    with torch.no_grad():
        x = loader.normalize(part.images[:k])
        preds = model.eval()(x).argmax(1).to(torch.uint8).numpy()
    examples = (part.images[:k].permute(0, 2, 3, 1).numpy(), part.labels[:k].numpy(), preds)
    palette = ref.meta.get("palette") or getattr(splits, "palette", None)
    return SegmentationEvaluation(
        ref.name,
        data if isinstance(data, str) else splits.name,
        split,
        list(ref.classes),
        cm.numpy(),
        loss / max(int(cm.sum()), 1),
        len(part),
        palette,
        notes,
        examples,
    )
