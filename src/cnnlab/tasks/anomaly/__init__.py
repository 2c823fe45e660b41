"""Defect / anomaly detection with CNN features, trained on normal images only.

``fit`` (PaDiM or PatchCore on any zoo backbone), ``score`` (image scores + heat-map overlays),
``evaluate`` (image AUROC, pixel AUROC, PRO, per-defect table, heat-map grid). See docs/anomaly.md.
"""

from .api import evaluate, fit, format_table, score
from .data import read_mvtec, resolve_data
from .detector import Detector, load_detector
from .metrics import auroc, pro_auc, pro_curve

__all__ = [
    "fit",
    "score",
    "evaluate",
    "format_table",
    "load_detector",
    "Detector",
    "read_mvtec",
    "resolve_data",
    "auroc",
    "pro_auc",
    "pro_curve",
]
