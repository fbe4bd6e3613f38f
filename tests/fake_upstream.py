"""A local fake of the Anthropic and OpenAI APIs with realistic usage (cache and reasoning
tokens), for the proxy tests and bench/proxy.py.

Anthropic is served at the root (/v1/messages, ...), OpenAI too (/v1/chat/completions, ...);
/v1/models answers in Anthropic's shape when the request has `anthropic-version`. Any other
path echoes the request (method, path, query, headers, body digest) so tests can check that
what the client sent reached upstream unchanged.

Request headers steer it: x-fake-usage (JSON usage object), x-fake-encoding
(gzip|deflate|deflate-raw|identity), x-fake-chunked: 1, x-fake-events (deltas in a stream),
x-fake-deltas (Anthropic message_delta events, cumulative), x-fake-delay-ms (between stream
events), x-fake-head-delay-ms (before the response starts), x-fake-status (an error),
x-fake-model, x-fake-id.

Run alone: python tests/fake_upstream.py [--port 0] (prints the port on stdout).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import itertools
import json
import struct
import sys
import threading
import zlib
from typing import Any

from aiohttp import web

ANTHROPIC_USAGE = {
    "input_tokens": 1_200,
    "cache_creation_input_tokens": 3_000,
    "cache_read_input_tokens": 20_000,
    "cache_creation": {"ephemeral_5m_input_tokens": 2_000, "ephemeral_1h_input_tokens": 1_000},
    "output_tokens": 350,
    "service_tier": "standard",
}
CHAT_USAGE = {
    "prompt_tokens": 5_000,
    "completion_tokens": 800,
    "total_tokens": 5_800,
    "prompt_tokens_details": {"cached_tokens": 3_072, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 256,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
RESPONSES_USAGE = {
    "input_tokens": 5_000,
    "input_tokens_details": {"cached_tokens": 3_072},
    "output_tokens": 800,
    "output_tokens_details": {"reasoning_tokens": 256},
    "total_tokens": 5_800,
}
EMBEDDING_USAGE = {"prompt_tokens": 12, "total_tokens": 12}
CREATED = 1_760_000_000
_ids = itertools.count(1)
_run = hashlib.sha256(str(id(_ids)).encode()).hexdigest()[:8]


def _new_id(prefix: str, request: web.BaseRequest) -> str:
    return request.headers.get("x-fake-id") or f"{prefix}{_run}{next(_ids):08d}"


def _dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _encode(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        c = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return c.compress(body) + c.flush()
    if encoding == "deflate":
        return zlib.compress(body)
    if encoding == "deflate-raw":
        c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        return c.compress(body) + c.flush()
    return body


class _Encoder:
    """Streams compressed with one compressor, flushed after every event."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        wbits = {
            "gzip": 16 + zlib.MAX_WBITS,
            "deflate": zlib.MAX_WBITS,
            "deflate-raw": -zlib.MAX_WBITS,
        }.get(encoding)
        self._c = zlib.compressobj(6, zlib.DEFLATED, wbits) if wbits else None

    def chunk(self, data: bytes) -> bytes:
        if self._c is None:
            return data
        return self._c.compress(data) + self._c.flush(zlib.Z_SYNC_FLUSH)

    def end(self) -> bytes:
        return self._c.flush() if self._c is not None else b""


def _header_encoding(encoding: str) -> str | None:
    return {"gzip": "gzip", "deflate": "deflate", "deflate-raw": "deflate"}.get(encoding)


async def _json(request: web.BaseRequest, data: Any, status: int = 200) -> web.StreamResponse:
    body = _dumps(data)
    encoding = request.headers.get("x-fake-encoding", "identity")
    headers = {
        "Content-Type": "application/json",
        "request-id": _new_id("req_", request),
        "x-request-id": _new_id("req_", request),
    }
    if _header_encoding(encoding):
        body = _encode(body, encoding)
        headers["Content-Encoding"] = _header_encoding(encoding)  # type: ignore[assignment]
    if request.headers.get("x-fake-chunked") == "1":
        resp = web.StreamResponse(status=status, headers=headers)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(body), 97):
            await resp.write(body[i : i + 97])
        await resp.write_eof()
        return resp
    return web.Response(status=status, body=body, headers=headers)


async def _sse(request: web.BaseRequest, events: list[bytes]) -> web.StreamResponse:
    encoding = request.headers.get("x-fake-encoding", "identity")
    delay = float(request.headers.get("x-fake-delay-ms", "0")) / 1000
    headers = {
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache",
        "request-id": _new_id("req_", request),
        "x-request-id": _new_id("req_", request),
    }
    if _header_encoding(encoding):
        headers["Content-Encoding"] = _header_encoding(encoding)  # type: ignore[assignment]
    resp = web.StreamResponse(status=200, headers=headers)
    await resp.prepare(request)
    encoder = _Encoder(encoding)
    for event in events:
        if delay:
            await asyncio.sleep(delay)
        await resp.write(encoder.chunk(event))
    tail = encoder.end()
    await resp.write_eof(tail)
    return resp


def _usage(request: web.BaseRequest, default: dict[str, Any]) -> dict[str, Any]:
    raw = request.headers.get("x-fake-usage")
    return json.loads(raw) if raw else default


def _words(n: int) -> list[str]:
    return [f"word{i} " for i in range(n)]


# --- Anthropic ---------------------------------------------------------------------------------


def _anthropic_event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + _dumps({"type": kind, **data}) + b"\n\n"


async def anthropic_messages(request: web.BaseRequest, body: dict[str, Any]) -> web.StreamResponse:
    model = request.headers.get("x-fake-model") or body.get("model", "claude-sonnet-4-5")
    usage = _usage(request, ANTHROPIC_USAGE)
    n = int(request.headers.get("x-fake-events", "8"))
    message_id = _new_id("msg_", request)
    text = "".join(_words(n))
    if not body.get("stream"):
        return await _json(
            request,
            {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": usage,
            },
        )
    start_usage = {k: v for k, v in usage.items() if k != "output_tokens"}
    start_usage["output_tokens"] = 1
    events = [
        _anthropic_event(
            "message_start",
            {
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                }
            },
        )
    ]
    events.append(
        _anthropic_event(
            "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
        )
    )
    events.append(b'event: ping\ndata: {"type": "ping"}\n\n')
    for word in _words(n):
        events.append(
            _anthropic_event(
                "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": word}}
            )
        )
    events.append(_anthropic_event("content_block_stop", {"index": 0}))
    deltas = int(request.headers.get("x-fake-deltas", "1"))
    final = usage["output_tokens"]
    for i in range(1, deltas + 1):
        events.append(
            _anthropic_event(
                "message_delta",
                {
                    "delta": {
                        "stop_reason": "end_turn" if i == deltas else None,
                        "stop_sequence": None,
                    },
                    "usage": {"output_tokens": final * i // deltas},
                },
            )
        )
    events.append(_anthropic_event("message_stop", {}))
    return await _sse(request, events)


# --- OpenAI ------------------------------------------------------------------------------------


def _data(obj: Any) -> bytes:
    return b"data: " + _dumps(obj) + b"\n\n"


async def openai_chat(request: web.BaseRequest, body: dict[str, Any]) -> web.StreamResponse:
    model = request.headers.get("x-fake-model") or body.get("model", "gpt-4o")
    usage = _usage(request, CHAT_USAGE)
    n = int(request.headers.get("x-fake-events", "8"))
    chat_id = _new_id("chatcmpl-", request)
    if not body.get("stream"):
        return await _json(
            request,
            {
                "id": chat_id,
                "object": "chat.completion",
                "created": CREATED,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": "".join(_words(n)),
                            "refusal": None,
                        },
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
                "service_tier": "default",
                "system_fingerprint": "fp_fake",
            },
        )
    include = (body.get("stream_options") or {}).get("include_usage") is True
    base = {
        "id": chat_id,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        obj = {
            **base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include:
            obj["usage"] = None
        return _data(obj)

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"content": w}) for w in _words(n)]
    events.append(chunk({}, "stop"))
    if include:
        events.append(_data({**base, "choices": [], "usage": usage}))
    events.append(b"data: [DONE]\n\n")
    return await _sse(request, events)


def _response_object(response_id: str, model: str, text: str, usage: Any, status: str) -> dict:
    return {
        "id": response_id,
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "model": model,
        "output": []
        if status != "completed"
        else [
            {
                "type": "message",
                "id": "msg_" + response_id,
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
        "temperature": 1.0,
        "top_p": 1.0,
        "text": {"format": {"type": "text"}},
    }


async def openai_responses(request: web.BaseRequest, body: dict[str, Any]) -> web.StreamResponse:
    model = request.headers.get("x-fake-model") or body.get("model", "gpt-5")
    usage = _usage(request, RESPONSES_USAGE)
    n = int(request.headers.get("x-fake-events", "8"))
    response_id = _new_id("resp_", request)
    text = "".join(_words(n))
    if not body.get("stream"):
        return await _json(request, _response_object(response_id, model, text, usage, "completed"))
    seq = itertools.count()
    item_id = "msg_" + response_id

    def event(kind: str, **data: Any) -> bytes:
        return (
            b"event: "
            + kind.encode()
            + b"\ndata: "
            + _dumps({"type": kind, "sequence_number": next(seq), **data})
            + b"\n\n"
        )

    empty = _response_object(response_id, model, "", None, "in_progress")
    events = [
        event("response.created", response=empty),
        event("response.in_progress", response=empty),
        event(
            "response.output_item.added",
            output_index=0,
            item={
                "type": "message",
                "id": item_id,
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            },
        ),
        event(
            "response.content_part.added",
            item_id=item_id,
            output_index=0,
            content_index=0,
            part={"type": "output_text", "text": "", "annotations": []},
        ),
    ]
    events += [
        event(
            "response.output_text.delta",
            item_id=item_id,
            output_index=0,
            content_index=0,
            delta=w,
            logprobs=[],
        )
        for w in _words(n)
    ]
    events.append(
        event(
            "response.output_text.done",
            item_id=item_id,
            output_index=0,
            content_index=0,
            text=text,
            logprobs=[],
        )
    )
    events.append(
        event(
            "response.completed",
            response=_response_object(response_id, model, text, usage, "completed"),
        )
    )
    return await _sse(request, events)


async def openai_embeddings(request: web.BaseRequest, body: dict[str, Any]) -> web.StreamResponse:
    inputs = body.get("input")
    count = len(inputs) if isinstance(inputs, list) else 1
    vector = [0.1, 0.2, 0.3, 0.4]
    packed = base64.b64encode(struct.pack("<4f", *vector)).decode()
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": packed if body.get("encoding_format") == "base64" else vector,
        }
        for i in range(count)
    ]
    return await _json(
        request,
        {
            "object": "list",
            "data": data,
            "model": body.get("model", "text-embedding-3-small"),
            "usage": _usage(request, EMBEDDING_USAGE),
        },
    )


# --- everything else ---------------------------------------------------------------------------


async def echo(request: web.BaseRequest, raw: bytes) -> web.StreamResponse:
    return await _json(
        request,
        {
            "method": request.method,
            "path": request.path,
            "raw_path": request.raw_path,
            "query": request.query_string,
            "headers": [[k, v] for k, v in request.headers.items()],
            "body_sha256": hashlib.sha256(raw).hexdigest(),
            "body_len": len(raw),
        },
    )


async def handle(request: web.BaseRequest) -> web.StreamResponse:
    raw = await request.content.read() if request.body_exists else b""
    head_delay = float(request.headers.get("x-fake-head-delay-ms", "0")) / 1000
    if head_delay:
        await asyncio.sleep(head_delay)
    forced = request.headers.get("x-fake-status")
    anthropic = "anthropic-version" in request.headers
    if forced:
        status = int(forced)
        if anthropic:
            error = {"type": "error", "error": {"type": "overloaded_error", "message": "fake"}}
        else:
            error = {"error": {"message": "fake", "type": "server_error", "code": None}}
        return await _json(request, error, status)
    path = request.path
    body: dict[str, Any] = {}
    if raw and request.content_type == "application/json":
        body = json.loads(raw)
    if request.method == "POST":
        if path == "/v1/messages":
            return await anthropic_messages(request, body)
        if path == "/v1/messages/count_tokens":
            return await _json(request, {"input_tokens": 42})
        if path == "/v1/chat/completions":
            return await openai_chat(request, body)
        if path == "/v1/responses":
            return await openai_responses(request, body)
        if path == "/v1/embeddings":
            return await openai_embeddings(request, body)
        if path == "/v1/files":
            return await _json(
                request,
                {
                    "id": _new_id("file-", request),
                    "object": "file",
                    "bytes": len(raw),
                    "created_at": CREATED,
                    "filename": "upload",
                    "purpose": "batch",
                    "status": "processed",
                },
            )
        if path == "/v1/batches":
            return await _json(
                request,
                {
                    "id": _new_id("batch_", request),
                    "object": "batch",
                    "endpoint": body.get("endpoint"),
                    "status": "validating",
                    "input_file_id": body.get("input_file_id"),
                    "completion_window": "24h",
                    "created_at": CREATED,
                },
            )
        if path == "/v1/messages/batches":
            return await _json(
                request,
                {
                    "id": _new_id("msgbatch_", request),
                    "type": "message_batch",
                    "processing_status": "in_progress",
                    "request_counts": {
                        "processing": 1,
                        "succeeded": 0,
                        "errored": 0,
                        "canceled": 0,
                        "expired": 0,
                    },
                    "created_at": "2025-10-01T00:00:00Z",
                    "expires_at": "2025-10-02T00:00:00Z",
                },
            )
    if request.method == "GET" and path == "/v1/models":
        if anthropic:
            return await _json(
                request,
                {
                    "data": [
                        {
                            "type": "model",
                            "id": "claude-sonnet-4-5-20250929",
                            "display_name": "Claude Sonnet 4.5",
                            "created_at": "2025-09-29T00:00:00Z",
                        }
                    ],
                    "has_more": False,
                    "first_id": "claude-sonnet-4-5-20250929",
                    "last_id": "claude-sonnet-4-5-20250929",
                },
            )
        return await _json(
            request,
            {
                "object": "list",
                "data": [
                    {"id": "gpt-4o", "object": "model", "created": CREATED, "owned_by": "openai"}
                ],
            },
        )
    return await echo(request, raw)


async def start(host: str = "127.0.0.1", port: int = 0) -> tuple[web.ServerRunner, int]:
    server = web.Server(handle, access_log=None, max_field_size=65536, auto_decompress=False)
    runner = web.ServerRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


class FakeUpstream:
    """The fake on a background thread: `with FakeUpstream() as fake: fake.url`."""

    def __init__(self) -> None:
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._runner, self.port = self._loop.run_until_complete(start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def __enter__(self) -> FakeUpstream:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        import uvloop  # type: ignore[import-not-found]

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    _, port = loop.run_until_complete(start(port=args.port))
    print(port, flush=True)
    sys.stdout.flush()
    loop.run_forever()


if __name__ == "__main__":
    main()
