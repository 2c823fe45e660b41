"""Conformance with torchvision / timm networks, through the fixtures in ../shared/reference/.

The fixtures stand in for torchvision and timm (which do not import beside the project's torch):
state-dict keys and shapes, the parameter count, and the eval output for weights set by a
deterministic rule (``apply_weight_rule``), as described in ../shared/reference/README.md.
"""

from __future__ import annotations

import json
import math
import zlib
from functools import cache
from pathlib import Path

import torch
import torch.nn as nn

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"


@cache
def load_fixture(name: str, source: str = "torchvision") -> dict:
    path = REFERENCE / source / f"{name}.json"
    return json.loads(path.read_text())


def rule_tensor(name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """The value the reference rule gives the state-dict entry ``name``."""
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    if not dtype.is_floating_point:
        return torch.zeros(shape, dtype=dtype)
    if name.endswith("running_mean"):
        return 0.1 * torch.randn(shape, generator=g)
    if name.endswith("running_var"):
        return 0.75 + 0.5 * torch.rand(shape, generator=g)
    if len(shape) >= 2:
        fan_in = math.prod(shape[1:])
        return math.sqrt(2 / fan_in) * torch.randn(shape, generator=g)
    if name.endswith("weight"):
        return 0.25 + 0.05 * torch.randn(shape, generator=g)
    return 0.1 * torch.randn(shape, generator=g)


@torch.no_grad()
def apply_weight_rule(model: nn.Module) -> nn.Module:
    sd = model.state_dict()
    model.load_state_dict({k: rule_tensor(k, tuple(v.shape), v.dtype) for k, v in sd.items()}, strict=True)
    return model


def state_dict_signature(model: nn.Module) -> list[tuple[str, list[int]]]:
    return [(k, list(v.shape)) for k, v in model.state_dict().items()]


def fixture_signature(fx: dict) -> list[tuple[str, list[int]]]:
    return [(k, list(shape)) for k, shape, _dtype in fx["state_dict"]]


def fixture_input(fx: dict) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(*fx["input"], generator=g)


@torch.no_grad()
def compare_outputs(model: nn.Module, fx: dict, rtol: float = 1e-4) -> float:
    """Max |ours - fixture| / max|fixture| after applying the weight rule (asserts it is below rtol)."""
    apply_weight_rule(model).eval()
    with torch.no_grad():
        out = model(fixture_input(fx)).float()
    ref = torch.tensor(fx["output"], dtype=torch.float32)
    assert out.shape == ref.shape, f"output shape {tuple(out.shape)} != fixture {tuple(ref.shape)}"
    err = float((out - ref).abs().max()) / float(fx["output_abs_max"])
    assert err < rtol, f"outputs differ from the fixture: max rel err {err:.3g}"
    return err
