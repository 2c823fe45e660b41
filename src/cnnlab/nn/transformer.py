"""Patch embedding and the transformer encoder of the Vision Transformer (lecture 003, "Vision
Transformer"; Dosovitskiy et al. 2021, Eq. 1-4).

1. split the image into P x P patches, 2. flatten them, 3. map them to D dimensions with a
trainable linear projection (:class:`PatchEmbed`: a P x P convolution with stride P is exactly
that projection applied to every patch), 4. prepend a class token, 5. add position embeddings,
6. run the transformer encoder (:class:`TransformerEncoder`: pre-norm blocks of multi-head
self-attention and an MLP, each with a residual connection).

Keys match torchvision's ``VisionTransformer`` (``encoder.pos_embedding``,
``encoder.layers.encoder_layer_{i}.{ln_1, self_attention, ln_2, mlp}``, ``encoder.ln``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .drop import DropPath


class PatchEmbed(nn.Conv2d):
    """Linear projection of flattened P x P patches: ``(N, C, H, W) -> (N, D, H/P, W/P)``.

    A Conv2d with kernel = stride = P (keys ``weight``/``bias``): each output position is
    ``W @ flatten(patch) + b`` for one patch, exactly the paper's ``x_p^i E``. It returns the map
    (so that it reports a spatial feature like any stem); :func:`patch_tokens` turns it into the
    sequence of tokens.
    """

    def __init__(self, in_chans: int, dim: int, patch_size: int):
        super().__init__(in_chans, dim, patch_size, stride=patch_size)
        self.patch_size = patch_size


def patch_tokens(x: torch.Tensor) -> torch.Tensor:
    """``(N, D, h, w) -> (N, h * w, D)``: one token per patch, in row-major patch order."""
    return x.flatten(2).transpose(1, 2)


class EncoderBlock(nn.Module):
    """``x + MSA(LN(x))`` then ``x + MLP(LN(x))`` (Dosovitskiy et al. 2021, Eq. 2-3); MLP = Linear-GELU-Linear."""

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_dim: int,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path: float = 0.0,
        eps: float = 1e-6,
    ):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=eps)
        self.self_attention = nn.MultiheadAttention(dim, heads, dropout=attention_dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp_dim, dim), nn.Dropout(dropout)
        )
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + self.drop_path(self.dropout(y))
        return x + self.drop_path(self.mlp(self.ln_2(x)))


class TransformerEncoder(nn.Module):
    """Position embeddings (learned, one per token) + ``depth`` encoder blocks + final LayerNorm.

    If the input has another number of tokens than the embeddings (another image size), the
    grid part of the embeddings is resized on the fly (:func:`interpolate_pos_embedding`).
    """

    def __init__(
        self,
        seq_length: int,
        depth: int,
        dim: int,
        heads: int,
        mlp_dim: int,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path_rate: float = 0.0,
        num_prefix_tokens: int = 1,
    ):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_length, dim).normal_(std=0.02))
        self.num_prefix_tokens = num_prefix_tokens
        self.dropout = nn.Dropout(dropout)
        rates = [drop_path_rate * i / max(1, depth - 1) for i in range(depth)]  # linear rule (DeiT, timm)
        self.layers = nn.Sequential(
            OrderedDict(
                (f"encoder_layer_{i}", EncoderBlock(dim, heads, mlp_dim, dropout, attention_dropout, rates[i]))
                for i in range(depth)
            )
        )
        self.ln = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor, grid: Optional[Tuple[int, int]] = None) -> torch.Tensor:
        """``x``: ``(N, prefix + rows * cols, D)`` tokens; ``grid``: ``(rows, cols)`` of the patches
        (default: a square grid)."""
        pos = self.pos_embedding
        if grid is None:
            side = int(math.sqrt(x.shape[1] - self.num_prefix_tokens) + 0.5)
            grid = (side, side)
        old = int(math.sqrt(pos.shape[1] - self.num_prefix_tokens) + 0.5)
        if grid[0] != old or grid[1] != old:
            pos = resize_pos_embedding(pos, old, grid, self.num_prefix_tokens)
        return self.ln(self.layers(self.dropout(x + pos)))


def interpolate_pos_embedding(
    pos: torch.Tensor, num_patches: int | tuple[int, int], num_prefix_tokens: int = 1, mode: str = "bicubic"
) -> torch.Tensor:
    """Resize ``(1, prefix + g*g, D)`` position embeddings to a new patch grid.

    The prefix (class token) embeddings are kept; the grid ones are laid out as a ``g x g`` image
    with D channels and resized (bicubic, corners aligned, as torchvision's ``interpolate_embeddings``).
    ``num_patches`` is the new number of patches (a square grid) or the grid ``(rows, cols)``.
    """
    n_grid = pos.shape[1] - num_prefix_tokens
    old = math.isqrt(n_grid)
    if old * old != n_grid:
        raise ValueError(f"position embeddings of {n_grid} patches are not a square grid")
    if isinstance(num_patches, int):
        side = math.isqrt(num_patches)
        if side * side != num_patches:
            raise ValueError(f"{num_patches} patches are not a square grid: pass (rows, cols)")
        new = (side, side)
    else:
        new = (int(num_patches[0]), int(num_patches[1]))
    return resize_pos_embedding(pos, old, new, num_prefix_tokens, mode)


def resize_pos_embedding(
    pos: torch.Tensor, old_side: int, new: Tuple[int, int], num_prefix_tokens: int = 1, mode: str = "bicubic"
) -> torch.Tensor:
    """The resize of :func:`interpolate_pos_embedding` without the checks (TorchScript-able):
    ``old_side x old_side`` grid embeddings to ``new = (rows, cols)``."""
    if new[0] == old_side and new[1] == old_side:
        return pos
    prefix, grid = pos[:, :num_prefix_tokens], pos[:, num_prefix_tokens:]
    dim = grid.shape[-1]
    img = grid.reshape(1, old_side, old_side, dim).permute(0, 3, 1, 2)
    img = F.interpolate(img, size=[new[0], new[1]], mode=mode, align_corners=True)
    return torch.cat([prefix, img.permute(0, 2, 3, 1).reshape(1, new[0] * new[1], dim)], dim=1)
