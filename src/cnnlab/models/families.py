"""Imports every family file so that its variants register. Add one line per new family."""

from . import lenet  # noqa: F401
