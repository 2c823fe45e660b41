"""Anomaly data: the MVTec AD folder layout, and the built-in generated set.

    CATEGORY/train/good/*.png                  normal images (fit; a held-out part sets the threshold)
    CATEGORY/test/good/*.png                   normal test images (no masks)
    CATEGORY/test/<defect>/*.png               defective test images
    CATEGORY/ground_truth/<defect>/*_mask.png  their masks (white = defect)

``--data mvtec:PATH`` (PATH = one category folder) or ``--data defects-sample[:weave|grain]``.
Images are decoded one at a time through :mod:`cnnlab.images` and kept only at the working size
(uint8), so memory is bounded by ``count x size^2 x channels`` bytes whatever the file sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ...errors import CnnlabError
from ...images import open_image, resize_and_center_crop, to_array
from .textures import TEXTURES, sample_path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class TestImage:
    path: Path
    defect: str  # "good" for normal images
    mask: Path | None  # None for good images


@dataclass
class AnomalySet:
    name: str
    root: Path
    train: list[Path]
    test: list[TestImage] = field(default_factory=list)

    @property
    def defects(self) -> list[str]:
        return sorted({t.defect for t in self.test if t.defect != "good"})


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def read_mvtec(root: str | Path, name: str | None = None) -> AnomalySet:
    """Index one MVTec-AD-layout category folder (files are decoded later, at the working size)."""
    root = Path(root)
    name = name or f"mvtec:{root}"
    if not root.is_dir():
        raise CnnlabError(f"{name}: folder {root} does not exist", "pass --data mvtec:PATH with a category folder")
    good = root / "train" / "good"
    if not good.is_dir():
        inner = sorted(p.name for p in root.iterdir() if (p / "train" / "good").is_dir())
        hint = (
            f"{root} holds categories ({', '.join(inner[:8])}); pass one, e.g. mvtec:{root / inner[0]}"
            if inner
            else "expected CATEGORY/train/good/*.png, CATEGORY/test/<defect>/*.png, "
            "CATEGORY/ground_truth/<defect>/*_mask.png"
        )
        raise CnnlabError(f"{name}: {good} not found", hint)
    train = _images(good)
    if not train:
        raise CnnlabError(
            f"{name}: no images in {good}", f"put the normal images there ({', '.join(IMAGE_EXTENSIONS)})"
        )
    test: list[TestImage] = []
    test_root = root / "test"
    if test_root.is_dir():
        for folder in sorted(p for p in test_root.iterdir() if p.is_dir()):
            for path in _images(folder):
                mask = None
                if folder.name != "good":
                    mask = root / "ground_truth" / folder.name / f"{path.stem}_mask.png"
                    if not mask.is_file():
                        raise CnnlabError(
                            f"{name}: no mask {mask} for {path}",
                            "every defective test image needs ground_truth/<defect>/<stem>_mask.png",
                        )
                test.append(TestImage(path, folder.name, mask))
    return AnomalySet(name, root, train, test)


def resolve_data(spec: str, cache_root: Path | None = None) -> AnomalySet:
    """``mvtec:PATH`` or ``defects-sample[:CATEGORY]``."""
    kind, _, arg = spec.partition(":")
    if kind == "mvtec":
        if not arg:
            raise CnnlabError("mvtec needs a path", "write --data mvtec:PATH/TO/CATEGORY")
        return read_mvtec(Path(arg).expanduser())
    if kind == "defects-sample":
        category = arg or "weave"
        if category not in TEXTURES:
            raise CnnlabError(f"defects-sample has no category {category!r}", f"use one of {', '.join(TEXTURES)}")
        return read_mvtec(sample_path(category, cache_root), f"defects-sample:{category}")
    raise CnnlabError(f"unknown anomaly data {spec!r}", "use mvtec:PATH (a category folder) or defects-sample")


def load_images(paths: list[Path], size: int, channels: int, desc: str | None = None) -> torch.Tensor:
    """N x C x size x size uint8: each file decoded, converted, scaled to cover and centre-cropped."""
    out = torch.empty(len(paths), channels, size, size, dtype=torch.uint8)
    for i, path in enumerate(tqdm(paths, desc=desc, leave=False, disable=desc is None)):
        a = resize_and_center_crop(to_array(open_image(path, reduce_to=size), channels), size, size)
        out[i] = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))
    return out


def load_masks(items: list[TestImage], size: int) -> np.ndarray:
    """N x size x size bool masks (all False for good images), with the images' geometry."""
    out = np.zeros((len(items), size, size), bool)
    for i, item in enumerate(items):
        if item.mask is not None:
            a = resize_and_center_crop(to_array(open_image(item.mask), 1), size, size)
            out[i] = a[..., 0] >= 128
    return out


def split_train(paths: list[Path], val_fraction: float, seed: int) -> tuple[list[Path], list[Path]]:
    """(fit images, held-out normal validation images) by a seeded permutation of train/good."""
    if not 0 < val_fraction < 1:
        raise CnnlabError(f"val_fraction={val_fraction} is not in (0, 1)", "use e.g. 0.1")
    n_val = max(1, round(len(paths) * val_fraction))
    if len(paths) - n_val < 2:
        raise CnnlabError(
            f"{len(paths)} normal training images are too few to fit and validate",
            "put at least 3 images in train/good (tens for a useful model)",
        )
    order = np.random.default_rng(seed).permutation(len(paths))
    val = sorted(order[:n_val].tolist())
    fit = sorted(order[n_val:].tolist())
    return [paths[i] for i in fit], [paths[i] for i in val]
