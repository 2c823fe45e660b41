"""``cnnlab.evaluate``: a trained model on a data split -> every number a course or a factory asks for.

    result = cnnlab.evaluate("runs/lenet", "mnist:~/data/mnist")            # the test split
    print(result)                                                          # accuracy + per-class table
    result.save_plots("eval/")                                             # confusion, reliability, top losses
    result.to_csv("eval/predictions.csv"); result.to_json()

The split defaults to ``test``: the only place, with a final test of training, where cnnlab reads
a data set's official test split. ``split="val"`` re-creates the run's own validation split (same
``val_split`` and seed as in training); ``split="all"`` evaluates every image of the data set
(a whole image folder as one test set).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import runtime
from ..data import DataSplits, ImageDataset, load_data
from ..data.dataset import SPLITS
from ..errors import CnnlabError
from ..runs import LoadedRun, ModelRef, atomic_write_bytes, resolve_model
from ..train.config import TTA
from . import metrics as M
from .logits import Runner, compute_logits, eager_runner

TOP_LOSSES = 16


@dataclass
class EvaluationResult:
    """What :func:`evaluate` measured. Accuracies are in % like the trainer's; arrays are per image."""

    model: str  # the run folder or weight file
    data: str
    split: str
    classes: list[str]
    labels: np.ndarray  # true class per image
    probs: np.ndarray  # N x K softmax probabilities (float32)
    losses: np.ndarray  # cross-entropy per image
    tta: str = "none"
    precision: str = "fp32"
    engine: str = "pytorch"
    notes: list[str] = field(default_factory=list)
    images: ImageDataset | None = field(default=None, repr=False)  # the evaluated images (for top-losses.png)

    def __post_init__(self):
        k = len(self.classes)
        self.preds = self.probs.argmax(1) if len(self.labels) else np.zeros(0, dtype=np.int64)
        self.confusion = M.confusion_matrix(self.labels, self.preds, k)
        self.per_class = M.per_class_scores(self.confusion)
        self.reliability = M.reliability(
            self.probs.max(1) if len(self.labels) else np.zeros(0), self.preds == self.labels
        )

    # -- the numbers ---------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def loss(self) -> float:
        return float(self.losses.mean()) if self.n else float("nan")

    @property
    def top1(self) -> float:
        return 100 * float((self.preds == self.labels).mean()) if self.n else 0.0

    @property
    def top5(self) -> float | None:
        """Top-5 accuracy in %, only with more than 5 classes (with 5 or fewer it is 100% by definition)."""
        return 100 * M.topk_accuracy(self.probs, self.labels, 5) if len(self.classes) > 5 else None

    @property
    def ece(self) -> float:
        return self.reliability.ece

    def means(self) -> dict[str, dict[str, float]]:
        return self.per_class.means()

    def top_losses(self, n: int = TOP_LOSSES) -> list[int]:
        """Indices of the ``n`` wrongly classified images with the highest loss (the most confidently wrong)."""
        wrong = np.flatnonzero(self.preds != self.labels)
        return wrong[np.argsort(-self.losses[wrong], kind="stable")][:n].tolist()

    # -- outputs -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        pc = self.per_class
        rel = self.reliability
        return {
            "model": self.model,
            "data": self.data,
            "split": self.split,
            "images": self.n,
            "tta": self.tta,
            "precision": self.precision,
            "engine": self.engine,
            "classes": self.classes,
            f"{self.split}_loss": self.loss,
            f"{self.split}_top1": self.top1,
            f"{self.split}_top5": self.top5,
            "per_class": [
                {
                    "class": c,
                    "precision": float(pc.precision[i]),
                    "recall": float(pc.recall[i]),
                    "f1": float(pc.f1[i]),
                    "support": int(pc.support[i]),
                }
                for i, c in enumerate(self.classes)
            ],
            **{f"{kind}_avg": v for kind, v in self.means().items()},
            "confusion": self.confusion.tolist(),
            "confusion_row_normalised": M.row_normalised(self.confusion).round(6).tolist(),
            "calibration": {
                "ece": self.ece,
                "bins": len(rel.count),
                "bin_edges": rel.edges.tolist(),
                "bin_count": rel.count.tolist(),
                "bin_confidence": rel.confidence.tolist(),
                "bin_accuracy": rel.accuracy.tolist(),
            },
            "top_losses": [self._row(i) for i in self.top_losses()],
            "notes": self.notes,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    # -- notebooks: a short repr, the per-class table as HTML or a pandas frame -------------------
    PER_CLASS_COLUMNS = ("class", "precision", "recall", "f1", "support")

    def _per_class_rows(self) -> list[tuple]:
        pc = self.per_class
        return [
            (c, float(pc.precision[i]), float(pc.recall[i]), float(pc.f1[i]), int(pc.support[i]))
            for i, c in enumerate(self.classes)
        ]

    def _headline(self) -> str:
        top5 = f", top-5 {self.top5:.2f}%" if self.top5 is not None else ""
        return (
            f"{self.split} split of {self.data}: {self.n:,} images, top-1 {self.top1:.2f}%{top5}, "
            f"loss {self.loss:.4f}, ECE {100 * self.ece:.2f}%"
        )

    def __repr__(self) -> str:
        from ..notebook import short

        return short(f"<EvaluationResult {self.model}: {self._headline()}>")

    def _repr_html_(self) -> str:
        from ..notebook import html_table

        means = [(f"{kind} avg", v["precision"], v["recall"], v["f1"], self.n) for kind, v in self.means().items()]
        return html_table(
            self.PER_CLASS_COLUMNS,
            self._per_class_rows() + means,
            caption=f"{self.model}: {self._headline()}",
            notes=self.notes,
        )

    def to_pandas(self):
        """The per-class table (precision, recall, F1, support) as a ``pandas.DataFrame``."""
        from ..notebook import frame

        return frame(self.PER_CLASS_COLUMNS, self._per_class_rows())

    def _row(self, i: int) -> dict[str, Any]:
        p = int(self.preds[i])
        return {
            "index": i,
            "true": self.classes[int(self.labels[i])],
            "predicted": self.classes[p],
            "probability": float(self.probs[i, p]),
            "loss": float(self.losses[i]),
        }

    def to_csv(self, path: str | Path) -> Path:
        """One row per image: index (in the split), true class, predicted class, its probability, loss."""
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["index", "true", "predicted", "probability", "loss", "correct"])
        for i in range(self.n):
            r = self._row(i)
            w.writerow(
                [
                    i,
                    r["true"],
                    r["predicted"],
                    f"{r['probability']:.6f}",
                    f"{r['loss']:.6f}",
                    int(self.preds[i] == self.labels[i]),
                ]
            )
        path = Path(path)
        atomic_write_bytes(path, buf.getvalue().encode())
        return path

    def save_plots(self, out_dir: str | Path, n_losses: int = TOP_LOSSES) -> dict[str, Path]:
        """``confusion.png``, ``reliability.png`` and ``top-losses.png`` in ``out_dir``."""
        from . import plots

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        title = f"{Path(self.model).name} on {self.data} ({self.split}, {self.n:,} images)"
        paths = {
            "confusion": plots.plot_confusion(self.confusion, self.classes, out / "confusion.png", title),
            "reliability": plots.plot_reliability(self.reliability, out / "reliability.png", title),
        }
        if self.images is not None:
            paths["top_losses"] = plots.plot_top_losses(self, out / "top-losses.png", n_losses, title)
        return paths

    def text(self) -> str:
        split = self.split
        head = f"{split} split of {self.data}: {self.n:,} images, model {self.model}"
        extras = [
            x
            for x in (
                f"tta {self.tta}" if self.tta != "none" else "",
                self.precision,
                self.engine if self.engine != "pytorch" else "",
            )
            if x
        ]
        lines = [head + (f" ({', '.join(extras)})" if extras else "")]
        top5 = f", {self.top5:.2f}% top-5" if self.top5 is not None else ""
        lines.append(
            f"{split} accuracy: {self.top1:.2f}% top-1{top5}; {split} loss {self.loss:.4f}; "
            f"expected calibration error {100 * self.ece:.2f}% ({len(self.reliability.count)} bins)"
        )
        width = max(12, max(len(c) for c in self.classes))
        lines.append("")
        lines.append(f"{'class':<{width}}  precision  recall     F1  support")
        pc = self.per_class
        for i, c in enumerate(self.classes):
            lines.append(
                f"{c:<{width}}  {100 * pc.precision[i]:8.2f}%  {100 * pc.recall[i]:5.2f}%  "
                f"{100 * pc.f1[i]:5.2f}%  {pc.support[i]:7,}"
            )
        for kind, m in self.means().items():
            lines.append(
                f"{kind + ' avg':<{width}}  {100 * m['precision']:8.2f}%  {100 * m['recall']:5.2f}%  "
                f"{100 * m['f1']:5.2f}%  {self.n:7,}"
            )
        pairs = _most_confused(self.confusion, self.classes, 3)
        if pairs:
            lines.append("")
            lines.append("most confused: " + "; ".join(f"{t} -> {p} ({n:,})" for t, p, n in pairs))
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    __str__ = text


def _most_confused(cm: np.ndarray, classes: list[str], k: int) -> list[tuple[str, str, int]]:
    off = cm.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:k]
    return [(classes[i // len(classes)], classes[i % len(classes)], int(off.flat[i])) for i in order if off.flat[i] > 0]


def _data_for(ref: ModelRef, data: str | DataSplits, data_options: dict | None) -> DataSplits:
    """Load ``data`` as the run saw it: its validation carve-out and seed, the model's channels and size."""
    if isinstance(data, DataSplits):
        return data
    config = ref.config()
    options = dict(config.get("data_options") or {})  # val_split and its seed: --split val is the run's own
    c, h, w = ref.input_size or (None, None, None)
    name = data.partition(":")[0]
    if c in (1, 3) and name == "imagefolder":
        options.setdefault("channels", c)
    if h and h == w and name == "imagefolder":
        options.setdefault("image_size", h)
    options.update(data_options or {})
    return load_data(data, options)


def _check_fits(ref: ModelRef, split: ImageDataset, data_name: str) -> list[str]:
    notes = []
    size = ref.input_size
    if size and tuple(split.image_shape) != tuple(size):
        c, h, w = split.image_shape
        hint = (
            "use a data set with the model's channels"
            if c != size[0]
            else f"pass the data set at the model's size: --image-size {size[1]}"
        )
        raise CnnlabError(f"{data_name} images are {c}x{h}x{w} but {ref.label} takes {'x'.join(map(str, size))}", hint)
    if len(split.classes) != len(ref.classes):
        raise CnnlabError(
            f"{data_name} has {len(split.classes)} classes but {ref.label} predicts {len(ref.classes)}",
            "evaluate a model on the data set (or class folders) it was trained for",
        )
    if list(split.classes) != list(ref.classes):
        notes.append(
            f"the data set names its classes {split.classes[:4]}..., the model {ref.classes[:4]}...: "
            "matched by position"
        )
    return notes


def evaluate(
    run_or_weights: str | Path | LoadedRun | ModelRef,
    data: str | DataSplits,
    split: str = "test",
    *,
    tta: str = "none",
    runner: Runner | None = None,
    engine: str = "pytorch",
    batch_size: int = 256,
    precision: str = "auto",
    data_options: dict | None = None,
    progress: bool = True,
    threads: int = 0,
) -> EvaluationResult:
    """Evaluate a run folder (or cnnlab ``.safetensors`` file) on ``split`` of ``data``.

    ``data``: a spec (``mnist:PATH``, ``imagefolder:PATH``, ...) or loaded :class:`DataSplits`.
    ``split``: ``test`` (default), ``val`` (the run's own validation split), ``train`` or ``all``.
    ``runner``: a ``Callable[[Tensor], Tensor]`` from normalised images to logits, in place of the
    eager model (e.g. an exported ONNX model); ``engine`` names it in the report.
    ``precision``: ``auto`` = bf16 autocast where the run trained in bf16 (and this machine has it).
    """
    if split not in SPLITS:
        raise CnnlabError(f"unknown split {split!r}", f"use one of {', '.join(SPLITS)}")
    if tta not in TTA:
        raise CnnlabError(f"unknown tta {tta!r}", f"use one of {', '.join(TTA)}")
    runtime.configure(threads or None)
    if isinstance(run_or_weights, LoadedRun):
        ref = run_or_weights.ref or ModelRef(run_or_weights.path / "model.safetensors", run_or_weights.meta, None)
        model = run_or_weights.model
    else:
        ref = run_or_weights if isinstance(run_or_weights, ModelRef) else resolve_model(run_or_weights)
        model = None if runner is not None else ref.build()
    splits = _data_for(ref, data, data_options)
    images = splits.split(split)
    notes = _check_fits(ref, images, splits.name)
    if not len(images):
        raise CnnlabError(
            f"the {split} split of {splits.name} is empty",
            "choose another --split (the run may have trained without a validation split)",
        )
    device = torch.device("cpu")
    if precision == "auto":
        trained = ref.config().get("resolved", {}).get("precision", "fp32")
        precision = "bf16" if trained == "bf16" and runtime.bf16_supported(device) else "fp32"
    if runner is None:
        runner = eager_runner(model, precision, device)
    else:
        precision = "engine"
    mean, std = ref.meta.get("mean") or splits.mean, ref.meta.get("std") or splits.std
    logits = compute_logits(
        runner, images, mean, std, batch_size=batch_size, tta=tta, progress=progress, desc=f"evaluating {split}"
    )
    labels = images.labels
    losses = F.cross_entropy(logits, labels, reduction="none")
    probs = torch.softmax(logits, dim=1)
    data_label = data if isinstance(data, str) else splits.name
    return EvaluationResult(
        ref.label,
        data_label,
        split,
        list(ref.classes),
        labels.numpy(),
        probs.numpy(),
        losses.numpy(),
        tta=tta,
        precision=precision,
        engine=engine,
        notes=notes,
        images=images,
    )
