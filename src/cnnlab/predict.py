"""Predict classes of image files with a trained run.

Any file Pillow reads, at any size and colour mode, is converted to what the model was trained
on: greyscale or RGB, the training image size, the training normalisation. For data sets of
light strokes on a dark background (MNIST), a photo of dark ink on light paper is inverted
and the digit is centred the way MNIST's were (fitted into 20x20, centred by mass in 28x28);
the result says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .errors import CnnlabError
from .images import open_image, resize_and_center_crop, to_array
from .runs import LoadedRun, load_run


@dataclass
class Prediction:
    file: str
    top: list[tuple[str, float]]  # (class, probability), best first
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.top[0][0]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["top"] = [{"class": c, "probability": p} for c, p in self.top]
        return d


def _border_mean(a: np.ndarray) -> float:
    return float(np.concatenate([a[0].ravel(), a[-1].ravel(), a[:, 0].ravel(), a[:, -1].ravel()]).mean())


def center_like_mnist(a: np.ndarray, size: int) -> np.ndarray:
    """Fit the bright strokes of a greyscale image into a (20/28)*size box and centre them by mass."""
    g = a[..., 0].astype(np.float32)
    mask = g > 0.25 * g.max() if g.max() > 0 else np.zeros_like(g, bool)
    if not mask.any():
        return np.asarray(Image.fromarray(a[..., 0]).resize((size, size), Image.BILINEAR))[..., None]
    rows, cols = np.where(mask)
    crop = g[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    box = max(1, round(size * 20 / 28))
    scale = box / max(crop.shape)
    h, w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    small = np.asarray(Image.fromarray(crop.astype(np.uint8)).resize((w, h), Image.LANCZOS), dtype=np.float32)
    canvas = np.zeros((size, size), np.float32)
    total = small.sum()
    cy = (small.sum(1) * np.arange(h)).sum() / total if total else h / 2
    cx = (small.sum(0) * np.arange(w)).sum() / total if total else w / 2
    top = int(np.clip(round(size / 2 - cy), 0, size - h))
    left = int(np.clip(round(size / 2 - cx), 0, size - w))
    canvas[top:top + h, left:left + w] = small
    return np.clip(canvas, 0, 255).astype(np.uint8)[..., None]


def prepare(im: Image.Image, meta: dict) -> tuple[torch.Tensor, list[str]]:
    """The normalised 1 x C x H x W tensor for one image, and notes on what was done to it."""
    c, h, w = meta["input_size"]
    notes = []
    a = to_array(im, c)
    if im.size != (w, h):
        notes.append(f"resized from {im.size[0]}x{im.size[1]} to {w}x{h}")
    if meta.get("background") == "dark" and _border_mean(a) > 127:
        a = 255 - a
        notes.append("inverted: dark-on-light image, the model was trained on light-on-dark")
    if c == 1 and meta.get("background") == "dark" and h == w:
        a = center_like_mnist(a, h)
    elif a.shape[:2] != (h, w):
        if im.size[0] * h != im.size[1] * w:
            notes.append("centre-cropped to the model's aspect ratio")
        a = resize_and_center_crop(a, h, w)  # as image folders are stored for training
    x = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).float().div_(255).unsqueeze(0)
    mean = torch.tensor(meta["mean"]).view(1, c, 1, 1)
    std = torch.tensor(meta["std"]).view(1, c, 1, 1)
    return (x - mean) / std, notes


@torch.no_grad()
def predict(run: str | Path | LoadedRun, images: list[str | Path], top_k: int = 3) -> list[Prediction]:
    """Top-k classes with probabilities for each image file."""
    loaded = run if isinstance(run, LoadedRun) else load_run(run)
    if not images:
        raise CnnlabError("no image files given", "pass one or more image paths")
    classes = loaded.classes
    k = max(1, min(top_k, len(classes)))
    out = []
    for path in images:
        x, notes = prepare(open_image(path), loaded.meta)
        probs = torch.softmax(loaded.model(x).float(), dim=1)[0]
        p, i = probs.topk(k)
        out.append(Prediction(str(path), [(classes[j], float(q)) for q, j in zip(p.tolist(), i.tolist())], notes))
    return out
