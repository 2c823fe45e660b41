"""Looking inside a running network without changing it: layer lookup, forward taps, token grids.

Everything here works on any ``nn.Module``. A computation runs inside :func:`inspecting`: the model
in eval mode with gradients enabled, and afterwards every module's train/eval flag restored and
every hook this module placed removed (``try``/``finally``, also when the forward raises). Gradients
are taken with ``torch.autograd.grad`` with respect to an input copy that requires grad, so the
model's parameters never receive ``.grad`` and their ``requires_grad`` flags are never touched.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn as nn

from ..errors import CnnlabError, closest


@contextmanager
def inspecting(model: nn.Module):
    """Eval mode and grad mode for the body; each module's own mode is restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.enable_grad():
            yield model
    finally:
        for m, training in modes:
            m.training = training


def module_named(model: nn.Module, name: str) -> nn.Module:
    """The submodule ``name`` (as ``model.named_modules()`` and ``cnnlab summary`` spell it)."""
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        near = closest(name, [n for n in modules if n])
        raise CnnlabError(
            f"the model has no layer named {name!r}",
            f"did you mean {', '.join(near)}?" if near else "list the layer names with `cnnlab summary MODEL`",
        )
    return modules[name]


def first_tensor(out):
    """A module's output tensor (the first tensor of a tuple/list output, e.g. attention's)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        for item in out:
            if isinstance(item, torch.Tensor):
                return item
    return None


def token_grid(tokens: int, input_hw: tuple[int, int]) -> tuple[int, int, int]:
    """``(prefix, rows, cols)`` for a sequence of ``tokens`` from an image of ``input_hw``: the
    patch grid with the input's aspect ratio, after 1 prefix (class) token or none."""
    h, w = input_hw
    for prefix in (1, 0):
        n = tokens - prefix
        if n <= 0:
            continue
        rows = max(1, round(math.sqrt(n * h / w)))
        for r in sorted(range(1, n + 1), key=lambda r: abs(r - rows))[:3]:
            if n % r == 0 and abs(r / (n // r) - h / w) <= 0.5 * h / w:
                return prefix, r, n // r
    raise CnnlabError(
        f"cannot lay {tokens} tokens out on a patch grid of a {h}x{w} image",
        "pick a layer with a spatial (N x C x H x W) output",
    )


def as_maps(t: torch.Tensor, input_hw: tuple[int, int]) -> torch.Tensor:
    """A layer output as ``N x C x H x W`` maps: spatial outputs as they are, transformer tokens
    ``N x T x D`` reshaped to the patch grid (the class token dropped), vectors as 1 x 1 maps."""
    if t.dim() == 4:
        return t
    if t.dim() == 3:
        prefix, rows, cols = token_grid(t.shape[1], input_hw)
        return t[:, prefix:].transpose(1, 2).reshape(t.shape[0], t.shape[2], rows, cols)
    if t.dim() == 2:
        return t[:, :, None, None]
    raise CnnlabError(
        f"a layer output of shape {tuple(t.shape)} cannot be shown as feature maps",
        "pick a layer with an N x C x H x W or N x tokens x D output",
    )


class _Tap(torch.autograd.Function):
    """Identity whose backward hands the incoming gradient to a holder: the gradient of the
    layer's output as it was produced, even if a later in-place op (ReLU(inplace=True)) changes it."""

    @staticmethod
    def forward(ctx, x, holder):
        ctx.holder = holder
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        ctx.holder.append(grad)
        return grad, None


class Taps:
    """Forward hooks on named layers, removed on exit.

    ``outputs[name]``: a detached copy of the layer's output tensor at the moment it was produced.
    With ``grad=True`` the output is routed through :class:`_Tap` so that ``tapped[name]`` is in
    the graph (differentiate with respect to it) and ``grads[name]`` fills during backward.
    """

    def __init__(self, model: nn.Module, names, grad: bool = False):
        self.model, self.names, self.grad = model, list(names), grad
        self.outputs: dict[str, torch.Tensor] = {}
        self.tapped: dict[str, torch.Tensor] = {}
        self.grads: dict[str, list[torch.Tensor]] = {}
        self.handles: list = []

    def _hook(self, name):
        def hook(module, args, out):
            t = first_tensor(out)
            if t is None or not t.is_floating_point():
                return None
            self.outputs[name] = t.detach().clone()
            if not self.grad:
                return None
            holder = self.grads.setdefault(name, [])
            tapped = _Tap.apply(t, holder)
            self.tapped[name] = tapped
            if isinstance(out, torch.Tensor):
                return tapped
            items = list(out)
            items[next(i for i, item in enumerate(items) if item is t)] = tapped
            return type(out)(items) if isinstance(out, tuple) else items

        return hook

    def __enter__(self):
        try:
            for name in self.names:
                self.handles.append(module_named(self.model, name).register_forward_hook(self._hook(name)))
        except BaseException:
            self.close()
            raise
        return self

    def close(self):
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def __exit__(self, *exc):
        self.close()
        return False


def stage_names(model: nn.Module) -> list[str]:
    """The layers whose outputs are the network's stages: ``feature_info`` modules of cnnlab
    models; for any other module its direct children."""
    info = getattr(model, "feature_info", None) or []
    names = [d["module"] for d in info if "module" in d]
    if names:
        return names
    return [n for n, _ in model.named_children()]


def record_shapes(model: nn.Module, x: torch.Tensor) -> list[tuple[str, nn.Module, torch.Size]]:
    """``(name, module, output shape)`` of every module in the order the forward finishes them."""
    seen: list = []
    handles = []
    try:
        for name, m in model.named_modules():
            if name:
                handles.append(
                    m.register_forward_hook(lambda mod, a, out, name=name: seen.append((name, mod, first_tensor(out))))
                )
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return [(n, m, t.shape) for n, m, t in seen if t is not None]


def attention_input_layer(model: nn.Module, x: torch.Tensor) -> str | None:
    """For a transformer: the layer whose output feeds the last attention (its tokens still carry
    position, and the class token reads them in that attention). ``None`` without attention."""
    attn = [m for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
    if not attn:
        return None
    fed: list = []
    outs: list[tuple[str, torch.Tensor]] = []  # the tensors are kept alive, so identity is meaningful
    handles = [attn[-1].register_forward_pre_hook(lambda mod, args: fed.append(args[0]))]
    try:
        for name, m in model.named_modules():
            if name and m is not attn[-1]:
                handles.append(
                    m.register_forward_hook(
                        lambda mod, a, out, name=name: (
                            outs.append((name, out)) if isinstance(out, torch.Tensor) else None
                        )
                    )
                )
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    if not fed:
        return None
    names = [name for name, out in outs if out is fed[-1]]
    return names[-1] if names else None


def default_cam_layer(model: nn.Module, x: torch.Tensor) -> str:
    """The last spatial stage: for transformers the tokens entering the last attention; for
    cnnlab models the last ``feature_info`` stage with more than one position; otherwise the last
    layer (in forward order) with a spatial output larger than 1 x 1."""
    with inspecting(model):
        name = attention_input_layer(model, x)
        if name is not None:
            return name
        shapes = record_shapes(model, x)
    stages = set(stage_names(model)) if getattr(model, "feature_info", None) else set()
    spatial = [n for n, _, s in shapes if len(s) == 4 and s[-1] * s[-2] > 1]
    for pool in ([n for n in spatial if n in stages], spatial):
        if pool:
            return pool[-1]
    raise CnnlabError(
        f"{type(model).__name__} has no layer with a spatial output larger than 1x1 for a "
        f"{x.shape[-2]}x{x.shape[-1]} input",
        "pass --layer NAME, or use a larger input",
    )


def check_image(x: torch.Tensor) -> torch.Tensor:
    """``x`` must be one image as a 1 x C x H x W float tensor (a C x H x W one gets its batch axis)."""
    if not isinstance(x, torch.Tensor):
        raise CnnlabError(
            f"expected an image tensor, got {type(x).__name__}",
            "pass the normalised 1 x C x H x W tensor (cnnlab.viz.load_image makes one from a file)",
        )
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] != 1:
        raise CnnlabError(
            f"expected one image 1 x C x H x W, got shape {tuple(x.shape)}",
            "pass one image at a time (loop over a batch)",
        )
    return x.detach().float()


def resolve_target(logits: torch.Tensor, target) -> int:
    """The class to explain: ``None`` = the predicted one; an index is range-checked."""
    n = logits.shape[-1]
    if target is None:
        return int(logits[0].argmax())
    t = int(target)
    if not 0 <= t < n:
        raise CnnlabError(f"class {t} is out of range: the model has {n} outputs", f"pick a class in 0..{n - 1}")
    return t
