"""The model zoo: one file per family, variants declared as tables, one registry."""

from .base import Classifier
from .card import ModelCard
from .registry import create_model, get_entry, list_models, model_card, register_model

__all__ = ["Classifier", "ModelCard", "create_model", "get_entry", "list_models", "model_card", "register_model"]
