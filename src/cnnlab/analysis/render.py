"""Renderers of a ``Summary``: a text table (the lecture's layout), Markdown, CSV and JSON."""

from __future__ import annotations

import csv
import io

from .records import COUNTERS, LayerRecord, Summary

FORMATS = ("table", "md", "csv", "json")


def human(n: float, unit: str = "") -> str:
    """1234567 -> '1.23 M' (decimal prefixes, as parameter and MAC counts are quoted)."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.3g} {prefix}{unit}" if n / factor < 100 else f"{n / factor:,.1f} {prefix}{unit}"
    return f"{n:g} {unit}".strip()


def kb(nbytes: int) -> str:
    return f"{nbytes / 1024:,.1f} KB"


def mb(nbytes: int) -> str:
    return f"{nbytes / 1024**2:,.2f} MB"


def _dims(shape) -> str:
    if shape is None:
        return "-"
    return "x".join(str(v) for v in shape) if shape else "scalar"


def _axes(v) -> str:
    if v is None:
        return "-"
    v = tuple(v)
    return str(v[0]) if len(set(v)) == 1 else "x".join(str(x) for x in v)


def _columns(preset: str):
    """(title, align, getter) for each column of the table."""

    def mem(r: LayerRecord) -> str:
        return f"{r.output_kb:,.1f}" + ("" if r.lecture_bytes or not r.output_bytes else "*")

    def params(r: LayerRecord) -> str:
        return f"{r.params:,}" + (" (shared)" if r.shared and not r.params else "")

    if preset == "lecture":
        return [
            ("layer", "<", lambda r: r.name),
            ("C", ">", lambda r: _c(r.input_shape)),
            ("H/W", ">", lambda r: _hw(r.input_shape)),
            ("filters", ">", lambda r: _v(r.filters)),
            ("K", ">", lambda r: _axes(r.kernel)),
            ("S", ">", lambda r: _axes(r.stride)),
            ("P", ">", lambda r: _axes(r.padding)),
            ("C'", ">", lambda r: _c(r.output_shape)),
            ("H'/W'", ">", lambda r: _hw(r.output_shape) + (" ceil" if r.ceil_mode else "")),
            ("mem KB", ">", mem),
            ("params", ">", params),
            ("params k", ">", lambda r: f"{r.params / 1e3:,.0f}"),
            ("MACs", ">", lambda r: f"{r.macs:,}"),
            ("MACs M", ">", lambda r: f"{r.macs / 1e6:,.1f}"),
            ("RF (jump)", ">", lambda r: r.rf.text() if r.rf else "?"),
        ]
    return [
        ("layer", "<", lambda r: r.name),
        ("type", "<", lambda r: r.type),
        ("input", ">", lambda r: _dims(r.input_shape)),
        ("output", ">", lambda r: _dims(r.output_shape)),
        ("filters", ">", lambda r: _v(r.filters)),
        ("K", ">", lambda r: _axes(r.kernel)),
        ("S", ">", lambda r: _axes(r.stride)),
        ("P", ">", lambda r: _axes(r.padding)),
        ("D", ">", lambda r: _axes(r.dilation)),
        ("G", ">", lambda r: _v(r.groups)),
        ("params", ">", params),
        ("params k", ">", lambda r: f"{r.params / 1e3:,.1f}"),
        ("MACs", ">", lambda r: f"{r.macs:,}"),
        ("MACs M", ">", lambda r: f"{r.macs / 1e6:,.2f}"),
        ("other ops", ">", lambda r: f"{r.counts.other_ops:,}"),
        ("mem KB", ">", mem),
        ("RF (jump)", ">", lambda r: r.rf.text() if r.rf else "?"),
    ]


def _v(v) -> str:
    return "-" if v is None else str(v)


def _c(shape) -> str:
    return str(shape[0]) if shape else "-"


def _hw(shape) -> str:
    if not shape or len(shape) < 2:
        return "-"
    return _axes(shape[1:])


def header(s: Summary) -> list[str]:
    where = "meta device (shape only: nothing computed)" if s.device == "meta" else f"{s.device} (a real forward pass)"
    return [
        f"cnnlab summary: {s.model}, input {s.batch} x {_dims(s.input_size)} {s.dtype}, {s.mode} mode, "
        f"counted on the {where}",
        f"convention: {s.convention}",
    ]


def totals(s: Summary) -> list[str]:
    t, p, m = s.totals, s.params, s.memory
    dtypes = ", ".join(f"{mb(b)} {d}" for d, b in p.bytes_by_dtype.items()) or "0 B"
    lines = [
        f"parameters    {p.total:,} ({human(p.total)}): trainable {p.trainable:,}, frozen {p.frozen:,}; "
        f"buffers {p.buffers:,} ({mb(p.buffer_bytes)}); {dtypes}",
    ]
    if p.unused:
        lines.append(
            f"              defined but not run in this forward: {p.unused:,} "
            f"({', '.join(p.unused_modules) or 'unreached tensors'})"
        )
    if p.shared_tensors:
        lines.append(f"              {p.shared_tensors} tensor(s) shared under several names, counted once")
    lines += [
        f"MACs          {t.macs:,} ({human(t.macs)}) = conv {t.conv_macs:,} + linear {t.linear_macs:,} "
        f"+ matmul {t.matmul_macs:,}   (batch {s.batch})",
        f"other ops     bias {t.bias:,}, norm {t.norm:,} elements (x2), activation {t.act:,}, "
        f"pooling {t.pool:,}, element-wise {t.eltwise:,}",
        f"FLOPs         2 x MACs + other ops = {t.flops:,} ({human(t.flops)})",
        f"memory        lecture sum of conv/fc/pool outputs {kb(m.lecture_bytes)} ({mb(m.lecture_bytes)}); "
        f"all new tensors {mb(m.all_outputs_bytes)}; peak live {mb(m.peak_bytes)} at {m.peak_at}",
        f"training      parameters {mb(m.params_bytes)} + gradients {mb(m.grads_bytes)} + SGD momentum "
        f"{mb(m.sgd_momentum_bytes)} (Adam/AdamW state: {mb(m.adam_bytes)})",
        f"output        {_dims(s.output_shape)}, receptive field {s.rf.text() if s.rf else '?'}",
    ]
    if s.backward is not None:
        b = s.backward
        ratio = f" ({b.macs / t.macs:.2f} x forward)" if t.macs else ""
        lines += [
            f"backward      MACs {b.macs:,} ({human(b.macs)}){ratio}; bias {b.bias:,}, norm {b.norm:,} (x2), "
            f"activation {b.act:,}, pooling {b.pool:,}, element-wise {b.eltwise:,}; FLOPs {human(b.flops)}",
            f"train step    forward + backward = {t.macs + b.macs:,} MACs ({human(t.macs + b.macs)}), "
            f"{human(t.flops + b.flops)} FLOPs; activations saved for backward "
            f"{mb(m.saved_for_backward_bytes or 0)}",
        ]
    if s.preset == "torchvision":
        lines.append(
            f"torchvision   GFLOPS (its model table; = GMACs) {t.macs / s.batch / 1e9:.3f}, "
            f"Params (M) {p.total / 1e6:.1f}"
        )
    if s.card:
        c = s.card
        reported = [
            f"params {c['params']:,}" if c.get("params") else None,
            f"MACs {c['macs']:,}" if c.get("macs") else None,
            f"top-1 {c['top1']}%" if c.get("top1") else None,
        ]
        reported = [r for r in reported if r]
        if reported:
            lines.append(f"card          reported {', '.join(reported)} ({c.get('source') or c.get('paper') or ''})")
    lines.append(
        "uncounted     "
        + (
            "none"
            if not s.uncounted
            else "; ".join(
                f"{u.op}: {u.calls} call(s), {u.output_elements:,} output elements in {', '.join(m or '(model)' for m in u.modules[:4])}"
                for u in s.uncounted
            )
        )
    )
    for w in s.warnings:
        lines.append(f"warning       {w}")
    for n in s.notes:
        lines.append(f"note          {n}")
    return lines


def render_table(s: Summary) -> str:
    cols = _columns(s.preset)
    cells = [[get(r) for _, _, get in cols] for r in s.layers]
    titles = [t for t, _, _ in cols]
    widths = [max([len(t)] + [len(row[i]) for row in cells]) for i, t in enumerate(titles)]

    def fmt(row):
        return "  ".join(f"{c:{a}{w}}" for c, (_, a, _), w in zip(row, cols, widths)).rstrip()

    rule = "-" * len(fmt(titles))
    lines = header(s) + [rule, fmt(titles), rule] + [fmt(r) for r in cells] + [rule]
    if any(not r.lecture_bytes and r.output_bytes for r in s.layers):
        lines.append(
            "* not in the lectures' memory sum (only new conv, fc and pool outputs are; not views, "
            "in-place results, norms or activations)"
        )
    return "\n".join(lines + totals(s))


def render_markdown(s: Summary) -> str:
    cols = _columns(s.preset)
    out = [f"**{line}**" if i == 0 else line for i, line in enumerate(header(s))]
    out += [
        "",
        "| " + " | ".join(t for t, _, _ in cols) + " |",
        "| " + " | ".join("---" if a == "<" else "---:" for _, a, _ in cols) + " |",
    ]
    out += ["| " + " | ".join(get(r) for _, _, get in cols) + " |" for r in s.layers]
    out += ["", "```", *totals(s), "```"]
    return "\n".join(out)


CSV_FIELDS = (
    "index",
    "name",
    "type",
    "depth",
    "kind",
    "layer_kind",
    "input_shape",
    "output_shape",
    "filters",
    "kernel",
    "stride",
    "padding",
    "dilation",
    "groups",
    "ceil_mode",
    "params",
    "shared",
    "macs",
    *COUNTERS,
    "flops",
    "output_bytes",
    "output_kb",
    "output_is_new",
    "rf_size",
    "rf_jump",
    "warnings",
)


def csv_rows(s: Summary) -> list[list]:
    """One list per layer, in ``CSV_FIELDS`` order (shapes as ``CxHxW`` text): the CSV and the DataFrame."""
    rows = []
    for r in s.layers:
        d = r.to_dict()
        row = []
        for f in CSV_FIELDS:
            if f in COUNTERS or f == "flops":
                v = d["counts"][f]
            elif f == "rf_size":
                v = r.rf.text().split(" ")[0] if r.rf else "?"
            elif f == "rf_jump":
                v = "" if (r.rf is None or r.rf.is_global) else _axes(r.rf.jump)
            elif f == "warnings":
                v = " | ".join(r.warnings)
            else:
                v = d[f]
            if isinstance(v, list):
                v = "x".join(map(str, v))
            row.append(v)
        rows.append(row)
    return rows


def render_csv(s: Summary) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_FIELDS)
    for row in csv_rows(s):
        w.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


def render_html(s: Summary) -> str:
    """The notebook view: the header, the per-layer table (the preset's columns) and the totals."""
    import html

    from ..notebook import html_table

    cols = _columns(s.preset)
    rows = [[get(r) for _, _, get in cols] for r in s.layers]
    head = header(s)
    table = html_table([t for t, _, _ in cols], rows, caption=head[0], notes=[head[1]])
    return table + "\n<pre>" + html.escape("\n".join(totals(s))) + "</pre>"


def render(s: Summary, fmt: str = "table") -> str:
    if fmt == "table":
        return render_table(s)
    if fmt == "md":
        return render_markdown(s)
    if fmt == "csv":
        return render_csv(s)
    if fmt == "json":
        return s.to_json()
    from ..errors import CnnlabError

    raise CnnlabError(f"unknown format {fmt!r}", f"choose one of {', '.join(FORMATS)}")
