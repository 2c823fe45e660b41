"""The microcontroller budget (MCUNet, lecture 000/004): flash for int8 weights, peak SRAM for int8
activations at batch 1, from the analyzer's operator trace on the meta device (nothing computed).

    >>> b = mcu_budget("mcunet", fold_bn=True, inplace_depthwise=True)
    >>> b.flash_bytes, b.peak_sram_bytes, b.fits(sram=320 * 1024, flash=1024 * 1024)

Accounting (stated in every report, ``ACCOUNTING``):

- **flash**: every convolution / linear weight 1 byte (int8); per output channel of each such
  layer a 4-byte int32 bias and a 4-byte float32 scale (per-channel quantization). With
  ``fold_bn`` a batch norm that directly follows a convolution disappears into that
  convolution's weights and bias; without it a batch norm keeps a 4-byte scale and shift per
  channel. Other parameters (a bare scale, a position embedding) cost 1 byte each.
- **peak SRAM**: every activation tensor 1 byte per element (int8), the input image included,
  alive from the operator that writes it to the last operator that reads it (the analyzer's
  lifetimes); the peak is the largest sum of live tensors at any operator, its inputs and output
  included: the layer-by-layer schedule of TFLite Micro / TinyEngine without their runtime
  overhead. Activations (ReLU, ReLU6, ...) are fused into the layer before them (in place); so is
  a folded batch norm. Integer index tensors (max-pool indices) are PyTorch internals and not
  counted.
- ``inplace_depthwise`` (MCUNetV2 / TinyEngine): a depthwise convolution whose input dies with it
  writes its output over its input, channel by channel, through a temporary buffer of one output
  channel.
- ``patches=p`` (MCUNetV2 patch-based inference): the layers up to ``patch_until`` (default: the end
  of the last stage at output stride <= 8) run p x p times on spatial patches of their output;
  each tensor inside that stage is held only for the region one output patch needs (its
  receptive field, with the overlap), plus the stage output, which is assembled in full. The
  input image is read patch by patch (from the camera or flash), as in MCUNetV2.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn

from ..errors import CnnlabError

ACCOUNTING = (
    "int8: weights 1 B, + per output channel an int32 bias (4 B) and a float32 scale (4 B); "
    "activations 1 B/element, batch 1, input included, activations fused in place; "
    "KB = bytes / 1024"
)
UNITS = {"b": 1, "kb": 1024, "k": 1024, "kib": 1024, "mb": 1024**2, "m": 1024**2, "mib": 1024**2}


@dataclass
class FlashItem:
    name: str
    type: str
    weights: int
    biases: int  # int32 count
    scales: int  # float32 count (per-channel quantization)
    other: int = 0  # bytes of parameters kept outside the int8 weights (unfolded batch norm)

    @property
    def bytes(self) -> int:
        return self.weights + 4 * self.biases + 4 * self.scales + self.other


@dataclass
class McuBudget:
    model: str
    input_size: tuple
    fold_bn: bool
    inplace_depthwise: bool
    patches: int | None
    patch_until: str | None
    flash_bytes: int
    flash_weights: int
    flash_biases_scales: int
    flash_other: int
    peak_sram_bytes: int
    peak_at: str  # the operator (module) where the peak is reached
    peak_tensors: list[tuple[str, int]]  # (where each live tensor was made, bytes) at the peak
    layer_by_layer_peak: int  # without the patch stage (same fusion options)
    folded: list[str] = field(default_factory=list)
    budget_sram: int | None = None
    budget_flash: int | None = None
    notes: list[str] = field(default_factory=list)

    def fits(self, sram: int | None = None, flash: int | None = None) -> bool:
        sram = sram if sram is not None else self.budget_sram
        flash = flash if flash is not None else self.budget_flash
        return (sram is None or self.peak_sram_bytes <= sram) and (flash is None or self.flash_bytes <= flash)

    def text(self) -> str:
        kb = lambda b: f"{b / 1024:,.1f} KB"  # noqa: E731
        opts = ["batch norm folded" if self.fold_bn else "batch norm kept"]
        if self.inplace_depthwise:
            opts.append("in-place depthwise")
        if self.patches:
            opts.append(f"{self.patches}x{self.patches} patches up to {self.patch_until}")
        lines = [
            f"microcontroller budget (int8, batch 1, {', '.join(opts)}): {self.model} at "
            f"{'x'.join(map(str, self.input_size))}",
            f"  flash {kb(self.flash_bytes)} = int8 weights {kb(self.flash_weights)} + int32 biases and "
            f"float32 per-channel scales {kb(self.flash_biases_scales)}"
            + (f" + unfolded norms/other {kb(self.flash_other)}" if self.flash_other else ""),
            f"  peak SRAM {kb(self.peak_sram_bytes)} at {self.peak_at or '(input)'}: "
            + " + ".join(f"{w or 'input'} {kb(b)}" for w, b in self.peak_tensors[:6])
            + (" + ..." if len(self.peak_tensors) > 6 else ""),
        ]
        if self.patches:
            lines.append(
                f"  layer by layer (no patches) the peak would be {kb(self.layer_by_layer_peak)} "
                f"({self.layer_by_layer_peak / max(self.peak_sram_bytes, 1):.1f}x)"
            )
        for label, need, have in (
            ("SRAM", self.peak_sram_bytes, self.budget_sram),
            ("flash", self.flash_bytes, self.budget_flash),
        ):
            if have is not None:
                verdict = "fits" if need <= have else "does NOT fit"
                lines.append(f"  {label}: {kb(need)} of {kb(have)} ({need / have:.0%}): {verdict}")
        lines.append(f"  accounting: {ACCOUNTING}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fits"] = self.fits()
        d["accounting"] = ACCOUNTING
        return d


def parse_budget(text: str | None) -> dict[str, int]:
    """``"sram=320KB,flash=1MB"`` -> ``{"sram": 327680, "flash": 1048576}`` (KB = 1024 bytes)."""
    out: dict[str, int] = {}
    if not text:
        return out
    for item in text.split(","):
        key, sep, value = item.strip().partition("=")
        key = key.strip().lower()
        if not sep or key not in ("sram", "flash"):
            raise CnnlabError(f"cannot read the budget item {item!r}", "write e.g. --budget sram=320KB,flash=1MB")
        v = value.strip().lower().replace(" ", "")
        num = v.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = v[len(num) :] or "b"
        try:
            amount = float(num)
        except ValueError:
            amount = -1
        if unit not in UNITS or amount <= 0:
            raise CnnlabError(f"cannot read the budget {item!r}", "sizes are numbers with B, KB or MB, e.g. sram=320KB")
        out[key] = int(amount * UNITS[unit])
    return out


# -- the trace ------------------------------------------------------------------------------------


def _walk(node, out):
    from .counter import CallNode

    for item in node.items:
        if isinstance(item, CallNode):
            _walk(item, out)
        else:
            out.append((item, node))
    return out


def _trace(model_or_name, input_size):
    from .counter import run_trace
    from .summary import _input_shape, _resolve_model

    model, name, card, _ = _resolve_model(model_or_name, None, "meta")
    shape = _input_shape(model, card, input_size)
    training = {m: m.training for m in model.modules()}
    model.eval()
    try:
        result = run_trace(model, (torch.empty((1, *shape), device="meta"),), "meta")
    finally:
        for m, flag in training.items():
            m.training = flag
    return model, name, shape, result


def mcu_budget(
    model_or_name,
    input_size=None,
    fold_bn: bool = True,
    inplace_depthwise: bool = False,
    patches: int | None = None,
    patch_until: str | None = None,
    budget: str | dict | None = None,
) -> McuBudget:
    """Flash and peak SRAM of ``model_or_name`` deployed in int8 at batch 1 (see the module doc)."""
    if patches is not None and patches < 1:
        raise CnnlabError(f"--patches must be at least 1, got {patches}")
    limits = parse_budget(budget) if isinstance(budget, str) or budget is None else dict(budget)
    model, name, shape, result = _trace(model_or_name, input_size)
    trace = result.trace
    lives = trace.lifetimes.lives
    pairs = _walk(result.root, [])
    event_at = {e.step: (e, node) for e, node in pairs}
    parent, size, folded, folded_modules, temps = _share_buffers(trace.lifetimes, event_at, fold_bn, inplace_depthwise)
    # -- peak, layer by layer ------------------------------------------------------------------
    groups = _groups(parent, lives, size)
    peak, at_step, live = _sweep(groups, temps)
    layer_peak = peak
    peak_at = _where(event_at, at_step)
    peak_tensors = [(lives[r].where, b) for r, b in live]
    notes = []
    if patches:
        peak, peak_at, peak_tensors, patch_until, note = _patched_budget(
            pairs, lives, event_at, groups, temps, patches, patch_until
        )
        notes.append(note)
    flash = _flash(model, fold_bn, folded_modules)
    weights = sum(f.weights for f in flash)
    bias_scale = sum(4 * (f.biases + f.scales) for f in flash)
    other = sum(f.other for f in flash)
    uncounted = [op for op in trace.uncounted]
    if uncounted:
        notes.append(f"operators without a counting formula (their outputs still count): {', '.join(uncounted)}")
    return McuBudget(
        name,
        tuple(shape),
        fold_bn,
        inplace_depthwise,
        patches,
        patch_until if patches else None,
        weights + bias_scale + other,
        weights,
        bias_scale,
        other,
        peak,
        peak_at,
        sorted(peak_tensors, key=lambda t: -t[1]),
        layer_peak,
        folded,
        limits.get("sram"),
        limits.get("flash"),
        notes,
    )


def _share_buffers(tracker, event_at: dict, fold_bn: bool, inplace_depthwise: bool):
    """Folding and fusion: which outputs share their input's buffer (a union-find over the tensor
    lives: ``parent``, bytes per root ``size``). A batch norm folds into the convolution before it,
    an activation runs in place on a tensor that dies there, and (``inplace_depthwise``) a depthwise
    convolution overwrites its input channel by channel with one output plane of scratch (``temps``:
    step -> transient bytes). Returns (parent, size, folded norm names, their module ids, temps)."""
    lives = tracker.lives
    parent = list(range(len(lives)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    size = [life.numel if life.floating else 0 for life in lives]
    folded: list[str] = []
    folded_modules: set[int] = set()
    temps: dict[int, int] = {}
    for i, life in enumerate(lives):
        if life.created == 0 and life.where == "input":
            continue
        hit = event_at.get(life.created)
        if hit is None:
            continue
        e, node = hit
        kind = e.cost.kind if e.cost else ""
        reads = [j for j in tracker.reads.get(life.created, []) if lives[j].floating and j != i]
        reads = list(dict.fromkeys(reads))
        if len(reads) != 1:
            continue
        src = reads[0]
        src_root = root(src)
        dies_here = lives[src].last_use == life.created
        is_norm = isinstance(node.module, nn.modules.batchnorm._BatchNorm)
        if is_norm and fold_bn:
            made = event_at.get(lives[src].created)
            if made is not None and made[0].cost is not None and made[0].cost.kind == "conv" and dies_here:
                _merge(parent, size, lives, src_root, i)
                if node.name not in folded:
                    folded.append(node.name)
                folded_modules.add(id(node.module))
            continue
        if kind == "act" and dies_here and not is_norm:
            _merge(parent, size, lives, src_root, i)
            continue
        geom = e.cost.geometry if e.cost else None
        if (
            inplace_depthwise
            and kind == "conv"
            and geom
            and geom.get("groups", 1) > 1
            and dies_here
            and e.input_shape
            and geom["groups"] == e.input_shape[1] == (e.output_shape[1] if e.output_shape else -1)
        ):
            out_plane = math.prod(e.output_shape[2:]) if e.output_shape else 0
            _merge(parent, size, lives, src_root, i)
            temps[life.created] = temps.get(life.created, 0) + out_plane
    return parent, size, folded, folded_modules, temps


def _patched_budget(pairs, lives, event_at: dict, groups, temps: dict, patches: int, patch_until: str | None):
    """Patch-based inference (MCUNetV2): the stage up to ``patch_until`` runs on ``patches`` x ``patches``
    patches, the rest layer by layer; the peak is the larger of the two. Returns (peak, where, live
    tensors, the split layer's name, a note)."""
    split, split_name = _split_point(pairs, lives, patch_until)
    ppeak, pat, plive = _patched_peak(groups, temps, lives, event_at, split, patches)
    note = (
        f"patch stage: {patches}x{patches} patches of {split_name}'s output; its peak "
        f"{ppeak / 1024:,.1f} KB at {_where(event_at, pat)}"
    )
    rest_peak, rest_step, rest_live = _sweep(groups, temps, after=split)
    if ppeak >= rest_peak:
        return ppeak, _where(event_at, pat) + " (one patch)", plive, split_name, note
    return rest_peak, _where(event_at, rest_step), [(lives[r].where, b) for r, b in rest_live], split_name, note


def _merge(parent, size, lives, into: int, other: int) -> None:
    parent[other] = into
    size[into] = max(size[into], size[other])


@dataclass
class _Group:
    root: int
    created: int
    last_use: int
    bytes: int
    members: list[int]


def _groups(parent, lives, size) -> list[_Group]:
    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    out: dict[int, _Group] = {}
    for i, life in enumerate(lives):
        r = root(i)
        g = out.get(r)
        if g is None:
            g = out[r] = _Group(r, life.created, life.last_use, 0, [])
        g.created = min(g.created, life.created)
        g.last_use = max(g.last_use, life.last_use)
        g.members.append(i)
    for r, g in out.items():
        g.bytes = size[r]
    return [g for g in out.values() if g.bytes > 0]


def _sweep(groups, temps, after: int = -1, sizes: dict[int, int] | None = None, until: int | None = None):
    """(peak bytes, step, [(group root, bytes) live at the peak]) over steps in (after, until]."""
    if not groups:
        return 0, 0, []
    last = max(g.last_use for g in groups)
    stop = last if until is None else until
    best, best_step, best_live = -1, 0, []
    steps = sorted({g.created for g in groups} | set(temps) | {g.last_use for g in groups})
    for s in steps:
        if s <= after or s > stop:
            continue
        live = [(g.root, (sizes or {}).get(g.root, g.bytes)) for g in groups if g.created <= s <= g.last_use]
        total = sum(b for _, b in live) + temps.get(s, 0)
        if total > best:
            best, best_step, best_live = total, s, live
    return max(best, 0), best_step, best_live


def _where(event_at, step: int) -> str:
    hit = event_at.get(step)
    if hit is None:
        return ""
    e, node = hit
    return f"{node.name or '(model)'} ({e.name})"


def _split_point(pairs, lives, patch_until: str | None) -> tuple[int, str]:
    """The step whose output ends the patch stage: the named module's output, or the last output at
    a reduction (receptive-field jump) <= 8 before the first at 16 or more."""
    if patch_until:
        steps = [e.step for e, node in pairs if node.name == patch_until or node.name.startswith(patch_until + ".")]
        if not steps:
            names = sorted({node.name for _, node in pairs if node.name})
            from ..errors import UnknownNameError

            raise UnknownNameError("layer", patch_until, names)
        return max(steps), patch_until
    block_end: dict[str, int] = {}  # top-level block (e.g. features.3) -> its last step
    order: list[str] = []
    stop_block = None
    for e, node in pairs:
        block = ".".join(node.name.split(".")[:2]) if node.name else ""
        if block not in block_end:
            order.append(block)
        block_end[block] = e.step
        rf = e.rf
        if rf is not None and not rf.is_global and max(rf.jump) >= 16:
            stop_block = block
            break
    done = order[:-1] if stop_block is not None else order
    if not done:
        raise CnnlabError("no complete block at output stride <= 8 to end a patch stage", "pass --patch-until LAYER")
    return block_end[done[-1]], done[-1]


def _patched_peak(groups, temps, lives, event_at, split: int, p: int):
    """Peak of the patch stage: per-patch regions of every tensor made up to ``split`` + the stage
    output in full."""
    out_event = event_at[split][0]
    R, J = out_event.rf.size, out_event.rf.jump
    oh, ow = out_event.output_shape[2:]
    ph, pw = -(-oh // p), -(-ow // p)
    sizes: dict[int, int] = {}
    stage = [g for g in groups if g.created <= split]
    out_group = next((g for g in groups if any(lives[m].created == split for m in g.members)), None)
    for g in stage:
        if g is out_group:
            continue
        region = 0
        for m in g.members:
            ev = event_at.get(lives[m].created)
            if lives[m].where == "input" and lives[m].created == 0:  # the image: receptive field 1, jump 1
                shp, r, j = next(iter(event_at.values()))[0].input_shape, (1, 1), (1, 1)
            elif ev is None or ev[0].rf is None or ev[0].output_shape is None or len(ev[0].output_shape) != 4:
                region = max(region, lives[m].numel)
                continue
            else:
                shp, r, j = ev[0].output_shape, ev[0].rf.size, ev[0].rf.jump
            c, h, w = shp[1], shp[2], shp[3]
            nh = min(h, (ph - 1) * J[0] // j[0] + (R[0] - r[0]) // j[0] + 1)
            nw = min(w, (pw - 1) * J[1] // j[1] + (R[1] - r[1]) // j[1] + 1)
            region = max(region, c * nh * nw)
        sizes[g.root] = region
    best, best_step, best_live = 0, 0, []
    full_out = out_group.bytes if out_group else 0
    for s in sorted({g.created for g in stage} | {t for t in temps if t <= split}):
        live = [
            (g.root, sizes[g.root]) for g in stage if g is not out_group and g.created <= s <= min(g.last_use, split)
        ]
        scaled_temp = temps.get(s, 0) // (p * p) if s in temps else 0
        total = sum(b for _, b in live) + full_out + scaled_temp
        if total > best:
            best, best_step, best_live = total, s, live
    live = [(lives[r].where, b) for r, b in best_live] + [("stage output (all patches)", full_out)]
    return best, best_step, live


def _flash(model: nn.Module, fold_bn: bool, folded: set[int]) -> list[FlashItem]:
    items: list[FlashItem] = []
    seen: set[int] = set()
    last_conv: FlashItem | None = None
    for name, m in model.named_modules():
        own = [p for p in m.parameters(recurse=False) if id(p) not in seen]
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
            w = m.weight
            seen.update(id(p) for p in own)
            out_ch = w.shape[0]
            item = FlashItem(name, type(m).__name__, w.numel(), out_ch if m.bias is not None else 0, out_ch)
            items.append(item)
            last_conv = item
            continue
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            seen.update(id(p) for p in own)
            if fold_bn and id(m) in folded and last_conv is not None:
                if last_conv.biases == 0:  # folding gives the convolution a bias
                    last_conv.biases = last_conv.scales
                continue
            items.append(FlashItem(name, type(m).__name__, 0, 0, 0, 8 * m.num_features))
            continue
        rest = sum(p.numel() for p in own)
        seen.update(id(p) for p in own)
        if rest:
            items.append(FlashItem(name, type(m).__name__, rest, 0, 0))
    return items
