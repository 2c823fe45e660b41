"""The built-in detection set ``det-sample`` (``--data det-sample``): MNIST digits of random sizes
on 128 x 128 canvases, 1-4 per canvas, with their boxes; 1,200 training canvases (digits from
MNIST's training set) and 300 test canvases (digits from its test set). Built by
``tools/make_det_sample.py`` (seeded); the files ship in ``cnnlab/data/builtin/det-sample``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...data.idx import read_idx
from ...data.sources import DIGITS, builtin_path
from ...errors import CnnlabError
from .dataset import DetectionDataset, DetectionSplits, carve_validation, letterbox, make_target

NAME = "det-sample"


def read_split(root: Path, prefix: str, image_size: int | None = None) -> DetectionDataset:
    images = torch.from_numpy(read_idx(root / f"{prefix}-images-idx3-ubyte.gz").copy()).unsqueeze(1)
    rows = np.loadtxt(root / f"{prefix}-boxes.txt", dtype=np.int64, ndmin=2)
    if rows.shape[1] != 6:
        raise CnnlabError(f"{root / f'{prefix}-boxes.txt'}: expected 6 numbers per line (canvas label x0 y0 x1 y1)")
    per: list[list] = [[] for _ in range(len(images))]
    for r in rows.tolist():
        per[r[0]].append(r[1:])
    targets = []
    scale = (1.0, 1.0)
    if image_size and image_size != images.shape[-1]:
        resized = [letterbox(im, image_size) for im in images]
        images = torch.stack([r[0] for r in resized])
        scale = resized[0][1]
    for i, rs in enumerate(per):
        a = np.array(rs, dtype=np.float64).reshape(-1, 5)
        boxes = a[:, 1:] * np.array([scale[0], scale[1], scale[0], scale[1]])
        file_area = (a[:, 3] - a[:, 1]) * (a[:, 4] - a[:, 2])
        targets.append(make_target(boxes, a[:, 0], area=file_area, scale=scale, image_id=i))
    return DetectionDataset(images, targets, list(DIGITS), [f"{prefix}#{i}" for i in range(len(images))])


def read_det_sample(options=None) -> DetectionSplits:
    root = builtin_path(NAME)
    size = getattr(options, "image_size", None)
    seed = getattr(options, "seed", 0)
    train, val, note = carve_validation(read_split(root, "train", size), getattr(options, "val_split", None), seed)
    return DetectionSplits(
        NAME,
        train,
        val,
        source="built in",
        notes=[note] if note else [],
        test_reader=lambda: read_split(root, "t10k", size),
    )
