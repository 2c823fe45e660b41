"""FCOS (Tian et al. 2019, "FCOS: Fully Convolutional One-Stage Object Detection"): a
feature pyramid over a zoo backbone and one shared head that, at every location of every level,
predicts class scores, the distances (l, t, r, b) to the four sides of the object's box, and the
"centerness" of the location in that box. docs/detection.md sets the design against the paper.

    model = create_model("fcos", backbone="resnet18", num_classes=10, in_chans=1)
    out = model(x)              # raw head outputs (training: the loss takes them)
    dets = model.detect(x)      # per image: boxes (x0, y0, x1, y1), scores, labels (after NMS)
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import CnnlabError
from ...models.card import ModelCard
from ...models.features import FeatureListNet
from ...models.registry import create_model, register_model
from .nms import batched_nms

# FCOS's size ranges: level i takes the objects whose largest side distance max(l, t, r, b) lies in
# (8 x stride / 2 ... ]: 0-64 for stride 8, 64-128 for 16, 128-256 for 32, ...; the last level takes the rest.
RANGE_PER_STRIDE = 8


def conv_gn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.GroupNorm(math.gcd(32, c_out), c_out),
        nn.ReLU(inplace=True),
    )


class FPN(nn.Module):
    """Feature pyramid (Lin et al. 2017): 1x1 lateral convolutions, a top-down path of nearest
    2x upsampling and sums, a 3x3 convolution per level; ``extra`` more levels by stride-2 3x3
    convolutions on the coarsest output (FCOS's P6, P7)."""

    def __init__(self, in_channels: list[int], channels: int, extra: int = 0):
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.output = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in in_channels)
        self.extra = nn.ModuleList(nn.Conv2d(channels, channels, 3, stride=2, padding=1) for _ in range(extra))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        laterals = [lat(f) for lat, f in zip(self.lateral, feats)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], size=laterals[i - 1].shape[-2:], mode="nearest"
            )
        outs = [conv(x) for conv, x in zip(self.output, laterals)]
        for i, conv in enumerate(self.extra):
            outs.append(conv(outs[-1] if i == 0 else F.relu(outs[-1])))
        return outs


class FCOSHead(nn.Module):
    """Shared over levels: a classification tower (``convs`` x conv-GN-ReLU) ending in ``num_classes``
    logits, and a box tower ending in 4 distances and 1 centerness logit (centerness on the box
    branch, the paper's later form); a learnt scale per level multiplies the distances' exponent."""

    def __init__(self, channels: int, num_classes: int, convs: int, levels: int, prior: float = 0.01):
        super().__init__()
        self.cls_tower = nn.Sequential(*(conv_gn_relu(channels, channels) for _ in range(convs)))
        self.box_tower = nn.Sequential(*(conv_gn_relu(channels, channels) for _ in range(convs)))
        self.cls = nn.Conv2d(channels, num_classes, 3, padding=1)
        self.box = nn.Conv2d(channels, 4, 3, padding=1)
        self.ctr = nn.Conv2d(channels, 1, 3, padding=1)
        self.scales = nn.Parameter(torch.ones(levels))
        if self.cls.weight.is_meta:  # a shape-only build (load_run's check): nothing to initialise
            return
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.constant_(self.cls.bias, -math.log((1 - prior) / prior))  # focal loss's prior (Lin et al. 2017)

    def forward(self, feats: list[torch.Tensor], strides: list[int]):
        cls, box, ctr = [], [], []
        for i, (f, s) in enumerate(zip(feats, strides)):
            c, b = self.cls_tower(f), self.box_tower(f)
            n = f.shape[0]
            cls.append(self.cls(c).flatten(2).transpose(1, 2))
            # distances in pixels: exp(scale x raw) x stride, clamped so exp cannot overflow
            dist = torch.exp((self.scales[i] * self.box(b).float()).clamp(max=10.0)) * s
            box.append(dist.flatten(2).transpose(1, 2))
            ctr.append(self.ctr(b).reshape(n, -1))
        return torch.cat(cls, 1), torch.cat(box, 1), torch.cat(ctr, 1)


def level_points(shapes: list[tuple[int, int]], strides: list[int], device=None):
    """The image location of every feature-map cell, level after level: ``(x, y) = (s // 2 + j s,
    s // 2 + i s)`` for cell (i, j) of a level of stride s (the paper's floor(s/2) + x s), and each
    point's stride and level."""
    points, point_strides, levels = [], [], []
    for k, ((h, w), s) in enumerate(zip(shapes, strides)):
        ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
        points.append(torch.stack([xs.reshape(-1), ys.reshape(-1)], 1).float() * s + s // 2)
        point_strides.append(torch.full((h * w,), s, device=device))
        levels.append(torch.full((h * w,), k, device=device))
    return torch.cat(points), torch.cat(point_strides), torch.cat(levels)


class FCOS(nn.Module):
    """FCOS on a zoo backbone: the backbone's ``feature_info`` stages of stride >= ``min_stride``
    (the deepest stage of each stride) feed the FPN; ``extra_levels`` more levels above them."""

    task = "detect"

    def __init__(
        self,
        backbone: str = "resnet18",
        num_classes: int = 80,
        in_chans: int = 3,
        channels: int = 96,
        head_convs: int = 2,
        min_stride: int = 8,
        extra_levels: int = 0,
        center_radius: float = 1.5,
        score_threshold: float = 0.05,
        nms_threshold: float = 0.6,
        max_detections: int = 100,
        candidates_per_level: int = 1000,
        backbone_weights: str | None = None,
        **backbone_args,
    ):
        super().__init__()
        if num_classes < 1:
            raise CnnlabError(f"fcos: num_classes must be >= 1, got {num_classes}")
        probe = create_model(backbone, in_chans=in_chans, num_classes=0, weights=backbone_weights, **backbone_args)
        info = list(probe.feature_info)
        if not info:
            raise CnnlabError(
                f"fcos: backbone {backbone} declares no feature stages", "pick a zoo CNN such as resnet18"
            )
        deepest: dict[int, int] = {}
        for i, d in enumerate(info):
            if d["reduction"] >= min_stride:
                deepest[d["reduction"]] = i
        if not deepest:
            strides = sorted({d["reduction"] for d in info})
            raise CnnlabError(
                f"fcos: backbone {backbone} has no stage of stride >= {min_stride} (it has {strides})",
                f"use --model-arg min_stride={strides[-1]}",
            )
        indices = sorted(deepest.values())
        self.backbone_name = backbone
        self.body = FeatureListNet(probe, indices)
        in_strides = [info[i]["reduction"] for i in indices]
        self.strides = in_strides + [in_strides[-1] * 2 ** (k + 1) for k in range(extra_levels)]
        self.fpn = FPN([info[i]["channels"] for i in indices], channels, extra_levels)
        self.head = FCOSHead(channels, num_classes, head_convs, len(self.strides))
        self.num_classes, self.in_chans = num_classes, in_chans
        self.center_radius = center_radius
        self.score_threshold, self.nms_threshold = score_threshold, nms_threshold
        self.max_detections, self.candidates_per_level = max_detections, candidates_per_level
        self.feature_info = [
            {"channels": channels, "reduction": s, "module": f"fpn.{k}"} for k, s in enumerate(self.strides)
        ]

    def size_ranges(self) -> list[tuple[float, float]]:
        bounds = [0.0] + [RANGE_PER_STRIDE * s for s in self.strides[:-1]] + [math.inf]
        return [(bounds[k], bounds[k + 1]) for k in range(len(self.strides))]

    def forward(self, x: torch.Tensor) -> dict:
        """Raw outputs over all levels' locations P: ``cls`` N x P x classes (logits), ``box``
        N x P x 4 (l, t, r, b in pixels), ``ctr`` N x P (centerness logits), ``points`` P x 2,
        ``strides`` P, ``levels`` P; and what the loss needs of the model (``ranges``, ``radius``)."""
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise CnnlabError(f"fcos was built for N x {self.in_chans} x H x W inputs, got {tuple(x.shape)}")
        feats = self.fpn(self.body(x))
        cls, box, ctr = self.head(feats, self.strides)
        points, strides, levels = level_points([f.shape[-2:] for f in feats], self.strides, x.device)
        return {
            "cls": cls,
            "box": box,
            "ctr": ctr,
            "points": points,
            "strides": strides,
            "levels": levels,
            "image_size": (x.shape[-2], x.shape[-1]),
            "ranges": self.size_ranges(),
            "radius": self.center_radius,
        }

    @torch.no_grad()
    def detect(self, x: torch.Tensor) -> list[dict]:
        return self.postprocess(self(x))

    @torch.no_grad()
    def postprocess(self, out: dict) -> list[dict]:
        """Raw outputs -> per image ``boxes`` (x0, y0, x1, y1), ``scores``, ``labels``: :meth:`decode`
        then :meth:`select`."""
        return self.select(self.decode(out), level_sizes(out["levels"], len(self.strides)))

    def decode(self, out: dict) -> torch.Tensor:
        """The dense detections, N x P x (4 + classes + 1) float32: at every location the box
        corners (x0, y0, x1, y1) in input pixels, clipped to the image, then each class's
        probability (sigmoid of its logit), then the centerness (sigmoid). Tensor operations only:
        this is what an exported detector computes (``cnnlab export``), and :meth:`select` finishes
        it in eager PyTorch, the same for both."""
        h, w = out["image_size"]
        d, p = out["box"].float(), out["points"].to(out["box"].device)
        x0 = (p[:, 0] - d[..., 0]).clamp(0, w)
        y0 = (p[:, 1] - d[..., 1]).clamp(0, h)
        x1 = (p[:, 0] + d[..., 2]).clamp(0, w)
        y1 = (p[:, 1] + d[..., 3]).clamp(0, h)
        boxes = torch.stack([x0, y0, x1, y1], -1)
        return torch.cat([boxes, out["cls"].float().sigmoid(), out["ctr"].float().sigmoid()[..., None]], -1)

    def select(self, dense: torch.Tensor, sizes: list[int]) -> list[dict]:
        """Per image of :meth:`decode`'s output (``sizes``: locations per level): :func:`select_detections`
        with this detector's thresholds."""
        return select_detections(
            dense, sizes, self.score_threshold, self.nms_threshold, self.max_detections, self.candidates_per_level
        )


@torch.no_grad()
def select_detections(
    dense: torch.Tensor,
    sizes: list[int],
    score_threshold: float,
    nms_threshold: float,
    max_detections: int,
    candidates_per_level: int,
) -> list[dict]:
    """Per image of a decoded N x P x (4 + classes + 1) tensor (``sizes``: locations per level, in
    order): scores = sqrt(class probability x centerness) (the paper's product; the root, as in the
    authors' code, only rescales it: same ranking) at the locations whose class probability exceeds
    ``score_threshold`` (the best ``candidates_per_level`` per level), empty boxes dropped,
    class-aware NMS at ``nms_threshold``, the best ``max_detections``."""
    dense = dense.float()
    boxes_all, prob, ctr = dense[..., :4], dense[..., 4:-1], dense[..., -1]
    starts = [sum(sizes[:k]) for k in range(len(sizes))]
    results = []
    for n in range(dense.shape[0]):
        keep_idx, keep_cls, keep_score = [], [], []
        for start, size in zip(starts, sizes):
            on = torch.arange(start, start + size, device=dense.device)
            level_prob = prob[n, on]
            loc, c = torch.nonzero(level_prob > score_threshold, as_tuple=True)
            score = (level_prob[loc, c] * ctr[n, on[loc]]).sqrt()  # the paper's product, on a readable scale
            if len(score) > candidates_per_level:
                top = score.topk(candidates_per_level).indices
                loc, c, score = loc[top], c[top], score[top]
            keep_idx.append(on[loc])
            keep_cls.append(c)
            keep_score.append(score)
        idx, labels, scores = torch.cat(keep_idx), torch.cat(keep_cls), torch.cat(keep_score)
        boxes = boxes_all[n, idx]
        ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, labels, scores = boxes[ok], labels[ok], scores[ok]
        kept = batched_nms(boxes, scores, labels, nms_threshold)[:max_detections]
        results.append({"boxes": boxes[kept], "scores": scores[kept], "labels": labels[kept]})
    return results


def level_sizes(levels: torch.Tensor, count: int) -> list[int]:
    """Locations per level from the per-location level numbers (levels come one after another)."""
    return [int(v) for v in torch.bincount(levels.flatten().long(), minlength=count)[:count]]


CARD = dict(
    family="FCOS",
    paper="FCOS: Fully Convolutional One-Stage Object Detection",
    year=2019,
    source="Tian, Shen, Chen and He, ICCV 2019 (arXiv:1904.01355); parameters depend on the backbone",
    dataset="COCO",
    task="detect",
    input_size=(3, 256, 256),
    num_classes=80,
    departures=(
        "any zoo backbone (the paper: ResNet-50/101, ResNeXt); the FPN starts at the backbone's "
        "stride-8 stage and has no P6/P7 unless extra_levels=2",
        "a lighter head: 96 channels and 2 conv-GN-ReLU per tower (the paper: 256 and 4)",
        "centerness on the box tower, centre sampling (radius 1.5 strides), GIoU loss and "
        "distances exp(s x) x stride: the improvements the authors added after the paper",
        "bias-free convolutions before GroupNorm",
    ),
    notes="object detector: forward gives raw outputs, detect(x) gives boxes; train with --task detect",
)


@register_model(card=ModelCard(name="fcos", **CARD))
def fcos(**kwargs):
    return FCOS(**kwargs)
