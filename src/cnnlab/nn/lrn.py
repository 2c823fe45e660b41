"""Local response normalization, with the constants as the papers write them.

Krizhevsky et al. 2012 ("ImageNet Classification with Deep CNNs", section 3.3):
``b[c] = a[c] / (k + alpha * sum(a[j]^2 for j in the n channels around c)) ** beta`` with
``k = 2, n = 5, alpha = 1e-4, beta = 0.75``. PyTorch's ``nn.LocalResponseNorm`` divides ``alpha`` by
``n`` (Caffe's convention), so the paper's formula needs ``alpha * n`` there; ``paper_lrn`` does
that conversion so the tables can quote the paper's numbers.
"""

from __future__ import annotations

import torch.nn as nn


def paper_lrn(n: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> nn.LocalResponseNorm:
    """LRN with the paper's constants (AlexNet's by default; GoogLeNet's Caffe model uses k=1)."""
    return nn.LocalResponseNorm(size=n, alpha=alpha * n, beta=beta, k=k)
