"""Activations by name, so that tables and CLI options can say ``"relu"`` or ``"tanh"``."""

from __future__ import annotations

import torch.nn as nn

from ..errors import UnknownNameError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "silu": nn.SiLU,  # = swish
    "swish": nn.SiLU,
    "hardswish": nn.Hardswish,
    "hardsigmoid": nn.Hardsigmoid,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "identity": nn.Identity,
}


def make_activation(name: str | type[nn.Module] | None, inplace: bool = False) -> nn.Module:
    """A fresh activation module from a name (``"relu"``) or class; ``None`` gives identity."""
    if name is None:
        return nn.Identity()
    if isinstance(name, type):
        cls = name
    else:
        try:
            cls = ACTIVATIONS[name.lower()]
        except KeyError:
            raise UnknownNameError("activation", name, ACTIVATIONS) from None
    if inplace and cls in (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.LeakyReLU, nn.ELU):
        return cls(inplace=True)
    return cls()
