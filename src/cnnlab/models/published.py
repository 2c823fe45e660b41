"""The published ImageNet weight files of the networks cnnlab shares with torchvision and timm.

One row per cnnlab name: where the file is served, the SHA-256 its publisher committed to, the
accuracy the publisher reports, and the evaluation transform the accuracy was measured with.
``cnnlab weights fetch NAME`` / ``create_model(NAME, pretrained=True)`` download the file
(``models/fetch.py``), check the hash and load it through ``models/weights.py``.

Hashes: torchvision names each file ``NAME-XXXXXXXX.pth`` where ``XXXXXXXX`` is the start of the
file's SHA-256 (``torch.hub.load_state_dict_from_url(check_hash=True)`` checks it; two ShuffleNet
files carry 10 hex digits); timm's GitHub-release files follow the same rule (``clean_checkpoint``
names them by the first 8 hex digits). Only these published prefixes are recorded here: cnnlab
checks that the downloaded file's SHA-256 starts with them, and records the full digest next to
the cached file.

Sources (read 2026-11, see docs/weights.md):
- file names: torchvision's ``torchvision/models/*.py`` weight enums (0.29.1, as listed in
  /work/shared/research/zoo-anchors.md section 4 and in public copies of those enums); timm's
  ``timm/models/nfnet.py`` ``default_cfgs`` (``dm_nfnet_f*.dm_in1k``);
- accuracy: torchvision's ``Weights.meta["_metrics"]["ImageNet-1K"]`` (acc@1 / acc@5, single
  224-ish centre crop at the listed resize/crop), which the model cards quote too; NFNet: Brock et
  al. 2021, Table 3 (the DeepMind release timm ports);
- eval transforms: torchvision's ``ImageClassification(crop_size, resize_size, interpolation)``
  presets of the same enums; timm's ``input_size`` / ``crop_pct`` / ``interpolation`` for NFNet.
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION = "https://download.pytorch.org/models/"
TIMM_DNF = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-dnf-weights/"


@dataclass(frozen=True)
class PublishedWeights:
    """One published weight file and what its publisher says about it."""

    model: str  # the cnnlab name
    url: str
    sha256: str  # the published SHA-256 (a prefix: as in the file name)
    publisher: str  # torchvision | timm
    tag: str  # the publisher's name for these weights (torchvision enum member, timm pretrained tag)
    top1: float | None  # ImageNet-1k validation, as the publisher reports
    top5: float | None
    crop: int  # evaluation input side
    resize: int  # resize of the shorter side before the centre crop
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    accuracy_source: str = "torchvision weights meta _metrics ImageNet-1K"

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[1]

    @property
    def crop_pct(self) -> float:
        return round(self.crop / self.resize, 4)


def _tv(model, file, top1, top5, crop=224, resize=256, interpolation="bilinear", tag="IMAGENET1K_V1", **kw):
    sha = file.rsplit("-", 1)[1].split(".pth")[0]
    return PublishedWeights(
        model, TORCHVISION + file, sha, "torchvision", tag, top1, top5, crop, resize, interpolation, **kw
    )


def _dnf(model, file, top1, top5, crop, test_crop_pct):
    sha = file.rsplit("-", 1)[1].split(".pth")[0]
    return PublishedWeights(
        model,
        TIMM_DNF + file,
        sha,
        "timm",
        "dm_in1k",
        top1,
        top5,
        crop,
        round(crop / test_crop_pct),
        "bicubic",
        accuracy_source="Brock et al. 2021 (NFNet), Table 3 (the DeepMind release timm ports)",
    )


_BICUBIC = "bicubic"
_ROWS = [
    # torchvision, IMAGENET1K_V1 unless noted: model, file, acc@1, acc@5, [crop, resize, interpolation]
    _tv("alexnet", "alexnet-owt-7be5be79.pth", 56.522, 79.066),
    _tv("vgg11", "vgg11-8a719046.pth", 69.020, 88.628),
    _tv("vgg13", "vgg13-19584684.pth", 69.928, 89.246),
    _tv("vgg16", "vgg16-397923af.pth", 71.592, 90.382),
    _tv("vgg19", "vgg19-dcbb9e9d.pth", 72.376, 90.876),
    _tv("vgg11_bn", "vgg11_bn-6002323d.pth", 70.370, 89.810),
    _tv("vgg13_bn", "vgg13_bn-abd245e5.pth", 71.586, 90.374),
    _tv("vgg16_bn", "vgg16_bn-6c64b313.pth", 73.360, 91.516),
    _tv("vgg19_bn", "vgg19_bn-c79401a0.pth", 74.218, 91.842),
    _tv("googlenet", "googlenet-1378be20.pth", 69.778, 89.530),
    _tv("inception_v3", "inception_v3_google-0cc3c7bd.pth", 77.294, 93.450, 299, 342),
    _tv("resnet18", "resnet18-f37072fd.pth", 69.758, 89.078),
    _tv("resnet34", "resnet34-b627a593.pth", 73.314, 91.420),
    _tv("resnet50", "resnet50-0676ba61.pth", 76.130, 92.862),
    _tv("resnet101", "resnet101-63fe2227.pth", 77.374, 93.546),
    _tv("resnet152", "resnet152-394f9c45.pth", 78.312, 94.046),
    _tv("resnext50_32x4d", "resnext50_32x4d-7cdf4587.pth", 77.618, 93.698),
    _tv("resnext101_32x8d", "resnext101_32x8d-8ba56ff5.pth", 79.312, 94.526),
    _tv("wide_resnet50_2", "wide_resnet50_2-95faca4d.pth", 78.468, 94.086),
    _tv("wide_resnet101_2", "wide_resnet101_2-32ee1156.pth", 78.848, 94.284),
    _tv("densenet121", "densenet121-a639ec97.pth", 74.434, 91.972),
    _tv("densenet161", "densenet161-8d451a50.pth", 77.138, 93.560),
    _tv("densenet169", "densenet169-b2777c0a.pth", 75.600, 92.806),
    _tv("densenet201", "densenet201-c1103571.pth", 76.896, 93.370),
    _tv("mobilenet_v2", "mobilenet_v2-b0353104.pth", 71.878, 90.286),
    _tv("mobilenet_v3_large", "mobilenet_v3_large-8738ca79.pth", 74.042, 91.340),
    _tv("mobilenet_v3_small", "mobilenet_v3_small-047dcff4.pth", 67.668, 87.402),
    _tv("shufflenet_v2_x0_5", "shufflenetv2_x0.5-f707e7126e.pth", 60.552, 81.746),
    _tv("shufflenet_v2_x1_0", "shufflenetv2_x1-5666bf0f80.pth", 69.362, 88.316),
    _tv("shufflenet_v2_x1_5", "shufflenetv2_x1_5-3c479a10.pth", 72.996, 91.086, 224, 232),
    _tv("shufflenet_v2_x2_0", "shufflenetv2_x2_0-8be3c8ee.pth", 76.230, 93.006, 224, 232),
    _tv("efficientnet_b0", "efficientnet_b0_rwightman-7f5810bc.pth", 77.692, 93.532, 224, 256, _BICUBIC),
    _tv("efficientnet_b1", "efficientnet_b1_rwightman-bac287d4.pth", 78.642, 94.186, 240, 256, _BICUBIC),
    _tv("efficientnet_b2", "efficientnet_b2_rwightman-c35c1473.pth", 80.608, 95.310, 288, 288, _BICUBIC),
    _tv("efficientnet_b3", "efficientnet_b3_rwightman-b3899882.pth", 82.008, 96.054, 300, 320, _BICUBIC),
    _tv("efficientnet_b4", "efficientnet_b4_rwightman-23ab8bcd.pth", 83.384, 96.594, 380, 384, _BICUBIC),
    _tv("efficientnet_b5", "efficientnet_b5_lukemelas-1a07897c.pth", 83.444, 96.628, 456, 456, _BICUBIC),
    _tv("efficientnet_b6", "efficientnet_b6_lukemelas-24a108a5.pth", 84.008, 96.916, 528, 528, _BICUBIC),
    _tv("efficientnet_b7", "efficientnet_b7_lukemelas-c5b4e57e.pth", 84.122, 96.908, 600, 600, _BICUBIC),
    _tv("efficientnet_v2_s", "efficientnet_v2_s-dd5fe13b.pth", 84.228, 96.878, 384, 384),
    _tv("efficientnet_v2_m", "efficientnet_v2_m-dc08266a.pth", 85.112, 97.156, 480, 480),
    _tv(
        "efficientnet_v2_l",
        "efficientnet_v2_l-59c71312.pth",
        85.808,
        97.788,
        480,
        480,
        _BICUBIC,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
    ),
    _tv("vit_b_16", "vit_b_16-c867db91.pth", 81.072, 95.318),
    _tv("vit_b_32", "vit_b_32-d86f8d99.pth", 75.912, 92.466),
    _tv("vit_l_16", "vit_l_16-852ce7e3.pth", 79.662, 94.638, 224, 242),
    # timm's port of the DeepMind NFNets: model, file, top-1, top-5, test input side, crop_pct
    _dnf("dm_nfnet_f0", "dm_nfnet_f0-604f9c3a.pth", 83.6, 96.8, 256, 0.9),
    _dnf("dm_nfnet_f1", "dm_nfnet_f1-fc540f82.pth", 84.7, 97.1, 320, 0.91),
    _dnf("dm_nfnet_f2", "dm_nfnet_f2-89875923.pth", 85.1, 97.3, 352, 0.92),
    _dnf("dm_nfnet_f3", "dm_nfnet_f3-d74ab3aa.pth", 85.7, 97.5, 416, 0.94),
]

PUBLISHED: dict[str, PublishedWeights] = {w.model: w for w in _ROWS}


def published_weights(name: str) -> PublishedWeights:
    """The published file for a cnnlab name, or a :class:`CnnlabError` listing the names that have one."""
    from ..errors import CnnlabError, closest

    if name in PUBLISHED:
        return PUBLISHED[name]
    close = closest(name, PUBLISHED)
    raise CnnlabError(
        f"no published weights are known for {name!r}",
        (f"did you mean {', '.join(close)}? " if close else "")
        + "`cnnlab weights list` shows the networks with published weights; any other weight file "
        "loads with create_model(name, weights=PATH)",
    )


def pretrained_cfg(name: str, card=None) -> dict:
    """timm's ``pretrained_cfg`` / ``default_cfg`` for a registered name: what a data pipeline needs
    (input size, crop, interpolation, mean, std, classes) and where the weights are (url, hash)."""
    w = PUBLISHED.get(name)
    if card is None:
        from .registry import model_card

        card = model_card(name)
    imagenet = card.dataset.lower().startswith("imagenet")
    cfg = {
        "architecture": name,
        "tag": w.tag if w else None,
        "url": w.url if w else None,
        "file": w.filename if w else None,
        "sha256": w.sha256 if w else None,
        "num_classes": card.num_classes,
        "input_size": tuple(card.input_size) if w is None else (card.input_size[0], w.crop, w.crop),
        "crop_pct": w.crop_pct if w else (0.875 if imagenet else 1.0),
        "interpolation": w.interpolation if w else "bilinear",
        "mean": (w.mean if w else IMAGENET_MEAN) if (w or imagenet) else None,
        "std": (w.std if w else IMAGENET_STD) if (w or imagenet) else None,
        "top1": w.top1 if w else card.top1,
        "top5": w.top5 if w else card.top5,
        "publisher": w.publisher if w else None,
    }
    return cfg
