"""The segmentation networks in the zoo: ``fcn32s``, ``fcn16s``, ``fcn8s`` and ``unet``.

Each takes ``backbone`` (any zoo name with feature stages; default ``resnet18``),
``backbone_weights`` (a classifier's weight file for the encoder: torchvision, timm or cnnlab) and
``backbone_args`` (options of the backbone's builder)::

    create_model("fcn8s", backbone="resnet18", num_classes=11, in_chans=1)
    cnnlab train unet --data seg-sample --set model_args.backbone=resnet18

Their cards say ``task="segment"``: ``list_models(task="segment")`` lists them; they return
``N x num_classes x H x W`` logits at the input size (any size) instead of ``N x num_classes``.
"""

from __future__ import annotations

from ...models.card import ModelCard
from ...models.registry import register_model
from .fcn import FCN
from .unet import UNet

FCN_PAPER = "Long, Shelhamer, Darrell: Fully Convolutional Networks for Semantic Segmentation (CVPR 2015)"
FCN_SOURCE = "Long et al. 2015, Table 2 (PASCAL VOC 2011 validation subset, VGG16 backbone): mean IU"
FCN_DEPARTURES = (
    "encoder: any zoo backbone's feature stages (the paper: VGG16 with fc6/fc7 turned into convolutions)",
    "every upsampling is learned from a bilinear start (the paper fixes the final one to bilinear)",
    "no 100-pixel input padding: the backbone's own padding, and a top-left crop/pad to the input size",
)
UNET_PAPER = "Ronneberger, Fischer, Brox: U-Net: Convolutional Networks for Biomedical Image Segmentation (MICCAI 2015)"


def _fcn_card(name: str, stride: int, mean_iu: float) -> ModelCard:
    return ModelCard(
        name=name,
        family="FCN",
        paper=FCN_PAPER,
        year=2015,
        input_size=(3, 224, 224),
        num_classes=21,
        dataset="PASCAL VOC",
        source=FCN_SOURCE,
        departures=FCN_DEPARTURES,
        task="segment",
        notes=f"FCN-{stride}s: scores fused from the stride-{stride} stage up; the paper reports "
        f"{mean_iu} mean IU with VGG16. Options: backbone (default resnet18), backbone_weights, "
        "backbone_args, dropout.",
    )


@register_model(card=_fcn_card("fcn32s", 32, 59.4))
def fcn32s(**kwargs):
    return FCN(skips=0, **kwargs)


@register_model(card=_fcn_card("fcn16s", 16, 62.4))
def fcn16s(**kwargs):
    return FCN(skips=1, **kwargs)


@register_model(card=_fcn_card("fcn8s", 8, 62.7))
def fcn8s(**kwargs):
    return FCN(skips=2, **kwargs)


@register_model(
    card=ModelCard(
        name="unet",
        family="U-Net",
        paper=UNET_PAPER,
        year=2015,
        input_size=(3, 224, 224),
        num_classes=21,
        dataset="ISBI cell tracking 2015",
        task="segment",
        source="Ronneberger et al. 2015, Table 2: IOU 0.9203 (PhC-U373) and 0.7756 (DIC-HeLa)",
        departures=(
            "encoder: any zoo backbone's feature stages (the paper: its own 4-level contracting path)",
            "padded 3x3 convolutions: the output has the input's size (no overlap-tile, no cropping)",
            "batch norm after every convolution of the expanding path",
        ),
        notes="Options: backbone (default resnet18), backbone_weights, backbone_args, min_width (narrowest decoder "
        "level, default 16).",
    )
)
def unet(**kwargs):
    return UNet(**kwargs)
