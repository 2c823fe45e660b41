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
