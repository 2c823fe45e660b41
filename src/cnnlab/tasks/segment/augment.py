"""Augmentation applied jointly to images and their masks, on whole batches.

``--augment`` for segmentation takes ``scale``, ``crop`` and ``flip`` (e.g. ``"scale=0.75:1.25,crop=8,flip"``);
they always run in that order. Every step moves the image and the mask with the *same* geometry: the
image is resampled bilinearly, the mask by nearest neighbour (labels are never blended), and pixels
that come from outside the image get the ignore label 255 (they count in no loss and no metric).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...data.transforms import hflip, shift_crop
from ...errors import CnnlabError, UnknownNameError
from .metrics import IGNORE_INDEX

ORDER = ["scale", "crop", "flip"]
AUGMENT_HELP = {
    "scale": "scale=LO:HI            zoom by a random factor in [LO, HI] about a random point (default 0.75:1.25)",
    "crop": "crop=P[:zero|reflect]  shift by up to P pixels each way (pad P and crop back; default 4, zero)",
    "flip": "flip[=P]               mirror left-right with probability P (default 0.5)",
}


@dataclass
class Step:
    name: str
    args: dict

    def __str__(self) -> str:
        return f"{self.name}(" + ", ".join(f"{k}={v}" for k, v in self.args.items()) + ")"


def joint_scale(
    images: torch.Tensor, masks: torch.Tensor, factor: torch.Tensor, shift: torch.Tensor, image_mode: str = "bilinear"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zoom image ``n`` by ``factor[n]`` about the point ``shift[n]`` (x, y in [-1, 1] units of the
    output) with one sampling grid for image and mask; outside: image 0, mask 255."""
    n, c, h, w = images.shape
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / factor
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, [n, c, h, w], align_corners=False)
    out = F.grid_sample(images.float(), grid, mode=image_mode, padding_mode="zeros", align_corners=False)
    labels = F.grid_sample(
        masks.float().unsqueeze(1) + 1, grid, mode="nearest", padding_mode="zeros", align_corners=False
    ).squeeze(1)
    return out, torch.where(labels == 0, IGNORE_INDEX, labels - 1).to(torch.uint8)


def joint_shift(
    images: torch.Tensor, masks: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, mode: str = "zero"
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`~cnnlab.data.transforms.shift_crop` of both; with zero padding the new mask pixels are 255."""
    out = shift_crop(images, dy, dx, mode)
    labels = shift_crop(masks.unsqueeze(1).to(torch.int16) + 1, dy, dx, mode).squeeze(1)
    return out, torch.where(labels == 0, IGNORE_INDEX, labels - 1).to(torch.uint8)


class JointAugment:
    """``(uint8 images N x C x H x W, uint8 masks N x H x W, generator) -> (images in [0, 255] units, masks)``."""

    def __init__(self, steps: list[Step], spec: str = "", image_mode: str = "bilinear"):
        self.steps = sorted(steps, key=lambda s: ORDER.index(s.name))
        self.spec = spec
        self.image_mode = image_mode  # "nearest" only for tests that check the alignment pixel for pixel

    def __call__(
        self, images: torch.Tensor, masks: torch.Tensor, g: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n = images.shape[0]
        for s in self.steps:
            a = s.args
            if s.name == "scale":
                lo, hi = a["low"], a["high"]
                factor = lo + (hi - lo) * torch.rand(n, generator=g)
                reach = (1 - 1 / factor).abs().unsqueeze(1)
                shift = (2 * torch.rand(n, 2, generator=g) - 1) * reach
                images, masks = joint_scale(images, masks, factor, shift, self.image_mode)
            elif s.name == "crop":
                p = a["padding"]
                dy = torch.randint(-p, p + 1, (n,), generator=g)
                dx = torch.randint(-p, p + 1, (n,), generator=g)
                images, masks = joint_shift(images, masks, dy, dx, a["mode"])
            elif s.name == "flip":
                flip = torch.rand(n, generator=g) < a["p"]
                images, masks = hflip(images, flip), hflip(masks.unsqueeze(1), flip).squeeze(1)
        return images, masks

    def describe(self) -> str:
        return ", ".join(str(s) for s in self.steps)

    def __repr__(self) -> str:
        return f"JointAugment({self.describe()})"


def parse_joint_augment(spec: str | None, image_mode: str = "bilinear") -> JointAugment | None:
    """``"scale=0.75:1.25,crop=8,flip"`` -> :class:`JointAugment`; ``""`` / ``"none"`` -> None."""
    if spec is None or spec.strip().lower() in ("", "none"):
        return None
    steps: dict[str, Step] = {}
    for item in (p.strip() for p in spec.split(",")):
        if not item:
            continue
        name, _, value = (x.strip() for x in item.partition("="))
        name = name.lower()
        if name not in AUGMENT_HELP:
            err = UnknownNameError("segmentation augmentation", name, AUGMENT_HELP)
            err.hint = (err.hint + " " if err.hint else "") + "Segmentation takes: " + "; ".join(AUGMENT_HELP.values())
            raise err
        if name in steps:
            raise CnnlabError(f"augmentation {name!r} is given twice in {spec!r}", "give each augmentation once")
        steps[name] = _step(name, value)
    return JointAugment(list(steps.values()), spec, image_mode) if steps else None


def _step(name: str, value: str) -> Step:
    def bad(why: str) -> CnnlabError:
        return CnnlabError(f"augmentation {name}={value}: {why}", AUGMENT_HELP[name])

    parts = [p for p in value.split(":")] if value else []
    try:
        if name == "scale":
            lo, hi = (
                (float(parts[0]), float(parts[1])) if len(parts) == 2 else (0.75, 1.25) if not parts else (None, None)
            )
            if lo is None or not 0 < lo <= hi <= 8:
                raise bad("needs LO:HI with 0 < LO <= HI <= 8")
            return Step(name, {"low": lo, "high": hi})
        if name == "crop":
            p = int(parts[0]) if parts else 4
            mode = parts[1] if len(parts) > 1 else "zero"
            if p < 0 or mode not in ("zero", "reflect") or len(parts) > 2:
                raise bad("needs P >= 0 and the padding zero or reflect")
            return Step(name, {"padding": p, "mode": mode})
        p = float(parts[0]) if parts else 0.5
        if not 0 <= p <= 1 or len(parts) > 1:
            raise bad("needs a probability in [0, 1]")
        return Step(name, {"p": p})
    except ValueError:
        raise bad("not a number") from None
