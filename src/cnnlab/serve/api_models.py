"""The model explorer: ``cnnlab summary`` and ``cnnlab compare`` (``cnnlab.analysis``) for registered
networks or a run's model, on the meta device (nothing is computed, so any size is quick)."""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock

from ..analysis import lectures, summary
from ..analysis.compare import compare
from ..models import list_models, model_card
from .errors import ApiError

MAX_SIDE = 1024
COMPARE_RANGE = (2, 5)
_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 32
_LOCK = Lock()


def catalogue() -> list[dict]:
    """Every registered network with its card's figures, then the lectures' own layer tables."""
    out = []
    for name in list_models():
        c = model_card(name)
        out.append(
            {
                "name": name,
                "family": c.family,
                "year": c.year,
                "input_size": list(c.input_size),
                "params": c.params,
                "macs": c.macs,
                "top1": c.top1,
                "dataset": c.dataset,
            }
        )
    for net in lectures.NETS.values():
        out.append(
            {
                "name": lectures.PREFIX + net.name,
                "family": "the lectures' tables (lecture 004)",
                "year": None,
                "input_size": list(net.input_size),
                "params": None,
                "macs": None,
                "top1": None,
                "dataset": None,
                "what": net.what,
            }
        )
    return out


def checked_name(name: str) -> str:
    """A registered network or a ``lecture:`` table; anything else (a path, say) is refused by name."""
    if lectures.is_lecture_name(name):
        lectures.lecture_net(name)
    else:
        model_card(name)  # unknown names: UnknownNameError with the closest ones
    return name


def input_size(text: str | None, default=None) -> int | tuple[int, ...] | None:
    """'224' (sides), '3x224x224' or '224x224' -> a size tuple; None keeps the model's own size."""
    if text in (None, ""):
        return default
    try:
        parts = tuple(int(p) for p in str(text).lower().replace(",", "x").split("x"))
    except ValueError:
        raise ApiError(400, f"input size {text!r} is not whole numbers", "e.g. 224, 224x224 or 3x224x224") from None
    if len(parts) not in (1, 2, 3) or not all(1 <= p <= MAX_SIDE for p in parts):
        raise ApiError(
            400, f"input size {text!r}: give 1 to 3 numbers from 1 to {MAX_SIDE}", "e.g. 224, 224x224 or 3x224x224"
        )
    if len(parts) == 3 and parts[0] > 64:
        raise ApiError(400, f"input size {text!r}: {parts[0]} channels is more than the 64 allowed here")
    return parts[0] if len(parts) == 1 else parts


def _cached(key, build):
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    value = build()
    with _LOCK:
        _CACHE[key] = value
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return value


def rf_growth(layers: list[dict]) -> list[dict]:
    """Receptive field after each windowed layer (conv / pool) until it covers the whole input."""
    out = []
    for r in layers:
        rf = r.get("rf")
        if r.get("layer_kind") in ("conv", "pool") and rf and rf.get("size") != "all":
            out.append({"index": r["index"], "name": r["name"], "size": rf["size"], "jump": rf["jump"]})
    return out


def summarize(model: str | None = None, size: str | None = None, entry=None) -> dict:
    """The per-layer table of one registered network (``model``) or of a run's network (``entry``)."""
    if entry is not None:
        loaded = entry.model()
        shape = input_size(size, tuple(loaded.meta["input_size"]))
        key = ("run", entry.id, entry.model_version, shape)
        s = _cached(key, lambda: summary(loaded.model, input_size=shape))
        label = f"{entry.id} ({loaded.meta.get('model')})"
    else:
        if not model:
            raise ApiError(400, "give a model name", "pick one from GET /api/models")
        model = checked_name(model)
        shape = input_size(size)
        s = _cached(("model", model, shape), lambda: summary(model, input_size=shape))
        label = f"{model} ({lectures.lecture_net(model).what})" if lectures.is_lecture_name(model) else model
    d = s.to_dict()
    d["label"] = label
    d["rf_growth"] = rf_growth(d["layers"])
    return d


def compare_models(names: list[str], size: str | None = None) -> dict:
    lo, hi = COMPARE_RANGE
    names = [checked_name(n) for n in names if n]
    if not lo <= len(names) <= hi:
        raise ApiError(400, f"compare takes {lo} to {hi} models, got {len(names)}")
    shape = input_size(size)
    c = _cached(("compare", tuple(names), shape), lambda: compare(names, input_size=shape, stages=True))
    return c.to_dict()
