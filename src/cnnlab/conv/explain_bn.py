"""Batch normalization step by step (lecture 001, "Batch Normalization"; Ioffe & Szegedy 2015).

For each channel (column) over the batch (rows)::

    mu_B      = 1/|B| sum_i x_i
    sigma_B^2 = 1/|B| sum_i (x_i - mu_B)^2          (biased: what training normalises with)
    x_hat_i   = (x_i - mu_B) / sqrt(sigma_B^2 + eps)
    y_i       = gamma x_hat_i + beta

Training also updates the running statistics, as PyTorch does:
``running = (1 - momentum) running + momentum stat`` with the *unbiased* variance (``1/(|B|-1)``);
evaluation normalises with the running statistics instead of the batch's, so the same input gives
another output. The numbers come from :func:`cnnlab.conv.reference.batch_norm` (checked against
``torch.nn.functional.batch_norm``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CnnlabError
from .matrices import format_number
from .reference import batch_norm


@dataclass
class BnChannel:
    channel: int
    values: list[float]
    mean: float
    var: float  # biased batch variance
    unbiased_var: float
    x_hat: list[float]
    y_train: list[float]
    running_mean_before: float
    running_var_before: float
    running_mean_after: float
    running_var_after: float
    y_eval: list[float]  # with the updated running statistics
    gamma: float
    beta: float


@dataclass
class BnExplanation:
    x: np.ndarray  # N x C
    eps: float
    momentum: float
    channels: list[BnChannel]

    @property
    def y_train(self) -> np.ndarray:
        return np.array([c.y_train for c in self.channels]).T

    @property
    def y_eval(self) -> np.ndarray:
        return np.array([c.y_eval for c in self.channels]).T

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return {
            "input": self.x.tolist(),
            "eps": self.eps,
            "momentum": self.momentum,
            "channels": [asdict(c) for c in self.channels],
            "train_output": self.y_train.tolist(),
            "eval_output": self.y_eval.tolist(),
        }


def _per_channel(v, c: int, name: str, default: float) -> np.ndarray:
    if v is None:
        return np.full(c, default)
    a = np.asarray(v, dtype=np.float64).reshape(-1)
    if a.size == 1:
        return np.full(c, a[0])
    if a.size != c:
        raise CnnlabError(
            f"{name} has {a.size} values but the input has {c} channel(s) (columns)",
            f"give one {name} value, or one per column",
        )
    return a


def explain_bn(
    x, gamma=None, beta=None, running_mean=None, running_var=None, eps: float = 1e-5, momentum: float = 0.1
) -> BnExplanation:
    """``x``: a vector (one channel) or ``N x C`` (rows: the batch, columns: channels)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise CnnlabError(
            f"the batch must be a vector or a matrix (rows: examples, columns: channels), got {x.ndim} dimensions"
        )
    if x.shape[0] < 2:
        raise CnnlabError(
            "batch norm in training needs a batch of 2 or more rows",
            "write one example per row, e.g. '1 10; 2 20; 3 30; 6 60'",
        )
    if eps < 0 or not 0 <= momentum <= 1:
        raise CnnlabError(f"eps must be >= 0 and momentum in [0, 1], got eps={eps}, momentum={momentum}")
    n, c = x.shape
    g, b = _per_channel(gamma, c, "gamma", 1.0), _per_channel(beta, c, "beta", 0.0)
    rm, rv = _per_channel(running_mean, c, "running mean", 0.0), _per_channel(running_var, c, "running variance", 1.0)
    rm_after, rv_after = rm.copy(), rv.copy()
    x4 = x[:, :, None, None]
    y_train = batch_norm(x4, rm_after, rv_after, g, b, training=True, momentum=momentum, eps=eps)[:, :, 0, 0]
    y_eval = batch_norm(x4, rm_after, rv_after, g, b, training=False, eps=eps)[:, :, 0, 0]
    channels = []
    for k in range(c):
        col = x[:, k]
        mean, var = col.mean(), col.var()
        x_hat = (col - mean) / np.sqrt(var + eps)
        channels.append(
            BnChannel(
                k,
                col.tolist(),
                float(mean),
                float(var),
                float(col.var(ddof=1)),
                x_hat.tolist(),
                y_train[:, k].tolist(),
                float(rm[k]),
                float(rv[k]),
                float(rm_after[k]),
                float(rv_after[k]),
                y_eval[:, k].tolist(),
                float(g[k]),
                float(b[k]),
            )
        )
    return BnExplanation(x, eps, momentum, channels)


def _f(v: float, digits: int = 4) -> str:
    return format_number(round(float(v), digits))


def render_bn(e: BnExplanation) -> str:
    n, c = e.x.shape
    lines = [
        f"batch normalization of a batch of {n} example(s), {c} channel(s) (each column on its own), "
        f"eps = {format_number(e.eps)}, momentum = {format_number(e.momentum)}",
        "",
    ]
    for ch in e.channels:
        vals = [_f(v) for v in ch.values]
        head = f"channel {ch.channel}: " if c > 1 else ""
        m = _f(ch.mean)
        lines.append(f"{head}x = {', '.join(vals)}")
        lines.append(f"  mean      mu = ({' + '.join(vals)}) / {n} = {m}")
        sq = " + ".join(f"({v} - {m})^2" for v in vals)
        lines.append(f"  variance  sigma^2 = ({sq}) / {n} = {_f(ch.var)}   (1/|B|: the batch's own, biased)")
        denom = _f(np.sqrt(ch.var + e.eps))
        lines.append(
            f"  normalise x_hat = (x - {m}) / sqrt({_f(ch.var)} + {format_number(e.eps)}) = (x - {m}) / "
            f"{denom} = {', '.join(_f(v) for v in ch.x_hat)}"
        )
        lines.append(
            f"  scale and shift y = {_f(ch.gamma)} x_hat + {_f(ch.beta)} = {', '.join(_f(v) for v in ch.y_train)}"
        )
        lines.append(
            f"  running mean     = (1 - {format_number(e.momentum)}) x {_f(ch.running_mean_before)} + "
            f"{format_number(e.momentum)} x {m} = {_f(ch.running_mean_after)}"
        )
        lines.append(
            f"  running variance = (1 - {format_number(e.momentum)}) x {_f(ch.running_var_before)} + "
            f"{format_number(e.momentum)} x {_f(ch.unbiased_var)} = {_f(ch.running_var_after)}   "
            f"(unbiased: sum of squares / {n - 1})"
        )
        lines.append(
            f"  evaluation: y = {_f(ch.gamma)} (x - {_f(ch.running_mean_after)}) / sqrt("
            f"{_f(ch.running_var_after)} + {format_number(e.eps)}) + {_f(ch.beta)} = "
            f"{', '.join(_f(v) for v in ch.y_eval)}"
        )
        lines.append("")
    lines.append(
        "training normalises with the batch's statistics (each output depends on the whole batch); "
        "evaluation with the running averages, so one image gives the same output in any batch. "
        f"Parameters: gamma and beta per channel ({2 * c}); the running statistics are buffers."
    )
    return "\n".join(lines)
