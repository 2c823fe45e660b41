"""Helpers shared by the test files: ``from helpers.conformance import ...`` (``tests`` is on pytest's
``pythonpath``, see pyproject.toml). Nothing here is collected as a test."""
