"""What notebooks show: short reprs, HTML tables and pandas frames for cnnlab's result objects.

Jupyter calls ``obj._repr_html_()`` when a cell ends with an object and ``repr(obj)`` elsewhere;
cnnlab's result objects (``Summary``, ``Comparison``, ``DataSplits``, ``TrainResult``,
``LoadedRun``) keep both short and build their tables with the helpers here:

- :func:`short` bounds any text to one line of at most ``limit`` characters;
- :func:`html_table` renders rows as an HTML ``<table>``, every cell escaped, at most ``max_rows``
  rows (the first and last halves, with a row saying how many were left out);
- :func:`frame` turns rows into a ``pandas.DataFrame`` (pandas is optional: a
  :class:`CnnlabError` says how to install it).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from .errors import CnnlabError

REPR_LIMIT = 200  # characters of a one-line repr
MAX_ROWS = 60  # rows of an HTML table before the middle is left out


def short(text: str, limit: int = REPR_LIMIT) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, (tuple, list)):
        return "x".join(map(str, value))
    return str(value)


def html_table(
    columns: Sequence[str],
    rows: Iterable[Sequence],
    caption: str | None = None,
    notes: Sequence[str] = (),
    max_rows: int = MAX_ROWS,
) -> str:
    """An HTML table of ``rows`` under ``columns``; numbers right-aligned, every string escaped."""
    rows = [list(r) for r in rows]
    shown: list[list | None] = list(rows)
    if len(rows) > max_rows:
        head = max_rows // 2
        shown = rows[:head] + [None] + rows[len(rows) - (max_rows - head) :]
    out = ['<div class="cnnlab"><table>']
    if caption:
        out.append(f"<caption style=\"text-align:left\">{html.escape(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in columns) + "</tr></thead><tbody>")
    for row in shown:
        if row is None:
            out.append(
                f"<tr><td colspan=\"{len(columns)}\" style=\"text-align:center\">... "
                f"{len(rows) - max_rows:,} more rows (to_pandas() has them all) ...</td></tr>"
            )
            continue
        cells = []
        for v in row:
            numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
            align = ' style="text-align:right"' if numeric else ""
            cells.append(f"<td{align}>{html.escape(_cell(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    out.extend(f"<p>{html.escape(n)}</p>" for n in notes)
    out.append("</div>")
    return "\n".join(out)


def key_value_table(items: Iterable[tuple[str, object]], caption: str | None = None) -> str:
    """A two-column HTML table (field, value) for objects that are records rather than tables."""
    return html_table(["field", "value"], [(k, short(_cell(v), 400)) for k, v in items], caption)


def frame(columns: Sequence[str], rows: Iterable[Sequence]):
    """A ``pandas.DataFrame`` of ``rows``; a :class:`CnnlabError` when pandas is not installed."""
    try:
        import pandas as pd
    except ImportError as e:
        raise CnnlabError(
            "to_pandas() needs pandas, which is not installed", "pip install 'cnnlab[notebook]' (or pip install pandas)"
        ) from e
    return pd.DataFrame([list(r) for r in rows], columns=list(columns))


# -- training metrics (TrainResult, metrics.jsonl) ---------------------------------------------
def _metric_columns(metrics: Sequence[dict]) -> list[str]:
    cols: list[str] = []
    for m in metrics:
        cols += [k for k in m if k not in cols]
    return cols or ["epoch"]


def metrics_table(metrics: Sequence[dict], caption: str | None = None) -> str:
    """The per-epoch records of a run as an HTML table (val_* columns are the held-out split)."""
    cols = _metric_columns(metrics)
    return html_table(
        cols, [[m.get(c) for c in cols] for m in metrics], caption, notes=["val_* columns: the held-out split"]
    )


def metrics_frame(metrics: Sequence[dict]):
    """The per-epoch records (``TrainResult.metrics`` or the lines of ``metrics.jsonl``) as a DataFrame."""
    cols = _metric_columns(metrics)
    return frame(cols, [[m.get(c) for c in cols] for m in metrics])
