"""What ``cnnlab.fit`` accepts beside names and specs: any ``nn.Module``, NumPy arrays, a torch
``Dataset`` or ``DataLoader`` - all turned into the trainer's in-memory :class:`DataSplits`.

Data::

    fit(data=(x, y))                  x: uint8 / float in [0, 1] or [0, 255], N x C x H x W or N x H x W x C
    fit(data=(x, y, ["cat", "dog"]))  ... with class names (default "0", "1", ...)
    fit(data={"train": (x, y), "val": (xv, yv), "test": (xt, yt)})   your own splits
    fit(data=torch_dataset)           items (image, label); read once into memory, with a progress bar
    fit(data=data_loader)             its batches, read once

Without a ``val`` part the validation split is carved from the training images as for the named
data sets (``val_split``: 10% of each class by default; 0 for none).

Models: a module that is not registered is trained as given. Its run records how to rebuild it -
``module:QualName`` and the constructor's keyword arguments - when they are known: the class takes
no arguments, or it mixes in :class:`RecordArgs`, which keeps the arguments it was built with.
Otherwise ``load_run(RUN_DIR, model=MyNet(...))`` loads the weights into a network you build.
"""

from __future__ import annotations

import importlib
import inspect
import json
from typing import Any

import torch
import torch.nn as nn

from ..data.dataset import DataSplits, ImageDataset, stratified_split
from ..errors import CnnlabError

DEFAULT_VAL_FRACTION = 0.1


# -- models ---------------------------------------------------------------------------------------


class RecordArgs:
    """Mixin for an ``nn.Module`` whose run folder should rebuild it: keeps the constructor's
    arguments (``self.init_args``) so ``load_run``/``predict`` can call ``Class(**init_args)``.

        class MyNet(cnnlab.RecordArgs, nn.Module):
            def __init__(self, width=16, num_classes=10): ...
    """

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(list(bound.arguments.items())[1:])  # without self
        object.__setattr__(obj, "init_args", arguments)  # before nn.Module.__init__: plain attribute
        return obj


def class_path(obj_or_cls) -> str:
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    return f"{cls.__module__}:{cls.__qualname__}"


def model_source(model: nn.Module) -> dict[str, Any]:
    """How to rebuild ``model``: ``{"import": "pkg.mod:Class", "kwargs": {...} or None, "why": ...}``."""
    path = class_path(model)
    params = [p for p in inspect.signature(type(model).__init__).parameters.values()][1:]
    if hasattr(model, "init_args"):
        kwargs = dict(model.init_args)
        var = [p.name for p in params if p.kind in (p.VAR_POSITIONAL,)]
        if var and kwargs.get(var[0]):
            return {"import": path, "kwargs": None, "why": f"its constructor took *{var[0]} positional arguments"}
        for p in params:
            if p.kind is p.VAR_KEYWORD:
                kwargs.update(kwargs.pop(p.name, {}))
            elif p.kind is p.VAR_POSITIONAL:
                kwargs.pop(p.name, None)
        try:
            json.dumps(kwargs)
        except (TypeError, ValueError):
            return {
                "import": path,
                "kwargs": None,
                "why": "its constructor arguments are not JSON values (numbers, strings, lists, dicts)",
            }
        return {"import": path, "kwargs": kwargs, "why": ""}
    if not params or type(model).__init__ is nn.Module.__init__:  # a constructor without arguments
        return {"import": path, "kwargs": {}, "why": ""}
    return {
        "import": path,
        "kwargs": None,
        "why": "its constructor takes arguments that were not recorded (mix in cnnlab.RecordArgs to record them)",
    }


TRUST_ENV = "CNNLAB_MODULES"


def import_trusted(module: str, where: str) -> Any:
    """Import a module that a run's metadata names, only if the user allows it.

    Metadata is untrusted input: a file must not choose which installed module runs its import-time
    code. A module already imported by the user (e.g. their notebook's ``__main__`` or
    ``import my_models``) is used as it is; any other only when listed in ``$CNNLAB_MODULES``.
    """
    import os
    import sys

    if module in sys.modules:
        return sys.modules[module]
    allowed = {m.strip() for m in os.environ.get(TRUST_ENV, "").split(",") if m.strip()}
    if module not in allowed:
        raise CnnlabError(
            f"{where} names the Python module {module!r} for its network; cnnlab imports a module "
            "named in a file only when you allow it",
            f"if you trust it: {TRUST_ENV}={module} cnnlab ... (or `import {module}` before "
            "load_run in Python); make sure it is importable (PYTHONPATH)",
        )
    return importlib.import_module(module)


def rebuild(source: dict[str, Any], where: str) -> nn.Module:
    """The network a run recorded with :func:`model_source` (random weights)."""
    path = source["import"]
    args = "" if source.get("kwargs") == {} else "..."
    how = (
        f"build it yourself and pass it: cnnlab.load_run({where!r}, model={path.split(':')[-1]}({args})) "
        f"(or predict(load_run(...), images))"
    )
    if source.get("kwargs") is None:
        raise CnnlabError(f"{where} was trained with {path}, which cnnlab cannot rebuild: {source.get('why')}", how)
    module, _, qualname = path.partition(":")
    try:
        obj: Any = import_trusted(module, where)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        fix = (
            "define the class in a module file (not a notebook or script) so any process can import it"
            if module == "__main__"
            else f"make {module} importable (PYTHONPATH)"
        )
        raise CnnlabError(
            f"{where} was trained with {path}, which cannot be imported here ({e})", f"{fix}, or {how}"
        ) from None
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):  # metadata is untrusted: build networks only
        raise CnnlabError(
            f"{where}: model_source {path} is not an nn.Module class",
            "the file is damaged or its metadata was edited; retrain or re-save it",
        )
    return obj(**source["kwargs"])


def check_output(model: nn.Module, image_shape: tuple[int, int, int], n_classes: int, device) -> None:
    """A given network must map one C x H x W image to ``n_classes`` logits."""
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            out = model(torch.zeros(2, *image_shape, device=device))
    except Exception as e:  # noqa: BLE001 - any failure here is the user's network meeting these images
        raise CnnlabError(
            f"{type(model).__name__} fails on a batch of {image_shape[0]}x{image_shape[1]}x"
            f"{image_shape[2]} images: {type(e).__name__}: {e}",
            "build the network for the data's channels and size (or resize the data)",
        ) from None
    finally:
        model.train(was)
    logits = out if isinstance(out, torch.Tensor) else out[0]
    if logits.dim() != 2 or logits.shape[1] != n_classes:
        raise CnnlabError(
            f"{type(model).__name__} returns {tuple(logits.shape)} for 2 images; training needs "
            f"(2, {n_classes}): one logit per class of the data",
            f"give the network {n_classes} outputs, or name every class the network has: data=(x, y, class_names)",
        )


def registered_module(name: str) -> str | None:
    """The module a user-registered model's builder lives in (None for cnnlab's own networks)."""
    from ..models.registry import get_entry

    module = get_entry(name).builder.__module__
    return None if module == "cnnlab" or module.startswith("cnnlab.") else module


# -- data -----------------------------------------------------------------------------------------


def as_images(x, what: str = "x") -> torch.Tensor:
    """uint8 N x C x H x W from an array or tensor: uint8 or integer pixels, or floats in [0, 1] or
    [0, 255]; N x C x H x W, N x H x W x C (C = 1, 3 or 4) or N x H x W (greyscale)."""
    import numpy as np

    if isinstance(x, np.ndarray):
        if x.dtype == object:
            raise CnnlabError(f"{what} is an array of Python objects", "pass a numeric array of pixels")
        t = torch.from_numpy(np.ascontiguousarray(x))
    elif isinstance(x, torch.Tensor):
        t = x.detach().cpu()
    else:
        raise CnnlabError(
            f"{what} is a {type(x).__name__}, not an array of images",
            "pass a NumPy array or a torch tensor, N x C x H x W or N x H x W x C",
        )
    if t.dim() == 3:
        t = t.unsqueeze(1)
    if t.dim() != 4:
        raise CnnlabError(
            f"{what} has shape {tuple(t.shape)}; images are N x C x H x W, N x H x W x C or N x H x W",
            "stack the images into one 4-d array",
        )
    if t.shape[1] not in (1, 3, 4):
        if t.shape[3] in (1, 3, 4):
            t = t.permute(0, 3, 1, 2)
        else:
            raise CnnlabError(
                f"{what} has shape {tuple(t.shape)}: no axis of 1, 3 or 4 channels after N "
                "(N x C x H x W) or at the end (N x H x W x C)",
                "pass greyscale (1), RGB (3) or RGBA (4) images",
            )
    if t.dtype == torch.uint8:
        return t.contiguous()
    if t.dtype == torch.bool or t.is_complex():
        raise CnnlabError(f"{what} has dtype {t.dtype}", "pass uint8 pixels or floats in [0, 1]")
    lo, hi = (float(t.min()), float(t.max())) if t.numel() else (0.0, 0.0)
    if t.is_floating_point():
        if not (torch.isfinite(t).all() and lo >= 0 and hi <= 255):
            raise CnnlabError(
                f"{what} holds floats in [{lo:g}, {hi:g}]; cnnlab reads raw pixels (in [0, 1] or "
                "[0, 255]) and normalises them itself",
                "pass the images before normalisation (cnnlab computes the mean and std)",
            )
        scale = 255.0 if hi <= 1.0 else 1.0
        return (t.float() * scale).round_().clamp_(0, 255).to(torch.uint8).contiguous()
    if lo < 0 or hi > 255:
        raise CnnlabError(f"{what} holds integers in [{lo:g}, {hi:g}]", "pixels are 0-255 (uint8)")
    return t.to(torch.uint8).contiguous()


def as_labels(y, n: int, what: str = "y") -> torch.Tensor:
    import numpy as np

    t = torch.from_numpy(np.asarray(y)) if not isinstance(y, torch.Tensor) else y.detach().cpu()
    if t.dim() == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.dim() != 1 or len(t) != n:
        raise CnnlabError(
            f"{what} has shape {tuple(t.shape)}; {n} images need {n} integer class labels",
            "pass one class index per image (not one-hot vectors)",
        )
    if t.is_floating_point() and not bool((t == t.round()).all()) or t.dtype == torch.bool or t.is_complex():
        raise CnnlabError(f"{what} has dtype {t.dtype}", "pass integer class indices 0..K-1")
    t = t.long()
    if len(t) and int(t.min()) < 0:
        raise CnnlabError(f"{what} holds a negative label ({int(t.min())})", "class indices are 0..K-1")
    return t


def _from_arrays(part, what: str, classes: list[str] | None) -> ImageDataset:
    if not isinstance(part, (tuple, list)) or len(part) not in (2, 3):
        raise CnnlabError(f"{what} is a {type(part).__name__}", "pass (images, labels) or (images, labels, classes)")
    images = as_images(part[0], f"{what} images")
    labels = as_labels(part[1], len(images), f"{what} labels")
    names = list(map(str, part[2])) if len(part) == 3 else classes
    k = int(labels.max()) + 1 if len(labels) else 0
    names = names or [str(i) for i in range(k)]
    if k > len(names):
        raise CnnlabError(
            f"{what} labels go up to {k - 1} but there are {len(names)} class names", "give one name per class"
        )
    return ImageDataset(images, labels, names)


def _memory_budget(max_memory_gb: float | None) -> float:
    from ..data.imagefolder import _memory_limit
    from ..data.options import DataOptions

    return _memory_limit(DataOptions(max_memory_gb=max_memory_gb))


def _materialise(source, what: str, max_memory_gb: float | None, progress: bool) -> ImageDataset:
    """Read a torch Dataset (items (image, label)) or a DataLoader (batches (images, labels)) into memory."""
    import numpy as np
    from tqdm.auto import tqdm

    from ..data.imagefolder import _human
    from ..progress import bar_enabled

    loader = hasattr(source, "batch_size") and hasattr(source, "dataset")
    try:
        n = len(source.dataset if loader else source)
    except TypeError:
        raise CnnlabError(
            f"{what} has no length", "pass a map-style Dataset (with __len__) or a DataLoader over one"
        ) from None
    if n == 0:
        raise CnnlabError(f"{what} is empty", "pass a data set with images")
    items = iter(source) if loader else (source[i] for i in range(n))
    budget = _memory_budget(max_memory_gb)
    images: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    bar = tqdm(total=n, unit="img", desc=f"reading {what}", leave=False, disable=not bar_enabled(progress))
    need = None
    try:
        for item in items:
            if not isinstance(item, (tuple, list)) or len(item) < 2:
                raise CnnlabError(
                    f"{what} gives {type(item).__name__} items; training needs (image, label) pairs",
                    "return (image, label) from __getitem__ (e.g. wrap it in a small Dataset)",
                )
            x, y = item[0], item[1]
            if not isinstance(x, (torch.Tensor, np.ndarray)):
                x = np.asarray(x)  # e.g. a PIL image: H x W (x C)
            if loader:
                batch = as_images(x, f"{what} batch")
                ys = as_labels(y, len(batch), f"{what} labels")
            else:
                arr = x if x.ndim != 2 else x[None]
                batch = as_images(arr[None], f"{what}[{len(images)}]")
                ys = as_labels(torch.as_tensor([int(y)]), 1, f"{what}[{len(images)}] label")
            if need is None:
                need = n * batch[0].numel()
                if need > budget:
                    raise CnnlabError(
                        f"{what}: {n:,} images of {tuple(batch.shape[1:])} need {_human(need)} in "
                        f"memory, more than the {_human(budget)} allowed (half the free memory, or "
                        "max_memory_gb)",
                        "cnnlab trains from memory and does not stream: pass a subset, smaller "
                        "images, or raise data_options max_memory_gb",
                    )
            images.append(batch)
            labels.append(ys)
            bar.update(len(batch))
    finally:
        bar.close()
    shapes = {tuple(b.shape[1:]) for b in images}
    if len(shapes) > 1:
        raise CnnlabError(
            f"{what} gives images of different shapes ({', '.join(map(str, sorted(shapes)[:3]))})",
            "resize them to one size in the Dataset's transform",
        )
    all_labels = torch.cat(labels)
    names = getattr(source.dataset if loader else source, "classes", None)
    names = [str(c) for c in names] if names else [str(i) for i in range(int(all_labels.max()) + 1)]
    return ImageDataset(torch.cat(images), all_labels, names)


def _part(part, what: str, classes, max_memory_gb, progress) -> ImageDataset:
    if isinstance(part, ImageDataset):
        return part
    if isinstance(part, (tuple, list)):
        return _from_arrays(part, what, classes)
    if hasattr(part, "__getitem__") and hasattr(part, "__len__") or hasattr(part, "dataset"):
        return _materialise(part, what, max_memory_gb, progress)
    raise CnnlabError(
        f"cannot train on a {type(part).__name__}",
        "pass a data set name ('mnist'), (images, labels) arrays, a torch Dataset or DataLoader, "
        "or a dict of them: {'train': ..., 'val': ..., 'test': ...}",
    )


def describe_input(data) -> str:
    """A short label for config.json's ``data`` (a Python object is not a spec: pass it again to resume)."""
    if isinstance(data, dict):
        return "<python:" + ",".join(data) + ">"
    if isinstance(data, (tuple, list)):
        return f"<arrays:{tuple(getattr(data[0], 'shape', ()))}>"
    return f"<{type(data).__name__}>"


def splits_from(data, options: dict[str, Any] | None = None, progress: bool = True) -> DataSplits:
    """Arrays, a Dataset / DataLoader, or a dict of them (train, val, test) -> :class:`DataSplits`."""
    if isinstance(data, DataSplits):
        return data
    options = dict(options or {})
    budget = options.get("max_memory_gb")
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"train", "val", "test"})
        if unknown or "train" not in data:
            raise CnnlabError(f"data dict with keys {sorted(data)}", "use the keys train (needed), val and test")
        train = _part(data["train"], "train", None, budget, progress)
        classes = train.classes
        val = _part(data["val"], "val", classes, budget, progress) if "val" in data else None
        test = _part(data["test"], "test", classes, budget, progress) if "test" in data else None
    else:
        train, val, test = _part(data, "data", None, budget, progress), None, None
    notes = []
    for name, part in (("val", val), ("test", test)):
        if part is not None and part.image_shape != train.image_shape:
            raise CnnlabError(
                f"the {name} images are {part.image_shape}, the training images {train.image_shape}",
                "give every split the same image size and channels",
            )
        if part is not None and len(part.classes) > len(train.classes):
            train = ImageDataset(train.images, train.labels, part.classes)
    if val is None:
        frac = options.get("val_split")
        frac = DEFAULT_VAL_FRACTION if frac is None else float(frac)
        if frac >= 1:
            frac = frac / len(train)
        if frac > 0:
            train, val = stratified_split(train, frac, int(options.get("seed", 0)))
            notes.append(f"validation split: {len(val):,} images carved from the training images (val_split)")
        else:
            val = ImageDataset(train.images[:0], train.labels[:0], train.classes)
    return DataSplits(
        name=describe_input(data), train=train, val=val, source="Python objects", notes=notes, test_reader=test
    )
