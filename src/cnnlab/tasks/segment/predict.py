"""``cnnlab predict RUN image.png`` for a segmentation run: the class of every pixel, drawn as a colour
overlay (PNG per image: the image, and the predicted classes blended over it, with a legend).

A fully convolutional network runs at the image's own size (no resizing to the training size;
images larger than ``max_side`` are shrunk to fit it first). Greyscale models trained on light
strokes on a dark background (MNIST-like data) see dark-on-light images inverted, as classifiers do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ...errors import CnnlabError
from ...images import open_image, to_array
from ...runs import LoadedRun, load_run
from .viz import palette_for, save_prediction

MAX_SIDE = 1024


@dataclass
class SegmentationPrediction:
    file: str
    overlay: str | None  # the PNG written
    pixels: dict[str, float] = field(default_factory=dict)  # share of the image per predicted class (%)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    mask: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "overlay": self.overlay,
            "pixels": self.pixels,
            "notes": self.notes,
            "error": self.error,
        }


def segment_image(loaded: LoadedRun, path: Path, max_side: int = MAX_SIDE) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(H x W x C uint8 image as the model saw it, H x W predicted classes, notes)."""
    meta = loaded.meta
    c = loaded.model.in_chans
    notes = []
    with open_image(path, fit_within=max_side) as im:
        a = to_array(im, c)
    if max(a.shape[:2]) > max_side:
        from PIL import Image

        h, w = a.shape[:2]
        s = max_side / max(h, w)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        a = np.asarray(Image.fromarray(a.squeeze(-1) if c == 1 else a).resize(size, Image.BILINEAR)).reshape(
            size[1], size[0], c
        )
        notes.append(f"shrunk from {w}x{h} to {size[0]}x{size[1]} (max side {max_side})")
    shown = a
    if (
        c == 1
        and meta.get("background") == "dark"
        and float(np.concatenate([a[0].ravel(), a[-1].ravel(), a[:, 0].ravel(), a[:, -1].ravel()]).mean()) > 127
    ):
        a = 255 - a
        notes.append("inverted: dark-on-light image, the model was trained on light-on-dark")
    x = torch.from_numpy(np.array(a.transpose(2, 0, 1), np.float32) / 255.0).unsqueeze(0)
    mean = torch.tensor(meta["mean"], dtype=torch.float32).view(1, c, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32).view(1, c, 1, 1)
    with torch.no_grad():
        pred = loaded.model.eval()((x - mean) / std).argmax(1)[0].to(torch.uint8).numpy()
    return shown, pred, notes


def predict_segmentation(
    run,
    images: list,
    out_dir: str | Path | None = None,
    bad_images: str = "error",
    progress: bool = False,
    max_side: int = MAX_SIDE,
) -> list[SegmentationPrediction]:
    """Segment image files (files, folders, globs); write ``OUT/<stem>.overlay.png`` for each (default OUT:
    RUN_DIR/predictions)."""
    from tqdm.auto import tqdm

    from ...predict import collect_images
    from ...progress import bar_enabled

    loaded = run if isinstance(run, LoadedRun) else load_run(run)
    if loaded.meta.get("task") != "segment":
        raise CnnlabError(
            f"{loaded.path} is not a segmentation run", "use cnnlab predict without --out for classifiers"
        )
    files = collect_images(images)
    out = Path(out_dir) if out_dir else loaded.path / "predictions"
    out.mkdir(parents=True, exist_ok=True)
    classes = loaded.classes
    table = palette_for(len(classes), loaded.meta.get("palette"))
    results = []
    used: set[str] = set()
    for path in tqdm(files, desc="segmenting", unit="img", leave=False, disable=not bar_enabled(progress)):
        try:
            image, pred, notes = segment_image(loaded, Path(path), max_side)
        except CnnlabError as e:
            if bad_images == "error":
                raise
            results.append(SegmentationPrediction(str(path), None, error=str(e)))
            continue
        name = Path(path).stem
        while name in used:  # two files with one stem in different folders
            name += "_"
        used.add(name)
        target = out / f"{name}.overlay.png"
        counts = np.bincount(pred.ravel(), minlength=len(classes))
        share = {classes[i]: round(100.0 * int(n) / pred.size, 2) for i, n in enumerate(counts) if n}
        save_prediction(target, image, pred, classes, table, f"{Path(path).name} ({pred.shape[1]}x{pred.shape[0]})")
        results.append(SegmentationPrediction(str(path), str(target), share, notes, mask=pred))
    return results
