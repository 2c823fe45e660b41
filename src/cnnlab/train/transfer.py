"""Transfer learning: start from a weight file, freeze layers, train the backbone slower.

Fine-tuning an ImageNet network on a small folder of images (hex nuts against square nuts) works
far better than training it from scratch: ``init_weights`` loads a torchvision, timm or cnnlab
file (``cnnlab.models.load_weights``: a classifier of another number of classes is dropped and the
new one starts untrained). Then, from least to most training:

- ``freeze="backbone"``: only the classifier learns, a *linear probe* of the pretrained features;
- ``freeze="layer1,layer2"``: the named modules (and everything inside them) stay as loaded;
- ``backbone_lr_scale=0.1``: everything outside the classifier learns at a tenth of the rate.

Frozen modules are kept in eval mode during training, so their batch-norm statistics stay the
pretrained ones and their dropout is off. ``normalize`` picks the input statistics: a pretrained
network expects the ones it was trained with (``auto``: ImageNet's for torchvision/timm files, the
file's own for cnnlab files, the training split's when there is no file).
"""

from __future__ import annotations

import torch.nn as nn

from ..errors import CnnlabError, closest

# torchvision's ImageNet normalisation (its transforms' mean/std for every classification weight)
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
# Inception-style (-1..1) inputs: timm's inception_v3/v4, inception_resnet_v2 and ViT augreg files
INCEPTION_MEAN, INCEPTION_STD = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]
NORMALIZE = ("auto", "data", "imagenet", "inception")


def classifier_name(model: nn.Module) -> str:
    path = getattr(model, "classifier_path", "")
    if not path:
        raise CnnlabError(
            f"{type(model).__name__} names no classifier, so it has no backbone to freeze or slow",
            "use --freeze with module names instead of 'backbone', or a zoo model",
        )
    return path


def frozen_modules(model: nn.Module, freeze: str) -> list[str]:
    """The dotted names of the outermost modules ``freeze`` holds still (none for '' or 'none')."""
    if not freeze or freeze == "none":
        return []
    if freeze == "backbone":  # every module off the path from the root to the classifier
        head = classifier_name(model)
        path = head.split(".")
        names, prefix, node = [], "", model
        for part in path:
            names += [prefix + n for n, _ in node.named_children() if n != part]
            prefix, node = prefix + part + ".", node.get_submodule(part)
        return names
    names = [n.strip() for n in freeze.split(",") if n.strip()]
    known = dict(model.named_modules())
    for n in names:
        if n not in known or not n:
            hint = closest(n, [k for k in known if k])
            raise CnnlabError(
                f"--freeze {n}: the model has no module of that name",
                (f"did you mean {', '.join(hint)}? " if hint else "")
                + "`cnnlab summary MODEL` lists the module names; or use --freeze backbone",
            )
    return names


def apply_freeze(model: nn.Module, freeze: str) -> list[str]:
    """Stop the gradients of the frozen modules' parameters; returns the frozen module names.

    With ``backbone`` the parameters held directly by the classifier's parent modules (a ViT's
    class token) are frozen too."""
    names = frozen_modules(model, freeze)
    for n in names:
        model.get_submodule(n).requires_grad_(False)
    if freeze == "backbone":
        parts = classifier_name(model).split(".")
        for i in range(len(parts)):
            for p in model.get_submodule(".".join(parts[:i])).parameters(recurse=False):
                p.requires_grad_(False)
    return names


def set_frozen_eval(model: nn.Module, names: list[str]) -> None:
    """After ``model.train()``: put the frozen modules back in eval mode (batch-norm statistics kept)."""
    for n in names:
        model.get_submodule(n).eval()


def _file_meta(path: str) -> dict:
    """The cnnlab metadata of a .safetensors weight file (header only); {} for other files."""
    from pathlib import Path

    from ..runs import read_model_meta

    p = Path(path).expanduser()
    return read_model_meta(p) if p.suffix == ".safetensors" and p.is_file() else {}


def input_normalization(
    normalize: str, data_mean: list[float], data_std: list[float], init_weights: str, channels: int
) -> tuple[list[float], list[float], str]:
    """``(mean, std, where they come from)`` of the network's input for ``normalize``."""
    if normalize not in NORMALIZE:
        raise CnnlabError(f"normalize={normalize!r}", f"use one of {', '.join(NORMALIZE)}")
    if normalize == "auto":
        if not init_weights:
            return list(data_mean), list(data_std), "the training split"
        meta = _file_meta(init_weights)
        if isinstance(meta.get("mean"), list) and len(meta["mean"]) == channels and "std" in meta:
            return list(meta["mean"]), list(meta["std"]), f"the weight file ({init_weights})"
        normalize = "imagenet"
    if normalize == "data":
        return list(data_mean), list(data_std), "the training split"
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if normalize == "imagenet" else (INCEPTION_MEAN, INCEPTION_STD)
    if channels == 1:  # grey input into RGB-trained kernels summed over colour (load_weights): the average
        return [sum(mean) / 3], [sum(std) / 3], f"{normalize} (averaged over RGB)"
    if channels != 3:
        raise CnnlabError(
            f"--normalize {normalize} is for 3-channel (or grey) images, the data has {channels}",
            "use --normalize data",
        )
    return list(mean), list(std), normalize


def split_backbone_groups(groups: list[dict], head_params: set[int], scale: float) -> list[dict]:
    """Each optimizer group split in two: the backbone's parameters at lr x ``scale``, the head's as they were."""
    out = []
    for g in groups:
        body = [p for p in g["params"] if id(p) not in head_params]
        head = [p for p in g["params"] if id(p) in head_params]
        if body:
            out.append({**g, "params": body, "lr": g["lr"] * scale})
        if head:
            out.append({**g, "params": head})
    return out
