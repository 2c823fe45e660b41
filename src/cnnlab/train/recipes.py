"""Named training recipes: documented TOML files of :class:`TrainConfig` settings.

A recipe is a TOML file whose top-level keys are ``TrainConfig`` fields, with an optional
``[model_args]`` table and a ``[recipe]`` table describing it (``description``, ``source``)::

    cnnlab recipes                      # list them
    cnnlab recipes resnet-cifar         # print one (copy it, edit it, pass the file to --recipe)
    cnnlab train --recipe resnet-cifar --data cifar10:PATH --set epochs=10 --set model_args.depth=32

From Python: ``cnnlab.train(recipe="resnet-cifar", data="cifar10:PATH", epochs=10)`` or
``load_recipe("resnet-cifar", epochs=10)`` for the ``TrainConfig``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import CnnlabError, UnknownNameError
from .config import TrainConfig


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    source: str
    settings: dict[str, Any]
    text: str
    path: str

    def config(self, **overrides) -> TrainConfig:
        return TrainConfig.from_dict(apply_overrides({**TrainConfig().to_dict(), **self.settings}, overrides))


def _recipe_dir() -> Path:
    return Path(str(resources.files("cnnlab.train") / "recipes"))


def list_recipes() -> list[str]:
    return sorted(p.stem for p in _recipe_dir().glob("*.toml"))


def parse_recipe(text: str, name: str, path: str = "") -> Recipe:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise CnnlabError(f"recipe {path or name}: not valid TOML ({e})", "check the line the message names") from e
    meta = doc.pop("recipe", {})
    extra = sorted(set(meta) - {"description", "source"}) if isinstance(meta, dict) else ["?"]
    if extra:
        raise CnnlabError(
            f"recipe {path or name}: [recipe] holds {', '.join(extra)}; it takes only description and source",
            "put training settings at the top of the file, before any [table] "
            "(in TOML, keys after a [table] header belong to that table)",
        )
    TrainConfig.from_dict(doc)  # unknown keys -> a clear error naming the closest setting
    return Recipe(name, str(meta.get("description", "")), str(meta.get("source", "")), doc, text, path)


def get_recipe(name_or_path: str | Path) -> Recipe:
    """A built-in recipe by name, or a recipe TOML file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.is_file():
        if not path.is_file():
            raise CnnlabError(f"recipe file {path} does not exist", "see `cnnlab recipes` for the built-in ones")
        return parse_recipe(path.read_text(), path.stem, str(path))
    file = _recipe_dir() / f"{name_or_path}.toml"
    if not file.is_file():
        raise UnknownNameError("recipe", str(name_or_path), list_recipes(), "cnnlab recipes")
    return parse_recipe(file.read_text(), str(name_or_path), str(file))


def load_recipe(name_or_path: str | Path, **overrides) -> TrainConfig:
    """The :class:`TrainConfig` of a recipe, with keyword overrides applied."""
    return get_recipe(name_or_path).config(**overrides).validate()


def apply_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` patched by ``overrides``; ``model_args.KEY`` / ``data_options.KEY`` (or ``__``) patch one entry."""
    nested = ("model_args", "data_options")
    out = dict(base)
    for name in nested:
        out[name] = dict(out.get(name) or {})
    for key, value in overrides.items():
        key = key.replace("-", "_")
        for sep in (".", "__"):
            head, found, sub = key.partition(sep)
            if found and head in nested:
                out[head][sub] = value
                break
        else:
            if key in nested:
                out[key].update(value or {})
            else:
                out[key] = value
    return out
