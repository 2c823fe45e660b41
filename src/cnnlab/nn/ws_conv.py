"""Weight-standardized convolution, the normalizer-free networks' replacement for batch norm.

Scaled weight standardization (Brock, De, Smith 2021, "Characterizing signal propagation to close
the performance gap in unnormalized ResNets", eq. 3; used by NFNets, Brock et al. 2021): each output
channel's filter is standardized over its fan-in N = C_in/groups x k x k and rescaled,

    W_hat = gain * gamma * (W - mean(W)) / (std(W) * sqrt(N))        (std: biased, + eps under the root)

so that, for unit-variance inputs, every output channel has unit variance at initialization, whatever
the batch. ``gamma`` is the activation's correction constant (gamma_gelu = 1.7015, from the DeepMind
release), folded into the weight as timm does; ``gain`` is a learned per-channel scale (shape
C_out x 1 x 1 x 1, the key ``gain`` of timm's ``ScaledStdConv2d``).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

# Signal-preserving constants of the activations (DeepMind nfnets release, base.py ``nonlinearities``):
# gamma = 1 / sqrt(Var[g(x)]) for x ~ N(0, 1).
ACTIVATION_GAMMA = {
    "identity": 1.0,
    "gelu": 1.7015043497085571,
    "relu": 1.7139588594436646,
    "silu": 1.7881293296813965,
    "tanh": 1.5939117670059204,
    "elu": 1.2716004848480225,
}


def tf_same_pad(x: torch.Tensor, kernel_size: int, stride: int, dilation: int = 1) -> torch.Tensor:
    """TensorFlow's "SAME" padding: ceil(n / s) outputs; the total padding needed for them is split
    with the extra pixel at the end (bottom / right), so it depends on the input size."""
    pads: list[int] = []
    for n in (x.shape[-1], x.shape[-2]):  # F.pad order: last dim first
        out = (n + stride - 1) // stride
        total = max((out - 1) * stride + dilation * (kernel_size - 1) + 1 - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class ScaledActivation(nn.Module):
    """``gamma * act(x)``: the activation with its signal-preserving gain (the DeepMind NFNet code
    applies gamma here rather than in the following convolution)."""

    def __init__(self, act: nn.Module, gamma: float):
        super().__init__()
        self.act = act
        self.gamma = gamma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x) * self.gamma


class ScaledStdConv2d(nn.Conv2d):
    """A ``Conv2d`` whose weight is standardized per output channel on every forward.

    ``padding=None`` pads ``((stride - 1) + dilation (k - 1)) // 2`` on each side (timm's rule,
    which is "same" for odd kernels at stride 1); ``padding="same"`` is TensorFlow's SAME (the
    DeepMind release), asymmetric for strided convolutions.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int,
        stride: int = 1,
        padding: int | str | None = None,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
        gamma: float = 1.0,
        eps: float = 1e-5,
        gain_init: float = 1.0,
    ):
        dynamic = False
        if padding == "same":
            total = dilation * (kernel_size - 1)
            dynamic = stride > 1 or total % 2 == 1
            padding = 0 if dynamic else total // 2
        elif padding is None:
            padding = ((stride - 1) + dilation * (kernel_size - 1)) // 2
        super().__init__(in_ch, out_ch, kernel_size, stride, padding, dilation, groups, bias)
        self.dynamic_pad = dynamic
        fan_in = (in_ch // groups) * kernel_size * kernel_size
        self.scale = gamma * fan_in**-0.5
        self.eps = eps
        self.gain = nn.Parameter(torch.full((out_ch, 1, 1, 1), float(gain_init)))

    def standardized_weight(self) -> torch.Tensor:
        w = self.weight
        var, mean = torch.var_mean(w, dim=(1, 2, 3), keepdim=True, unbiased=False)
        return (w - mean) * torch.rsqrt(var + self.eps) * (self.gain * self.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dynamic_pad:
            x = tf_same_pad(x, self.kernel_size[0], self.stride[0], self.dilation[0])
        return F.conv2d(x, self.standardized_weight(), self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", scale={self.scale:.4g}, eps={self.eps}"
