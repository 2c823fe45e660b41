"""Argument helpers shared by the commands."""

from __future__ import annotations

import argparse
import json

from ..errors import CnnlabError


def parse_value(text: str):
    """``3`` -> 3, ``0.5`` -> 0.5, ``true`` -> True, ``[1,2]`` -> [1, 2], anything else stays a string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_assignments(items: list[str] | None, option: str) -> dict:
    """``["a=1", "b=relu"]`` -> ``{"a": 1, "b": "relu"}`` with a clear error for a missing ``=``."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CnnlabError(f"{option} {item!r} is not KEY=VALUE", f"write e.g. {option} activation=relu")
        out[key.strip().replace("-", "_")] = parse_value(value.strip())
    return out


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults and keeps the description's line breaks."""


def add_engine_options(p, precision: bool = True) -> None:
    """``--engine`` (and ``--precision``, unless the command has its own) for commands that run a
    network (cnnlab.deploy.engines)."""
    p.add_argument(
        "--engine",
        choices=("eager", "compile", "onnxruntime", "openvino", "auto"),
        default="eager",
        help="what runs the network: eager PyTorch, torch.compile, ONNX Runtime, OpenVINO, or auto (the "
        "fastest installed, measured once and cached)",
    )
    if not precision:
        return
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16", "int8"),
        default="fp32",
        help="fp32; bf16 (eager/compile/openvino); int8 (onnxruntime/openvino, calibrated on the run's "
        "training images)",
    )


def runner_from_args(args, source, batch: int | None = None):
    """The ``Runner`` the options ask for (None for eager PyTorch: the caller's own forward, which
    applies its own ``--precision``; ``auto`` precision means fp32 on the other engines)."""
    engine = getattr(args, "engine", "eager")
    precision = getattr(args, "precision", "fp32")
    precision = "fp32" if precision in (None, "auto") else precision
    if engine == "eager" and precision != "int8":
        return None
    import torch

    from ..deploy.engines import make_runner
    from ..deploy.export import deployable
    from ..deploy.quantize import calibration_images

    x = torch.zeros(1, *source.input_size)  # the exported shape
    calibration = None
    if precision == "int8" and engine != "eager":
        calibration = calibration_images(source, None, 256)  # training images, seeded
    model, _ = deployable(source)  # a detector: its dense half (boxes, probabilities), NMS after it
    return make_runner(model, engine, precision, batch=batch, example=x, calibration=calibration)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
PLOT_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg")


def check_output_path(path: str, option: str, suffixes: tuple[str, ...] | None = None, create: bool = False):
    """Check an output file before any work is done: a known extension and an existing folder
    (``create=True`` makes the folder instead). Returns the path."""
    from pathlib import Path

    out = Path(path)
    if suffixes is not None and out.suffix.lower() not in suffixes:
        raise CnnlabError(
            f"{option} {path}: unknown file type {out.suffix or '(no extension)'!r}",
            f"use one of {', '.join(suffixes)}",
        )
    if out.is_dir():
        raise CnnlabError(f"{option} {path} is a folder", "give a file name")
    parent = out.parent
    if not parent.is_dir():
        if parent.exists():
            raise CnnlabError(f"{option} {path}: {parent} is not a folder")
        if not create:
            raise CnnlabError(f"{option} {path}: the folder {parent} does not exist", "create it first")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CnnlabError(f"{option} {path}: cannot create the folder {parent} ({e.strerror})") from e
    return out


def model_or_run(text: str):
    """A model argument of the analysis commands: a registered name stays a name; a run folder or a
    cnnlab .safetensors file becomes its network (architecture only: counting needs no weights)
    with the run's input size. Returns ``(name or module, input size or None)``."""
    from pathlib import Path

    from ..runs import looks_like_run, resolve_model

    if not looks_like_run(text):
        return text, None
    ref = resolve_model(text)
    model = ref.build(load=False)
    model.model_name = f"{ref.name} ({Path(ref.label).name})"
    return model, ref.input_size
