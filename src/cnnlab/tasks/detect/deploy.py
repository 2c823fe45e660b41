"""A detector as one exportable graph, and the step that finishes its output outside the graph.

``cnnlab export`` of a detection run writes :class:`DenseDetector`: image batch in, one tensor out,
N x P x (4 + classes + 1) (:meth:`FCOS.decode`: clipped box corners in input pixels, class
probabilities, centerness at each of the P locations). What is left, thresholds, per-level top-k
and class-aware NMS, is data-dependent Python that no exporter turns into a clean graph; it runs
in :func:`select`, with the settings the file carries in its metadata:

    >>> from cnnlab.deploy import read_metadata, make_runner
    >>> from cnnlab.tasks.detect.deploy import select
    >>> meta = read_metadata("fcos.onnx")
    >>> dense = make_runner("fcos.onnx", engine="onnxruntime")(x)    # x: N x C x H x W, normalised
    >>> per_image = select(dense, meta)                               # boxes, scores, labels

Eager PyTorch runs the same two halves (``model.postprocess = select o decode``), so an exported
detector and its run folder give the same boxes, which the export's parity check verifies.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ...errors import CnnlabError

SETTINGS = ("score_threshold", "nms_threshold", "max_detections", "candidates_per_level")
LAYOUT = (
    "N x P x (4 + classes + 1), float32: per location x0, y0, x1, y1 (box corners in input pixels, "
    "clipped to the image), each class's probability, the centerness; locations level by level "
    "(level_sizes), row by row"
)


def is_detector(model: nn.Module) -> bool:
    return getattr(model, "task", None) == "detect" and hasattr(model, "decode")


class DenseDetector(nn.Module):
    """``detector.decode(detector(x))``: the exportable half of a detector, for a fixed H x W
    (the locations depend on it; the batch may vary)."""

    task = "detect-dense"

    def __init__(self, detector: nn.Module, input_size: tuple[int, int, int]):
        super().__init__()
        if not is_detector(detector):
            raise CnnlabError(f"{type(detector).__name__} is not a detector with a decode step")
        self.detector = detector.eval()
        self.input_size = tuple(input_size)
        with torch.no_grad():
            out = self.detector(torch.zeros(1, *self.input_size))
        from .model import level_sizes

        self.level_sizes = level_sizes(out["levels"], len(self.detector.strides))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.detector.decode(self.detector(x))

    def metadata(self) -> dict:
        """What a deployed copy needs to finish the detections (:func:`select`)."""
        d = self.detector
        return {
            "task": "detect",
            "output": LAYOUT,
            "level_sizes": self.level_sizes,
            **{k: getattr(d, k) for k in SETTINGS},
        }

    def select(self, dense: torch.Tensor) -> list[dict]:
        return self.detector.select(dense, self.level_sizes)

    # -- what the export's parity check compares (cnnlab.deploy.export.check_parity) --

    def parity_view(self, dense: torch.Tensor) -> torch.Tensor:
        """Boxes as fractions of the image side, so that every column is on a 0-1 scale and one
        relative tolerance fits box corners and probabilities alike."""
        h, w = self.input_size[1:]
        scale = torch.ones(dense.shape[-1])
        scale[[0, 2]], scale[[1, 3]] = w, h
        return dense.float() / scale

    def parity_agreement(self, out: torch.Tensor, ref: torch.Tensor) -> tuple[float, str]:
        """The share of images whose final detections match: same count, classes and order, boxes
        within 0.01 pixel and scores within 1e-3."""
        same = [same_detections(a, b) for a, b in zip(self.select(out), self.select(ref))]
        return sum(same) / max(len(same), 1), "images with the same detections after NMS"


def same_detections(a: dict, b: dict, box_tol: float = 1e-2, score_tol: float = 1e-3) -> bool:
    if len(a["labels"]) != len(b["labels"]) or not torch.equal(a["labels"], b["labels"]):
        return False
    if len(a["labels"]) == 0:
        return True
    return bool(
        (a["boxes"] - b["boxes"]).abs().max() <= box_tol and (a["scores"] - b["scores"]).abs().max() <= score_tol
    )


def select(dense: torch.Tensor, meta: dict) -> list[dict]:
    """Finish an exported detector's output: ``dense`` (N x P x (4 + classes + 1), a tensor or numpy
    array) and the file's metadata (``read_metadata``) -> per image ``boxes`` (x0, y0, x1, y1 in
    input pixels), ``scores``, ``labels`` after thresholds and class-aware NMS."""
    from .model import select_detections

    if meta.get("task") != "detect" or "level_sizes" not in meta:
        raise CnnlabError(
            "the metadata is not a cnnlab detector's",
            "pass read_metadata(PATH) of a file `cnnlab export` wrote from a detection run",
        )
    dense = torch.as_tensor(dense).float()
    classes = len(meta.get("classes") or [])
    if dense.dim() != 3 or dense.shape[1] != sum(meta["level_sizes"]) or (classes and dense.shape[2] != classes + 5):
        raise CnnlabError(
            f"detector output of shape {tuple(dense.shape)} does not match the metadata "
            f"({sum(meta['level_sizes'])} locations, {classes} classes)",
            "run the file on inputs of its own size (metadata input_size)",
        )
    return select_detections(dense, meta["level_sizes"], **{k: meta[k] for k in SETTINGS})
