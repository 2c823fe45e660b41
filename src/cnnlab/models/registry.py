"""One registry for every architecture: ``create_model``, ``list_models``, ``model_card``.

One style everywhere: a named function per registered variant, its card as keyword values in the
decorator, next to the paper table it cites::

    @register_model(card=ModelCard(name="lenet5", family="LeNet", paper=..., params=61_706, ...))
    def lenet5(**kwargs) -> LeNet5:
        return LeNet5(**kwargs)

A family with many variants writes a small keyword helper for the fields they share (``_card(name,
**figures) -> ModelCard``, as timm's ``_cfg(**kwargs)``) and still one named function per variant, so
``grep "def resnet50"`` finds it and a traceback names it. The function's name is the registered name.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch.nn as nn

from ..errors import CnnlabError, UnknownNameError
from .card import ModelCard


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., nn.Module]
    card: ModelCard


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(fn: Callable | None = None, *, name: str | None = None, card: ModelCard | None = None):
    """Register a builder under ``name`` (default: the function's name)."""

    def wrap(f: Callable) -> Callable:
        key = name or f.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is registered twice")
        c = card if card is not None else ModelCard(name=key, family=key)
        if c.name != key:
            c = replace(c, name=key)
        _REGISTRY[key] = ModelEntry(key, f, c)
        return f

    return wrap(fn) if fn is not None else wrap


def _ensure_loaded() -> None:
    # Importing the package imports every family file, which registers its variants.
    from . import families  # noqa: F401


def get_entry(name: str) -> ModelEntry:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError("model", name, _REGISTRY, "cnnlab models") from None


def list_models(pattern: str | list[str] = "*", task: str | None = None) -> list[str]:
    """Registered names matching a shell-style wildcard (or any of several), sorted; ``task``
    (``"classify"``, ``"segment"``) keeps only the networks whose card says that task."""
    _ensure_loaded()
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    return sorted(
        n
        for n, e in _REGISTRY.items()
        if any(fnmatch.fnmatchcase(n, p) for p in patterns) and (task is None or e.card.task == task)
    )


def model_card(name: str) -> ModelCard:
    return get_entry(name).card


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    in_chans: int | None = None,
    weights: str | None = None,
    pretrained: bool = False,
    features_only: bool = False,
    out_indices=None,
    global_pool: str | None = None,
    **kwargs,
) -> nn.Module:
    """Build a registered network by name.

    ``num_classes`` and ``in_chans`` default to the card's; other keyword arguments go to the
    family's builder (``activation=``, ``drop_rate=``, ...). ``weights`` is a weight file
    (torchvision, timm or cnnlab; ``.pth`` or ``.safetensors``) loaded after building;
    ``pretrained=True`` fetches the published file (``cnnlab weights fetch NAME``: downloaded once
    into ``$CNNLAB_HOME``, hash-checked) and loads it; a classifier of another size is replaced.

    timm's conventions: ``global_pool`` ("avg", "max", or "" with ``num_classes=0`` for the
    unpooled map); ``features_only=True`` returns a module whose forward gives the
    ``feature_info`` stages as a list (``out_indices`` picks them); every model carries
    ``pretrained_cfg`` / ``default_cfg`` (input size, crop, interpolation, mean, std, url).
    """
    entry = get_entry(name)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if in_chans is not None:
        kwargs["in_chans"] = in_chans
    if kwargs.get("num_classes", 1) < 0 or kwargs.get("in_chans", 1) < 1:
        raise CnnlabError(
            f"{name}: num_classes must be >= 0 and in_chans >= 1, got "
            f"num_classes={kwargs.get('num_classes')}, in_chans={kwargs.get('in_chans')}"
        )
    if pretrained and weights is not None:
        raise CnnlabError(f"{name}: pass pretrained=True (the published file) or weights=PATH, not both")
    if pretrained:
        from .fetch import fetch_weights

        weights = str(fetch_weights(name))  # before building: an unknown or offline file fails fast
    try:
        model = entry.builder(**kwargs)
    except TypeError as e:
        if "unexpected keyword" in str(e):
            raise CnnlabError(f"{name}: {e}", f"see `cnnlab models --details {name}` for its options") from e
        raise
    model.model_name = name
    model.card = entry.card
    from .features import FeatureInfo
    from .published import pretrained_cfg

    if isinstance(getattr(model, "feature_info", None), list):
        model.feature_info = FeatureInfo(model.feature_info)
    model.pretrained_cfg = pretrained_cfg(name, entry.card)
    model.default_cfg = model.pretrained_cfg  # timm's older name for the same dict
    if weights is not None:
        from .weights import load_weights

        load_weights(model, weights)
    if global_pool is not None:
        if not hasattr(model, "set_global_pool"):
            raise CnnlabError(f"{name}: global_pool is not available for this network")
        model.set_global_pool(global_pool)
    if features_only:
        from .features import FeatureListNet

        model = FeatureListNet(model, out_indices)
        model.pretrained_cfg = model.default_cfg = model.model.pretrained_cfg
    elif out_indices is not None:
        raise CnnlabError(f"{name}: out_indices only applies with features_only=True")
    return model
