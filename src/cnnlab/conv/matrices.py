"""Matrices from the command line or from files, with errors that point at the bad entry.

Grammar (the way the slides write matrices)::

    "0 1 2; 3 4 5; 6 7 8"                 rows split by ';' (or new lines), entries by spaces or commas
    "1/9 1/9 1/9; ..."                    fractions are allowed
    "0 1 2; 3 4 5 | 1 2 3; 4 5 6"         '|' separates channels            -> C x H x W
    "0 1; 2 3 | 1 2; 3 4 || 1 0; 0 1 | 0 0; 0 1"
                                          '||' separates output kernels     -> C_out x C_in x K_h x K_w
    "[[0, 1], [2, 3]]"                    a JSON nested list
    path/to/file.npy | .txt | .csv        a NumPy file, or text in the same grammar where a blank
                                          line also separates channels

Every row of a channel must have the same length and every channel the same shape; a ragged row
or an entry that is not a number is reported with its channel, row and column (counted from 1).
"""

from __future__ import annotations

import json
import re
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import CnnlabError

SYNTAX_HINT = (
    "write rows separated by ';' and entries by spaces, e.g. \"0 1 2; 3 4 5; 6 7 8\" "
    "('|' between channels, '||' between output kernels)"
)


def _number(token: str, where: str) -> float:
    try:
        return float(Fraction(token)) if "/" in token else float(token)
    except (ValueError, ZeroDivisionError):
        raise CnnlabError(f"{where}: {token!r} is not a number", SYNTAX_HINT) from None


def _parse_channel(text: str, label: str, prefix: str) -> np.ndarray:
    rows = [r.strip() for r in re.split(r"[ \t]*;[ \t]*\r?\n|;|\r?\n", text)]
    while rows and not rows[-1]:
        rows.pop()
    while rows and not rows[0]:
        rows.pop(0)
    if not rows:
        raise CnnlabError(f"{label}: {prefix or 'the matrix'} is empty", SYNTAX_HINT)
    values: list[list[float]] = []
    for r, row in enumerate(rows, 1):
        tokens = row.replace(",", " ").split()
        if not tokens:
            raise CnnlabError(f"{label}: {prefix}row {r} is empty (two ';' in a row?)", SYNTAX_HINT)
        values.append([_number(t, f"{label}: {prefix}row {r}, column {c}") for c, t in enumerate(tokens, 1)])
        if len(values[-1]) != len(values[0]):
            raise CnnlabError(
                f"{label}: {prefix}row {r} has {len(values[-1])} entries but row 1 has "
                f"{len(values[0])} (ragged matrix: row {r}, column "
                f"{min(len(values[-1]), len(values[0])) + 1})",
                "every row needs the same number of entries",
            )
    return np.asarray(values, dtype=np.float64)


def _stack(parts: list[np.ndarray], label: str, what: str) -> np.ndarray:
    for i, p in enumerate(parts[1:], 2):
        if p.shape != parts[0].shape:
            raise CnnlabError(
                f"{label}: {what} {i} has shape {'x'.join(map(str, p.shape))} but {what} 1 has "
                f"{'x'.join(map(str, parts[0].shape))}",
                f"every {what} must have the same shape",
            )
    return np.stack(parts)


def parse_matrix(text: str, label: str = "matrix") -> np.ndarray:
    """Text in the grammar above -> an array of 2, 3 or 4 dimensions (float64)."""
    text = text.strip()
    if text.startswith("["):
        return _from_json(text, label)
    kernels = text.split("||")
    out = []
    for o, kernel in enumerate(kernels, 1):
        channels = kernel.split("|")
        parts = []
        for c, chan in enumerate(channels, 1):
            prefix = ""
            if len(kernels) > 1:
                prefix += f"kernel {o}, "
            if len(channels) > 1:
                prefix += f"channel {c}, "
            parts.append(_parse_channel(chan, label, prefix))
        # with '||' every kernel is C x H x W (even C = 1), so the result is always 4-D
        out.append(parts[0] if len(parts) == 1 and len(kernels) == 1 else _stack(parts, label, "channel"))
    return out[0] if len(out) == 1 else _stack(out, label, "kernel")


def _from_json(text: str, label: str) -> np.ndarray:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise CnnlabError(f"{label}: not a valid nested list ({e.msg} at character {e.pos + 1})", SYNTAX_HINT) from None

    def check(node, path):
        if isinstance(node, list):
            if not node:
                raise CnnlabError(f"{label}: empty list at {path or 'the top'}", SYNTAX_HINT)
            kinds = {isinstance(x, list) for x in node}
            if len(kinds) > 1:
                raise CnnlabError(f"{label}: {path or 'the top level'} mixes numbers and lists", SYNTAX_HINT)
            if kinds == {True}:
                lengths = [len(x) for x in node]
                for i, n in enumerate(lengths, 1):
                    if n != lengths[0]:
                        raise CnnlabError(
                            f"{label}: ragged matrix: row {i} has {n} entries but row 1 has "
                            f"{lengths[0]} (row {i}, column {min(n, lengths[0]) + 1})"
                            + (f" in {path}" if path else ""),
                            "every row needs the same number of entries",
                        )
                for i, x in enumerate(node, 1):
                    check(x, f"{path}[{i}]")
            else:
                for i, x in enumerate(node, 1):
                    if isinstance(x, bool) or not isinstance(x, int | float):
                        raise CnnlabError(f"{label}: row {path or 1}, column {i}: {x!r} is not a number", SYNTAX_HINT)
        else:
            raise CnnlabError(f"{label}: expected a list, got {node!r}", SYNTAX_HINT)

    check(data, "")
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    return arr


def load_matrix(spec: str | Path | np.ndarray, label: str = "matrix") -> np.ndarray:
    """A matrix from text (see module doc), a ``.npy``/text file path, or an array (returned as float64);
    NaN and infinite entries are refused."""
    arr = _load_matrix(spec, label)
    if not np.isfinite(arr).all():
        raise CnnlabError(f"{label}: holds NaN or infinite values", "give finite numbers, e.g. " + SYNTAX_HINT)
    return arr


def _load_matrix(spec: str | Path | np.ndarray, label: str = "matrix") -> np.ndarray:
    if isinstance(spec, np.ndarray):
        return spec.astype(np.float64)
    if isinstance(spec, list | tuple):
        return _from_json(json.dumps(spec), label)
    text = str(spec)
    path = Path(text)
    looks_like_file = path.suffix.lower() in (".npy", ".txt", ".csv", ".tsv", ".dat") or (
        not any(ch in text for ch in ";|[ \n") and not _is_number(text)
    )
    if looks_like_file:
        if not path.is_file():
            raise CnnlabError(
                f"{label}: file not found: {path}",
                "pass a .npy or text file, or the matrix itself in quotes: " + SYNTAX_HINT,
            )
        if path.suffix.lower() == ".npy":
            try:
                arr = np.load(path, allow_pickle=False)
            except (ValueError, OSError) as e:
                raise CnnlabError(f"{path}: not a readable .npy file ({e})", "save it with numpy.save") from e
            if not np.issubdtype(arr.dtype, np.number) or arr.ndim < 1 or arr.ndim > 4:
                raise CnnlabError(
                    f"{path}: expected a numeric array of 1 to 4 dimensions, got {arr.dtype} with shape {arr.shape}"
                )
            return np.atleast_2d(arr).astype(np.float64)
        try:
            content = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise CnnlabError(f"{path}: not a readable text file ({e})") from e
        # a blank line between blocks separates channels
        blocks = [b for b in _split_blank(content) if b.strip()]
        return parse_matrix(" | ".join(blocks) if "|" not in content else content, label=str(path))
    return parse_matrix(text, label)


def _split_blank(content: str) -> list[str]:
    blocks, cur = [], []
    for line in content.splitlines():
        if line.strip().startswith("#"):
            continue
        if line.strip():
            cur.append(line)
        elif cur:
            blocks.append("\n".join(cur))
            cur = []
    if cur:
        blocks.append("\n".join(cur))
    return blocks


def _is_number(text: str) -> bool:
    try:
        _number(text, "")
        return True
    except CnnlabError:
        return False


def format_matrix(a: np.ndarray, width: int | None = None) -> list[str]:
    """Rows of a 2-D array as aligned text lines (integers without a decimal point)."""
    cells = [[format_number(v) for v in row] for row in np.atleast_2d(a)]
    width = width or max(len(c) for row in cells for c in row)
    return [" ".join(c.rjust(width) for c in row) for row in cells]


def format_number(v: float) -> str:
    """``3.0`` -> ``3``, ``0.5`` -> ``0.5``, ``1/3`` -> ``0.3333``."""
    v = float(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.4g}"
