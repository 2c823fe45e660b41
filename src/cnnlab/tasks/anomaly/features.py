"""Dense features from any zoo backbone, and the heat-map smoothing both papers use.

The backbone runs ``forward_features`` with forward hooks on the stages named in its
``feature_info`` (``module``); the forward stops once the deepest requested stage has run, so
later stages cost nothing. Stages are chosen by module name (``layer2``) or index in
``feature_info`` (``1``). Multi-scale maps are upsampled (bilinear) to the largest one and
concatenated along channels, as PaDiM and PatchCore do.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import CnnlabError

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


class _Enough(Exception):
    """Raised by the last hook: the remaining stages are not needed."""


def build_backbone(spec: str, weights: str | None = None, seed: int = 0) -> tuple[nn.Module, dict]:
    """A zoo model by name (random or ``weights`` file) or a cnnlab run folder; and how to rebuild it.

    A random initialisation is drawn with ``seed`` (the global RNG is left as it was), so a fit
    on a randomly initialised backbone is reproducible."""
    from ...models import create_model
    from ...runs import load_run

    if Path(spec).exists():
        run = load_run(spec)
        model, meta = run.model, run.meta
        info = dict(
            model=meta["model"],
            model_args={**meta.get("model_args", {}), "num_classes": len(meta["classes"])},
            mean=meta.get("mean"),
            std=meta.get("std"),
            source=str(spec),
        )
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = create_model(spec)
        if weights:
            from ...models.weights import load_weights

            load_weights(model, weights)
        info = dict(
            model=spec,
            model_args=dict(num_classes=model.num_classes, in_chans=model.in_chans),
            mean=None,
            std=None,
            source=weights or "random initialisation",
        )
    chans = model.in_chans
    if info["mean"] is None:  # ImageNet statistics for 3 channels (torchvision/timm files), 0.5 otherwise
        info["mean"], info["std"] = (IMAGENET_MEAN, IMAGENET_STD) if chans == 3 else ([0.5] * chans, [0.25] * chans)
    if chans not in (1, 3):
        raise CnnlabError(f"{info['model']} takes {chans} input channels", "use a backbone with 1 or 3 input channels")
    return model.eval(), info


def rebuild_backbone(info: dict, tensors: dict[str, torch.Tensor]) -> nn.Module:
    from ...models import create_model

    model = create_model(info["model"], **info["model_args"])
    model.load_state_dict(tensors, strict=True)
    return model.eval()


def resolve_stages(model: nn.Module, stages: list[str | int]) -> list[int]:
    """Indices into ``model.feature_info`` for names or indices; errors list the available stages."""
    info = getattr(model, "feature_info", None) or []
    names = [f["module"] for f in info]
    if not names:
        raise CnnlabError(f"{getattr(model, 'model_name', type(model).__name__)} exposes no feature_info stages")
    out = []
    for s in stages:
        if isinstance(s, int) or str(s).lstrip("-").isdigit():
            i = int(s)
            if not -len(names) <= i < len(names):
                raise CnnlabError(
                    f"stage {i} out of range", f"stages: {', '.join(f'{j}={n}' for j, n in enumerate(names))}"
                )
            out.append(i % len(names))
        elif s in names:
            out.append(names.index(s))
        else:
            raise CnnlabError(f"unknown stage {s!r}", f"stages: {', '.join(f'{j}={n}' for j, n in enumerate(names))}")
    return sorted(set(out))


class FeatureExtractor(nn.Module):
    """uint8 images -> the requested stages' feature maps (float32), normalised like the backbone's input."""

    def __init__(self, model: nn.Module, stages: list[int], mean: list[float], std: list[float]):
        super().__init__()
        self.model = model.eval()
        self.stages = stages
        self.modules_ = [model.get_submodule(model.feature_info[i]["module"]) for i in stages]
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    @property
    def channels(self) -> int:
        return sum(self.model.feature_info[i]["channels"] for i in self.stages)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = (images.float() / 255.0 - self.mean) / self.std
        found: dict[int, torch.Tensor] = {}

        def hook(i):
            def fn(_module, _inp, out):
                found[i] = out
                if len(found) == len(self.modules_):
                    raise _Enough

            return fn

        handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(self.modules_)]
        try:
            self.model.forward_features(x)
        except _Enough:
            pass
        finally:
            for h in handles:
                h.remove()
        if len(found) != len(self.modules_):
            raise CnnlabError("some requested stages did not run in forward_features", f"stages {self.stages}")
        return [found[i].float() for i in range(len(self.modules_))]


def concat_scales(maps: list[torch.Tensor]) -> torch.Tensor:
    """Upsample every map to the first (largest) one's size and concatenate the channels."""
    size = maps[0].shape[-2:]
    return torch.cat(
        [
            m if m.shape[-2:] == size else F.interpolate(m, size=size, mode="bilinear", align_corners=False)
            for m in maps
        ],
        dim=1,
    )


def gaussian_blur(maps: torch.Tensor, sigma: float = 4.0) -> torch.Tensor:
    """N x H x W maps blurred by a Gaussian of ``sigma`` px (truncated at 4 sigma, reflected borders)."""
    if sigma <= 0:
        return maps
    radius = int(math.ceil(4 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = (k / k.sum()).to(maps.dtype)
    x = maps.unsqueeze(1)
    pad_h, pad_w = min(radius, x.shape[-2] - 1), min(radius, x.shape[-1] - 1)
    x = F.pad(x, (pad_w, pad_w, 0, 0), mode="reflect")
    x = F.conv2d(x, k[radius - pad_w : radius + pad_w + 1].view(1, 1, 1, -1))
    x = F.pad(x, (0, 0, pad_h, pad_h), mode="reflect")
    x = F.conv2d(x, k[radius - pad_h : radius + pad_h + 1].view(1, 1, -1, 1))
    return x.squeeze(1)


def to_image_size(patch_maps: torch.Tensor, size: int, sigma: float = 4.0) -> torch.Tensor:
    """N x h x w patch scores -> N x size x size heat maps (bilinear upsampling, then Gaussian blur)."""
    up = F.interpolate(patch_maps.unsqueeze(1), size=(size, size), mode="bilinear", align_corners=False).squeeze(1)
    return gaussian_blur(up, sigma)
