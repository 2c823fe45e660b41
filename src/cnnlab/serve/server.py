"""Running the app: in the foreground for ``cnnlab serve``, or in a background thread (tests,
notebooks) with a handle that stops it. Binds loopback unless told otherwise, and says so."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from pathlib import Path

from ..errors import CnnlabError
from .app import create_app
from .demo import DemoRun
from .uploads import Limits

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str) -> str | None:
    """The warning printed when the page is reachable from other machines (None on loopback)."""
    if is_loopback(host):
        return None
    return (
        f"serving on {host}: other machines on the network can reach this page, run your models and read "
        "the run folders it lists; there is no login. Use --host 127.0.0.1 to keep it on this machine."
    )


def free_port(host: str = DEFAULT_HOST) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise CnnlabError(
                f"cannot listen on {host}:{port} ({e.strerror or e})",
                "another program uses the port: pass --port with another number (e.g. --port 8001)",
            ) from None


class Running:
    """A server started in a background thread: ``url``, ``stop()`` (also on leaving a ``with``)."""

    def __init__(self, server, thread: threading.Thread, url: str, app):
        self.server, self.thread, self.url, self.app = server, thread, url, app

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _config(app, host: str, port: int):
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=2,
    )


def build(
    run_dirs=(),
    host: str = DEFAULT_HOST,
    demo_dir: str | Path | None = "runs/demo",
    max_upload_mb: float = 8.0,
    demo_overrides: dict | None = None,
):
    """The app and its demo run (not started)."""
    for d in run_dirs:
        if not Path(d).is_dir():
            raise CnnlabError(
                f"{d} is not a folder" if Path(d).exists() else f"run folder {d} does not exist",
                "pass run folders or folders that hold runs",
            )
    demo = DemoRun(demo_dir or "runs/demo", enabled=demo_dir is not None, overrides=demo_overrides)
    limits = Limits(max_bytes=int(max_upload_mb * 1024 * 1024))
    allowed = ("127.0.0.1", "localhost", "::1") if is_loopback(host) else None
    return create_app(list(run_dirs), demo, limits, allowed_hosts=allowed), demo


def start(run_dirs=(), host: str = DEFAULT_HOST, port: int = 0, **options) -> Running:
    """Start the server in a daemon thread (port 0: a free one); returns when it accepts connections."""
    import uvicorn

    app, demo = build(run_dirs, host, **options)
    port = port or free_port(host)
    server = uvicorn.Server(_config(app, host, port))
    server.install_signal_handlers = lambda: None  # not the main thread
    thread = threading.Thread(target=server.run, name="cnnlab-serve", daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if not thread.is_alive() or time.time() > deadline:
            server.should_exit = True
            raise CnnlabError(f"the server did not start on {host}:{port}")
        time.sleep(0.02)
    demo.start_if_absent()
    return Running(server, thread, f"http://{_url_host(host)}:{port}/", app)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def run(run_dirs=(), host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, echo=None, **options) -> None:
    """Serve in the foreground until Ctrl-C (``cnnlab serve``)."""
    import uvicorn

    echo = echo or (lambda text: print(text, flush=True))
    app, demo = build(run_dirs, host, **options)
    warning = exposure_warning(host)
    if warning:
        echo(f"warning: {warning}")
    _check_port(host, port)
    if demo.start_if_absent():
        echo(f"training the demo LeNet-5 into {demo.path} (first start; the page shows its progress)")
    echo(f"cnnlab serve: open http://{_url_host(host)}:{port}/  (Ctrl-C stops)")
    uvicorn.Server(_config(app, host, port)).run()
