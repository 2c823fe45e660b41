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


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
PLOT_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg")


def check_output_path(path: str, option: str, suffixes: tuple[str, ...] | None = None, create: bool = False):
    """Check an output file before any work is done: a known extension and an existing folder
    (``create=True`` makes the folder instead). Returns the path."""
    from pathlib import Path

    out = Path(path)
    if suffixes is not None and out.suffix.lower() not in suffixes:
        raise CnnlabError(f"{option} {path}: unknown file type {out.suffix or '(no extension)'!r}",
                          f"use one of {', '.join(suffixes)}")
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
