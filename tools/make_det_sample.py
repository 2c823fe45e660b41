"""Build the built-in detection set `det-sample`: MNIST digits of random sizes on 128 x 128 canvases.

    python tools/make_det_sample.py ../shared/data/mnist src/cnnlab/data/builtin/det-sample

Training canvases use digits of MNIST's training set, test canvases digits of its test set, so no
digit is in both. Each canvas holds 1-4 digits, each scaled (keeping its aspect) to a height drawn
log-uniformly from 12 to 72 pixels and placed where its box overlaps no earlier box; the box is the
tight extent of the pasted digit (pixels >= 64). Everything follows from SEED. Files: the canvases
as gzip IDX (N x 128 x 128, uint8) and one text line per box: ``canvas label x0 y0 x1 y1`` (pixel
corners, exclusive right/bottom), read by ``cnnlab.tasks.detect.sample``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from cnnlab.data.idx import read_idx, write_idx  # noqa: E402

SEED = 20261130
SIDE = 128
COUNTS = {"train": 1200, "t10k": 300}
HEIGHTS = (12, 72)
INK = 64  # a pixel at or above this is part of the digit's box


def render_digit(digit: np.ndarray, height: int) -> np.ndarray:
    rows, cols = np.nonzero(digit > 0)
    crop = digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.float32)
    width = max(2, round(crop.shape[1] * height / crop.shape[0]))
    x = F.interpolate(
        torch.from_numpy(crop)[None, None], size=(height, width), mode="bilinear", align_corners=False, antialias=True
    )
    return x[0, 0].round().clamp(0, 255).to(torch.uint8).numpy()


def make_canvas(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
    canvas = np.zeros((SIDE, SIDE), np.uint8)
    boxes: list[tuple[int, int, int, int, int]] = []
    for _ in range(int(rng.integers(1, 5))):
        for _attempt in range(20):
            i = int(rng.integers(len(images)))
            h = int(round(np.exp(rng.uniform(np.log(HEIGHTS[0]), np.log(HEIGHTS[1])))))
            patch = render_digit(images[i], h)
            ph, pw = patch.shape
            if pw > SIDE or ph > SIDE:
                continue
            y, x = int(rng.integers(0, SIDE - ph + 1)), int(rng.integers(0, SIDE - pw + 1))
            rows, cols = np.nonzero(patch >= INK)
            box = (x + cols.min(), y + rows.min(), x + cols.max() + 1, y + rows.max() + 1)
            if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in boxes):
                continue  # keep the digits apart: every object is fully visible
            region = canvas[y : y + ph, x : x + pw]
            np.maximum(region, patch, out=region)
            boxes.append((*box, int(labels[i])))
            break
    return canvas, boxes


def main(src: str, dst: str) -> None:
    src_dir, dst_dir = Path(src), Path(dst)
    dst_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    for split, n in COUNTS.items():
        images = read_idx(src_dir / f"{split}-images-idx3-ubyte.gz")
        labels = read_idx(src_dir / f"{split}-labels-idx1-ubyte.gz")
        canvases, lines = [], []
        for k in range(n):
            canvas, boxes = make_canvas(images, labels, rng)
            canvases.append(canvas)
            lines += [f"{k} {c} {x0} {y0} {x1} {y1}" for x0, y0, x1, y1, c in boxes]
        write_idx(dst_dir / f"{split}-images-idx3-ubyte.gz", np.stack(canvases))
        (dst_dir / f"{split}-boxes.txt").write_text("\n".join(lines) + "\n")
        print(f"{split}: {n} canvases, {len(lines)} digits")


if __name__ == "__main__":
    main(*(sys.argv[1:] or ["../shared/data/mnist", "src/cnnlab/data/builtin/det-sample"]))
