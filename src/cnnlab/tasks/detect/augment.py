"""Box-aware augmentation: every change to the image is applied to its boxes too.

``--augment`` for detection takes a comma-separated spec:

    flip               mirror left-right with probability 1/2 (not for digits or text)
    scale=LO-HI        zoom by a factor drawn uniformly from LO..HI, then cut or pad back to the
                       working size at a random offset (a random crop when zoomed in, a random
                       placement on a zero border when zoomed out)
    min_visible=F      a box cut by the crop is kept when at least F of its area stays in the
                       image (default 0.5), clipped to the image; otherwise it is dropped

Boxes are ``(x0, y0, x1, y1)`` in pixel corners (a pixel grid of width ``W`` spans ``0..W``), so a
flip maps ``x`` to ``W - x`` and a resize by ``W'/W`` scales every coordinate exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...errors import CnnlabError
from .boxes import area


def hflip(image: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    w = image.shape[-1]
    return image.flip(-1), torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], dim=1)


def resize(image: torch.Tensor, boxes: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear (antialiased when shrinking) resize of a uint8 C x H x W image; boxes scaled by the
    exact per-axis ratios."""
    h, w = image.shape[-2:]
    x = F.interpolate(
        image[None].float(),
        size=(height, width),
        mode="bilinear",
        align_corners=False,
        antialias=height < h or width < w,
    )[0]
    factors = torch.tensor([width / w, height / h, width / w, height / h], dtype=boxes.dtype)
    return x.round().clamp(0, 255).to(torch.uint8), boxes * factors


def crop(
    image: torch.Tensor,
    boxes: torch.Tensor,
    top: int,
    left: int,
    height: int,
    width: int,
    min_visible: float = 0.5,
    fill: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The window ``[top, top + height) x [left, left + width)`` of the image (parts outside it are
    ``fill``), the boxes moved into it and clipped, and the mask of boxes kept: those keeping at
    least ``min_visible`` of their area and a positive width and height."""
    c, h, w = image.shape
    out = torch.full((c, height, width), fill, dtype=image.dtype)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + height, h), min(left + width, w)
    if y1 > y0 and x1 > x0:
        out[:, y0 - top : y1 - top, x0 - left : x1 - left] = image[:, y0:y1, x0:x1]
    moved = boxes - torch.tensor([left, top, left, top], dtype=boxes.dtype)
    clipped = moved.clone()
    clipped[:, 0::2] = clipped[:, 0::2].clamp(0, width)
    clipped[:, 1::2] = clipped[:, 1::2].clamp(0, height)
    before = area(moved)
    after = area(clipped)
    keep = (after >= min_visible * before) & (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    return out, clipped, keep


def select(target: dict, boxes: torch.Tensor, keep: torch.Tensor | None = None) -> dict:
    """``target`` with new boxes, keeping the rows of ``keep`` in every per-box entry."""
    out = dict(target)
    out["boxes"] = boxes if keep is None else boxes[keep]
    if keep is not None:
        for key in ("labels", "iscrowd", "area"):
            out[key] = target[key][keep]
    return out


@dataclass
class BoxAugment:
    """A parsed ``--augment`` spec, applied per image: ``aug(image, target, generator)``."""

    flip: bool = False
    scale: tuple[float, float] | None = None
    min_visible: float = 0.5

    @classmethod
    def parse(cls, spec: str) -> BoxAugment:
        aug = cls()
        for part in filter(None, (p.strip() for p in (spec or "").split(","))):
            name, _, value = part.partition("=")
            try:
                if name == "flip" and not value:
                    aug.flip = True
                elif name == "scale":
                    lo, _, hi = value.partition("-")
                    aug.scale = (float(lo), float(hi or lo))
                    if not 0 < aug.scale[0] <= aug.scale[1] <= 8:
                        raise ValueError
                elif name == "min_visible":
                    aug.min_visible = float(value)
                    if not 0 <= aug.min_visible <= 1:
                        raise ValueError
                else:
                    raise KeyError(name)
            except (ValueError, KeyError):
                raise CnnlabError(
                    f"detection augmentation {part!r} is not understood",
                    "use flip, scale=LO-HI (e.g. scale=0.75-1.25) and min_visible=F (0..1), comma-separated",
                ) from None
        return aug

    def __bool__(self) -> bool:
        return self.flip or self.scale is not None

    def __call__(self, image: torch.Tensor, target: dict, g: torch.Generator) -> tuple[torch.Tensor, dict]:
        boxes = target["boxes"]
        keep = None
        if self.flip and torch.rand((), generator=g) < 0.5:
            image, boxes = hflip(image, boxes)
        if self.scale is not None:
            lo, hi = self.scale
            f = lo + (hi - lo) * float(torch.rand((), generator=g))
            h, w = image.shape[-2:]
            nh, nw = max(1, round(h * f)), max(1, round(w * f))
            big, small = resize(image, boxes, nh, nw)
            # the window's offset: inside the zoomed image when it is larger, around it when smaller
            top = _offset(nh - h, g)
            left = _offset(nw - w, g)
            image, boxes, keep = crop(big, small, top, left, h, w, self.min_visible)
        return image, select(target, boxes, keep)


def _offset(slack: int, g: torch.Generator) -> int:
    lo, hi = min(0, slack), max(0, slack)
    return lo + int(torch.randint(hi - lo + 1, (), generator=g))
