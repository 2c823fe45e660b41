"""Shared by the serve tests: the demo run, trained once by the server's own first-start path
(shortened to 2 epochs), and an in-process client of the app."""

from __future__ import annotations

import io
import os
import warnings

import pytest
from PIL import Image, ImageDraw

from cnnlab.serve import build
from cnnlab.serve.demo import DemoRun

# 2 epochs (~93-95% held-out) keep the suite quick; the README's screenshots use the recipe's 15
DEMO_EPOCHS = int(os.environ.get("CNNLAB_SERVE_DEMO_EPOCHS", "2"))


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> DemoRun:
    """The first-start training of the demo run, as `cnnlab serve` does it, shortened to DEMO_EPOCHS."""
    demo = DemoRun(tmp_path_factory.mktemp("serve") / "runs" / "demo", overrides={"epochs": DEMO_EPOCHS, "threads": 1})
    assert demo.status()["state"] == "absent"
    assert demo.start_if_absent()
    demo.first_status = demo.status()  # what the page shows while it trains
    assert demo.wait(timeout=900), demo.status()
    return demo


@pytest.fixture(scope="session")
def client(demo_run):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's notice about httpx's successor
        from starlette.testclient import TestClient
    app, _ = build([], demo_dir=demo_run.path)
    return TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)


def stroke_png(points=((140, 40), (140, 240)), size=280, width=22, background=0, ink=255) -> bytes:
    """A drawn stroke as the page's canvas sends it: white ink on black, PNG."""
    im = Image.new("L", (size, size), background)
    ImageDraw.Draw(im).line(list(points), fill=ink, width=width)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()
