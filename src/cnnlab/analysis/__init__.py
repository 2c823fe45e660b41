"""The complexity analyzer: the lectures' per-layer table for any network, exact, without computing.

    summary(model_or_name, input_size=..., batch=..., depth=..., strict=False) -> Summary
    cnnlab.compare([...], input_size=...) -> Comparison      (cnnlab.analysis.compare.compare)

Where each concept lives: ``counter`` (the operator trace on the meta device, module attribution),
``formulas`` (per-operator counters), ``records`` (the dataclasses returned), ``memory``
(lifetimes, peak, parameters, training bytes), ``receptive`` (receptive field for any graph),
``warnings`` (sizes floored away, ceil mode, kernel larger than input), ``render`` (table, Markdown,
CSV, JSON), ``compare`` (side by side, stages, bubble chart), ``timing`` (optional measured latency),
``mcu`` (the microcontroller budget: int8 flash and peak SRAM, ``mcu_budget``).
"""

from __future__ import annotations

from .records import CONVENTION, Counts, LayerRecord, MemoryStats, ParamStats, ReceptiveField, Summary
from .render import render
from .summary import summary

__all__ = [
    "CONVENTION",
    "Counts",
    "LayerRecord",
    "MemoryStats",
    "ParamStats",
    "ReceptiveField",
    "Summary",
    "render",
    "summary",
]
