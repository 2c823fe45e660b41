"""Networks side by side: totals with ratio columns, stage subtotals, and a bubble chart.

    >>> c = cnnlab.compare(["googlenet", "vgg16"], stages=True)
    >>> print(c)              # totals, then the stages: cumulative cost until each resolution
    >>> c.plot("chart.png")   # multiply-adds vs parameters, bubbles sized by the cards' top-1

A stage is every layer whose input has the same spatial resolution; its cumulative total is the
cost of reaching the next resolution, the comparison lecture 004 makes by hand between the
GoogLeNet stem (224 -> 28: 7.5 MB, 124 k parameters, 477.7 M multiply-adds) and the first three
VGG-16 stages (51.3 MB, 1.74 M, 9,335 M; the lecture prints 42.9 MB / 1.1 M / 7,485 M, leaving out
conv3_3 and the pools).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import CnnlabError
from .records import Summary
from .render import human
from .summary import summary


@dataclass
class Stage:
    resolution: tuple[int, ...]  # input H x W of the stage's layers (() for the head)
    output: tuple[int, ...]
    layers: list[str]
    memory_bytes: int  # lecture convention: outputs of conv, fc and pool layers
    params: int
    macs: int
    cum_memory_bytes: int = 0
    cum_params: int = 0
    cum_macs: int = 0

    @property
    def label(self) -> str:
        if not self.resolution:
            return "head"
        return f"{'x'.join(map(str, self.resolution))} -> {'x'.join(map(str, self.output)) or 'flat'}"

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "resolution": list(self.resolution),
            "output": list(self.output),
            "layers": self.layers,
            "memory_bytes": self.memory_bytes,
            "params": self.params,
            "macs": self.macs,
            "cum_memory_bytes": self.cum_memory_bytes,
            "cum_params": self.cum_params,
            "cum_macs": self.cum_macs,
        }


def stages_of(s: Summary) -> list[Stage]:
    """Group the layers by the spatial resolution of their input, in order, with running totals."""
    out: list[Stage] = []
    for r in s.layers:
        res = tuple(r.input_shape[1:]) if r.input_shape and len(r.input_shape) >= 3 else ()
        res_out = tuple(r.output_shape[1:]) if r.output_shape and len(r.output_shape) >= 3 else ()
        if not out or out[-1].resolution != res:
            out.append(Stage(res, res_out, [], 0, 0, 0))
        st = out[-1]
        st.layers.append(r.name)
        st.output = res_out
        st.params += r.params
        st.macs += r.macs
        st.memory_bytes += r.lecture_bytes
    mem = params = macs = 0
    for st in out:
        mem, params, macs = mem + st.memory_bytes, params + st.params, macs + st.macs
        st.cum_memory_bytes, st.cum_params, st.cum_macs = mem, params, macs
    return out


@dataclass
class Comparison:
    summaries: list[Summary]
    stages: dict[str, list[Stage]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [s.model for s in self.summaries]

    def to_dict(self) -> dict:
        return {
            "models": [_model_dict(s) for s in self.summaries],
            "stages": {k: [st.to_dict() for st in v] for k, v in self.stages.items()},
        }

    def __str__(self) -> str:
        return render_comparison(self)

    def plot(self, path) -> str:
        """The Canziani chart: top-1 against multiply-adds, bubble area ~ parameters (analysis/plots.py)."""
        from .plots import plot_canziani

        return plot_canziani(self.summaries, path)

    def __repr__(self) -> str:
        from ..notebook import short

        return short(f"<Comparison of {len(self.summaries)} model(s): {', '.join(self.names)}; print() for the table>")

    TABLE_COLUMNS = (
        "model",
        "input",
        "params",
        "macs",
        "flops",
        "memory_lecture_kb",
        "peak_live_kb",
        "rf",
        "top1",
        "params_x",
        "macs_x",
    )

    def _rows(self) -> list[list]:
        base = self.summaries[0]
        return [
            [
                s.model,
                f"{s.batch}x" + "x".join(map(str, s.input_size)),
                s.params.total,
                s.macs,
                s.flops,
                s.memory.lecture_bytes / 1024,
                s.memory.peak_bytes / 1024,
                s.rf.text() if s.rf else None,
                _top1(s),
                s.params.total / base.params.total if base.params.total else None,
                s.macs / base.macs if base.macs else None,
            ]
            for s in self.summaries
        ]

    def _repr_html_(self) -> str:
        from ..notebook import html_table

        base = self.summaries[0]
        html = [
            html_table(
                self.TABLE_COLUMNS,
                self._rows(),
                caption=f"cnnlab compare: ratios (x) against {base.model}",
                notes=[base.convention],
            )
        ]
        for name, sts in self.stages.items():
            html.append(
                html_table(
                    ["stage", "layers", "mem KB", "params", "MACs", "cum. mem KB", "cum. params", "cum. MACs"],
                    [
                        [
                            st.label,
                            len(st.layers),
                            st.memory_bytes / 1024,
                            st.params,
                            st.macs,
                            st.cum_memory_bytes / 1024,
                            st.cum_params,
                            st.cum_macs,
                        ]
                        for st in sts
                    ],
                    caption=f"{name}: stages (layers grouped by input resolution)",
                )
            )
        return "\n".join(html)

    def to_pandas(self):
        """One row per model: totals and the ratios against the first model."""
        from ..notebook import frame

        return frame(self.TABLE_COLUMNS, self._rows())


def _top1(s: Summary):
    return s.card.get("top1") if s.card else None


def _model_dict(s: Summary) -> dict:
    return {
        "model": s.model,
        "input_size": list(s.input_size),
        "batch": s.batch,
        "params": s.params.total,
        "macs": s.macs,
        "flops": s.flops,
        "memory_lecture_bytes": s.memory.lecture_bytes,
        "peak_bytes": s.memory.peak_bytes,
        "rf": s.rf.text() if s.rf else None,
        "top1": _top1(s),
    }


def compare(
    models,
    input_size=None,
    batch: int = 1,
    stages: bool = False,
    mode: str = "eval",
    progress: bool = False,
    input_sizes=None,
) -> Comparison:
    """Summaries of several networks (names or modules) at one input size, for side-by-side reading.

    ``input_sizes``: one size per model instead (one model and several sizes compares the model
    with itself, e.g. AlexNet at 224 and at 227).
    """
    models = list(models)
    if len(models) < 1:
        raise CnnlabError("compare needs at least one model", "e.g. cnnlab compare resnet18 resnet50")
    sizes = [input_size] * len(models)
    if input_sizes is not None and len(input_sizes) > 0:
        input_sizes = list(input_sizes)
        if len(models) == 1:
            models = models * len(input_sizes)
        if len(input_sizes) != len(models):
            raise CnnlabError(
                f"{len(models)} models but {len(input_sizes)} input sizes",
                "give one input size, one per model, or one model and several sizes",
            )
        sizes = input_sizes
    it = list(zip(models, sizes))
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="counting", unit="model", leave=False)
    sums = [summary(m, input_size=size, batch=batch, mode=mode) for m, size in it]
    names = [s.model for s in sums]
    if input_sizes is not None and len(set(names)) < len(names):  # the same model at several sizes
        for s in sums:
            s.model = f"{s.model}@{'x'.join(map(str, s.input_size[1:]))}"
        names = [s.model for s in sums]
    for i, n in enumerate(names):  # the same class twice: tell them apart
        if names.count(n) > 1:
            sums[i].model = f"{n}#{names[: i + 1].count(n)}"
    c = Comparison(sums)
    if stages:
        c.stages = {s.model: stages_of(s) for s in sums}
    return c


def _ratio(v: float, base: float) -> str:
    return f"{v / base:.2f}x" if base else "-"


def _table(titles, aligns, rows) -> list[str]:
    widths = [max([len(t)] + [len(r[i]) for r in rows]) for i, t in enumerate(titles)]

    def fmt(row):
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(row, aligns, widths)).rstrip()

    rule = "-" * len(fmt(titles))
    return [rule, fmt(titles), rule, *[fmt(r) for r in rows], rule]


def render_comparison(c: Comparison) -> str:
    base = c.summaries[0]
    titles = [
        "model",
        "input",
        "params",
        "x",
        "MACs",
        "x",
        "FLOPs",
        "memory (lecture)",
        "x",
        "peak live",
        "x",
        "RF",
        "top-1",
    ]
    aligns = ["<", ">", ">", ">", ">", ">", ">", ">", ">", ">", ">", ">", ">"]
    rows = []
    for s in c.summaries:
        t1 = _top1(s)
        rows.append(
            [
                s.model,
                f"{s.batch}x" + "x".join(map(str, s.input_size)),
                f"{s.params.total:,}",
                _ratio(s.params.total, base.params.total),
                f"{s.macs:,}",
                _ratio(s.macs, base.macs),
                human(s.flops),
                f"{s.memory.lecture_bytes / 1024:,.1f} KB",
                _ratio(s.memory.lecture_bytes, base.memory.lecture_bytes),
                f"{s.memory.peak_bytes / 1024:,.1f} KB",
                _ratio(s.memory.peak_bytes, base.memory.peak_bytes),
                s.rf.text() if s.rf else "?",
                f"{t1:.1f}%" if t1 else "-",
            ]
        )
    lines = [f"cnnlab compare: ratios (x) against {base.model}", f"convention: {base.convention}"]
    lines += _table(titles, aligns, rows)
    if c.stages:
        lines += [
            "",
            "stages: layers grouped by the resolution of their input; cum. = everything up to the end "
            "of the stage (memory: conv/fc/pool outputs, KB)",
        ]
        for name, sts in c.stages.items():
            lines.append(f"{name}:")
            srows = [
                [
                    st.label,
                    str(len(st.layers)),
                    f"{st.memory_bytes / 1024:,.1f}",
                    f"{st.params:,}",
                    f"{st.macs / 1e6:,.1f}",
                    f"{st.cum_memory_bytes / 1024:,.1f}",
                    f"{st.cum_params:,}",
                    f"{st.cum_macs / 1e6:,.1f}",
                ]
                for st in sts
            ]
            lines += _table(
                ["stage", "layers", "mem KB", "params", "MACs M", "cum. mem KB", "cum. params", "cum. MACs M"],
                ["<", ">", ">", ">", ">", ">", ">", ">"],
                srows,
            )
        lines += _side_by_side(c)
    return "\n".join(lines)


def _side_by_side(c: Comparison) -> list[str]:
    """Cumulative cost until each spatial resolution is left, for every model, with ratios to the first."""
    keys: list[tuple] = []
    for sts in c.stages.values():
        for st in sts:
            if st.resolution and st.resolution not in keys:
                keys.append(st.resolution)
    keys.sort(key=lambda r: -r[0] * r[-1])
    names = list(c.stages)
    base = names[0]
    titles = ["until leaving"]
    for n in names:
        titles += [f"{n} mem KB", "params", "MACs M"]
        if n != base:
            titles += ["x mem", "x params", "x MACs"]
    rows = []
    for res in keys:
        row = ["x".join(map(str, res))]
        cum = {}
        for n in names:  # "-" where the network has no stage at this resolution (a stem that stops early)
            hit = [st for st in c.stages[n] if st.resolution == res]
            cum[n] = (hit[-1].cum_memory_bytes, hit[-1].cum_params, hit[-1].cum_macs) if hit else None
        for n in names:
            v = cum[n]
            row += [f"{v[0] / 1024:,.1f}", f"{v[1]:,}", f"{v[2] / 1e6:,.1f}"] if v else ["-", "-", "-"]
            if n != base:
                b = cum[base]
                row += [_ratio(v[i], b[i]) if v and b else "-" for i in range(3)]
        rows.append(row)
    return ["", "side by side: cumulative cost until each resolution is left"] + _table(
        titles, ["<"] + [">"] * (len(titles) - 1), rows
    )
