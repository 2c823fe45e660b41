"""PaDiM (Defard et al., 2020, "PaDiM: a Patch Distribution Modeling Framework for Anomaly
Detection and Localization", ICPR 2021).

Every position (i, j) of the concatenated multi-scale feature map gets a multivariate Gaussian
N(mu_ij, Sigma_ij) fitted on the normal images, with Sigma_ij = sample covariance (divisor N - 1)
+ eps I (eps = 0.01 in the paper: the regulariser that keeps Sigma invertible). A random subset of
``d`` channels (the paper's "Rd": random dimensionality reduction, 100 of 448 for ResNet-18) keeps
the d x d matrices small. A test patch scores its Mahalanobis distance
sqrt((x - mu)^T Sigma^-1 (x - mu)); the image score is the maximum of the smoothed anomaly map.

Fitting streams: per-position sums of x and x x^T are accumulated in float64 batch by batch, so
memory is h x w x d^2 whatever the number of training images.
"""

from __future__ import annotations

import torch


class PadimStats:
    """Streaming per-position mean and covariance of B x d x h x w feature batches."""

    def __init__(self):
        self.n = 0
        self.sum: torch.Tensor | None = None
        self.outer: torch.Tensor | None = None

    def update(self, feats: torch.Tensor) -> None:
        x = feats.double().flatten(2).permute(2, 0, 1)  # P x B x d
        if self.sum is None:
            self.sum = torch.zeros(x.shape[0], x.shape[2], dtype=torch.float64)
            self.outer = torch.zeros(x.shape[0], x.shape[2], x.shape[2], dtype=torch.float64)
        self.sum += x.sum(1)
        torch.baddbmm(self.outer, x.transpose(1, 2), x, out=self.outer)  # in place: no P x d x d temporary
        self.n += feats.shape[0]

    def finish(self, eps: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean P x d, covariance P x d x d) with ``eps`` on the diagonal."""
        if self.n < 2:
            raise ValueError("PaDiM needs at least two training images")
        mean = self.sum / self.n
        cov, self.outer = self.outer, None  # turned into the covariance in place
        cov.baddbmm_(mean.unsqueeze(2), mean.unsqueeze(1), alpha=-self.n).div_(self.n - 1)
        cov.diagonal(dim1=-2, dim2=-1).add_(eps)
        return mean, cov


def random_channels(total: int, d: int, seed: int) -> torch.Tensor:
    """The paper's random channel subset: ``d`` of ``total`` indices, sorted (all if d >= total)."""
    if d >= total:
        return torch.arange(total)
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(total, generator=g)[:d].sort().values


def mahalanobis(feats: torch.Tensor, mean: torch.Tensor, inv_cov: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """B x d x h x w features -> B x h x w Mahalanobis distances to the per-position Gaussians."""
    b, d, h, w = feats.shape
    x = feats.flatten(2).permute(2, 0, 1)  # P x B x d
    out = torch.empty(x.shape[0], b)
    for s in range(0, x.shape[0], chunk):
        diff = x[s : s + chunk] - mean[s : s + chunk].unsqueeze(1).to(x.dtype)
        q = ((diff @ inv_cov[s : s + chunk].to(x.dtype)) * diff).sum(-1)
        out[s : s + chunk] = q.clamp_min(0).sqrt()
    return out.T.reshape(b, h, w)
