"""The contract every cnnlab network keeps (tested for every registered name).

``forward(x) == forward_head(forward_features(x))``; ``forward_head(x, pre_logits=True)`` stops
before the final classifier; ``reset_classifier(n)`` swaps the final classifier for one with
``n`` outputs (``0``: identity, the network becomes a feature extractor); ``feature_info``
lists the channels and total stride (``reduction``) of each stage's output.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class Classifier(nn.Module):
    """Base class of the zoo: a feature extractor followed by a classification head.

    Subclasses set ``classifier_path`` (dotted path of the final ``nn.Linear`` or 1x1
    ``nn.Conv2d``, e.g. ``"fc"`` or ``"classifier.6"``) and implement ``forward_features`` and
    ``forward_head``.
    """

    classifier_path: str = "fc"

    def __init__(self, num_classes: int, in_chans: int):
        super().__init__()
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.feature_info: list[dict] = []

    # -- the two halves -----------------------------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} must define forward_features")

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:  # pragma: no cover
        raise TypeError(f"{type(self).__name__} must define forward_head")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    # -- the classifier -----------------------------------------------------------------
    def get_classifier(self) -> nn.Module:
        return self.get_submodule(self.classifier_path)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final classifier by a freshly initialised one with ``num_classes`` outputs."""
        old = self.get_classifier()
        if num_classes == 0:
            new: nn.Module = nn.Identity()
        elif isinstance(old, nn.Linear):
            new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
        elif isinstance(old, nn.Conv2d):
            new = nn.Conv2d(old.in_channels, num_classes, old.kernel_size, old.stride, old.padding,
                            bias=old.bias is not None)
        elif isinstance(old, nn.Identity) and hasattr(self, "num_features"):
            new = nn.Linear(self.num_features, num_classes)
        else:
            raise TypeError(f"cannot reset a classifier of type {type(old).__name__}")
        parent_path, _, leaf = self.classifier_path.rpartition(".")
        parent = self.get_submodule(parent_path) if parent_path else self
        setattr(parent, leaf, new)
        self.num_classes = num_classes
