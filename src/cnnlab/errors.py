"""User-facing errors: what was wrong and how to fix it.

Anything a user can cause (a bad name, a missing file, a malformed matrix) raises a
:class:`CnnlabError`. The CLI prints its message and hint without a traceback and exits with
status 2; the Python API lets it propagate like any exception.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CnnlabError(Exception):
    """An error caused by the user's input, with a hint on how to fix it."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UnknownNameError(CnnlabError, KeyError):
    """A model, dataset, filter or recipe name that does not exist."""

    def __init__(self, kind: str, name: str, known: Iterable[str], list_command: str | None = None):
        known = sorted(known)
        close = closest(name, known)
        hint = f"did you mean {', '.join(close)}?" if close else None
        if list_command:
            hint = (hint + " " if hint else "") + f"See `{list_command}` for the full list."
        super().__init__(f"unknown {kind} {name!r}", hint)
        self.name = name
        self.suggestions = close

    __str__ = CnnlabError.__str__


def closest(name: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """The candidate names closest to ``name`` (prefix matches first, then by similarity)."""
    candidates = list(candidates)
    lowered = name.lower()
    prefix = [c for c in candidates if c.lower().startswith(lowered)][:n]
    similar = difflib.get_close_matches(lowered, candidates, n=n, cutoff=0.5)
    out: list[str] = []
    for c in prefix + similar:
        if c not in out:
            out.append(c)
    return out[:n]


# line separators and bidirectional controls: they move or reorder printed text
_INVISIBLE = "\u2028\u2029\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def printable(value: object, limit: int = 200) -> str:
    """``value`` as text safe to print: control characters (newlines, ANSI escapes, carriage returns)
    escaped, and at most ``limit`` characters.

    Every string read from a file a user did not write (class names and other metadata of weight
    files and run folders) is printed through this, so a file cannot forge output lines.
    """
    text = str(value)
    out = []
    for ch in text:
        code = ord(ch)
        if code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0 or ch in _INVISIBLE:
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    text = "".join(out)
    return text if len(text) <= limit else text[: limit - 3] + "..."
