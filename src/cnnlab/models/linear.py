"""The classifiers before CNNs (lecture 004, "Linear Classifier", "Two-Layer Neural Network"):

- ``linear``: ``f(x) = W x + b``, the image stretched into a column; each row of ``W`` is a class
  template (``cnnlab viz templates``);
- ``mlp``: ``f(x) = W_2 g(W_1 x + b_1) + b_2`` with any number of hidden layers (``hidden``) and an
  activation ``g`` ("to have a powerful classifier, non-linearity at each layer is important").

Both take a fixed input size (``image_size`` x ``image_size`` with ``in_chans`` channels; a
feature vector of ``D`` values is ``in_chans=D, image_size=1``). ``forward_features`` is the input
itself: there is nothing convolutional to extract.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import CnnlabError
from ..nn.act import make_activation
from .base import Classifier
from .card import ModelCard
from .registry import register_model


class LinearClassifier(Classifier):
    classifier_path = "fc"

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        image_size: int = 28,
        hidden=(),
        activation: str = "relu",
        drop_rate: float = 0.0,
    ):
        super().__init__(num_classes, in_chans)
        if isinstance(hidden, int):
            hidden = (hidden,)
        hidden = tuple(int(h) for h in hidden)
        if image_size < 1 or any(h < 1 for h in hidden):
            raise CnnlabError(f"image_size and hidden sizes must be positive, got {image_size} and {hidden}")
        self.image_size = image_size
        self.hidden = hidden
        self.features = nn.Identity()
        layers: list[nn.Module] = []
        width = in_chans * image_size * image_size
        for h in hidden:
            layers += [nn.Linear(width, h), make_activation(activation)]
            width = h
        self.body = nn.Sequential(*layers)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(width, num_classes)
        self.num_features = width
        self.feature_info = [dict(channels=in_chans, reduction=1, module="features")]
        # where the network lives, for a head rebuilt when no parameter is left (the linear model's only layer)
        self.register_buffer("_where", torch.empty(0), persistent=False)

    def reset_classifier(self, num_classes: int) -> None:
        with torch.device(self._where.device):
            super().reset_classifier(num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        s = self.image_size
        if not torch.jit.is_scripting() and x.dim() == 4 and tuple(x.shape[-2:]) != (s, s):
            raise CnnlabError(
                f"this classifier takes exactly {s}x{s} inputs (it needs at least {s}x{s} and at most "
                f"{s}x{s}), got {x.shape[-2]}x{x.shape[-1]}",
                f"resize the images to {s}x{s}, or build it with image_size={x.shape[-1]}",
            )
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(self.body(torch.flatten(x, 1)))
        return x if pre_logits else self.fc(x)

    def templates(self) -> torch.Tensor:
        """A linear classifier's weights as images: ``K x C x H x W`` (lecture 004's class templates)."""
        if self.hidden:
            raise CnnlabError("an MLP's output weights are not images", "templates exist for the linear model")
        w = self.fc.weight.detach()
        return w.reshape(w.shape[0], self.in_chans, self.image_size, self.image_size)


_L004 = "lecture 004 (linear classification, score function f = Wx + b; Rosenblatt's perceptron, 1958)"


@register_model(
    card=ModelCard(
        name="linear",
        family="Linear",
        paper=_L004,
        year=1958,
        input_size=(1, 28, 28),
        num_classes=10,
        params=28 * 28 * 10 + 10,
        macs=28 * 28 * 10,
        dataset="MNIST",
        source="params: 784 x 10 weights + 10 biases at 1x28x28, 10 classes (computed)",
        notes="options: image_size (side of the input), drop_rate; a D-value feature vector is in_chans=D, image_size=1 "
        "(cnnlab features train)",
    )
)
def linear(**kwargs) -> LinearClassifier:
    kwargs.pop("hidden", None)
    return LinearClassifier(hidden=(), **kwargs)


@register_model(
    card=ModelCard(
        name="mlp",
        family="Linear",
        paper=_L004 + "; Rumelhart, Hinton, Williams 1986 (backpropagation)",
        year=1986,
        input_size=(1, 28, 28),
        num_classes=10,
        params=784 * 100 + 100 + 100 * 10 + 10,
        macs=784 * 100 + 100 * 10,
        dataset="MNIST",
        source="params: 784-100-10 at 1x28x28 (computed)",
        notes="options: hidden (sizes, default [100]), activation (relu, tanh, sigmoid, ...), image_size, drop_rate",
    )
)
def mlp(hidden=(100,), **kwargs) -> LinearClassifier:
    return LinearClassifier(hidden=hidden, **kwargs)
