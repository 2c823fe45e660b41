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
