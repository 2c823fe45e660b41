"""When to draw progress bars: asked for, and the output is a terminal.

Redirected into a log file, a tqdm bar writes a carriage-return update many times a second; the
commands print one line per epoch (or per step of work) instead.
"""

from __future__ import annotations

import sys


def bar_enabled(asked: bool = True, stream=None) -> bool:
    """``asked`` and ``stream`` (default stderr, where tqdm draws) is a terminal."""
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return bool(asked and isatty is not None and isatty())
