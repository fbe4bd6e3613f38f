"""One error shape for every endpoint: {"error": {"code", "message", "status"}} as JSON, or the
same message on an HTML page when a browser asked for a page."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, JSONResponse, Response

from aitrack.errors import AitrackError, Conflict, InvalidValue, NotFound, StoreError

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    500: "internal_error",
    503: "store_unavailable",
}


def wants_html(path: str, accept: str) -> bool:
    return not path.startswith("/api/") and "text/html" in accept


def error_response(
    path: str,
    accept: str,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if wants_html(path, accept):
        from html import escape

        body = (
            "<!doctype html><html lang=en><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width,initial-scale=1">'
            f"<title>{status} · aitrack</title>"
            '<link rel=stylesheet href="/static/app.css">'
            '<body class="error-page"><main class="card error-card">'
            f"<h1>{status}</h1><p>{escape(message)}</p>"
            '<p><a href="/">Back to the overview</a></p></main></body></html>'
        )
        return HTMLResponse(body, status_code=status, headers=headers)
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _respond(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return error_response(
        request.url.path, request.headers.get("accept", ""), status, code, message, details, headers
    )


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one shape."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        status = exc.status_code
        message = exc.detail if isinstance(exc.detail, str) else CODES.get(status, "error")
        if status == 404 and message == "Not Found":
            message = f"nothing at {request.url.path}: see /api/docs for the API"
        elif status == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return _respond(
            request,
            status,
            CODES.get(status, "error"),
            message,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        details = [
            {
                "location": list(e.get("loc", ())),
                "message": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in exc.errors()
        ]
        first = details[0] if details else {"location": [], "message": "invalid request"}
        where = ".".join(str(p) for p in first["location"][1:]) or "request"
        return _respond(request, 422, "invalid_request", f"{where}: {first['message']}", details)

    @app.exception_handler(AitrackError)
    async def user_error(request: Request, exc: AitrackError) -> Response:
        status, code = 400, "bad_request"
        if isinstance(exc, InvalidValue):
            status, code = 422, "invalid_value"
        elif isinstance(exc, NotFound):
            status, code = 404, "not_found"
        elif isinstance(exc, Conflict):
            status, code = 409, "conflict"
        elif isinstance(exc, StoreError):
            status, code = 503, "store_unavailable"
        return _respond(request, status, code, str(exc))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        from aitrack.tracker import log_internal_error

        log_internal_error(f"dashboard {request.method} {request.url.path}", exc)
        return _respond(
            request,
            500,
            "internal_error",
            "the dashboard failed on this request; details are in errors.log "
            "in the aitrack data directory",
        )
