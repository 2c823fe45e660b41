"""The operator-level trace: every ATen call of one forward pass, attributed to its module.

A ``TorchDispatchMode`` sees each operator after autograd and composite decomposition, so
functional calls (``F.conv2d`` on a bare parameter, ``torch.matmul``, attention, ``x += y``) are
counted exactly once, whatever module or function issued them; module pre/post hooks (registered
for the call and removed after it) tell which module is running. Nothing is patched globally.

The pass runs on the ``meta`` device: shapes only, no arithmetic and no memory, so a ViT-L/16 or
EfficientNet-B7 at 600 x 600 and batch 256 costs what a few thousand Python calls cost. A model
with real weights is run through ``torch.func.functional_call`` with meta stand-ins for its
parameters and buffers, so the model itself is never moved or modified.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from .formulas import OpCost, cost_of
from .memory import LifetimeTracker, storage_key
from .receptive import RFTracker
from .records import Counts, ReceptiveField
from .warnings import window_warnings

# Modules that PyTorch computes as a composite of pooling and element-wise operators but that are
# one normalisation layer (AlexNet's local response normalisation).
NORM_MODULES = (nn.LocalResponseNorm, nn.CrossMapLRN2d)


@dataclass
class OpEvent:
    step: int
    name: str
    cost: OpCost | None
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    output_bytes: int
    output_new: bool
    rf: ReceptiveField | None
    warnings: list[str] = field(default_factory=list)
    new_params: list[int] = field(default_factory=list)  # parameters this operator is the first to read
    inside_norm: bool = False  # part of a composite normalisation module (LRN), not a layer of its own


@dataclass
class CallNode:
    module: nn.Module | None
    name: str
    type: str
    depth: int
    call_index: int  # 0 for the first call of this module, 1 for the second, ...
    items: list = field(default_factory=list)  # CallNode and OpEvent, in execution order
    input_shape: tuple[int, ...] | None = None
    output_shape: tuple[int, ...] | None = None
    output_bytes: int = 0
    output_new: bool = True
    rf: ReceptiveField | None = None
    start_step: int = 0
    end_step: int = 0
    is_leaf: bool = True


def _shape(t) -> tuple[int, ...] | None:
    return tuple(t.shape) if isinstance(t, torch.Tensor) else None


def _tensors(obj) -> list[torch.Tensor]:
    """The tensors among an operator's arguments (tuples and lists of tensors included)."""
    found = []
    for a in obj if isinstance(obj, (tuple, list)) else (obj,):
        if isinstance(a, torch.Tensor):
            found.append(a)
        elif isinstance(a, (tuple, list)):
            found.extend(t for t in a if isinstance(t, torch.Tensor))
    return found


def _first_tensor(obj) -> torch.Tensor | None:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (tuple, list)) and obj and isinstance(obj[0], torch.Tensor):
        return obj[0]
    for leaf in tree_leaves(obj):
        if isinstance(leaf, torch.Tensor):
            return leaf
    return None


class Trace(TorchDispatchMode):
    """Records the operators of one forward pass (use through ``run_trace``)."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # Nothing is compiled inside this mode; without this, torch wraps __torch_dispatch__ in a
        # dynamo guard whose first call imports torch._dynamo (seconds on a small CPU).
        return False

    def __init__(self, param_keys: dict[int, int]):
        super().__init__()
        self.step = 0
        self.stack: list[CallNode] = []
        self.param_keys = param_keys  # storage key -> id of the model's parameter
        self.used_params: set[int] = set()
        self.lifetimes = LifetimeTracker()
        self.rf = RFTracker()
        self.uncounted: dict[str, list] = {}  # name -> [calls, output elements, modules]
        self.meta = False  # shape-only run: the fast paths below may stand in for slow meta kernels
        self.phase = "forward"  # "backward": operators go to backward_counts (no rows, no lifetimes)
        self.backward_counts = Counts()
        self.saved: dict[int, int] = {}  # storage key -> bytes of the tensors autograd saves for backward

    def is_param(self, t) -> bool:
        return isinstance(t, torch.Tensor) and storage_key(t) in self.param_keys

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = _op_name(func)
        out = _fast_meta(name, args, kwargs) if self.meta else None
        if out is None:
            out = func(*args, **kwargs)
        if self.phase == "backward":
            self._backward_op(name, func, args, kwargs, out)
            return out
        node = self.stack[-1]
        tensor_args = _tensors(args)
        if kwargs:
            tensor_args += _tensors(tuple(kwargs.values()))
        outs = [out] if isinstance(out, torch.Tensor) else _tensors(out)
        step = self.step
        self.step += 1
        new_params = []
        for t in tensor_args:
            key = storage_key(t)
            pid = self.param_keys.get(key)
            if pid is not None:
                if pid not in self.used_params:
                    self.used_params.add(pid)
                    new_params.append(pid)
            else:
                self.lifetimes.use(t, step)
        aliasing = _returns_alias(func)
        new = [self.lifetimes.produce(o, step, node.name, aliasing) for o in outs]
        cost = cost_of(name, func, args, kwargs, out, self.is_param)
        if cost is None:
            entry = self.uncounted.setdefault(name, [0, 0, []])
            entry[0] += 1
            entry[1] += sum(o.numel() for o in outs)
            if node.name not in entry[2]:
                entry[2].append(node.name)
        kind = cost.kind if cost else "unknown"
        geometry = cost.geometry if cost else None
        inside_norm = isinstance(node.module, NORM_MODULES)
        self.rf.on_op(name, kind, geometry, tensor_args, outs, args, aliasing)
        if inside_norm and geometry is not None:  # LRN's window sum: an avg_pool3d over channels
            geometry = None
            cost = OpCost(cost.kind, cost.counts, None)
        first_in = args[0] if args and isinstance(args[0], torch.Tensor) else _first_tensor(args)
        first_out = outs[0] if outs else None
        warns = []
        if geometry is not None and first_in is not None:
            warns = window_warnings(node.name or name, geometry, tuple(first_in.shape[-len(geometry["kernel"]) :]))
        if kind != "move" or first_out is None or new[0] or new_params:
            node.items.append(
                OpEvent(
                    step,
                    name,
                    cost,
                    _shape(first_in),
                    _shape(first_out),
                    first_out.numel() * first_out.element_size() if first_out is not None else 0,
                    bool(new and new[0]),
                    self.rf.get(first_out) if first_out is not None else None,
                    warns,
                    new_params,
                    inside_norm,
                )
            )
        return out

    def _backward_op(self, name, func, args, kwargs, out) -> None:
        cost = cost_of(name, func, args, kwargs, out, self.is_param)
        if cost is None:
            entry = self.uncounted.setdefault(name, [0, 0, []])
            entry[0] += 1
            entry[1] += sum(o.numel() for o in _tensors(out if isinstance(out, (tuple, list)) else (out,)))
            if "(backward)" not in entry[2]:
                entry[2].append("(backward)")
        else:
            self.backward_counts += cost.counts

    def pack_saved(self, t: torch.Tensor):
        """saved_tensors_hooks: what autograd keeps for backward (parameters are not activations)."""
        key = storage_key(t)
        if key is not None and key not in self.param_keys and key not in self.saved:
            self.saved[key] = t.untyped_storage().nbytes()
        return t

    # module hooks -----------------------------------------------------------------------------

    def pre_hook(self, name: str, depth: int, calls: dict):
        def hook(module, args, kwargs):
            parent = self.stack[-1]
            idx = calls.get(id(module), 0)
            calls[id(module)] = idx + 1
            node = CallNode(
                module,
                name,
                type(module).__name__,
                depth,
                idx,
                input_shape=_shape(_first_tensor(args) if args else _first_tensor(kwargs)),
                start_step=self.step,
                is_leaf=not any(True for _ in module.children()),
            )
            parent.items.append(node)
            self.stack.append(node)

        return hook

    def post_hook(self):
        def hook(module, args, kwargs, output):
            node = self.stack[-1]
            if node.module is not module:  # an exception unwound a child: nothing to record
                return None
            self.stack.pop()
            t = _first_tensor(output)
            node.end_step = self.step
            if t is not None:
                node.output_shape = _shape(t)
                node.output_bytes = t.numel() * t.element_size()
                node.rf = self.rf.get(t)
                node.output_new = self._created_within(t, node)
            return None

        return hook

    def _created_within(self, t: torch.Tensor, node: CallNode) -> bool:
        """True when the module's output is a tensor created by the module (not a view or in-place)."""
        key = storage_key(t)
        i = self.lifetimes._by_key.get(key)
        if i is None:
            return False
        return node.start_step <= self.lifetimes.lives[i].created < node.end_step


_NAMES: dict = {}
_ALIAS: dict = {}


def _op_name(func) -> str:
    name = _NAMES.get(func)
    if name is None:
        name = func._overloadpacket.__name__ if func.namespace == "aten" else f"{func.namespace}::{func.name()}"
        _NAMES[func] = name
    return name


def _returns_alias(func) -> bool:
    hit = _ALIAS.get(func)
    if hit is None:
        try:
            hit = any(r.alias_info is not None for r in func._schema.returns)
        except AttributeError:
            hit = False
        _ALIAS[func] = hit
    return hit


# Shape-only stand-ins for the meta kernels that are slow in Python (batch norm's decomposition,
# element-wise type promotion): the output of these operators has the input's shape, dtype and
# layout, so an empty_like is exactly what the meta kernel would return. Anything else (broadcasting,
# mixed dtypes) goes to the real meta kernel.
_UNARY = frozenset(
    (
        "relu",
        "silu",
        "sigmoid",
        "gelu",
        "hardswish",
        "hardsigmoid",
        "tanh",
        "hardtanh",
        "relu6",
        "leaky_relu",
        "elu",
        "mish",
        "clamp",
        "clamp_min",
        "_softmax",
        "_safe_softmax",
    )
)
_UNARY_INPLACE = frozenset(n + "_" for n in _UNARY)
_BINARY = frozenset(("add", "mul", "sub", "div"))
_BINARY_INPLACE = frozenset(("add_", "mul_", "sub_", "div_"))
_BN = frozenset(("native_batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit"))


def _fast_meta(name: str, args, kwargs):
    if name in _UNARY or name in _UNARY_INPLACE:
        x = args[0]
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or kwargs.get("out") is not None:
            return None
        return x if name in _UNARY_INPLACE else torch.empty_like(x)
    if name in _BINARY_INPLACE or name in _BINARY:
        a, b = args[0], args[1]
        if kwargs or not isinstance(a, torch.Tensor) or not a.is_floating_point():
            return None
        if isinstance(b, torch.Tensor):
            if b.shape != a.shape or b.dtype != a.dtype or b.stride() != a.stride():
                if not (
                    name in _BINARY_INPLACE
                    and b.dtype == a.dtype
                    and b.dim() <= a.dim()
                    and _broadcasts_to(b.shape, a.shape)
                ):
                    return None
        elif not isinstance(b, (int, float)) or (isinstance(b, float) and not a.is_floating_point()):
            return None
        if name in _BINARY_INPLACE:
            return a
        return torch.empty_like(a) if name not in ("div",) or a.is_floating_point() else None
    if name == "native_layer_norm":
        x, shape = args[0], args[1]
        stat = tuple(x.shape[: x.dim() - len(shape)]) + (1,) * len(shape)
        return (
            torch.empty_like(x),
            torch.empty(stat, dtype=x.dtype, device=x.device),
            torch.empty(stat, dtype=x.dtype, device=x.device),
        )
    if name in _BN:
        x = args[0]
        training = (
            bool(args[5]) if name == "native_batch_norm" else (name == "_native_batch_norm_legit" and bool(args[5]))
        )
        c = x.shape[1] if training else 0
        return (
            torch.empty_like(x),
            torch.empty((c,), dtype=x.dtype, device=x.device),
            torch.empty((c,), dtype=x.dtype, device=x.device),
        )
    return None


def _broadcasts_to(small, big) -> bool:
    return all(s == 1 or s == b for s, b in zip(reversed(small), reversed(big)))


@contextlib.contextmanager
def _hooks(model: nn.Module, trace: Trace):
    handles = []
    calls: dict[int, int] = {}
    try:
        for name, mod in model.named_modules():
            if mod is model:
                continue
            depth = name.count(".") + 1
            handles.append(mod.register_forward_pre_hook(trace.pre_hook(name, depth, calls), with_kwargs=True))
            handles.append(mod.register_forward_hook(trace.post_hook(), with_kwargs=True, always_call=True))
        yield
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def _same_kernels_everywhere():
    """Attention through the math path on every device (the meta device has no fused kernel), so
    meta and real runs issue the same operators; nn.MultiheadAttention's fused fast path and oneDNN's
    fused RNN layers off (the real run then decomposes them as the meta run does)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fast = torch.backends.mha.get_fastpath_enabled()
    onednn = torch.backends.mkldnn.enabled
    torch.backends.mha.set_fastpath_enabled(False)
    torch.backends.mkldnn.enabled = False
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
        torch.backends.mkldnn.enabled = onednn


def _run_backward(trace: Trace, output, params: list[torch.Tensor]) -> None:
    outs = [o for o in tree_leaves(output) if isinstance(o, torch.Tensor) and o.requires_grad]
    if not outs or not params:
        return
    with torch.enable_grad():
        loss = sum(o.sum() for o in outs)  # outside the trace: the loss is not the network's work
    trace.phase = "backward"
    try:
        with _same_kernels_everywhere(), trace:
            torch.autograd.grad(loss, params, allow_unused=True)
    finally:
        trace.phase = "forward"


@dataclass
class TraceResult:
    root: CallNode
    trace: Trace
    output: object
    device: str


def run_trace(model: nn.Module, inputs: tuple, device: str, backward: bool = False) -> TraceResult:
    """Run ``model(*inputs)`` once under the trace. ``device`` is "meta" (stand-ins for the model's
    tensors) or a real device (the model's own parameters, copies of its buffers). With ``backward``
    the forward records the graph (and what it saves), then the gradients of the sum of the outputs
    with respect to the trainable parameters are computed under the trace (``torch.autograd.grad``:
    nothing is accumulated into ``.grad``)."""
    params = dict(model.named_parameters(remove_duplicate=False))
    buffers = dict(model.named_buffers(remove_duplicate=False))
    stand_in: dict[int, torch.Tensor] = {}
    param_keys: dict[int, int] = {}
    state: dict[str, torch.Tensor] = {}
    for name, p in params.items():
        if id(p) not in stand_in:
            if device == "meta" and p.device.type != "meta":
                stand_in[id(p)] = torch.empty_like(p, device="meta").requires_grad_(p.requires_grad)
            else:
                stand_in[id(p)] = p
            key = storage_key(stand_in[id(p)])
            if key is not None:
                param_keys[key] = id(p)
        state[name] = stand_in[id(p)]
    for name, b in buffers.items():
        if id(b) not in stand_in:
            stand_in[id(b)] = torch.empty_like(b, device="meta") if device == "meta" else b.clone()
        state[name] = stand_in[id(b)]
    root = CallNode(model, "", type(model).__name__, 0, 0, is_leaf=not any(True for _ in model.children()))
    trace = Trace(param_keys)
    trace.meta = device == "meta" and not backward  # the fast paths do not record autograd metadata
    trace.param_numel = {id(p): p.numel() for p in params.values()}
    trace.stack.append(root)
    for x in tree_leaves(inputs):
        if isinstance(x, torch.Tensor):
            trace.lifetimes.produce(x, 0, "input", aliasing=False)
            trace.rf.set(x, ReceptiveField())
    root.input_shape = _shape(_first_tensor(inputs))
    all_meta = all(t.device.type == "meta" for t in (*params.values(), *buffers.values()))
    grad_mode = torch.enable_grad() if backward else torch.no_grad()
    saving = (
        torch.autograd.graph.saved_tensors_hooks(trace.pack_saved, lambda t: t)
        if backward
        else contextlib.nullcontext()
    )
    with grad_mode, saving, _same_kernels_everywhere(), _hooks(model, trace), trace:
        if device == "meta" and all_meta:  # built on the meta device: call it as it is
            output = model(*inputs)
        else:
            output = torch.func.functional_call(model, state, inputs, tie_weights=True, strict=False)
    if backward:
        _run_backward(
            trace,
            output,
            [stand_in[id(p)] for p in {id(q): q for q in params.values()}.values() if stand_in[id(p)].requires_grad],
        )
    root.end_step = trace.step
    t = _first_tensor(output)
    for o in tree_leaves(output):
        if isinstance(o, torch.Tensor):
            trace.lifetimes.keep_alive(o, trace.step)
    if t is not None:
        root.output_shape = _shape(t)
        root.output_bytes = t.numel() * t.element_size()
        root.rf = trace.rf.get(t)
    return TraceResult(root, trace, output, device)
