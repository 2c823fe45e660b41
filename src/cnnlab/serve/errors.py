"""Errors of the web API: every failure is a JSON object with a message, never a traceback page."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from ..errors import CnnlabError, UnknownNameError

log = logging.getLogger("cnnlab.serve")


class ApiError(Exception):
    """A request the server refuses: HTTP status, message and a hint on how to fix it."""

    def __init__(self, status: int, message: str, hint: str | None = None):
        super().__init__(message)
        self.status, self.message, self.hint = status, message, hint


def error_response(status: int, message: str, hint: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "hint": hint, "status": status}, status_code=status)


async def on_api_error(request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.message, exc.hint)


async def on_cnnlab_error(request, exc: CnnlabError) -> JSONResponse:
    return error_response(404 if isinstance(exc, UnknownNameError) else 400, exc.message, exc.hint)


async def on_http_error(request, exc: HTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else "request refused"
    if exc.status_code == 404:
        message = f"no such page or API: {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    return error_response(exc.status_code, message)


async def on_unexpected(request, exc: Exception) -> JSONResponse:
    log.exception("internal error on %s", request.url.path)  # the traceback goes to the server's log only
    return error_response(
        500, f"internal error: {exc.__class__.__name__}", "the server log has the details; please report it"
    )


HANDLERS = {
    ApiError: on_api_error,
    CnnlabError: on_cnnlab_error,
    HTTPException: on_http_error,
    Exception: on_unexpected,
}
