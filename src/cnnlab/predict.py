"""Predict classes of image files with a trained run: files, folders and globs, in batches.

Any file Pillow reads, at any size and colour mode, is converted to what the model was trained
on: greyscale or RGB, the training image size, the training normalisation. For data sets of
light strokes on a dark background (MNIST), a photo of dark ink on light paper is inverted
and the digit is centred the way MNIST's were (fitted into 20x20, centred by mass in 28x28);
the result says so. Images are decoded and prepared one by one (bounded memory: one batch at a
time) and go through the network ``batch_size`` at a time.
"""

from __future__ import annotations

import sys
import types
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
    top: list[tuple[str, float]]  # (class, probability), best first; empty when the file was skipped
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # why the file was skipped (bad_images="skip")

    @property
    def label(self) -> str | None:
        return self.top[0][0] if self.top else None

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
    crop = g[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
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
    canvas[top : top + h, left : left + w] = small
    return np.clip(canvas, 0, 255).astype(np.uint8)[..., None]


def prepare(im: Image.Image, meta: dict) -> tuple[torch.Tensor, list[str]]:
    """The normalised 1 x C x H x W tensor for one image, and notes on what was done to it."""
    x, notes = prepare_uint8(im, meta)
    return normalize(x.unsqueeze(0), meta), notes


def prepare_uint8(im: Image.Image, meta: dict) -> tuple[torch.Tensor, list[str]]:
    """The C x H x W uint8 tensor the model expects for one image, and notes on what was done to it."""
    c, h, w = meta["input_size"]
    notes = []
    a = to_array(im, c)
    if im.size != (w, h):
        notes.append(f"resized from {im.size[0]}x{im.size[1]} to {w}x{h}")
    # only greyscale models of light strokes on dark (MNIST-like): a colour photo with a bright sky is
    # not a negative (CIFAR-10's mean border is dark too, but its photos must never be inverted)
    if c == 1 and meta.get("background") == "dark" and _border_mean(a) > 127:
        a = 255 - a
        notes.append("inverted: dark-on-light image, the model was trained on light-on-dark")
    if c == 1 and meta.get("background") == "dark" and h == w:
        a = center_like_mnist(a, h)
    elif a.shape[:2] != (h, w):
        if im.size[0] * h != im.size[1] * w:
            notes.append("centre-cropped to the model's aspect ratio")
        a = resize_and_center_crop(a, h, w)  # as image folders are stored for training
    # a fresh, writable, contiguous copy: arrays that view a Pillow image are read-only
    return torch.from_numpy(np.array(a, dtype=np.uint8, copy=True)).permute(2, 0, 1).contiguous(), notes


def normalize(x: torch.Tensor, meta: dict) -> torch.Tensor:
    """uint8 N x C x H x W -> float, normalised with the run's mean and std."""
    c = x.shape[1]
    mean = torch.tensor(meta["mean"], dtype=torch.float32).view(1, c, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32).view(1, c, 1, 1)
    return (x.float().div_(255) - mean) / std


def collect_images(items: list[str | Path]) -> list[Path]:
    """Files as given, folders (every image file under them, sorted) and glob patterns, in order, once each.

    A folder's files without an image extension are left out; a file named explicitly is always
    read (a non-image is then an error that names it).
    """
    import glob

    from .data.imagefolder import IMAGE_EXTENSIONS

    out: list[Path] = []
    for item in items:
        text = str(item)
        p = Path(text).expanduser()
        if p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in IMAGE_EXTENSIONS
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not found:
                raise CnnlabError(
                    f"folder {p} holds no image files", f"image extensions read: {', '.join(sorted(IMAGE_EXTENSIONS))}"
                )
            out.extend(found)
        elif not p.exists() and set(text) & set("*?["):
            found = sorted(Path(f) for f in glob.glob(str(p), recursive=True) if Path(f).is_file())
            if not found:
                raise CnnlabError(f"no file matches {text!r}", "check the pattern (quote it so the shell passes it on)")
            out.extend(found)
        else:
            out.append(p)
    seen: set[Path] = set()
    return [f for f in out if not (f in seen or seen.add(f))]


@torch.no_grad()
def predict(
    run: str | Path | LoadedRun,
    images: list[str | Path],
    top_k: int = 3,
    batch_size: int = 64,
    bad_images: str = "error",
    runner=None,
    progress: bool = False,
) -> list[Prediction]:
    """Top-k classes with probabilities for each image file (files, folders and glob patterns).

    ``batch_size`` images go through the network at once. ``bad_images="skip"`` reports an unreadable
    file as a skipped :class:`Prediction` (``error`` set) instead of stopping at it. ``runner``
    replaces the eager model (a ``Callable[[Tensor], Tensor]`` from normalised images to logits).
    """
    from tqdm.auto import tqdm

    from .progress import bar_enabled

    loaded = run if isinstance(run, LoadedRun) else load_run(run)
    if not images:
        raise CnnlabError("no image files given", "pass image files, folders or glob patterns")
    if bad_images not in ("error", "skip"):
        raise CnnlabError(f"bad_images={bad_images!r}", "use error (stop at an unreadable file) or skip")
    files = collect_images(images)
    classes = loaded.classes
    k = max(1, min(top_k, len(classes)))
    if runner is None:
        model = loaded.model.eval()
        runner = model
    out: list[Prediction] = []
    bar = tqdm(total=len(files), unit="img", desc="predicting", leave=False, disable=not bar_enabled(progress))
    for start in range(0, len(files), max(1, batch_size)):
        batch, done = [], []
        for path in files[start : start + batch_size]:
            try:
                with open_image(path) as im:  # a multi-frame file (GIF) keeps its file open until closed
                    x, notes = prepare_uint8(im, loaded.meta)
            except CnnlabError as e:
                if bad_images == "error":
                    raise
                out.append(Prediction(str(path), [], [], error=str(e)))
                continue
            batch.append(x)
            done.append(Prediction(str(path), [], notes))
        if batch:
            probs = torch.softmax(runner(normalize(torch.stack(batch), loaded.meta)).float(), dim=1)
            p, i = probs.topk(k, dim=1)
            for pred, ps, js in zip(done, p.tolist(), i.tolist()):
                pred.top = [(classes[j], q) for q, j in zip(ps, js)]
        out.extend(done)
        bar.update(len(files[start : start + batch_size]))
    bar.close()
    order = {str(f): n for n, f in enumerate(files)}
    return sorted(out, key=lambda r: order[r.file])


class _CallableModule(types.ModuleType):
    """``cnnlab.predict`` is both this module and the function: importing the submodule binds the
    module to the package attribute, so calling it calls :func:`predict` (notebooks call it twice)."""

    def __call__(self, *args, **kwargs):
        return predict(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
