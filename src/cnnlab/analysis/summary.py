"""``cnnlab.summary``: the lectures' per-layer table for any network, from one traced forward pass.

>>> s = cnnlab.summary("resnet18")                       # a registered name, at its card's size
>>> s = cnnlab.summary(my_module, input_size=(3, 32, 32))  # any nn.Module
>>> s.macs, s.params.total, s.memory.peak_bytes, s.layer("conv1").rf
>>> print(s)                                              # the table; s.to_json(), render_csv(s)
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..errors import CnnlabError
from .counter import NORM_MODULES, CallNode, OpEvent, TraceResult, run_trace
from .lectures import PREFIX, is_lecture_name, lecture_net
from .memory import param_stats, training_bytes
from .records import Counts, LayerRecord, MemoryStats, Summary, UncountedOp

PRESETS = ("full", "lecture", "torchvision")
LECTURE_KINDS = ("conv", "linear", "matmul", "pool")


def parse_input_size(text: str | int | tuple | list | None) -> tuple[int, ...] | None:
    """``"3x224x224"`` / ``"224"`` / ``224`` / ``(3, 224, 224)`` -> a tuple (channels decided later)."""
    if text is None:
        return None
    if isinstance(text, int):
        return (text, text)
    if isinstance(text, (tuple, list)):
        return tuple(int(v) for v in text)
    parts = str(text).lower().replace(",", "x").replace("*", "x").split("x")
    try:
        if len(parts) > 3 or any(not p.strip() for p in parts):
            raise ValueError(text)
        size = tuple(int(p) for p in parts)
    except ValueError:
        raise CnnlabError(
            f"cannot read the input size {text!r}",
            "write C x H x W, e.g. --input 3x224x224, or just the side, e.g. --input 224",
        ) from None
    if not size or any(v <= 0 for v in size):
        raise CnnlabError(f"input size {text!r} must be positive integers", "e.g. --input 3x224x224")
    return (size[0], size[0]) if len(size) == 1 else size


def _resolve_model(model_or_name, dtype, device):
    """(module, name, card dict or None, built_here)."""
    if isinstance(model_or_name, nn.Module):
        card = getattr(model_or_name, "card", None)
        name = getattr(model_or_name, "model_name", None) or type(model_or_name).__name__
        return model_or_name, name, card, False
    if not isinstance(model_or_name, str):
        raise CnnlabError(f"summary() takes a model name or an nn.Module, got {type(model_or_name).__name__}")
    if is_lecture_name(model_or_name):
        net = lecture_net(model_or_name)
        with torch.device(device if device == "meta" else "cpu"):
            model = net.build()
        model.in_chans = net.input_size[0]
        model.lecture = net
        return model, PREFIX + net.name, None, True
    from ..models import create_model, get_entry

    entry = get_entry(model_or_name)  # unknown names raise with the closest ones
    with torch.device(device if device == "meta" else "cpu"):
        model = create_model(model_or_name)
    if dtype is not None:
        model = model.to(dtype)
    return model, model_or_name, entry.card, True


def _input_shape(model: nn.Module, card, input_size) -> tuple[int, ...]:
    size = parse_input_size(input_size)
    in_chans = getattr(model, "in_chans", None) or (card.input_size[0] if card is not None else None)
    lecture = getattr(model, "lecture", None)
    if size is None and lecture is not None:
        return lecture.input_size
    if size is None:
        if card is None:
            raise CnnlabError(
                f"{type(model).__name__}: no input size known", "pass input_size=(C, H, W) (CLI: --input 3x224x224)"
            )
        return tuple(card.input_size)
    if len(size) == 2:  # H x W of an image model: the channels come from the model
        if in_chans is None:
            first = next((m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)), None)
            if first is None or len(first.kernel_size) != 2:  # not an image model: the shape as given
                return size
            in_chans = first.in_channels
        return (in_chans, *size)
    return size


def summary(
    model_or_name,
    input_size=None,
    batch: int = 1,
    depth: int | None = None,
    strict: bool = False,
    preset: str = "full",
    mode: str = "eval",
    device: str = "meta",
    dtype: torch.dtype | None = None,
    backward: bool = False,
    inputs=None,
    input_data=None,
) -> Summary:
    """Count a network layer by layer: shapes, parameters, multiply-adds and the other operation
    counters, activation memory, receptive field, warnings.

    ``model_or_name``: any ``nn.Module`` or a registered name (built on the meta device: no
    memory). ``input_size``: C x H x W (or H x W, or one side), default the model card's.
    ``depth``: rows are modules at this nesting depth (None: every leaf module). ``strict``: raise if
    an operator has no counting formula (otherwise it is listed in ``uncounted``). ``preset``:
    "full", "lecture" (the lecture table's rows and columns) or "torchvision" (its published
    figures). ``mode``: "eval" or "train" (the module's own modes are restored afterwards).
    ``device``: "meta" (shape only, nothing computed; falls back to a real forward if an operator
    has no meta kernel) or a real device such as "cpu" (computes, to check that the counts agree).
    ``backward``: also count the backward pass (the gradients of every trainable parameter, from the
    real autograd graph) and the activations autograd saves for it; kept apart from the forward rows.
    ``inputs``: example input tensor(s) for models that take several inputs or integer ones (token
    ids); their shapes and dtypes are used (on meta, not their values), ``input_size``/``batch`` ignored.

    torchinfo's forms work too: ``input_size=(B, C, H, W)`` (a 4-tuple carries the batch) and
    ``input_data=`` (the same as ``inputs``).
    """
    inputs, input_size, batch = _torchinfo_forms(inputs, input_data, input_size, batch)
    _check_options(preset, mode, batch, depth, device)
    model, name, card, built_here = _resolve_model(model_or_name, dtype, device)
    first = None
    if inputs is not None:
        inputs, first = _example_inputs(inputs)
        batch, input_size = first.shape[0], tuple(first.shape[1:])
    shape = _input_shape(model, card, input_size) if inputs is None else input_size
    in_dtype = _input_dtype(model, dtype, first)
    notes = _lecture_notes(model)
    result = _trace(model, shape, batch, mode, device, in_dtype, backward, inputs)
    if isinstance(result, Exception):
        model, name, card, result = _trace_on_cpu(
            result,
            model_or_name,
            (model, name, card, built_here),
            shape,
            batch,
            mode,
            device,
            dtype,
            in_dtype,
            backward,
            inputs,
            notes,
        )
    out = _build(model, name, card, shape, batch, mode, in_dtype, result, depth, strict, preset, notes)
    if backward:
        out.backward = result.trace.backward_counts
        out.memory.saved_for_backward_bytes = sum(result.trace.saved.values())
    return out


def _torchinfo_forms(inputs, input_data, input_size, batch: int):
    """torchinfo's ``input_data=`` (the same as ``inputs``) and a ``(B, C, H, W)`` input size (the batch
    carried in it) turned into cnnlab's (inputs, input_size, batch)."""
    if input_data is not None:
        if inputs is not None:
            raise CnnlabError("pass inputs= or input_data= (torchinfo's name), not both")
        inputs = input_data
    parsed = parse_input_size(input_size) if inputs is None and isinstance(input_size, (tuple, list)) else None
    if parsed is not None and len(parsed) == 4:  # torchinfo's (B, C, H, W); the CLI has --batch
        if batch not in (1, parsed[0]):
            raise CnnlabError(
                f"input size {'x'.join(map(str, parsed))} carries the batch {parsed[0]} (torchinfo's "
                f"B x C x H x W) but batch={batch} was given",
                "give the batch once",
            )
        batch, input_size = parsed[0], parsed[1:]
    return inputs, input_size, batch


def _example_inputs(inputs) -> tuple[tuple, torch.Tensor]:
    """Example input(s) as a tuple, and the first tensor (its batch and shape stand for the input size)."""
    inputs = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
    first = next((t for t in inputs if isinstance(t, torch.Tensor)), None)
    if first is None or first.dim() < 1:
        raise CnnlabError("inputs must hold at least one tensor with a batch dimension")
    return inputs, first


def _input_dtype(model: nn.Module, dtype: torch.dtype | None, first: torch.Tensor | None) -> torch.dtype:
    """The input's dtype: a floating example input's, else ``dtype``, else the parameters' (float32 for none)."""
    if first is not None and first.is_floating_point():
        return first.dtype
    param = next(iter(model.parameters()), None)
    return dtype or (param.dtype if param is not None and param.is_floating_point() else torch.float32)


def _lecture_notes(model: nn.Module) -> list[str]:
    """A lecture network's description and errata, the first notes of its summary."""
    lecture = getattr(model, "lecture", None)
    if lecture is None:
        return []
    return [f"{lecture.what}"] + [f"lecture erratum: {e}" for e in lecture.errata]


def _trace_on_cpu(
    error: Exception,
    model_or_name,
    resolved: tuple,
    shape,
    batch: int,
    mode: str,
    device: str,
    dtype,
    in_dtype,
    backward: bool,
    inputs,
    notes: list[str],
):
    """After a failed forward on ``device``: refused off the meta device; on meta, counted again with a real
    forward on cpu (noted). Returns (model, name, card, trace result)."""
    model, name, card, built_here = resolved
    if device != "meta":
        raise CnnlabError(
            f"{name}: the forward pass failed on {device} at input {batch}x{'x'.join(map(str, shape))}: {error}",
            "check the input size (--input C x H x W) against the model",
        ) from error
    notes.append(
        f"the meta device could not run this model ({type(error).__name__}: "
        f"{str(error).splitlines()[0][:160]}); counted with a real forward on cpu"
    )
    if built_here:
        model, name, card, _ = _resolve_model(model_or_name, dtype, "cpu")
    result = _trace(model, shape, batch, mode, "cpu", in_dtype, backward, inputs)
    if isinstance(result, Exception):
        raise CnnlabError(
            f"{name}: the forward pass failed at input {batch}x{'x'.join(map(str, shape))}: {result}",
            "check the input size (--input C x H x W) against the model",
        ) from result
    return model, name, card, result


def _check_options(preset: str, mode: str, batch: int, depth: int | None, device: str) -> None:
    """``summary``'s options, each refused with what to give instead."""
    if preset not in PRESETS:
        raise CnnlabError(f"unknown preset {preset!r}", f"choose one of {', '.join(PRESETS)}")
    if mode not in ("eval", "train"):
        raise CnnlabError(f"mode must be 'eval' or 'train', got {mode!r}")
    if batch < 1:
        raise CnnlabError(f"batch must be at least 1, got {batch}")
    if depth is not None and depth < 0:
        raise CnnlabError(f"depth must be 0 or more, got {depth}")
    try:
        torch.empty(0, device=device)
    except (RuntimeError, ValueError, AssertionError) as e:  # a CPU build asserts on "cuda"
        raise CnnlabError(
            f"device {device!r} is not available here ({str(e).splitlines()[0][:120]})",
            "use meta (shape only, the default) or cpu",
        ) from None


def _trace(model, shape, batch, mode, device, in_dtype, backward=False, inputs=None):
    training = {m: m.training for m in model.modules()}
    try:
        model.train(mode == "train")
        if inputs is not None:
            args = tuple(t.detach().to(device) if isinstance(t, torch.Tensor) else t for t in inputs)
            return run_trace(model, args, device, backward=backward)
        if device == "meta":
            x = torch.empty((batch, *shape), device="meta", dtype=in_dtype)
        else:
            g = torch.Generator().manual_seed(0)
            x = torch.randn((batch, *shape), generator=g, dtype=in_dtype).to(device)
        return run_trace(model, (x,), device, backward=backward)
    except CnnlabError:
        raise
    except (RuntimeError, NotImplementedError, ValueError, TypeError, IndexError, AssertionError) as e:
        return e
    finally:
        for m, flag in training.items():
            m.training = flag


def is_lecture_layer(e: OpEvent) -> bool:
    """An operator whose output the lectures' memory column counts: a convolution, a fully connected
    (or other matrix) product or a pooling window, creating a new tensor; not the pieces of a
    composite normalisation (LRN) and not a 1 x 1 / stride 1 pooling, which only copies."""
    if e.cost is None or e.cost.kind not in LECTURE_KINDS or not e.output_new or e.inside_norm:
        return False
    g = e.cost.geometry
    return not (
        e.cost.kind == "pool"
        and g is not None
        and all(k == 1 for k in g["kernel"])
        and all(s == 1 for s in g["stride"])
    )


def _events(node: CallNode):
    for item in node.items:
        if isinstance(item, CallNode):
            yield from _events(item)
        else:
            yield item


def _strip_batch(shape):
    return tuple(shape[1:]) if shape is not None and len(shape) >= 1 else shape


def _module_row(node: CallNode, numel: dict[int, int], index: int) -> LayerRecord:
    events = list(_events(node))
    counts = Counts()
    for e in events:
        if e.cost is not None:
            counts += e.cost.counts
    windows = [e for e in events if e.cost is not None and e.cost.geometry is not None]
    kinds = [e.cost.kind for e in events if e.cost is not None and e.cost.kind != "move"]
    if any(e.cost is None for e in events):
        kinds.append("other")
    if isinstance(node.module, NORM_MODULES):
        layer_kind = "norm"
    elif not kinds:  # nothing computed: a reshape (flatten) or an identity (dropout in eval, nn.Identity)
        layer_kind = "other" if node.output_new else ("view" if node.output_shape != node.input_shape else "identity")
    elif len(set(kinds)) == 1:
        layer_kind = kinds[0]
    else:
        main = [k for k in kinds if k in ("conv", "linear", "pool", "attention", "matmul")]
        layer_kind = main[0] if len(main) == 1 else "block"
    row = LayerRecord(
        index=index,
        name=node.name or "(model)",
        type=node.type,
        depth=node.depth,
        input_shape=_strip_batch(node.input_shape),
        output_shape=_strip_batch(node.output_shape),
        params=sum(numel[p] for e in events for p in e.new_params),
        counts=counts,
        output_bytes=node.output_bytes,
        output_is_new=node.output_new,
        rf=node.rf,
        kind="module",
        lecture_bytes=sum(e.output_bytes for e in events if is_lecture_layer(e)),
        layer_kind=layer_kind,
        shared=node.call_index > 0,
        warnings=[w for e in events for w in e.warnings],
    )
    if len(windows) == 1:
        _set_geometry(row, windows[0].cost.geometry)
    elif layer_kind == "linear" and row.output_shape:
        row.filters = row.output_shape[-1]
    return row


def _set_geometry(row: LayerRecord, g: dict) -> None:
    row.kernel, row.stride, row.dilation = g["kernel"], g["stride"], g["dilation"]
    row.padding = g["padding"] if not isinstance(g["padding"], str) else None
    row.groups, row.ceil_mode, row.filters = g["groups"], bool(g["ceil_mode"]), g["filters"]


def _op_row(e: OpEvent, parent: CallNode, numel: dict[int, int], index: int) -> LayerRecord:
    row = LayerRecord(
        index=index,
        name=f"{parent.name}.{e.name}" if parent.name else e.name,
        type=e.name,
        depth=parent.depth + 1,
        input_shape=_strip_batch(e.input_shape),
        output_shape=_strip_batch(e.output_shape),
        params=sum(numel[p] for p in e.new_params),
        counts=e.cost.counts if e.cost else Counts(),
        output_bytes=e.output_bytes,
        output_is_new=e.output_new,
        rf=e.rf,
        kind="op",
        lecture_bytes=e.output_bytes if is_lecture_layer(e) else 0,
        layer_kind=e.cost.kind if e.cost else "other",
        warnings=list(e.warnings),
    )
    if e.cost is not None and e.cost.geometry is not None:
        _set_geometry(row, e.cost.geometry)
    elif row.layer_kind == "linear" and row.output_shape:
        row.filters = row.output_shape[-1]
    return row


def build_rows(root: CallNode, depth: int | None, numel: dict[int, int]) -> list[LayerRecord]:
    """Rows in execution order: leaf modules (or modules at ``depth``), plus the operators a
    non-leaf module runs itself (a residual add, a flatten, attention) when they count something."""
    rows: list[LayerRecord] = []
    if root.is_leaf or depth == 0:
        return [_module_row(root, numel, 0)]

    def walk(node: CallNode):
        for item in node.items:
            if isinstance(item, CallNode):
                if item.is_leaf or (depth is not None and item.depth >= depth):
                    rows.append(_module_row(item, numel, len(rows)))
                else:
                    walk(item)
            elif item.cost is None or item.cost.counts or item.new_params:
                rows.append(_op_row(item, node, numel, len(rows)))

    walk(root)
    return rows


def _build(
    model, name, card, shape, batch, mode, in_dtype, result: TraceResult, depth, strict, preset, notes
) -> Summary:
    trace = result.trace
    uncounted = [UncountedOp(op, calls, elems, mods) for op, (calls, elems, mods) in sorted(trace.uncounted.items())]
    if strict and uncounted:
        listing = ", ".join(
            f"{u.op} ({u.calls} calls in {', '.join(m or '(model)' for m in u.modules[:3])})" for u in uncounted
        )
        raise CnnlabError(
            f"{name}: operators without a counting formula: {listing}",
            "add a formula with cnnlab.analysis.formulas.formula(...) or run with strict=False "
            "(they are then listed, never counted as zero silently)",
        )
    totals = Counts()
    lecture_bytes = 0
    warnings: list[str] = []
    events = list(_events(result.root))
    for e in events:
        if e.cost is not None:
            totals += e.cost.counts
            if is_lecture_layer(e):
                lecture_bytes += e.output_bytes
        for w in e.warnings:
            if w not in warnings:
                warnings.append(w)
    rows = build_rows(result.root, depth, trace.param_numel)
    if preset == "lecture":
        rows = [r for r in rows if r.layer_kind in LECTURE_KINDS or r.layer_kind == "view"]
        for i, r in enumerate(rows):
            r.index = i
    pstats = param_stats(model, trace.used_params)
    peak, at = trace.lifetimes.peak()
    peak_where = next((e for e in events if e.step == at), None)
    mem = MemoryStats(
        lecture_bytes=lecture_bytes,
        all_outputs_bytes=trace.lifetimes.all_bytes(),
        peak_bytes=peak,
        peak_at=_where(result.root, at, peak_where),
        input_bytes=batch * math.prod(shape) * torch.empty((), dtype=in_dtype).element_size(),
        **training_bytes(model),
    )
    trace.lifetimes.release()
    if pstats.unused:
        notes.append(
            f"{pstats.unused:,} parameters are defined but not run in this forward "
            f"({', '.join(pstats.unused_modules) or 'unreached tensors'})"
        )
    card_dict = card.to_dict() if card is not None and hasattr(card, "to_dict") else None
    out = result.root.output_shape
    return Summary(
        model=name,
        input_size=tuple(shape),
        batch=batch,
        dtype=str(in_dtype).replace("torch.", ""),
        mode=mode,
        device=result.device,
        layers=rows,
        totals=totals,
        params=pstats,
        memory=mem,
        output_shape=_strip_batch(out),
        rf=result.root.rf,
        uncounted=uncounted,
        warnings=warnings,
        notes=notes,
        preset=preset,
        depth=depth,
        card=card_dict,
    )


def _where(root: CallNode, step: int, event: OpEvent | None) -> str:
    """The module running at ``step`` (the innermost call whose span holds it)."""
    best = ""

    def walk(node: CallNode):
        nonlocal best
        for item in node.items:
            if isinstance(item, CallNode) and item.start_step <= step < max(item.end_step, item.start_step + 1):
                best = item.name
                walk(item)

    walk(root)
    op = event.name if event is not None else ""
    return f"{best or '(model)'} ({op})" if op else (best or "(model)")
