"""Who may talk to the dashboard, and how a web page elsewhere is kept from changing data.

- Host check: a request whose Host is not the bound host or a loopback name is refused, so a
  DNS-rebinding page (evil.example resolving to 127.0.0.1) never reaches the app.
- Token: bound to a non-loopback address the dashboard needs a token, given once as
  ?token=… (then kept in an HttpOnly, SameSite=Strict cookie) or as Authorization: Bearer.
- Writes: every method but GET/HEAD/OPTIONS must come from the dashboard's own origin (Origin
  or Referer, when sent) and carry the CSRF token of this server in X-CSRF-Token, unless it
  is authenticated by a bearer token (which browsers never send on their own).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import Headers
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from aitrack.web.errors import error_response

COOKIE = "aitrack_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    return host.strip("[]") in ("0.0.0.0", "::", "")


def split_host(value: str) -> tuple[str, int | None]:
    """'[::1]:8050' -> ('::1', 8050); 'Example.org' -> ('example.org', None)."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        host, port = value.split(":")
    else:
        host, port = value, ""
    return host, int(port) if port.isdigit() else None


def new_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class SecurityConfig:
    """The rules for one served dashboard."""

    bind_host: str = "127.0.0.1"
    token: str | None = None
    csrf_token: str = field(default_factory=new_token)
    extra_hosts: tuple[str, ...] = ()

    @property
    def any_host(self) -> bool:
        """Bound to every interface, any name may reach us; the token protects instead."""
        return is_wildcard(self.bind_host)

    def host_allowed(self, host: str) -> bool:
        name = host.strip("[]").lower()
        if not name:
            return False
        if self.any_host or is_loopback(name):
            return True
        allowed = {self.bind_host.strip("[]").lower(), *(h.lower() for h in self.extra_hosts)}
        return name in allowed

    def token_ok(self, given: str | None) -> bool:
        if not self.token or not given:
            return False
        return hmac.compare_digest(given.encode(), self.token.encode())

    def csrf_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.csrf_token.encode())


class SecurityMiddleware:
    """Host, token, origin and CSRF checks, the last word on unexpected errors, and a
    Server-Timing header (time until the response starts)."""

    def __init__(self, app: ASGIApp, config: SecurityConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._check(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        started = False
        began = time.perf_counter()

        async def tracking_send(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                took = (time.perf_counter() - began) * 1000
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (b"server-timing", f"app;dur={took:.1f}".encode()),
                    ],
                }
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            from aitrack.tracker import log_internal_error

            log_internal_error(f"dashboard {scope.get('method')} {scope.get('path')}", exc)
            response = error_response(
                scope["path"],
                headers.get("accept", ""),
                500,
                "internal_error",
                "the dashboard failed on this request; details are in errors.log in the "
                "aitrack data directory",
            )
            await response(scope, receive, send)

    def _refuse(
        self,
        scope: Scope,
        headers: Headers,
        status: int,
        code: str,
        message: str,
        extra: dict[str, str] | None = None,
    ) -> Any:
        return error_response(
            scope["path"], headers.get("accept", ""), status, code, message, headers=extra
        )

    def _check(self, scope: Scope, headers: Headers) -> Any:
        cfg = self.config
        path: str = scope["path"]
        host_header = headers.get("host", "")
        host, port = split_host(host_header)
        if not cfg.host_allowed(host):
            return self._refuse(
                scope,
                headers,
                400,
                "bad_host",
                f"the Host {host_header!r} is not this dashboard's; open it at its own address "
                f"(http://{cfg.bind_host}:…)",
            )
        bearer = _bearer(headers)
        authenticated_by_bearer = cfg.token is not None and cfg.token_ok(bearer)
        if cfg.token and not path.startswith("/static/"):
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            if "token" in query:
                if not cfg.token_ok(query["token"]):
                    return self._refuse(
                        scope,
                        headers,
                        401,
                        "unauthorized",
                        "that token is not this dashboard's token",
                    )
                if scope["method"] in ("GET", "HEAD"):
                    rest = urlencode({k: v for k, v in query.items() if k != "token"})
                    response = RedirectResponse(path + (f"?{rest}" if rest else ""), 303)
                    response.set_cookie(
                        COOKIE, cfg.token, httponly=True, samesite="strict", path="/"
                    )
                    return response
            elif not (authenticated_by_bearer or cfg.token_ok(_cookie(headers))):
                return self._refuse(
                    scope,
                    headers,
                    401,
                    "unauthorized",
                    "this dashboard needs its token: open the address printed when it started "
                    "(…/?token=…) or send Authorization: Bearer TOKEN",
                    {"WWW-Authenticate": "Bearer"},
                )
        if scope["method"] in SAFE_METHODS:
            return None
        source = headers.get("origin") or headers.get("referer")
        if source is not None and not self._same_origin(source, host, port, scope):
            return self._refuse(
                scope,
                headers,
                403,
                "cross_origin",
                f"a write from {source!r} was refused: only the dashboard's own "
                "pages may change data",
            )
        if not authenticated_by_bearer and not cfg.csrf_ok(headers.get(CSRF_HEADER)):
            return self._refuse(
                scope,
                headers,
                403,
                "csrf",
                "this write needs the X-CSRF-Token header of the dashboard "
                "(GET /api/v1/csrf gives it)",
            )
        return None

    def _same_origin(self, source: str, host: str, port: int | None, scope: Scope) -> bool:
        if source == "null":
            return False
        parts = urlsplit(source)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        default = 443 if parts.scheme == "https" else 80
        origin_port = parts.port or default
        if origin_port != (port or default):
            return False
        origin_host = parts.hostname.lower()
        if self.config.any_host:
            return origin_host == host
        return self.config.host_allowed(origin_host)


def _bearer(headers: Headers) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, credentials = value.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


def _cookie(headers: Headers) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # noqa: BLE001 - a malformed cookie header is no token
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel else None
