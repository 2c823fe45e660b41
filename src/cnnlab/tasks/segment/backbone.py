"""A zoo network as the encoder of a dense head: its ``feature_info`` stages as a list of maps.

:class:`Segmenter` is the base of the segmentation networks: ``self.backbone`` is the zoo model cut
to the chosen stages (:class:`~cnnlab.models.features.FeatureListNet`), with every layer that never
runs for them (the classifier, VGG's fully connected layers, stages after the last one used)
replaced by an identity, so the parameter count and the weight file hold only what computes.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ...errors import CnnlabError
from ...models.base import check_input, shape_only_copy


def build_backbone(
    name: str, in_chans: int, out_indices: list[int] | None = None, weights: str | None = None, **backbone_args
) -> nn.Module:
    """``create_model(name, features_only=True)`` with the unused layers removed."""
    from ...models import create_model

    if not isinstance(name, str) or not name:
        raise CnnlabError(
            f"backbone={name!r} is not a model name", "pass e.g. backbone='resnet18' (see `cnnlab models`)"
        )
    net = create_model(
        name, in_chans=in_chans, weights=weights, features_only=True, out_indices=out_indices, **backbone_args
    )
    prune_unused(net, in_chans)
    return net


def stages(name: str, in_chans: int = 3, **backbone_args) -> list[dict]:
    """The backbone's ``feature_info`` (channels, reduction, module of each stage), built on the meta device."""
    from ...models import create_model

    with torch.device("meta"):
        model = create_model(name, in_chans=in_chans, **backbone_args)
    info = list(getattr(model, "feature_info", None) or [])
    if not info:
        raise CnnlabError(
            f"backbone {name} declares no feature stages (feature_info is empty)",
            "pick a convolutional backbone such as resnet18, vgg11 or mobilenet_v2",
        )
    return [dict(d) for d in info]


def prune_unused(net: nn.Module, in_chans: int, side: int = 64) -> list[str]:
    """Replace the sub-modules of ``net`` that a forward never calls by identities; returns their names.

    One shape-only forward on the meta device records which modules run (``side`` must be large
    enough for the backbone; the largest of 64 and the card's side is used)."""
    card = getattr(getattr(net, "model", None), "card", None)
    side = max(side, card.input_size[-1] if card is not None else 0)
    meta = shape_only_copy(net)
    ran: set[str] = set()
    handles = [m.register_forward_hook(lambda *_a, key=name: ran.add(key)) for name, m in meta.named_modules()]
    try:
        with torch.no_grad():
            meta(torch.empty(1, in_chans, side, side, device="meta"))
    finally:
        for h in handles:
            h.remove()
    removed: list[str] = []
    for name, _module in list(net.named_modules()):
        if not name or any(name.startswith(r + ".") for r in removed):
            continue
        if name not in ran and not any(r.startswith(name + ".") for r in ran):
            parent, _, leaf = name.rpartition(".")
            setattr(net.get_submodule(parent) if parent else net, leaf, nn.Identity())
            removed.append(name)
    return removed


class Segmenter(nn.Module):
    """Base of the segmentation networks: ``forward(x)`` -> ``N x num_classes x H x W`` logits at the input size.

    Subclasses build ``self.backbone`` with :func:`build_backbone` and implement ``decode(feats, size)``.
    """

    task = "segment"

    def __init__(self, num_classes: int, in_chans: int):
        super().__init__()
        if num_classes < 1:
            raise CnnlabError(
                f"a segmentation network needs num_classes >= 1, got {num_classes}",
                "num_classes counts the labels of the masks (background included)",
            )
        self.num_classes = num_classes
        self.in_chans = in_chans

    def decode(self, feats: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:  # pragma: no cover
        raise TypeError(f"{type(self).__name__} must define decode")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (torch.jit.is_tracing() or torch.compiler.is_compiling()):
            check_input(self, x)
        return self.decode(self.backbone(x), (x.shape[-2], x.shape[-1]))


def pick_stage(info: list[dict], reduction: int, backbone: str, why: str) -> int:
    """Index of the last stage with total stride ``reduction``, or a CnnlabError listing the stages."""
    found = [i for i, d in enumerate(info) if d["reduction"] == reduction]
    if not found:
        listing = ", ".join(f"{d['module']} (/{d['reduction']})" for d in info)
        raise CnnlabError(
            f"{why} needs a backbone stage at stride {reduction}, and {backbone} has none ({listing})",
            "use fcn32s, or a backbone whose stages halve the resolution each time (resnet18, vgg11, mobilenet_v2)",
        )
    return found[-1]
