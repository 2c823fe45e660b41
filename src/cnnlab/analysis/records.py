"""What the analyzer returns: plain dataclasses (to_dict() for JSON/CSV), no torch objects.

Counting convention (printed in every header, see ``CONVENTION``):

- ``conv_macs``, ``linear_macs``, ``matmul_macs``: multiply-adds of convolutions, of products with a
  parameter (fully connected layers) and of products between activations (attention), bias
  excluded. Their sum is ``macs``: the figure torchvision publishes in its model table (as
  "GFLOPS") and the lectures call "FLOPs" or "multiply-adds".
- ``bias``: one add per output element of a layer with a bias.
- ``norm``: elements normalised (batch/layer/group norm); 2 operations each (scale and shift).
- ``act``: elements through an activation (ReLU, SiLU, sigmoid, softmax, ...); 1 operation each.
- ``pool``: elements read by pooling windows and means (output x window); 1 operation each.
- ``eltwise``: elements produced by element-wise arithmetic (residual adds, squeeze-excite
  products, scaling); 1 operation each.

``flops = 2 x macs + bias + 2 x norm + act + pool + eltwise``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

COUNTERS = ("conv_macs", "linear_macs", "matmul_macs", "bias", "norm", "act", "pool", "eltwise")

CONVENTION = (
    "MACs = multiply-adds of conv/linear/matmul, bias excluded (torchvision's \"GFLOPS\", the "
    "lectures' \"FLOPs\"); FLOPs = 2 x MACs + bias adds + 2 x norm + activation + pooling + "
    "element-wise ops. Memory KB = elements x bytes / 1024."
)


@dataclass
class Counts:
    """Named counters of one operator, layer or network (see the module docstring)."""

    conv_macs: int = 0
    linear_macs: int = 0
    matmul_macs: int = 0
    bias: int = 0
    norm: int = 0
    act: int = 0
    pool: int = 0
    eltwise: int = 0

    @property
    def macs(self) -> int:
        return self.conv_macs + self.linear_macs + self.matmul_macs

    @property
    def other_ops(self) -> int:
        """Operations beyond the multiply-adds: bias, norm (2 each), activation, pooling, element-wise."""
        return self.bias + 2 * self.norm + self.act + self.pool + self.eltwise

    @property
    def flops(self) -> int:
        return 2 * self.macs + self.other_ops

    def __iadd__(self, other: Counts) -> Counts:
        for name in COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    def __add__(self, other: Counts) -> Counts:
        out = Counts(**asdict(self))
        out += other
        return out

    def __bool__(self) -> bool:
        return any(getattr(self, n) for n in COUNTERS)

    def to_dict(self) -> dict:
        return {**asdict(self), "macs": self.macs, "flops": self.flops}


@dataclass
class ReceptiveField:
    """Receptive field of one output position, per spatial axis (height, width).

    ``size`` is r, ``jump`` is j (input pixels between neighbouring outputs), ``start`` the
    centre of the first output's field. ``is_global`` means the output sees the whole input (after
    a fully connected layer, a global mean or attention).
    """

    size: tuple[int, int] = (1, 1)
    jump: tuple[int, int] = (1, 1)
    start: tuple[float, float] = (0.5, 0.5)
    is_global: bool = False

    def text(self) -> str:
        if self.is_global:
            return "all"
        r = str(self.size[0]) if self.size[0] == self.size[1] else f"{self.size[0]}x{self.size[1]}"
        j = str(self.jump[0]) if self.jump[0] == self.jump[1] else f"{self.jump[0]}x{self.jump[1]}"
        return f"{r} ({j})"

    def to_dict(self) -> dict:
        if self.is_global:
            return {"size": "all", "jump": None, "start": None}
        return {"size": list(self.size), "jump": list(self.jump), "start": list(self.start)}


@dataclass
class LayerRecord:
    """One row of the per-layer table: a module call (or a functional operator of a parent)."""

    index: int
    name: str
    type: str
    depth: int
    input_shape: tuple[int, ...] | None  # per sample (batch dimension removed)
    output_shape: tuple[int, ...] | None
    params: int = 0
    counts: Counts = field(default_factory=Counts)
    output_bytes: int = 0  # all samples
    output_is_new: bool = True  # False for views and in-place results
    lecture_bytes: int = 0  # the part of the output the lectures' memory sum counts (conv, fc, pool outputs)
    filters: int | None = None
    kernel: tuple[int, ...] | None = None
    stride: tuple[int, ...] | None = None
    padding: tuple[int, ...] | None = None
    dilation: tuple[int, ...] | None = None
    groups: int | None = None
    ceil_mode: bool = False
    rf: ReceptiveField | None = None
    kind: str = "module"  # module | op | params
    layer_kind: str = ""  # conv | linear | pool | norm | act | eltwise | matmul | view | other
    shared: bool = False  # the module was called before: its parameters are counted at the first call
    warnings: list[str] = field(default_factory=list)

    @property
    def macs(self) -> int:
        return self.counts.macs

    @property
    def output_kb(self) -> float:
        return self.output_bytes / 1024

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("counts", "rf")}
        for k in ("input_shape", "output_shape", "kernel", "stride", "padding", "dilation"):
            d[k] = list(d[k]) if d[k] is not None else None
        d["counts"] = self.counts.to_dict()
        d["macs"] = self.macs
        d["output_kb"] = self.output_kb
        d["rf"] = self.rf.to_dict() if self.rf else None
        return d


@dataclass
class ParamStats:
    """Parameters from the module tree, each tensor counted once however often it is shared."""

    total: int = 0
    trainable: int = 0
    frozen: int = 0
    buffers: int = 0
    bytes_by_dtype: dict[str, int] = field(default_factory=dict)
    buffer_bytes: int = 0
    unused: int = 0  # held by modules that did not run in this forward
    unused_modules: list[str] = field(default_factory=list)
    shared_tensors: int = 0  # parameters reachable under more than one name

    @property
    def bytes(self) -> int:
        return sum(self.bytes_by_dtype.values())

    def to_dict(self) -> dict:
        return {**asdict(self), "bytes": self.bytes}


@dataclass
class MemoryStats:
    """Activation memory of one forward pass, in bytes (all samples of the batch).

    ``lecture_bytes``: the lectures' convention, the sum of the outputs of every convolution, fully
    connected (and other matrix product) and pooling operator. ``all_outputs_bytes``: every new
    tensor the forward creates. ``peak_bytes``: the most bytes alive at once when every tensor is
    freed right after its last use (input included), i.e. what a scheduler such as MCUNet's
    minimises. ``training``: parameter, gradient and optimizer-state bytes.
    """

    lecture_bytes: int = 0
    all_outputs_bytes: int = 0
    peak_bytes: int = 0
    peak_at: str = ""
    input_bytes: int = 0
    params_bytes: int = 0
    grads_bytes: int = 0
    sgd_momentum_bytes: int = 0
    adam_bytes: int = 0
    saved_for_backward_bytes: int | None = None  # activations autograd keeps (summary(..., backward=True))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class UncountedOp:
    op: str
    calls: int
    output_elements: int
    modules: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Summary:
    """Everything ``cnnlab.summary`` found about one network at one input size."""

    model: str
    input_size: tuple[int, ...]
    batch: int
    dtype: str
    mode: str  # eval | train
    device: str  # meta (shape only) or the device it fell back to
    layers: list[LayerRecord]
    totals: Counts
    params: ParamStats
    memory: MemoryStats
    output_shape: tuple[int, ...] | None
    rf: ReceptiveField | None
    uncounted: list[UncountedOp] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    backward: Counts | None = None  # the backward pass (gradients of all trainable parameters), if counted
    preset: str = "full"
    depth: int | None = None
    convention: str = CONVENTION
    card: dict | None = None

    @property
    def macs(self) -> int:
        return self.totals.macs

    @property
    def flops(self) -> int:
        return self.totals.flops

    @property
    def total_params(self) -> int:
        return self.params.total

    # torchinfo's ModelStatistics names for the same figures
    @property
    def trainable_params(self) -> int:
        return self.params.trainable

    @property
    def total_mult_adds(self) -> int:
        return self.totals.macs

    def layer(self, name: str) -> LayerRecord:
        for row in self.layers:
            if row.name == name:
                return row
        from ..errors import UnknownNameError

        raise UnknownNameError("layer", name, [r.name for r in self.layers])

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "input_size": list(self.input_size),
            "batch": self.batch,
            "dtype": self.dtype,
            "mode": self.mode,
            "device": self.device,
            "preset": self.preset,
            "depth": self.depth,
            "convention": self.convention,
            "totals": self.totals.to_dict(),
            "backward": self.backward.to_dict() if self.backward else None,
            "params": self.params.to_dict(),
            "memory": self.memory.to_dict(),
            "output_shape": list(self.output_shape) if self.output_shape else None,
            "rf": self.rf.to_dict() if self.rf else None,
            "uncounted": [u.to_dict() for u in self.uncounted],
            "warnings": self.warnings,
            "notes": self.notes,
            "card": self.card,
            "layers": [r.to_dict() for r in self.layers],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        from .render import render_table

        return render_table(self)

    def __repr__(self) -> str:
        from ..notebook import short
        from .render import human

        return short(
            f"<Summary {self.model}: input {self.batch}x{'x'.join(map(str, self.input_size))}, "
            f"{self.params.total:,} params, {human(self.macs)}MACs, {len(self.layers)} layers; "
            f"print() for the table>"
        )

    def _repr_html_(self) -> str:
        from .render import render_html

        return render_html(self)

    def to_pandas(self):
        """One row per layer (the CSV columns: shapes, kernel, params, MACs and every counter, memory, RF)."""
        from ..notebook import frame
        from .render import CSV_FIELDS, csv_rows

        return frame(CSV_FIELDS, csv_rows(self))
