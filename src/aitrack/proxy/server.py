"""The local API proxy: a transparent HTTP forwarder in front of the Anthropic and OpenAI APIs
that records each model call's usage to the session that made it.

Every path and method is forwarded (messages, count tokens, models, chat completions,
responses, embeddings, batches, files, ...). Bytes pass through unchanged and unbuffered in
both directions; usage is read from a side copy. The one change: an OpenAI streaming chat
completion without `stream_options.include_usage` gets it upstream, and the extra usage chunk
(and the `"usage":null` members it adds) are removed from what the client receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import (
    ClientSession,
    ClientTimeout,
    DummyCookieJar,
    TCPConnector,
    client_exceptions,
    web,
)
from multidict import CIMultiDict
from yarl import URL

from aitrack.proxy import usage_parsers as parsers
from aitrack.proxy.attribution import AITRACK_HEADER, call_key
from aitrack.proxy.recorder import CapturedCall, Recorder
from aitrack.proxy.upstream import Pool

ANTHROPIC_API = "https://api.anthropic.com"
OPENAI_API = "https://api.openai.com/v1"
DEFAULT_PORT = 3739

_HOP_BY_HOP = frozenset(
    ("connection", "keep-alive", "proxy-connection", "proxy-authenticate",
     "proxy-authorization", "te", "trailer", "trailers", "transfer-encoding", "upgrade")
)  # fmt: skip
_REQUEST_DROP = _HOP_BY_HOP | {"host", AITRACK_HEADER}
READ_WHOLE = 8 * 1024 * 1024  # request bodies up to this are read at once, larger ones streamed
INJECT_LIMIT = 64 * 1024 * 1024


@dataclass
class ProxyConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    anthropic_upstream: str = ANTHROPIC_API
    openai_upstream: str = OPENAI_API
    lane: str = "background"
    session_id: str | None = None  # `run`: calls without a session header belong here
    run_id: str | None = None
    store_url: str | None = None
    connect_timeout_s: float = 10.0
    read_timeout_s: float | None = None  # none: generations of many minutes must not be cut
    warn: Callable[[str], None] | None = field(default=None, repr=False)


def is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


def _kind(provider: str, method: str, path: str) -> str | None:
    """The model call a request is, when its usage is worth recording."""
    if method != "POST":
        return None
    if provider == "anthropic":
        if path.endswith("/v1/messages"):
            return "messages"
        return "complete" if path.endswith("/v1/complete") else None
    for suffix, kind in (
        ("/chat/completions", "chat.completions"),
        ("/completions", "completions"),
        ("/responses", "responses"),
        ("/embeddings", "embeddings"),
    ):
        if path.endswith(suffix):
            return kind
    return None


def check_upstream(base: str) -> URL:
    """The upstream URL parsed. Raises ValueError unless it is an http(s) URL."""
    url = URL(base)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"upstream {base!r} must be an http(s) URL")
    return url


class _Upstream:
    def __init__(self, base: str) -> None:
        url = check_upstream(base)
        self.base = base.rstrip("/")
        self.origin = str(url.origin())
        self.host: str = url.raw_host or url.host or ""
        self.tls = url.scheme == "https"
        self.port = url.port or (443 if self.tls else 80)
        self.path = url.raw_path.rstrip("/")
        self.has_version = self.path.endswith("/v1")
        self.loopback = url.host == "localhost" or is_loopback(url.host)
        self.proxy = _env_proxy(base)

    def target(self, raw_path: str, strip_v1: bool) -> str:
        """The request target upstream for a path the client asked the proxy for."""
        if strip_v1 and raw_path.startswith("/v1") and (raw_path[3:4] in ("/", "?", "")):
            raw_path = raw_path[3:]
        return self.path + raw_path if self.path else raw_path


def _env_proxy(url: str) -> str | None:
    """The HTTP(S)_PROXY the environment asks for this upstream (resolved once)."""
    import urllib.request

    host = URL(url).host or ""
    if urllib.request.proxy_bypass(host) or is_loopback(host) or host == "localhost":
        return None
    return urllib.request.getproxies().get(URL(url).scheme)


class _HeadersWithBody(web.StreamResponse):
    """A response whose headers leave with its first body bytes (one write for small JSON)."""

    _send_headers_immediately = False


def _error_body(provider: str, status: int, kind: str, message: str) -> bytes:
    if provider == "anthropic":
        body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        body = {"error": {"message": message, "type": kind, "param": None, "code": kind}}
    return json.dumps(body).encode()


class ProxyServer:
    """The aiohttp server, its upstream client session and its recorder."""

    def __init__(self, config: ProxyConfig, recorder: Recorder | None = None) -> None:
        self.config = config
        self.anthropic = _Upstream(config.anthropic_upstream)
        self.openai = _Upstream(config.openai_upstream)
        if recorder is None:
            recorder = Recorder(config.store_url, config.lane, config.session_id, config.run_id)
            if config.warn is not None:
                recorder.warn = config.warn
        self.recorder = recorder
        self.port: int | None = None
        self.in_flight = 0
        self._pool = Pool(config.connect_timeout_s, config.read_timeout_s)
        self._client: ClientSession | None = None  # only for upstreams behind HTTP(S)_PROXY
        self._runner: web.ServerRunner | None = None
        self._loopback: dict[str | None, bool] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, sock: socket.socket | None = None) -> int:
        """Bind (or use `sock`), start serving and the recorder; returns the port."""
        if not self.recorder._thread.is_alive():
            self.recorder.start()
        if self.anthropic.proxy or self.openai.proxy:
            self._client = ClientSession(
                connector=TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=15),
                timeout=ClientTimeout(
                    total=None,
                    connect=self.config.connect_timeout_s,
                    sock_read=self.config.read_timeout_s,
                ),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                cookie_jar=DummyCookieJar(),
                read_bufsize=2**16,
            )
        server = web.Server(
            self.handle,
            handler_cancellation=True,
            access_log=None,  # nothing of a request is ever logged
            auto_decompress=False,  # request bodies go upstream as the client encoded them
            max_line_size=65536,
            max_field_size=65536,
            max_headers=512,
        )
        self._runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=5.0)
        await self._runner.setup()
        if sock is None:
            sock = bind_socket(self.config.host, self.config.port)
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.port = sock.getsockname()[1]
        return self.port

    async def stop(self, grace_s: float = 5.0) -> None:
        deadline = time.monotonic() + grace_s
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self._runner is not None:
            await self._runner.cleanup()
        self._pool.close()
        if self._client is not None:
            await self._client.close()
        await asyncio.get_running_loop().run_in_executor(None, self.recorder.close)

    # -- requests ----------------------------------------------------------------------------
    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        remote = request.remote
        allowed = self._loopback.get(remote)
        if allowed is None:
            allowed = self._loopback[remote] = is_loopback(remote)
        if not allowed:
            return web.json_response(
                {
                    "error": {
                        "type": "forbidden",
                        "message": "aitrack proxy serves this machine only",
                    }
                },
                status=403,
            )
        raw_path = request.raw_path
        if request.method == "GET" and raw_path in ("/health", "/health/"):
            return await self.health()
        headers = request.headers
        path = request.path
        strip_v1 = True
        if path.startswith("/anthropic/") or path.startswith("/openai/"):
            provider = "anthropic" if path.startswith("/anthropic/") else "openai"
            cut = len(provider) + 1
            raw_path, path = raw_path[cut:], path[cut:]
        elif (
            "anthropic-version" in headers
            or "x-api-key" in headers
            or path.startswith("/v1/messages")
            or path.startswith("/v1/complete")
        ):
            provider = "anthropic"
        else:
            provider = "openai"
        if provider == "anthropic":
            upstream, strip_v1 = self.anthropic, False
        else:
            upstream = self.openai
            strip_v1 = upstream.has_version
        kind = _kind(provider, request.method, path)
        key = call_key(headers)
        if kind is not None and self.recorder.gate.active:
            refusal = self.recorder.gate.refusal(key)
            if refusal:
                return self._refuse(provider, refusal)
        self.in_flight += 1
        self.recorder.requests_seen += 1
        try:
            return await self._forward(
                request, provider, kind, key, upstream, upstream.target(raw_path, strip_v1)
            )
        finally:
            self.in_flight -= 1

    def _refuse(self, provider: str, reason: str) -> web.Response:
        message = f"aitrack budget: {reason}. Raise it with `aitrack budget` or end the session."
        kind = "rate_limit_error" if provider == "anthropic" else "insufficient_quota"
        return web.Response(
            status=429,
            body=_error_body(provider, 429, kind, message),
            content_type="application/json",
            headers={"x-should-retry": "false"},
        )

    async def _forward(
        self,
        request: web.BaseRequest,
        provider: str,
        kind: str | None,
        key: Any,
        upstream: _Upstream,
        target: str,
    ) -> web.StreamResponse:
        started = time.perf_counter()
        ts = time.time_ns() // 1_000_000
        headers = request.headers
        connection = headers.get("connection")
        drop = _REQUEST_DROP
        if connection and connection.lower() not in ("keep-alive", "close"):
            drop = drop | {t.strip().lower() for t in connection.split(",")}
        forward = [(k, v) for k, v in headers.items() if k.lower() not in drop]
        if upstream.loopback:  # maybe a chained aitrack proxy: tell it the session
            own = headers.get(AITRACK_HEADER) or self.config.session_id
            if own:
                forward.append((AITRACK_HEADER, own))

        body: Any = None
        injected = False
        if headers.get("Expect", "").lower() == "100-continue":
            # answered here (the body is read before forwarding), so not forwarded
            forward = [(k, v) for k, v in forward if k.lower() != "expect"]
            if request.writer is not None:
                await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if request.body_exists:
            length = request.content_length
            wants_usage = kind in ("chat.completions", "completions")
            if length is not None and length <= (INJECT_LIMIT if wants_usage else READ_WHOLE):
                body = await request.content.read()
                if wants_usage and b'"stream"' in body:
                    changed = _with_include_usage(body)
                    if changed is not None:
                        body, injected = changed, True
                        forward = [(k, v) for k, v in forward if k.lower() != "content-length"]
                        forward.append(("Content-Length", str(len(body))))
            else:
                body = request.content

        try:
            if upstream.proxy and self._client is not None:
                resp: Any = await self._client.request(
                    request.method,
                    URL(upstream.origin + target, encoded=True),
                    headers=CIMultiDict(forward),
                    data=body,
                    allow_redirects=False,
                    proxy=upstream.proxy,
                )
            else:
                resp = await self._pool.request(
                    request.method,
                    upstream.host,
                    upstream.port,
                    upstream.tls,
                    target,
                    forward,
                    body,
                )
        except (TimeoutError, client_exceptions.ServerTimeoutError):
            return self._gateway_error(provider, 504, f"{upstream.origin} did not answer in time")
        except client_exceptions.ClientError as exc:
            return self._gateway_error(
                provider, 502, f"cannot reach {upstream.origin} ({_reason(exc)})"
            )

        status = resp.status
        request_model = None
        if kind is not None and status >= 400 and isinstance(body, bytes):
            request_model = parsers.model_from_request(body)
        call: CapturedCall | None = None
        scanner = body_copy = decoder = stripper = None
        resp_headers = resp.headers
        out_headers = CIMultiDict(
            [(k, v) for k, v in resp_headers.items() if k.lower() not in _HOP_BY_HOP]
        )
        content_type = resp_headers.get("Content-Type", "")
        streaming = content_type.startswith("text/event-stream")
        encoding = resp_headers.get("Content-Encoding")
        if kind is not None:
            request_id = resp_headers.get("request-id") or resp_headers.get("x-request-id")
            call = CapturedCall(
                ts, provider, kind, status, 0, request_id, key, request_model=request_model
            )
            if streaming:
                scanner = parsers.SseUsageScanner()
                try:
                    decoder = parsers.make_decoder(encoding)
                except parsers.UnsupportedEncoding:
                    scanner = None
                if injected and status < 400:
                    stripper = parsers.IncludeUsageStripper()
                    if decoder is not None:  # forwarded decoded: the stripper edits events
                        out_headers.popall("Content-Encoding", None)
                    out_headers.popall("Content-Length", None)
                    if scanner is None:  # cannot decode: pass through unchanged
                        stripper = None
            else:
                body_copy = parsers.BodyCopy()
                call.body, call.encoding = body_copy, encoding

        out = (web.StreamResponse if streaming else _HeadersWithBody)(
            status=status, reason=resp.reason, headers=out_headers
        )
        complete = False
        try:
            await out.prepare(request)
            async for chunk in resp.content.iter_any():
                if stripper is not None:
                    plain = decoder.decompress(chunk) if decoder is not None else chunk
                    chunk = stripper.feed(plain)
                    if not chunk:
                        continue
                elif scanner is not None:
                    try:
                        scanner.feed(decoder.decompress(chunk) if decoder is not None else chunk)
                    except Exception as exc:  # noqa: BLE001 - the side copy never hurts the client
                        scanner = None
                        _log_side_copy_error(exc)
                elif body_copy is not None:
                    body_copy.feed(chunk)
                await out.write(chunk)
            if stripper is not None:
                rest = stripper.finish()
                if rest:
                    await out.write(rest)
            await out.write_eof()
            complete = True
        except (client_exceptions.ClientError, TimeoutError):
            # upstream broke off mid-body: the client must see a broken response, not a whole one
            if request.transport is not None:
                request.transport.close()
        except (ConnectionError, RuntimeError):
            pass  # the client went away
        except Exception as exc:  # noqa: BLE001 - e.g. a corrupt stream the proxy had to edit
            _log_side_copy_error(exc)
            if request.transport is not None:
                request.transport.close()
        finally:
            if complete:
                resp.release()
            else:
                resp.close()
            if call is not None:
                if stripper is not None:
                    call.sse_events = stripper.usage_events
                elif scanner is not None:
                    scanner.finish()
                    call.sse_events = scanner.events
                elif streaming:
                    call.sse_events = []
                call.complete = complete
                call.latency_ms = int((time.perf_counter() - started) * 1000)
                self.recorder.submit(call)
        return out

    def _gateway_error(self, provider: str, status: int, message: str) -> web.Response:
        kind = "api_error" if provider == "anthropic" else "upstream_error"
        if status == 504:
            kind = "timeout_error" if provider == "anthropic" else "upstream_timeout"
        return web.Response(
            status=status,
            body=_error_body(provider, status, kind, f"aitrack proxy: {message}"),
            content_type="application/json",
        )

    async def health(self) -> web.Response:
        loop = asyncio.get_running_loop()
        try:
            session = await loop.run_in_executor(None, self.recorder.describe_session)
        except Exception:  # noqa: BLE001 - health must answer even when the store does not
            session = None
        return web.json_response(
            {
                "status": "ok",
                "port": self.port,
                "lane": self.config.lane,
                "session": session,
                "upstreams": {"anthropic": self.anthropic.base, "openai": self.openai.base},
                "recorded_calls": self.recorder.recorded,
                "pending_calls": self.recorder.submitted - self.recorder.taken,
                "in_flight": self.in_flight,
            }
        )


def _with_include_usage(body: bytes) -> bytes | None:
    """The request with stream_options.include_usage set, when it streams without it."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("stream") is not True:
        return None
    options = data.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        return None
    if options is not None and not isinstance(options, dict):
        return None
    data["stream_options"] = {**(options or {}), "include_usage": True}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _log_side_copy_error(exc: BaseException) -> None:
    from aitrack.tracker import log_internal_error

    log_internal_error("proxy: cannot read a response's usage", exc)


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "os_error", None) or exc).strip()
    return text.split("\n", 1)[0][:200] or type(exc).__name__


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free port). Raises OSError when taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def bind_preferred(host: str, port: int) -> socket.socket:
    """Bind `port`, or any free port when it is taken."""
    try:
        return bind_socket(host, port)
    except OSError:
        return bind_socket(host, 0)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when it is installed, else asyncio's."""
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class ProxyThread:
    """The proxy on a background thread with its own event loop (for `run` and tests)."""

    def __init__(self, config: ProxyConfig, sock: socket.socket | None = None) -> None:
        self.config = config
        self.server = ProxyServer(config)
        self._sock = sock
        self._loop = new_event_loop()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="aitrack-proxy", daemon=True)

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ProxyThread:
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError("the aitrack proxy did not start")
        if self._error is not None:
            raise self._error
        return self

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.server.start(self._sock))
        except BaseException as exc:  # noqa: BLE001 - handed to start()
            self._error = exc
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()
        self._loop.close()

    def flush(self, timeout: float = 30.0) -> bool:
        return self.server.recorder.flush(timeout)

    def stop(self, grace_s: float = 2.0) -> None:
        if not self._thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self.server.stop(grace_s), self._loop)
        with contextlib.suppress(Exception):
            future.result(timeout=grace_s + 35)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> ProxyThread:
        return self if self._thread.is_alive() else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
