"""Building blocks shared by the architectures. Each concept lives in one file here."""

from .act import ACTIVATIONS, make_activation
from .conv import ConvNormAct, same_padding

__all__ = ["ACTIVATIONS", "ConvNormAct", "make_activation", "same_padding"]
