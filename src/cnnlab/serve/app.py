"""The web app: routes, static files, security headers and JSON errors (Starlette).

Every route under /api/ calls the Python API (modules ``api_*`` here) in a worker thread and
answers JSON; everything else is the hand-written page in ``static/`` (no build step, no asset
fetched from anywhere but this server).
"""

from __future__ import annotations

import json
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from . import api_conv, api_models, api_predict
from .catalog import Catalog
from .demo import DemoRun
from .errors import HANDLERS, ApiError, error_response
from .uploads import Limits, read_body, read_image_upload

STATIC = Path(__file__).parent / "static"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class Guard:
    """ASGI middleware: refuse foreign Host headers (DNS rebinding) and add the security headers."""

    def __init__(self, app, allowed_hosts: tuple[str, ...] | None):
        self.app, self.allowed = app, allowed_hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.allowed is not None:
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            name = name.strip("[]")
            if name not in self.allowed:
                response = error_response(
                    400, f"host {host!r} is not served here", "open the address `cnnlab serve` printed"
                )
                return await response(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(
    run_dirs: list[str | Path] | None = None,
    demo: DemoRun | None = None,
    limits: Limits | None = None,
    allowed_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS,
) -> Starlette:
    """The ASGI app. ``run_dirs``: run folders or folders of runs; ``demo``: the demo run (trained
    by the caller with ``demo.start_if_absent()``); ``allowed_hosts``: Host names accepted (None: any)."""
    limits = limits or Limits()
    catalog = Catalog([Path(p) for p in (run_dirs or [])])
    if demo is not None and demo.enabled:
        catalog.add_root(demo.path)
    app = Starlette(debug=False, routes=_Endpoints(catalog, demo, limits).routes(), exception_handlers=HANDLERS)
    app.state.catalog, app.state.demo, app.state.limits = catalog, demo, limits
    app.add_middleware(Guard, allowed_hosts=allowed_hosts)
    return app


class _Endpoints:
    """The page and the JSON API, one method per route, over the app's run catalog, demo run and limits."""

    def __init__(self, catalog: Catalog, demo: DemoRun | None, limits: Limits):
        self.catalog, self.demo, self.limits = catalog, demo, limits

    def routes(self) -> list:
        return [
            Route("/", self.index),
            Route("/api/status", self.status),
            Route("/api/runs", self.runs),
            Route("/api/runs/{run}", self.run_info),
            Route("/api/runs/{run}/metrics", self.metrics),
            Route("/api/runs/{run}/pictures/{name:path}", self.picture),
            Route("/api/predict", self.predict, methods=["POST"]),
            Route("/api/conv/presets", self.conv_presets),
            Route("/api/conv/explain", self.conv_explain, methods=["POST"]),
            Route("/api/conv/image", self.conv_image, methods=["POST"]),
            Route("/api/models", self.models),
            Route("/api/summary", self.model_summary),
            Route("/api/compare", self.model_compare),
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ]

    def default_run(self):
        """The run /api/predict uses without ?run=: the demo run once trained, else the first trained one."""
        if self.demo is not None and self.demo.ready:
            entry = self.catalog.entry_for(self.demo.path)
            if entry is not None:
                return entry
        for entry in self.catalog.runs():
            training_demo = self.demo is not None and entry.path == self.demo.path and self.demo.training
            if entry.has_model() and not training_demo:
                return entry
        status = self.demo.status()["message"] if self.demo is not None else "no run folder was given"
        raise ApiError(
            409,
            f"no trained run to predict with yet ({status})",
            "wait for the demo run, or start `cnnlab serve RUN_DIR` with a trained run",
        )

    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    async def status(self, request: Request) -> Response:
        runs = await run_in_threadpool(lambda: [e.describe() for e in self.catalog.runs()])
        try:
            default = self.default_run().id
        except ApiError:
            default = None
        return JSONResponse(
            {
                "version": __version__,
                "demo": self.demo.status() if self.demo else {"state": "off"},
                "default_run": default,
                "runs": runs,
                "limits": self.limits.__dict__,
            }
        )

    async def runs(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(lambda: [e.describe() for e in self.catalog.runs()]))

    async def run_info(self, request: Request) -> Response:
        entry = self.catalog.get(request.path_params["run"])
        return JSONResponse(await run_in_threadpool(entry.describe))

    async def metrics(self, request: Request) -> Response:
        entry = self.catalog.get(request.path_params["run"])
        since = _int_param(request, "since", 0, 0, 10**9)
        rows = await run_in_threadpool(entry.metrics)
        return JSONResponse(
            {
                "run": entry.id,
                "total": len(rows),
                "rows": rows[since:],
                "config": entry.config() if since == 0 else None,
            }
        )

    async def picture(self, request: Request) -> Response:
        entry = self.catalog.get(request.path_params["run"])
        path = entry.picture_path(request.path_params["name"])
        return FileResponse(path, media_type="image/png", headers={"cache-control": "no-cache"})

    async def predict(self, request: Request) -> Response:
        run_id = request.query_params.get("run")
        entry = self.catalog.get(run_id) if run_id else self.default_run()
        im = await read_image_upload(request, self.limits)
        return JSONResponse(await run_in_threadpool(api_predict.predict_picture, entry, im))

    async def conv_presets(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(api_conv.presets))

    async def conv_explain(self, request: Request) -> Response:
        body = await read_body(request, self.limits.max_json_bytes)
        try:
            data = json.loads(body or b"null")
        except ValueError:
            raise ApiError(400, "the body is not JSON", "send a JSON object") from None
        return JSONResponse(await run_in_threadpool(api_conv.explain, data))

    async def conv_image(self, request: Request) -> Response:
        lo, hi = api_conv.PHOTO_SIDES
        side = _int_param(request, "side", api_conv.PHOTO_SIDE, lo, hi)
        im = await read_image_upload(request, self.limits)
        return JSONResponse({"matrix": await run_in_threadpool(api_conv.shrink, im, side)})

    async def models(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(api_models.catalogue))

    async def model_summary(self, request: Request) -> Response:
        q = request.query_params
        entry = self.catalog.get(q["run"]) if q.get("run") else None
        return JSONResponse(await run_in_threadpool(api_models.summarize, q.get("model"), q.get("size"), entry))

    async def model_compare(self, request: Request) -> Response:
        q = request.query_params
        names = [n.strip() for n in q.get("models", "").split(",")]
        return JSONResponse(await run_in_threadpool(api_models.compare_models, names, q.get("size")))


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name}={value} is outside {low}..{high}")
    return value
