"""Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words"), lecture 003
"Vision Transformer": patches -> linear projection -> class token -> position embeddings ->
transformer encoder -> the class token's output -> classifier.

Names: ``vit_{size}_{patch}`` as torchvision (``vit_b_16`` = ViT-Base with 16x16 patches), and
``vit_{size}_{patch}_{image}`` for the small-image networks (``vit_ti_4_32`` = ViT-Tiny with 4x4
patches on 32x32 images: 8x8 = 64 patches + 1 class token). Keys are torchvision's.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..errors import CnnlabError
from ..nn.transformer import PatchEmbed, TransformerEncoder, interpolate_pos_embedding, patch_tokens
from .base import Classifier
from .card import ModelCard
from .registry import register_model

# size -> (layers, hidden size D, MLP size, heads)
# Base/Large/Huge: Dosovitskiy et al. 2021, Table 1. Tiny/Small: Touvron et al. 2021 (DeiT), Table 1.
VIT_SIZES = {
    "ti": (12, 192, 768, 3),
    "s": (12, 384, 1536, 6),
    "b": (12, 768, 3072, 12),
    "l": (24, 1024, 4096, 16),
    "h": (32, 1280, 5120, 16),
}


def vit_params(size: str, patch: int, image: int, in_chans: int = 3, num_classes: int = 1000) -> int:
    """Parameter count from the architecture: projection, class token, position embeddings,
    ``layers x (12 D^2 + 13 D)`` (attention 4 D^2 + 4 D, MLP 8 D^2 + 5 D, two LayerNorms 4 D),
    final LayerNorm and the classifier."""
    layers, d, mlp, _ = VIT_SIZES[size]
    tokens = (image // patch) ** 2 + 1
    block = 4 * d * d + 4 * d + 2 * d * mlp + mlp + d + 4 * d
    head = d * num_classes + num_classes if num_classes else 0
    return (in_chans * patch * patch * d + d) + d + tokens * d + layers * block + 2 * d + head


def vit_macs(size: str, patch: int, image: int, in_chans: int = 3, num_classes: int = 1000) -> int:
    """Multiply-adds of one image: projection, ``layers x (N (4 D^2 + 2 D M) + 2 N^2 D)`` (QKV and output
    projections, MLP, the attention matrix QK^T and its product with V), classifier."""
    layers, d, mlp, _ = VIT_SIZES[size]
    patches = (image // patch) ** 2
    n = patches + 1
    return (
        patches * in_chans * patch * patch * d
        + layers * (n * (4 * d * d + 2 * d * mlp) + 2 * n * n * d)
        + d * num_classes
    )


class VisionTransformer(Classifier):
    classifier_path = "heads.head"
    head_pools = ()  # no global_pool choice: the head reads the class token

    def __init__(
        self,
        size: str = "b",
        patch_size: int = 16,
        image_size: int = 224,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path_rate: float = 0.0,
    ):
        super().__init__(num_classes, in_chans)
        if size not in VIT_SIZES:
            raise CnnlabError(f"ViT: unknown size {size!r}", f"sizes: {', '.join(VIT_SIZES)}")
        if image_size % patch_size:
            raise CnnlabError(
                f"ViT: image size {image_size} is not a multiple of the patch size {patch_size}",
                f"use an image size divisible by {patch_size}",
            )
        layers, dim, mlp, heads = VIT_SIZES[size]
        self.patch_size, self.image_size, self.hidden_dim = patch_size, image_size, dim
        self.default_input_size = (in_chans, image_size, image_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.conv_proj = PatchEmbed(in_chans, dim, patch_size)
        self.encoder = TransformerEncoder(
            (image_size // patch_size) ** 2 + 1, layers, dim, heads, mlp, drop_rate, attention_dropout, drop_path_rate
        )
        self.heads = nn.Sequential()
        self.heads.add_module("head", nn.Linear(dim, num_classes) if num_classes else nn.Identity())
        self.num_features = dim
        # the patch grid (N x D x H/P x W/P); the encoder's tokens keep that resolution
        self.feature_info = [dict(channels=dim, reduction=patch_size, module="conv_proj")]
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self) -> None:  # torchvision's initialisation
        fan_in = self.conv_proj.in_channels * self.patch_size**2
        nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / fan_in))
        nn.init.zeros_(self.conv_proj.bias)
        for block in self.encoder.layers:
            for m in (block.mlp[0], block.mlp[3]):
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=1e-6)
        if isinstance(self.heads.head, nn.Linear):
            nn.init.zeros_(self.heads.head.weight)
            nn.init.zeros_(self.heads.head.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W) -> (N, 1 + (H/P)(W/P), D)``: the encoder's output tokens, class token first.
        Other image sizes than ``image_size`` use interpolated position embeddings (a partial
        patch at the right or bottom border is dropped, like a strided convolution does)."""
        x = self.conv_proj(x)
        grid = (x.shape[-2], x.shape[-1])
        x = patch_tokens(x)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.encoder(x, grid)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x[:, 0]
        return x if pre_logits else self.heads(x)

    def convert_weights(self, state_dict: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
        """Weight files of other layouts into ours:

        - timm / DeiT ViTs (``cls_token``, ``pos_embed``, ``patch_embed.proj``, ``blocks.{i}.norm1``,
          ``attn.qkv`` (= our packed ``in_proj``, same q/k/v order), ``attn.proj``, ``norm2``,
          ``mlp.fc1/fc2``, ``norm``, ``head``), recognised by their keys;
        - torchvision's pre-0.13 MLP keys (``mlp.linear_1/2``);
        - position embeddings for another image size, resized to this model's patch grid (as
          torchvision's ``interpolate_embeddings``).
        """
        if "cls_token" in state_dict or any(k.startswith("blocks.") for k in state_dict):
            state_dict = {_timm_key(k): v for k, v in state_dict.items()}
        out = {}
        for k, v in state_dict.items():
            k = k.replace(".mlp.linear_1.", ".mlp.0.").replace(".mlp.linear_2.", ".mlp.3.")
            if k == "encoder.pos_embedding" and v.shape != self.encoder.pos_embedding.shape:
                v = interpolate_pos_embedding(v, self.encoder.pos_embedding.shape[1] - 1)
            out[k] = v
        return out


_TIMM_TOP = {
    "cls_token": "class_token",
    "pos_embed": "encoder.pos_embedding",
    "patch_embed.proj.weight": "conv_proj.weight",
    "patch_embed.proj.bias": "conv_proj.bias",
    "norm.weight": "encoder.ln.weight",
    "norm.bias": "encoder.ln.bias",
    "head.weight": "heads.head.weight",
    "head.bias": "heads.head.bias",
}
_TIMM_BLOCK = {
    "norm1.": "ln_1.",
    "attn.qkv.weight": "self_attention.in_proj_weight",
    "attn.qkv.bias": "self_attention.in_proj_bias",
    "attn.proj.": "self_attention.out_proj.",
    "norm2.": "ln_2.",
    "mlp.fc1.": "mlp.0.",
    "mlp.fc2.": "mlp.3.",
}


def _timm_key(key: str) -> str:
    """A timm VisionTransformer state-dict key in torchvision's (= our) layout."""
    if key in _TIMM_TOP:
        return _TIMM_TOP[key]
    if key.startswith("blocks."):
        _, index, rest = key.split(".", 2)
        for old, new in _TIMM_BLOCK.items():
            if rest.startswith(old):
                return f"encoder.layers.encoder_layer_{index}.{new}{rest[len(old) :]}"
    return key


# -- registration --------------------------------------------------------------------------------
_VIT_PAPER = "Dosovitskiy et al., An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale"
_DEIT_PAPER = "Touvron et al., Training data-efficient image transformers & distillation through attention (DeiT)"
_TV = "torchvision 0.29 IMAGENET1K_V1 weights"

# name -> (size, patch, image side, in_chans, classes, stochastic-depth rate)
VIT_VARIANTS = {
    "vit_b_16": ("b", 16, 224, 3, 1000, 0.0),
    "vit_b_32": ("b", 32, 224, 3, 1000, 0.0),
    "vit_l_16": ("l", 16, 224, 3, 1000, 0.0),
    "vit_ti_16": ("ti", 16, 224, 3, 1000, 0.1),
    "vit_s_16": ("s", 16, 224, 3, 1000, 0.1),
    "vit_ti_4_28": ("ti", 4, 28, 1, 10, 0.1),
    "vit_ti_4_32": ("ti", 4, 32, 3, 10, 0.1),
    "vit_ti_8_32": ("ti", 8, 32, 3, 10, 0.1),
}


def _build(name: str, **kwargs) -> VisionTransformer:
    size, patch, image, in_chans, classes, drop_path = VIT_VARIANTS[name]
    kwargs = {"image_size": image, "in_chans": in_chans, "num_classes": classes, "drop_path_rate": drop_path, **kwargs}
    return VisionTransformer(size, patch, **kwargs)


def _card(
    name: str,
    *,
    paper: str,
    source: str,
    params: int | None = None,
    macs: int | None = None,
    top1: float | None = None,
    top5: float | None = None,
    torchvision: str | None = None,
    timm: str | None = None,
) -> ModelCard:
    """A ViT card; ``params``/``macs`` left out are the exact counts of the ``VIT_VARIANTS`` row."""
    size, patch, image, chans, classes, drop_path = VIT_VARIANTS[name]
    return ModelCard(
        name=name,
        family="ViT",
        paper=paper,
        year=2021,
        input_size=(chans, image, image),
        num_classes=classes,
        params=params if params is not None else vit_params(size, patch, image, chans, classes),
        macs=macs if macs is not None else vit_macs(size, patch, image, chans, classes),
        top1=top1,
        top5=top5,
        dataset="MNIST / Fashion-MNIST" if chans == 1 else ("CIFAR-10" if image < 224 else "ImageNet-1k"),
        source=source,
        torchvision=torchvision,
        timm=timm,
        departures=(("stochastic depth 0.1 by default, as DeiT's recipe",) if drop_path else ())
        + ("other input sizes interpolate the position embeddings (bicubic)",),
    )


@register_model(
    card=_card(
        "vit_b_16",
        paper=_VIT_PAPER,
        params=86_567_656,
        macs=17_564_000_000,
        top1=81.072,
        top5=95.318,
        torchvision="vit_b_16",
        source=f"params, MACs (17.564 G) and top-1/top-5: {_TV}; ViT-Base, 86M params: Dosovitskiy et al. 2021, Table 1",
    )
)
def vit_b_16(**kwargs) -> VisionTransformer:
    return _build("vit_b_16", **kwargs)


@register_model(
    card=_card(
        "vit_b_32",
        paper=_VIT_PAPER,
        params=88_224_232,
        macs=4_409_000_000,
        top1=75.912,
        top5=92.466,
        torchvision="vit_b_32",
        source=f"params, MACs (4.409 G) and top-1/top-5: {_TV}",
    )
)
def vit_b_32(**kwargs) -> VisionTransformer:
    return _build("vit_b_32", **kwargs)


@register_model(
    card=_card(
        "vit_l_16",
        paper=_VIT_PAPER,
        params=304_326_632,
        macs=61_555_000_000,
        top1=79.662,
        top5=94.638,
        torchvision="vit_l_16",
        source=f"params, MACs (61.555 G) and top-1/top-5: {_TV}; ViT-Large, 307M params: Dosovitskiy et al. 2021, "
        "Table 1 (with the 21k-class pre-training head)",
    )
)
def vit_l_16(**kwargs) -> VisionTransformer:
    return _build("vit_l_16", **kwargs)


@register_model(
    card=_card(
        "vit_ti_16",
        paper=_DEIT_PAPER,
        params=5_717_416,
        macs=1_260_000_000,
        top1=72.2,
        top5=91.1,
        timm="vit_tiny_patch16_224",
        source="DeiT-Ti: 5M params (Touvron et al. 2021, Table 1, 5.72M truncated) and 72.2% top-1 / 91.1% top-5 "
        "(facebookresearch/deit model table); MACs: 1.26 G (OpenMMLab mmpretrain DeiT table, 'Flops' = "
        "multiply-adds); params: exact count (= timm vit_tiny_patch16_224)",
    )
)
def vit_ti_16(**kwargs) -> VisionTransformer:
    return _build("vit_ti_16", **kwargs)


@register_model(
    card=_card(
        "vit_s_16",
        paper=_DEIT_PAPER,
        params=22_050_664,
        macs=4_600_000_000,
        top1=79.8,
        top5=95.0,
        timm="vit_small_patch16_224",
        source="DeiT-S: 22M params and 79.8% top-1 (Touvron et al. 2021, Tables 1 and 5; the model table says 79.9 / "
        "95.0); MACs: 4.6 GMACs (timm deit_small_patch16_224 card); params: exact count (= timm "
        "vit_small_patch16_224, 22.1M)",
    )
)
def vit_s_16(**kwargs) -> VisionTransformer:
    return _build("vit_s_16", **kwargs)


@register_model(
    card=_card(
        "vit_ti_4_28",
        paper=_DEIT_PAPER,
        source="DeiT-Ti's encoder with 4x4 patches on 28x28 single-channel images (MNIST-sized): 49 patches + class "
        "token; no published figures: params and MACs are the exact counts",
    )
)
def vit_ti_4_28(**kwargs) -> VisionTransformer:
    return _build("vit_ti_4_28", **kwargs)


@register_model(
    card=_card(
        "vit_ti_4_32",
        paper=_DEIT_PAPER,
        source="DeiT-Ti's encoder with 4x4 patches on 32x32 RGB images (CIFAR-sized): 64 patches + class token; no "
        "published figures: params and MACs are the exact counts",
    )
)
def vit_ti_4_32(**kwargs) -> VisionTransformer:
    return _build("vit_ti_4_32", **kwargs)


@register_model(
    card=_card(
        "vit_ti_8_32",
        paper=_DEIT_PAPER,
        source="DeiT-Ti's encoder with 8x8 patches on 32x32 RGB images: 16 patches + class token, a quarter of "
        "vit_ti_4_32's multiply-adds (about ResNet-44's); no published figures: params and MACs are the exact counts",
    )
)
def vit_ti_8_32(**kwargs) -> VisionTransformer:
    return _build("vit_ti_8_32", **kwargs)
