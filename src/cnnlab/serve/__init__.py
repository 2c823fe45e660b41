"""``cnnlab serve``: the interactive page, a local web app over the Python API.

    >>> from cnnlab.serve import start
    >>> with start(["runs"]) as server:     # a free loopback port, in a background thread
    ...     print(server.url)

Views: draw and predict (top-5, the network's input, every layer's feature maps, Grad-CAM), the
convolution playground (``conv.explain`` step by step), the model explorer (``analysis.summary`` /
``compare``) and the training monitor (``metrics.jsonl`` as it grows, evaluation pictures).
Needs the ``serve`` extra: ``pip install 'cnnlab[serve]'``.
"""

from __future__ import annotations

from .server import DEFAULT_HOST, DEFAULT_PORT, Running, build, exposure_warning, run, start

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Running", "build", "exposure_warning", "run", "start"]
