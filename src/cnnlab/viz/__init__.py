"""Seeing what a network learned (lectures 000, 002, 004): filters, feature maps, class activation
maps, saliency, occlusion, embeddings, receptive fields, and the training curves.

Computation lives in one module per idea and returns NumPy arrays; ``figures.py`` draws them.
Every function takes any ``nn.Module`` and leaves it as it found it (modes, hooks, gradients).
"""

from .cam import CAM_METHODS, gradcam
from .embedding import EMBEDDING_METHODS, embedding, penultimate_features
from .features import feature_maps
from .filters import first_layer_filters
from .inputs import display_image, load_image, load_subject
from .occlusion import occlusion
from .receptive import ReceptiveFieldView, receptive_field
from .saliency import SALIENCY_METHODS, integrated_gradients, saliency

__all__ = [
    "CAM_METHODS",
    "EMBEDDING_METHODS",
    "SALIENCY_METHODS",
    "ReceptiveFieldView",
    "display_image",
    "embedding",
    "feature_maps",
    "first_layer_filters",
    "gradcam",
    "integrated_gradients",
    "load_image",
    "load_subject",
    "occlusion",
    "penultimate_features",
    "receptive_field",
    "saliency",
]
