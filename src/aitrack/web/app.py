"""The web dashboard and REST API: `create_app()` builds the FastAPI app over one store,
`serve()` runs it with uvicorn (in the foreground, or in a thread for the MCP server)."""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from aitrack import __version__
from aitrack.settings import Settings
from aitrack.store import open_store
from aitrack.web import charts, errors
from aitrack.web.context import PERIODS, SESSION_FILTER_NAMES, AppState, Filters
from aitrack.web.format import FILTERS, compact, money_axis, repo_name
from aitrack.web.security import SecurityConfig, SecurityMiddleware, is_loopback, new_token

HERE = Path(__file__).parent
NAV = (
    ("overview", "/", "Overview"),
    ("sessions", "/sessions", "Sessions"),
    ("models", "/models", "Models & cost"),
    ("repos", "/repos", "Repositories"),
    ("quality", "/quality", "Quality"),
    ("budgets", "/budgets", "Budgets"),
    ("pricing", "/pricing", "Pricing"),
)
DEFAULT_PORT = 8050


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters.update(FILTERS)
    templates.env.globals.update(
        nav=NAV,
        periods=PERIODS,
        charts=charts,
        version=__version__,
        filter_names=SESSION_FILTER_NAMES,
        fmt_money=money_axis,
        fmt_count=compact,
        fmt_rating=lambda v: f"{v:.1f}",
        fmt_pct=lambda v: f"{v:.0f}%",
        repo_label=repo_name,
    )
    templates.env.trim_blocks = True
    templates.env.lstrip_blocks = True
    return templates


def render(
    request: Request,
    template: str,
    page: str,
    filters: Filters | None,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    """A page, or only its #content when htmx asks for it (filters, sorting, live refresh)."""
    from aitrack.web.live import facets

    state: AppState = request.app.state.aitrack
    partial = (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-target") == "content"
        and request.headers.get("hx-history-restore-request") != "true"
    )
    if filters is not None and not partial:
        context = {"facets": facets(state), **context}
    return request.app.state.templates.TemplateResponse(
        request,
        template,
        {
            "layout": "partial.html" if partial else "base.html",
            "page": page,
            "filters": filters,
            "csrf_token": request.app.state.security.csrf_token,
            "poll_seconds": state.poll_seconds,
            "marker": state.marker(),
            **context,
        },
        status_code=status_code,
    )


def create_app(
    store_url: str | None = None,
    settings: Settings | None = None,
    token: str | None = None,
    *,
    host: str = "127.0.0.1",
    poll_seconds: float = 5.0,
    allowed_hosts: tuple[str, ...] = (),
) -> FastAPI:
    """The dashboard over the store at store_url (default: the user's store).

    Bound to a non-loopback `host`, a token is required; without one a token is generated
    (read it from `app.state.security.token`).

    Raises:
        StoreError: the store cannot be opened.
    """
    from aitrack.web import budgets, live, models, overview, pricing, quality, repos, sessions

    if token is None and not is_loopback(host):
        token = new_token()
    store = open_store(store_url)
    state = AppState(store, settings or Settings.from_env(), poll_seconds)
    app = FastAPI(
        title="aitrack dashboard API",
        version=__version__,
        description="Read-only REST API of aitrack (writes need POST with X-CSRF-Token). "
        'Every error answers {"error": {"code", "message", "status"}}.',
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.aitrack = state
    app.state.templates = _templates()
    app.state.security = SecurityConfig(bind_host=host, token=token, extra_hosts=allowed_hosts)
    errors.install(app)
    app.add_middleware(SecurityMiddleware, config=app.state.security)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (overview, sessions, models, repos, quality, budgets, pricing, live):
        app.include_router(module.router)

    return app


class Handle:
    """A dashboard running in a thread; `stop()` shuts it down."""

    def __init__(self, server: Any, thread: threading.Thread, port: int, url: str) -> None:
        self.server = server
        self.thread = thread
        self.port = port
        self.url = url

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.server.config.app.state.aitrack.store.close()


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free one).

    Raises:
        OSError: the address is in use or not this machine's.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    token: str | None = None,
    open_browser: bool = False,
    in_thread: bool = False,
    *,
    store_url: str | None = None,
    settings: Settings | None = None,
    poll_seconds: float = 5.0,
) -> Handle | None:
    """Serve the dashboard with uvicorn and print its address on stderr (stdout may be the
    MCP channel). In a thread, returns a Handle once it listens; else blocks until stopped.

    Raises:
        OSError: host:port cannot be listened on.
    """
    import uvicorn

    app = create_app(store_url, settings, token, host=host, poll_seconds=poll_seconds)
    sock = _listen(host, port)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    url = url_for(host, port, app.state.security.token)
    if not in_thread:
        _announce(host, url, open_browser)
        try:
            server.run(sockets=[sock])
        finally:
            app.state.aitrack.store.close()
        return None
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="aitrack-dashboard", daemon=True
    )
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.02)
    if not server.started:
        raise OSError(f"the dashboard did not start on {host}:{port}")
    _announce(host, url, open_browser)
    return Handle(server, thread, port, url)


def serve_in_thread(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    token: str | None = None,
    settings: Settings | None = None,
) -> Handle:
    """For `aitrack server --dashboard-host/--dashboard-port`: the dashboard beside MCP."""
    handle = serve(host, port, token, in_thread=True, settings=settings)
    assert handle is not None
    return handle


def url_for(host: str, port: int, token: str | None = None) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def _announce(host: str, url: str, open_browser: bool) -> None:
    print(f"aitrack dashboard on {url}", file=sys.stderr, flush=True)
    if not is_loopback(host):
        print(
            "  reachable from other machines: share the token only with your team",
            file=sys.stderr,
            flush=True,
        )
    if open_browser:
        import webbrowser

        threading.Timer(0.5, webbrowser.open, (url,)).start()
