"""A lean HTTP/1.1 client for the proxy's upstream calls: pooled keep-alive connections and
aiohttp's own (C) response parser and StreamReader, without ClientSession's per-request
machinery (cookies, redirects, tracing, auth, timers), which cost more CPU than the rest of
the proxy together. Upstreams reached through an HTTP(S)_PROXY use aiohttp's ClientSession.

Measured on the 2-core bench machine: ~60 us of CPU per request against ~200 us for
ClientSession.request.
"""

from __future__ import annotations

import asyncio
import socket
import ssl as ssl_module
import time
from collections.abc import Iterable
from typing import Any

from aiohttp import client_exceptions
from aiohttp.client_proto import ResponseHandler

IDLE_S = 15.0  # pooled connections idle longer than this are closed, not reused
_IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"))
_CHUNK_END = b"0\r\n\r\n"


class UpstreamResponse:
    """The parts of a response the proxy uses (the same names as aiohttp's ClientResponse)."""

    __slots__ = ("status", "reason", "headers", "content", "_pool", "_key", "_proto")

    def __init__(self, message: Any, payload: Any, pool: Pool, key: Any, proto: Any) -> None:
        self.status = message.code
        self.reason = message.reason
        self.headers = message.headers
        self.content = payload
        self._pool, self._key, self._proto = pool, key, proto

    def release(self) -> None:
        """The body was read to its end: the connection goes back to the pool."""
        proto, self._proto = self._proto, None
        if proto is not None:
            self._pool._put(self._key, proto)

    def close(self) -> None:
        """The body was not read to its end: the connection is closed."""
        proto, self._proto = self._proto, None
        if proto is not None:
            proto.close()


class Pool:
    """Keep-alive connections per (host, port, tls), reused most recent first."""

    def __init__(
        self,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float | None = None,
        ssl_context: ssl_module.SSLContext | None = None,
    ) -> None:
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self._ssl = ssl_context
        self._idle: dict[tuple[str, int, bool], list[tuple[float, ResponseHandler]]] = {}
        self._closed = False

    def _ssl_context(self) -> ssl_module.SSLContext:
        if self._ssl is None:
            self._ssl = ssl_module.create_default_context()
        return self._ssl

    def _put(self, key: tuple[str, int, bool], proto: ResponseHandler) -> None:
        if self._closed or proto.should_close or not proto.is_connected():
            proto.close()
            return
        self._idle.setdefault(key, []).append((time.monotonic(), proto))

    def _get(self, key: tuple[str, int, bool]) -> ResponseHandler | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            since, proto = idle.pop()
            if now - since < IDLE_S and proto.is_connected() and not proto.should_close:
                return proto
            proto.close()
        return None

    async def _connect(self, host: str, port: int, tls: bool) -> ResponseHandler:
        loop = asyncio.get_running_loop()
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(
                    lambda: ResponseHandler(loop),
                    host,
                    port,
                    ssl=self._ssl_context() if tls else None,
                    server_hostname=host if tls else None,
                ),
                self.connect_timeout_s,
            )
        except TimeoutError:
            raise client_exceptions.ConnectionTimeoutError(
                f"connection to {host}:{port} timed out"
            ) from None
        except (OSError, ssl_module.SSLError) as exc:
            raise client_exceptions.ClientOSError(
                getattr(exc, "errno", None) or 0, f"{exc.strerror or exc}"
            ) from None
        sock = proto.transport.get_extra_info("socket") if proto.transport else None
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return proto

    async def request(
        self,
        method: str,
        host: str,
        port: int,
        tls: bool,
        target: str,
        headers: Iterable[tuple[str, str]],
        body: Any,
    ) -> UpstreamResponse:
        """Send a request (`body`: bytes, an aiohttp StreamReader, or None) and return once the
        response headers arrived. Raises aiohttp client exceptions."""
        key = (host, port, tls)
        host_header = host if port == (443 if tls else 80) else f"{host}:{port}"
        lines = [f"{method} {target} HTTP/1.1\r\nHost: {host_header}\r\n"]
        lines += [f"{k}: {v}\r\n" for k, v in headers]
        streamed = body is not None and not isinstance(body, bytes | bytearray)
        head = ("".join(lines) + "\r\n").encode("utf-8", "surrogateescape")
        for attempt in (0, 1):
            proto = self._get(key)
            reused = proto is not None
            if proto is None:
                proto = await self._connect(host, port, tls)
            proto.set_response_params(
                skip_payload=method == "HEAD",
                read_until_eof=True,
                auto_decompress=False,
                read_timeout=self.read_timeout_s,
                read_bufsize=2**16,
                max_line_size=65536,
                max_field_size=65536,
                max_headers=512,
            )
            try:
                if streamed:
                    await self._send_streamed(proto, head, body)
                else:
                    proto.transport.write(head + body if body else head)  # type: ignore[union-attr]
                proto.start_timeout()
                message, payload = await proto.read()
                while 100 <= message.code < 200 and message.code != 101:
                    message, payload = await proto.read()
            except client_exceptions.ServerDisconnectedError:
                proto.close()
                if reused and attempt == 0 and method in _IDEMPOTENT and not streamed:
                    continue  # a pooled connection the server had closed: once more, fresh
                raise
            except BaseException:
                proto.close()
                raise
            return UpstreamResponse(message, payload, self, key, proto)
        raise AssertionError("unreachable")

    async def _send_streamed(self, proto: ResponseHandler, head: bytes, body: Any) -> None:
        transport = proto.transport
        assert transport is not None
        chunked = b"transfer-encoding: chunked" in head.lower() or b"\r\ncontent-length:" not in (
            head.lower()
        )
        if chunked and b"transfer-encoding: chunked" not in head.lower():
            head = head[:-2] + b"Transfer-Encoding: chunked\r\n\r\n"
        transport.write(head)
        while True:
            data = await body.readany()
            if not data:
                break
            transport.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            if transport.get_write_buffer_size() > 2**18:
                await proto._drain_helper()
        if chunked:
            transport.write(_CHUNK_END)

    def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for _, proto in idle:
                proto.close()
        self._idle.clear()
