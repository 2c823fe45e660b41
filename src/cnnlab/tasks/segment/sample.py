"""``seg-sample``: MNIST digits scattered on a 64 x 64 canvas, with a class for every pixel.

Classes: 0 = background, 1..10 = the digits 0..9 (``"digit 0"`` ... ``"digit 9"``). Each canvas holds
1 to 3 digits, each resized to 20-36 pixels and placed at a random position (overlapping a placed
digit's box by at most a quarter); the canvas is the pixel-wise maximum of the digits' ink and a pixel
belongs to the digit whose ink there is 128 or more (the digit drawn last wins an overlap), otherwise to
the background. Training canvases use MNIST training digits, test canvases MNIST test digits, so the
two never share a digit.

:func:`scatter_digits` makes the canvases (seeded: the same seed gives the same bytes);
``tools/make_seg_sample.py`` ran it once on the real MNIST, and the result ships in the package as IDX
files (``cnnlab/data/builtin/seg-sample/``), read by :func:`read_seg_sample`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...data.idx import read_idx
from ...data.options import DataOptions
from ...data.sources import builtin_path

CLASSES = ["background"] + [f"digit {d}" for d in range(10)]
# black background, then matplotlib's "tab10" colours: ten digits told apart at a glance
PALETTE = [
    (0, 0, 0),
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
]
CANVAS = 64
INK_THRESHOLD = 128
SAMPLE_DIR = "seg-sample"


def _resize(digit: np.ndarray, side: int) -> np.ndarray:
    x = torch.from_numpy(digit).float()[None, None]
    y = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
    return y[0, 0].round().clamp(0, 255).to(torch.uint8).numpy()


def scatter_digits(
    digits: np.ndarray,
    labels: np.ndarray,
    count: int,
    seed: int,
    canvas: int = CANVAS,
    per_image: tuple[int, int] = (1, 3),
    sides: tuple[int, int] = (20, 36),
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` canvases (uint8, count x canvas x canvas) and their masks (class index per pixel)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, canvas, canvas), np.uint8)
    masks = np.zeros((count, canvas, canvas), np.uint8)
    for n in range(count):
        boxes: list[tuple[int, int, int]] = []
        for _ in range(int(rng.integers(per_image[0], per_image[1] + 1))):
            k = int(rng.integers(len(digits)))
            side = int(rng.integers(sides[0], sides[1] + 1))
            for _try in range(20):  # a position that overlaps the placed digits' boxes by at most a quarter
                y, x = (int(v) for v in rng.integers(0, canvas - side + 1, size=2))
                if all(_overlap((y, x, side), b) <= 0.25 * side * side for b in boxes):
                    break
            else:
                continue
            boxes.append((y, x, side))
            ink = _resize(digits[k], side)
            region = images[n, y : y + side, x : x + side]
            np.maximum(region, ink, out=region)
            masks[n, y : y + side, x : x + side][ink >= INK_THRESHOLD] = int(labels[k]) + 1
    return images, masks


def _overlap(a: tuple[int, int, int], b: tuple[int, int, int]) -> int:
    dy = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    dx = min(a[1] + a[2], b[1] + b[2]) - max(a[1], b[1])
    return max(dy, 0) * max(dx, 0)


def _read(split: str):
    from .dataset import SegmentationDataset

    root = builtin_path(SAMPLE_DIR)
    images = read_idx(root / f"{split}-images-idx3-ubyte.gz")
    masks = read_idx(root / f"{split}-masks-idx3-ubyte.gz")
    return SegmentationDataset(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(masks.copy()), CLASSES)


def read_seg_sample(options: DataOptions):
    """The built-in set as :class:`SegmentationSplits`: 2,000 training canvases (10% carved for validation,
    seeded) and 400 test canvases (read when asked for)."""
    from .folder import finish_splits

    return finish_splits(
        "seg-sample",
        _read("train"),
        None,
        lambda: _read("t10k"),
        options,
        source="built in: MNIST digits on 64x64 canvases",
        palette=PALETTE,
    )
