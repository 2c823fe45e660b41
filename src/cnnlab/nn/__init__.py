"""Building blocks shared by the architectures. Each concept lives in one file here."""

from .act import ACTIVATIONS, make_activation
from .conv import ConvNormAct, same_padding
from .drop import DropPath, drop_path
from .se import SqueezeExcite
from .utils import make_divisible

__all__ = [
    "ACTIVATIONS",
    "ConvNormAct",
    "DropPath",
    "SqueezeExcite",
    "drop_path",
    "make_divisible",
    "make_activation",
    "same_padding",
]
