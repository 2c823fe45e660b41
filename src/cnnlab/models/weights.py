"""Loading weight files into zoo models: ``load_weights(model, path)``.

Reads ``.pth``/``.pt``/``.bin`` (state dicts only: ``torch.load(weights_only=True)``, never an
arbitrary pickle) and ``.safetensors``. Understands:

- torchvision files (plain state dicts, e.g. ``resnet50-0676ba61.pth``),
- timm files (Hugging Face hub ``model.safetensors`` / ``pytorch_model.bin``) and training
  checkpoints: wrappers ``state_dict_ema`` / ``model_ema`` (preferred when
  ``use_ema=True``), ``state_dict``, ``model``; ``module.`` (DataParallel/DDP) and ``_orig_mod.``
  (``torch.compile``) prefixes,
- cnnlab files (``model.safetensors`` of a run folder, with cnnlab metadata).

Then, in this order:

1. **Per-model conversion.** If the model defines ``convert_weights(state_dict, source)`` it is
   called with the file's tensors and the detected ``source`` (``"torchvision"``, ``"timm"`` or
   ``"cnnlab"``) and returns the converted dict. GoogLeNet and Inception-v3 use it to fold
   torchvision's ``transform_input`` into their first convolution; families whose keys differ from
   timm's rename them here.
2. **Input channels.** A 3-channel first convolution is adapted to the model's ``in_chans``:
   for 1 channel the kernels are summed over the colour channels (a grey image ``g`` fed as
   ``(g, g, g)`` gives the same response as ``g`` through the summed kernel); for ``in_chans > 3``
   the RGB kernels are repeated cyclically (R, G, B, R, ...) and scaled by ``3 / in_chans`` so
   that the expected activation magnitude is unchanged (the rule timm uses, ``adapt_input_conv``).
3. **Classifier.** If the file's final classifier (``model.classifier_path``) does not match the
   model's shape (another ``num_classes``, or ``num_classes=0``), it is dropped, the model keeps its
   freshly initialised classifier, and a warning says so.
4. **Everything else must match.** Missing keys, unexpected keys and shape mismatches are all
   reported together in one :class:`CnnlabError` (with ``strict=False`` they become a warning and
   the matching tensors are loaded).
"""

from __future__ import annotations

import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import CnnlabError, printable

SOURCES = ("auto", "torchvision", "timm", "cnnlab")
# Checkpoint wrappers, in order of preference (EMA first when use_ema=True).
EMA_KEYS = ("state_dict_ema", "model_ema", "ema")
WRAPPER_KEYS = ("state_dict", "model", "net", "params")
PREFIXES = ("module.", "_orig_mod.")
_LIST_LIMIT = 12


@dataclass
class LoadReport:
    """What ``load_weights`` did: the detected source and every adaptation it made."""

    path: str
    source: str
    loaded: int = 0
    dropped_classifier: list[str] = field(default_factory=list)
    adapted_first_conv: str | None = None
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)  # the file's metadata (cnnlab files: classes, mean, std, ...)

    def __str__(self) -> str:
        lines = [f"loaded {self.loaded} tensors from {self.path} ({self.source} file)"]
        if self.adapted_first_conv:
            lines.append(f"adapted first conv {self.adapted_first_conv}")
        if self.dropped_classifier:
            lines.append(f"dropped classifier {', '.join(self.dropped_classifier)} (new, untrained head)")
        return "; ".join(lines)


# -- reading -------------------------------------------------------------------------------
def read_weight_file(path: str | Path, use_ema: bool = True) -> tuple[dict[str, torch.Tensor], dict, str]:
    """``(tensors, safetensors metadata, wrapper key)`` of a weight file, unwrapped but unconverted."""
    from ..images import check_regular_file

    path = Path(path)
    check_regular_file(path, "a weight file")
    kind = sniff_weight_file(path)
    if kind == "safetensors":
        from ..runs import read_model_file

        tensors, meta = read_model_file(path)
        return dict(tensors), meta, ""
    if path.suffix == ".safetensors":
        raise CnnlabError(
            f"{path}: not a safetensors file (its first bytes are not a safetensors header)",
            "is the download complete? a .pth state dict must be named .pth",
        )
    if kind == "text":
        raise CnnlabError(
            f"{path}: a text or HTML file, not weights (a download error page?)",
            "download the weight file again; weight files are .pth (state dict) or .safetensors",
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
        if not found and "global" not in str(e).lower():  # "Unsupported operand ...": bytes, not code
            raise CnnlabError(
                f"{path}: not a readable PyTorch weight file (damaged pickle: {printable(e, 120)})",
                "is the download complete? weight files are .pth (state dict) or .safetensors",
            ) from e
        what = f" (it pickles {found.group(1)})" if found else ""
        raise CnnlabError(
            f"{path}: not a plain state dict{what}; cnnlab only loads tensors "
            f"(torch.load with weights_only=True), never arbitrary pickled objects",
            "save the weights with torch.save(model.state_dict(), path) or as .safetensors",
        ) from e
    except MemoryError as e:
        raise CnnlabError(f"{path}: declares more data than fits in memory", "the file is corrupt or hostile") from e
    except Exception as e:  # noqa: BLE001 - torch.load reports damaged files with many exception types
        raise CnnlabError(
            f"{path}: not a readable PyTorch weight file ({e.__class__.__name__}: {printable(e, 160)})",
            "is the download complete? weight files are .pth (state dict) or .safetensors",
        ) from e
    return _unwrap(obj, path, use_ema)


def sniff_weight_file(path: Path) -> str:
    """``"safetensors"`` (an 8-byte header length, then a JSON header), ``"text"`` (printable text or
    HTML, e.g. a saved error page) or ``"other"`` (left to torch.load), from the file's first bytes."""
    import struct

    with open(path, "rb") as f:
        head = f.read(512)
    size = path.stat().st_size
    if len(head) >= 9 and head[8:9] == b"{":
        (n,) = struct.unpack("<Q", head[:8])
        if 2 <= n <= size - 8:
            return "safetensors"
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head.lstrip(b"\xef\xbb\xbf")):
        return "text"
    return "other"


def _unwrap(obj, path: Path, use_ema: bool = True) -> tuple[dict[str, torch.Tensor], dict, str]:
    if not isinstance(obj, dict):
        raise CnnlabError(
            f"{path}: holds a {type(obj).__name__}, not a state dict",
            "save the weights with torch.save(model.state_dict(), path)",
        )
    wrapper = ""
    order = (EMA_KEYS + WRAPPER_KEYS) if use_ema else (WRAPPER_KEYS + EMA_KEYS)
    if not _is_tensor_dict(obj):
        for key in order:
            if isinstance(obj.get(key), dict) and _is_tensor_dict(obj[key]):
                obj, wrapper = obj[key], key
                break
        else:
            keys = ", ".join(map(str, list(obj)[:8]))
            raise CnnlabError(
                f"{path}: no state dict found (top-level keys: {keys})",
                "expected a state dict or a checkpoint with 'state_dict', 'model' or 'state_dict_ema'",
            )
    sd = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    stripped = True
    while stripped:  # DDP around a compiled model gives module._orig_mod., and so on
        stripped = False
        for prefix in PREFIXES:
            if sd and all(k.startswith(prefix) for k in sd):
                sd = {k[len(prefix) :]: v for k, v in sd.items()}
                stripped = True
    return sd, {}, wrapper


def _is_tensor_dict(d: dict) -> bool:
    return bool(d) and all(isinstance(v, torch.Tensor) for v in d.values())


def detect_source(meta: dict, wrapper: str, path: Path) -> str:
    """``"cnnlab"`` for files with cnnlab metadata; ``"timm"`` for training checkpoints (EMA or
    ``state_dict`` wrappers) and for Hugging Face hub files (``.safetensors`` without cnnlab
    metadata, ``pytorch_model.bin``: torchvision never ships those); otherwise ``"torchvision"``
    (a plain ``.pth`` state dict, as download.pytorch.org serves them)."""
    if "cnnlab_version" in meta or "model" in meta:
        return "cnnlab"
    if wrapper in EMA_KEYS or wrapper == "state_dict" or path.suffix in (".safetensors", ".bin"):
        return "timm"
    return "torchvision"


# -- adapting ------------------------------------------------------------------------------
def first_conv_key(model: nn.Module) -> str | None:
    """State-dict key of the first convolution's weight (``model.first_conv`` if the model says)."""
    name = getattr(model, "first_conv", None)
    if name:
        return f"{name}.weight"
    for key, value in model.state_dict().items():
        if value.dim() == 4:
            return key
    return None


def adapt_input_channels(weight: torch.Tensor, in_chans: int) -> torch.Tensor:
    """3-channel kernels -> ``in_chans``: sum for 1 channel; cyclic repeat scaled by 3/in_chans otherwise."""
    if weight.shape[1] == in_chans:
        return weight
    if weight.shape[1] != 3:
        raise CnnlabError(
            f"cannot adapt a {weight.shape[1]}-channel first convolution to {in_chans} channels",
            "only 3-channel (RGB) weights are adapted",
        )
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    reps = -(-in_chans // 3)
    return weight.repeat(1, reps, 1, 1)[:, :in_chans] * (3 / in_chans)


def _classifier_keys(model: nn.Module) -> tuple[str, dict[str, torch.Size]]:
    path = getattr(model, "classifier_path", None)
    if not path:
        return "", {}
    prefix = path + "."
    return prefix, {k: v.shape for k, v in model.state_dict().items() if k.startswith(prefix)}


# -- loading -------------------------------------------------------------------------------
def _adapt_first_conv(model: nn.Module, sd: dict, own: dict, report: LoadReport) -> None:
    """A 3-channel (RGB) first convolution in the file is adapted in ``sd`` to the model's input channels."""
    key = first_conv_key(model)
    in_chans = getattr(model, "in_chans", None)
    if key and key in sd and key in own and in_chans and sd[key].dim() == 4 and sd[key].shape[1] != in_chans:
        if sd[key].shape[1] == 3 and sd[key].shape[0] == own[key].shape[0]:
            sd[key] = adapt_input_channels(sd[key], in_chans)
            report.adapted_first_conv = f"{key}: 3 -> {in_chans} channels"


def _drop_classifier(model: nn.Module, sd: dict, report: LoadReport) -> tuple[str, list[str]]:
    """The file's classifier is removed from ``sd`` when it does not fit the model's (another num_classes).
    Returns the model's classifier prefix ("" if it names none) and the dropped tensors with their shapes."""
    prefix, cls_shapes = _classifier_keys(model)
    dropped_shapes: list[str] = []
    if prefix:
        file_cls = [k for k in sd if k.startswith(prefix)]
        shapes_differ = any(k not in cls_shapes or sd[k].shape != cls_shapes[k] for k in file_cls)
        if file_cls and (shapes_differ or not cls_shapes):
            report.dropped_classifier = sorted(file_cls)
            dropped_shapes = [f"{k} {tuple(sd[k].shape)}" for k in report.dropped_classifier]
            for k in file_cls:
                del sd[k]
    return prefix, dropped_shapes


def _compare_keys(own: dict, sd: dict, prefix: str, report: LoadReport) -> None:
    """The report's missing, unexpected and shape-mismatched tensors of ``sd`` against the model's ``own``."""
    # old torchvision files lack BatchNorm's num_batches_tracked: the model's counter stays
    report.missing = [
        k
        for k in own
        if k not in sd
        and not k.endswith("num_batches_tracked")
        and not (prefix and k.startswith(prefix) and report.dropped_classifier)
    ]
    report.unexpected = [k for k in sd if k not in own]
    report.mismatched = [
        f"{k}: file {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sd
        if k in own and sd[k].shape != own[k].shape
    ]


def load_weights(
    model: nn.Module, path: str | Path, strict: bool = True, source: str = "auto", use_ema: bool = True
) -> LoadReport:
    """Load a torchvision, timm or cnnlab weight file into ``model`` (see the module docstring).

    ``source`` overrides the detection (a plain ``.pth`` is taken for torchvision's; pass
    ``source="cnnlab"`` for a state dict you saved yourself from a cnnlab model). ``strict=False``
    loads what matches and warns about the rest. Returns a :class:`LoadReport`.
    """
    if source not in SOURCES:
        raise CnnlabError(f"unknown weight source {source!r}", f"use one of {', '.join(SOURCES)}")
    path = Path(path)
    sd, meta, wrapper = read_weight_file(path, use_ema)
    if source == "auto":
        source = detect_source(meta, wrapper, path)
    report = LoadReport(str(path), source, meta=dict(meta))

    convert = getattr(model, "convert_weights", None)
    if callable(convert):
        sd = convert(dict(sd), source)

    own = model.state_dict()
    from ..runs import check_tensors

    check_tensors(sd, path, own)
    _adapt_first_conv(model, sd, own, report)
    prefix, dropped_shapes = _drop_classifier(model, sd, report)
    _compare_keys(own, sd, prefix, report)
    problems = _describe(report)
    if problems and strict:
        name = getattr(model, "model_name", type(model).__name__)
        raise CnnlabError(
            f"{path} does not fit {name} ({source} file):\n" + problems,
            "is it the weight file of the same architecture? strict=False loads the matching tensors only",
        )
    if problems:
        warnings.warn(f"{path}: loaded only the matching tensors:\n{problems}", stacklevel=2)

    matching = {k: v for k, v in sd.items() if k in own and v.shape == own[k].shape}
    with torch.no_grad():  # whatever the file lacks (a dropped classifier, non-strict gaps) keeps its value
        model.load_state_dict({**own, **matching}, strict=True)
    report.loaded = len(matching)
    if report.dropped_classifier:
        warnings.warn(
            f"{path}: the file's classifier ({', '.join(dropped_shapes)}) does not match "
            f"num_classes={getattr(model, 'num_classes', '?')}; it was dropped and the new "
            f"classifier is untrained",
            stacklevel=2,
        )
    return report


def _describe(report: LoadReport) -> str:
    parts = []
    for title, items in (
        ("missing from the file", report.missing),
        ("not in the model", report.unexpected),
        ("shape mismatch", report.mismatched),
    ):
        if items:
            shown = [printable(x, 120) for x in items[:_LIST_LIMIT]]
            more = f" ... and {len(items) - len(shown)} more" if len(items) > len(shown) else ""
            parts.append(f"  {len(items)} {title}: " + ", ".join(shown) + more)
    return "\n".join(parts)


# -- folding an input transform into the first layer ------------------------------------------
# torchvision's GoogLeNet and Inception-v3 weights were trained on inputs in [-1, 1] and re-map
# ImageNet-normalised inputs inside forward (``transform_input``): x' = x * std / 0.5 + (mean - 0.5) / 0.5.
TORCHVISION_TRANSFORM_INPUT = (
    tuple(s / 0.5 for s in (0.229, 0.224, 0.225)),
    tuple((m - 0.5) / 0.5 for m in (0.485, 0.456, 0.406)),
)


def fold_input_affine(sd: dict[str, torch.Tensor], conv: str, bn: str, scale, shift) -> dict[str, torch.Tensor]:
    """Fold ``x' = scale * x + shift`` (per input channel) into ``conv`` (no bias) followed by ``bn``.

    ``conv(W, x') = conv(W * scale, x) + sum(W * shift)``: the weights take the scale and the
    constant moves into the batch norm's running mean. Exact wherever the kernel does not touch
    zero padding; a model whose first conv pads must pad with ``-shift / scale`` (the input value
    that maps to 0) to stay exact everywhere (GoogLeNet does, see ``convert_weights``).
    """
    w = sd[f"{conv}.weight"]
    a = torch.tensor(scale, dtype=w.dtype).view(1, -1, 1, 1)
    b = torch.tensor(shift, dtype=w.dtype).view(1, -1, 1, 1)
    sd[f"{conv}.weight"] = w * a
    sd[f"{bn}.running_mean"] = sd[f"{bn}.running_mean"] - (w * b).sum(dim=(1, 2, 3))
    return sd
