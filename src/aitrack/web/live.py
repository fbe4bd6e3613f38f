"""Endpoints every page uses: the live change marker, filter choices, the CSRF token, the
exports, a self-contained API reference, and the favicon."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse

from aitrack.clock import now_ms
from aitrack.vocab import OUTCOMES, SESSION_STATUSES, TASK_TYPES
from aitrack.web.context import AppState, FiltersDep, State

router = APIRouter()
FACETS_TTL = 30.0


def facets(state: AppState) -> dict[str, list[str]]:
    """The values each filter can take, from what is recorded (cached for 30 s)."""

    def compute() -> dict[str, list[str]]:
        q = state.queries
        return {
            "repo": q.distinct("repo"),
            "branch": q.distinct("branch"),
            "agent": q.distinct("agent"),
            "model": q.distinct("model"),
            "developer": q.distinct("developer"),
            "task_type": sorted(set(q.distinct("task_type")) | set(TASK_TYPES)),
            "outcome": list(OUTCOMES),
            "status": list(SESSION_STATUSES),
            "tag": q.session_tags(),
        }

    return state.cached("facets", FACETS_TTL, compute)


@router.get("/api/v1/live", tags=["api"], summary="Change marker for live pages")
def api_live(state: State) -> dict[str, Any]:
    """A marker that changes whenever the store changes, and how many sessions run now.
    Pages poll it and refresh their content when it moves."""
    return {
        "marker": state.marker(),
        "active_sessions": state.queries.count_sessions({"status": "active"}),
        "now": now_ms(),
    }


@router.get("/api/v1/facets", tags=["api"], summary="Values the filters can take")
def api_facets(state: State) -> dict[str, list[str]]:
    return facets(state)


@router.get("/api/v1/csrf", tags=["api"], summary="The CSRF token writes must send")
def api_csrf(request: Request) -> dict[str, str]:
    """Send it back in the X-CSRF-Token header of every POST (not needed with a bearer
    token). Other web sites cannot read it: the API sends no CORS headers."""
    return {"csrf_token": request.app.state.security.csrf_token, "header": "X-CSRF-Token"}


class _Pipe:
    """A text sink whose writes a response streams out while the export is being written."""

    def __init__(self) -> None:
        self.chunks: queue.Queue[str | BaseException | None] = queue.Queue(maxsize=64)
        self._buffer: list[str] = []
        self._size = 0

    def write(self, text: str) -> int:
        self._buffer.append(text)
        self._size += len(text)
        if self._size >= 65536:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            self.chunks.put("".join(self._buffer))
            self._buffer, self._size = [], 0


def _stream_export(state: AppState, filters: dict[str, Any], fmt: str) -> Iterator[str]:
    from aitrack import exporting

    pipe = _Pipe()

    def produce() -> None:
        try:
            exporting.write(state.tracker, filters, fmt, pipe)  # type: ignore[arg-type]
            pipe.flush()
            pipe.chunks.put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the response to end it
            pipe.flush()
            pipe.chunks.put(exc)

    threading.Thread(target=produce, name="aitrack-export", daemon=True).start()
    while True:
        item = pipe.chunks.get()
        if item is None:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


@router.get(
    "/api/v1/export",
    tags=["api"],
    summary="Export sessions as CSV or JSON",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
def api_export(
    state: State,
    f: FiltersDep,
    format: Annotated[
        Literal["csv", "json"],
        Query(description="csv: one row per session; json: every recorded row"),
    ] = "csv",
) -> StreamingResponse:
    """Every session matching the filters (the period included), streamed: the CSV or the
    lossless JSON of `aitrack export`."""
    media = "text/csv" if format == "csv" else "application/json"
    name = f"aitrack-sessions.{format}"
    return StreamingResponse(
        _stream_export(state, f.session_filters(), format),
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/api/docs", response_class=HTMLResponse, include_in_schema=False)
def api_docs(request: Request) -> HTMLResponse:
    """The API reference, rendered here from the OpenAPI schema (no CDN needed)."""
    from aitrack.web.app import render

    schema = request.app.openapi()
    endpoints = []
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            endpoints.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "tag": (op.get("tags") or ["api"])[0],
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "description": p.get("description", ""),
                            "type": _type_of(p.get("schema", {})),
                        }
                        for p in op.get("parameters", [])
                    ],
                    "body": "requestBody" in op,
                }
            )
    endpoints.sort(key=lambda e: (e["tag"] != "api", e["path"], e["method"]))
    return render(
        request, "api_docs.html", "api", None, {"endpoints": endpoints, "title": "REST API"}
    )


def _type_of(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " | ".join(_type_of(s) for s in schema["anyOf"] if s.get("type") != "null")
    return str(schema.get("type", ""))


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> RedirectResponse:
    return RedirectResponse("/static/favicon.svg", status_code=308)
