"""Training: configuration, optimizers and schedules, the loop, metrics."""

from .config import TrainConfig
from .metrics import evaluate, topk_correct
from .trainer import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "evaluate", "topk_correct", "train"]
