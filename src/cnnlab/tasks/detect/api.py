"""Detection runs after training: ``evaluate`` (COCO table on a split), ``predict`` (boxes drawn on
image files) and ``is_detection_run`` (what ``cnnlab evaluate/predict/bench`` dispatch on)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ...errors import CnnlabError
from .cocoeval import RECALL_COLUMNS, STATS, TABLE_COLUMNS, format_table
from .dataset import read_letterboxed
from .loader import DetectionLoader
from .task import evaluate_detector


def is_detection_run(ref) -> bool:
    """A run folder / weight file (a :class:`cnnlab.runs.ModelRef`) of a detector."""
    meta = ref.meta
    if meta.get("task") == "detect":
        return True
    from ...models import model_card

    try:
        return model_card(meta.get("model", "")).task == "detect"
    except CnnlabError:
        return False


@dataclass
class DetectionEvaluation:
    model: str
    data: str
    split: str
    stats: dict[str, float | None]  # percent; None where COCO gives -1 (no object of that size)
    per_class_ap: dict[str, float]
    images: int
    boxes: int
    notes: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        table = format_table(
            {k: (self.stats[k] / 100 if self.stats.get(k) is not None else -1) for k, *_ in STATS}, self.split
        )
        lines = [
            f"{self.model} on {self.data}, {self.split} split: {self.images:,} images, {self.boxes:,} boxes; "
            f"loss {self.stats['loss']:.4f}",
            table,
            "AP per class (IoU 0.50:0.95): "
            + ", ".join(f"{c} {100 * v:.1f}" if v >= 0 else f"{c} -" for c, v in self.per_class_ap.items()),
        ]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "data": self.data,
            "split": self.split,
            "images": self.images,
            "boxes": self.boxes,
            "metrics": self.stats,
            "per_class_ap": self.per_class_ap,
            "notes": self.notes,
            "columns": [name for name, _ in TABLE_COLUMNS + RECALL_COLUMNS],
            "files": self.files,
        }


def _data_for(ref, data, data_options: dict | None):
    from ...data import load_data

    if not isinstance(data, str):
        return data
    options = dict(ref.config().get("data_options") or {})  # the run's own carve-out for --split val
    size = ref.input_size
    if size and data.partition(":")[0] in ("coco", "yolo"):
        options.setdefault("image_size", size[-1])
        options.setdefault("channels", size[0])
    options.update(data_options or {})
    return load_data(data, options)


@torch.no_grad()
def evaluate(
    run,
    data,
    split: str = "test",
    *,
    batch_size: int = 32,
    data_options: dict | None = None,
    progress: bool = True,
    threads: int = 0,
    out: str | Path | None = None,
    pictures: int = 8,
    score_threshold: float = 0.5,
) -> DetectionEvaluation:
    """COCO box evaluation of a detection run on ``split`` of ``data`` (a spec or loaded splits);
    with ``out``, a PNG of the first ``pictures`` images with their detections above ``score_threshold`` (solid) and ground
    truth (dashed)."""
    from ... import runtime
    from ...runs import load_run, resolve_model

    runtime.configure(threads or None)
    ref = resolve_model(run) if not hasattr(run, "meta") else run
    if not is_detection_run(ref):
        raise CnnlabError(f"{ref.label} is not a detection run", "cnnlab evaluate reads classification runs itself")
    loaded = load_run(ref.weights)
    model, meta = loaded.model, loaded.meta
    splits = _data_for(ref, data, data_options)
    if getattr(splits, "task", "classify") != "detect":
        raise CnnlabError(
            f"{getattr(splits, 'name', data)} is not a detection data set", "use det-sample, coco:PATH or yolo:PATH"
        )
    ds = splits.split(split)
    notes = []
    if len(ds.classes) != len(meta["classes"]):
        raise CnnlabError(
            f"{splits.name} has {len(ds.classes)} classes but {ref.label} detects {len(meta['classes'])}",
            "evaluate on the data set the detector was trained for",
        )
    if tuple(ds.image_shape) != tuple(meta.get("input_size") or ds.image_shape):
        notes.append(
            f"images {'x'.join(map(str, ds.image_shape))}, the model trained on "
            f"{'x'.join(map(str, meta['input_size']))}"
        )
    mean, std = meta.get("mean") or splits.mean, meta.get("std") or splits.std
    loader = DetectionLoader(ds, batch_size, mean, std)
    stats, extra = evaluate_detector(model, loader, progress=progress, desc=f"evaluate {split}")
    result = DetectionEvaluation(
        meta["model"],
        splits.name,
        split,
        stats,
        dict(zip(meta["classes"], extra["per_class_ap"])),
        len(ds),
        ds.num_boxes,
        notes,
    )
    if out is not None and pictures:
        from .viz import detection_grid

        k = min(pictures, len(ds))
        dets = []
        for i in range(k):
            sx, sy = ds.targets[i]["scale"]
            d = extra["detections"][i]
            back = np.array([sx, sy, sx, sy])
            shown = d.scores >= score_threshold
            dets.append({"boxes": d.boxes[shown] * back, "labels": d.labels[shown], "scores": d.scores[shown]})
        images = [ds.images[i].permute(1, 2, 0).numpy() for i in range(k)]
        truths = [(ds.targets[i]["boxes"].numpy(), ds.targets[i]["labels"].numpy()) for i in range(k)]
        path = detection_grid(
            images,
            dets,
            truths,
            meta["classes"],
            Path(out) / "detections.png",
            title=f"{meta['model']} on {splits.name} ({split} split): score >= {score_threshold}; dashed: ground truth",
        )
        result.files["detections"] = str(path)
    return result


@dataclass
class DetectionPrediction:
    file: str
    boxes: list[list[float]]  # corners in the file's pixels
    labels: list[str]
    scores: list[float]
    picture: str | None = None

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "picture": self.picture,
            "detections": [{"class": c, "score": s, "box": b} for b, c, s in zip(self.boxes, self.labels, self.scores)],
        }


@torch.no_grad()
def predict(
    run,
    images: list,
    out: str | Path | None = None,
    score_threshold: float = 0.5,
    progress: bool = False,
    runner=None,
) -> list[DetectionPrediction]:
    """Detect objects in image files (files, folders, globs): boxes in each file's pixels, and a PNG
    per image with the boxes, classes and scores drawn (into ``out``, default the run folder's
    ``predictions/``). ``runner``: what runs the network's dense half (a ``cnnlab.deploy`` runner of
    :class:`~cnnlab.tasks.detect.deploy.DenseDetector`, e.g. ONNX Runtime); default eager PyTorch."""
    from tqdm.auto import tqdm

    from ...images import open_image, to_array
    from ...predict import collect_images
    from ...runs import load_run, resolve_model
    from .deploy import DenseDetector
    from .viz import draw_detections

    ref = resolve_model(run) if not hasattr(run, "meta") else run
    loaded = load_run(ref.weights)
    model, meta = loaded.model, loaded.meta
    c, size, _ = meta.get("input_size") or (model.in_chans, 256, 256)
    dense = DenseDetector(model, (c, size, size))
    runner = runner or dense
    mean = torch.tensor(meta.get("mean") or [0.5] * c).view(1, c, 1, 1)
    std = torch.tensor(meta.get("std") or [0.25] * c).view(1, c, 1, 1)
    folder = Path(out) if out is not None else (ref.run_dir or ref.weights.parent) / "predictions"
    results = []
    for path in tqdm(collect_images(images), desc="detect", disable=not progress, leave=False):
        x, (sx, sy), _ = read_letterboxed(path, size, c)
        det = dense.select(runner((x[None].float() / 255 - mean) / std))[0]
        keep = det["scores"] >= score_threshold
        boxes = (det["boxes"][keep] / torch.tensor([sx, sy, sx, sy])).tolist()
        labels = det["labels"][keep].tolist()
        scores = det["scores"][keep].tolist()
        picture = folder / f"{Path(path).stem}-detections.png"
        shown = to_array(open_image(path), 3 if c == 3 else 1)
        draw_detections(
            shown,
            boxes,
            labels,
            scores,
            meta["classes"],
            picture,
            title=f"{Path(path).name}: {len(boxes)} object(s), score >= {score_threshold}",
        )
        results.append(
            DetectionPrediction(
                str(path),
                [[round(v, 2) for v in b] for b in boxes],
                [meta["classes"][k] for k in labels],
                [round(s, 4) for s in scores],
                str(picture),
            )
        )
    return results
