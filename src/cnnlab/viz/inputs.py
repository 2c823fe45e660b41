"""What the viz commands look at: a trained run or a registered network, and one image prepared
exactly as the model sees it (predict.py's rules: resize, inversion, MNIST centring)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..errors import CnnlabError


@dataclass
class Subject:
    """A model with what preprocessing and labelling need: ``meta`` has ``input_size``, ``mean``,
    ``std`` (and ``background``, ``classes`` when known)."""

    model: nn.Module
    meta: dict
    name: str  # the run folder or the registered name
    trained: bool

    @property
    def classes(self) -> list[str]:
        return self.meta.get("classes") or [str(i) for i in range(getattr(self.model, "num_classes", 0) or 0)]

    def class_name(self, index: int) -> str:
        names = self.classes
        return names[index] if 0 <= index < len(names) else str(index)

    def class_index(self, value: str | int | None) -> int | None:
        """``--class``: a class name of the run or an index."""
        if value is None:
            return None
        names = self.classes
        if str(value) in names:
            return names.index(str(value))
        try:
            return int(value)
        except ValueError:
            from ..errors import closest

            near = closest(str(value), names)
            raise CnnlabError(f"unknown class {value!r}", f"classes: {', '.join(near or names[:10])}") from None


def load_subject(spec: str | Path) -> Subject:
    """A run folder (or a cnnlab ``.safetensors``) with its trained weights, or a registered name
    with random weights (ImageNet normalisation for RGB inputs, 0.5/0.5 otherwise)."""
    from ..models import create_model, list_models, model_card
    from ..runs import load_run

    path = Path(spec)
    if path.exists():
        run = load_run(path)
        return Subject(run.model, dict(run.meta), str(spec), True)
    if str(spec) in list_models():
        card = model_card(str(spec))
        model = create_model(str(spec)).eval()
        c = card.input_size[0]
        if c == 3:
            from ..train.transfer import IMAGENET_MEAN, IMAGENET_STD

            mean, std = list(IMAGENET_MEAN), list(IMAGENET_STD)
        else:
            mean, std = [0.5] * c, [0.5] * c
        meta = {"input_size": list(card.input_size), "mean": mean, "std": std, "model": str(spec)}
        return Subject(model, meta, str(spec), False)
    from ..errors import closest

    near = closest(str(spec), list_models())
    raise CnnlabError(
        f"{spec} is neither a run folder nor a registered model",
        f"pass a folder written by `cnnlab train`{', or a model such as ' + ', '.join(near) if near else ''}",
    )


def load_image(path: str | Path, meta: dict) -> tuple[torch.Tensor, list[str]]:
    """The normalised ``1 x C x H x W`` tensor of an image file and notes on what was done to it
    (the same preprocessing as ``cnnlab predict``: resize, and inversion for MNIST-like models only)."""
    from ..images import open_image
    from ..predict import prepare

    with open_image(path) as im:
        return prepare(im, meta)


def display_image(x: torch.Tensor, meta: dict) -> np.ndarray:
    """The model's input back in [0, 1] (``H x W x C``): undo the normalisation only, so the
    picture shows the resize, crop, inversion and centring the model saw."""
    c = x.shape[-3]
    mean = torch.tensor(meta["mean"], dtype=torch.float32).view(c, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32).view(c, 1, 1)
    img = (x.reshape(c, *x.shape[-2:]) * std + mean).clamp(0, 1)
    return img.permute(1, 2, 0).numpy()


def predict_one(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Class probabilities of one normalised image (eval mode, mode restored)."""
    from .hooks import inspecting

    with inspecting(model), torch.no_grad():
        return torch.softmax(model(x).float(), dim=1)[0]
