"""Seeing what a network learned: feature maps, class activation maps (and training curves).

Computation lives in one module per idea and returns NumPy arrays; ``figures.py`` draws them.
Every function takes any ``nn.Module`` and leaves it as it found it (modes, hooks, gradients).
"""

from .cam import CAM_METHODS, gradcam
from .features import feature_maps

__all__ = ["CAM_METHODS", "feature_maps", "gradcam"]
