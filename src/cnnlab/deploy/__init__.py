"""Deployment: export (ONNX / TorchScript / OpenVINO with embedded preprocessing and a parity check),
int8 post-training quantization, one runner interface over the inference engines, and bench.

    >>> from cnnlab.deploy import export, quantize, make_runner, bench
"""

from .bench import bench
from .engines import ENGINES, Runner, engine_available, installed_engines, make_runner
from .export import FORMATS, export, read_metadata
from .quantize import quantize, quantize_onnx
from .source import Source, load_source

__all__ = [
    "ENGINES",
    "FORMATS",
    "Runner",
    "Source",
    "bench",
    "engine_available",
    "export",
    "installed_engines",
    "load_source",
    "make_runner",
    "quantize",
    "quantize_onnx",
    "read_metadata",
]
