"""Building and running the MCP server on the official SDK's MCPServer.

Tools are thin: they parse typed arguments (schemas come from their annotations), call one
use case of the tracker, and return a short text summary plus structured content. An
AitrackError becomes a tool error (isError) whose message says what to fix; anything else is
logged to errors.log and reported as an internal tool error, and the server keeps running.
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, TextContent
from pydantic import ValidationError

from aitrack import __version__
from aitrack.errors import AitrackError
from aitrack.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

FOREGROUND = "foreground"

INSTRUCTIONS = (
    "aitrack tracks AI-assisted coding sessions. Call start_ai_session first for every task, "
    "log_ai_interaction after each significant answer (rating 1-5), flag_ai_issue when "
    "something goes wrong, and end_ai_session with the outcome when done. Lost the session "
    "id? get_active_sessions."
)


class Backend:
    """What every tool shares: one Tracker, opened on first use (thread-safe: the SDK runs
    sync tools on worker threads and the store's connection is guarded by a lock)."""

    def __init__(
        self, tracker: Any = None, settings: Settings | None = None, lane: str = FOREGROUND
    ) -> None:
        self._tracker = tracker
        self._settings = settings
        self._lock = threading.Lock()
        self.lane = lane

    @property
    def tracker(self):  # -> aitrack.tracker.Tracker
        if self._tracker is None:
            with self._lock:
                if self._tracker is None:
                    from aitrack.store import open_store
                    from aitrack.tracker import Tracker

                    self._tracker = Tracker(open_store(), self._settings or Settings.from_env())
        return self._tracker

    def close(self) -> None:
        with self._lock:
            if self._tracker is not None:
                self._tracker.store.close()
                self._tracker = None


def user_errors(fn: F) -> F:
    """Turn AitrackError into a ToolError with its message; log anything unexpected to the
    data dir's errors.log and report it as an internal error (no traceback on stderr)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ToolError:
            raise
        except AitrackError as exc:
            raise ToolError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a tool must never take the server down
            from aitrack.tracker import log_internal_error

            log_internal_error(f"MCP tool {fn.__name__}", exc)
            raise ToolError(
                f"internal error ({type(exc).__name__}: {exc}); the details are in errors.log "
                "in the aitrack data directory"
            ) from None

    return wrapper  # type: ignore[return-value]


def tool(server: MCPServer) -> Callable[[F], F]:
    """Register a sync function as a tool: schemas from its annotations, description from its
    docstring (on one line), user errors as tool errors (see user_errors)."""

    def decorator(fn: F) -> F:
        wrapped = user_errors(fn)
        description = " ".join(inspect.cleandoc(fn.__doc__ or "").split())
        server.add_tool(wrapped, description=description)
        return wrapped

    return decorator


def plain(data: Any) -> Any:
    """JSON-safe copy of data (int dict keys become strings, like on the wire)."""
    return json.loads(json.dumps(data, default=str, ensure_ascii=False))


def result(summary: str, data: dict[str, Any]) -> CallToolResult:
    """A tool result: a short text summary for the model plus the structured content."""
    return CallToolResult(
        content=[TextContent(type="text", text=summary.strip())], structured_content=plain(data)
    )


class TrackerServer(MCPServer):
    """MCPServer whose argument errors read as one line per field: what is wrong, what to send."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError):
                raise ToolError(f"invalid arguments for {name}: {describe(cause)}") from cause
            raise


def describe(error: ValidationError, limit: int = 10) -> str:
    """One short line per invalid field, without echoing long input values."""
    parts = []
    for err in error.errors(include_url=False)[:limit]:
        field = ".".join(str(p) for p in err["loc"]) or "arguments"
        message = err["msg"]
        if err["type"] == "missing":
            message = "required"
        elif err["type"] == "extra_forbidden":
            message = "not a parameter of this tool"
        elif err["type"] not in ("literal_error", "enum"):
            value = repr(err.get("input"))
            message += f" (got {value[:60] + '…' if len(value) > 60 else value})"
        parts.append(f"{field}: {message}")
    more = error.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def build_server(
    tracker: Any = None, *, settings: Settings | None = None, lane: str = FOREGROUND
) -> MCPServer:
    """The aitrack MCP server with every tool and resource; `tracker` for tests (else the
    user's store is opened on the first tool call)."""
    from aitrack.mcp import resources, tools_requests, tools_seed, tools_sessions

    backend = Backend(tracker, settings, lane)
    server = TrackerServer(
        "aitrack",
        title="aitrack",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
    )
    tools_seed.register(server, backend)
    tools_requests.register(server, backend)
    tools_sessions.register(server, backend)
    resources.register(server, backend)
    server.backend = backend  # type: ignore[attr-defined]
    return server


def run_stdio(settings: Settings | None = None, dashboard: tuple[str, int] | None = None) -> None:
    """Serve MCP over stdin/stdout until stdin closes; optionally the dashboard in a thread."""
    server = build_server(settings=settings)
    if dashboard is not None:
        start_dashboard(*dashboard, settings=settings)
    try:
        server.run("stdio")
    except KeyboardInterrupt:
        pass
    finally:
        server.backend.close()  # type: ignore[attr-defined]


def start_dashboard(host: str, port: int, settings: Settings | None = None) -> threading.Thread:
    """Start the web dashboard beside the MCP server, in a daemon thread so that importing and
    starting it never delays the MCP channel; it announces itself (or why it could not start)
    on stderr, never on stdout, which is the MCP channel."""

    def run() -> None:
        try:
            from aitrack.web.app import serve_in_thread
        except ImportError as exc:
            print(
                f"aitrack: the embedded dashboard is not available in this build ({exc}); "
                f"--dashboard-host/--dashboard-port {host}:{port} ignored",
                file=sys.stderr,
            )
            return
        try:
            serve_in_thread(host=host, port=port, settings=settings)
        except Exception as exc:  # noqa: BLE001 - the MCP server runs on without its dashboard
            print(f"aitrack: the dashboard did not start on {host}:{port}: {exc}", file=sys.stderr)

    thread = threading.Thread(target=run, name="aitrack-dashboard-start", daemon=True)
    thread.start()
    return thread
