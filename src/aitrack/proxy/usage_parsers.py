"""Usage from what the Anthropic and OpenAI APIs actually returned, JSON or SSE, compressed or not.

The proxy forwards the original bytes untouched and feeds a side copy here. Token convention
(the store's): input_tokens is NON-cached input, output_tokens includes reasoning,
cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens.
"""

from __future__ import annotations

import json
import re
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

# A JSON member "usage" whose value is an object (not null): the only SSE events worth parsing.
USAGE_OBJECT = re.compile(rb'"usage"\s*:\s*\{')
_MODEL = re.compile(rb'"model"\s*:\s*"((?:[^"\\]|\\.){1,300})"')

JSON_CAP = 64 * 1024 * 1024  # bytes of a JSON body kept whole for parsing
TAIL_CAP = 1024 * 1024  # beyond the cap, the tail kept (usage sits at the end of a body)
LINE_CAP = 8 * 1024 * 1024  # longest SSE line scanned (Responses' response.completed is big)


@dataclass
class Usage:
    """What one API response reported: model, response id and tokens, if anything."""

    model: str | None = None
    response_id: str | None = None
    tokens: dict[str, int] = field(default_factory=dict)
    found: bool = False  # a usage object was seen
    fast: bool = False  # Anthropic's fast mode (usage.speed "fast"): billed at its own prices


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(0, int(value))


# --- usage objects to tokens -----------------------------------------------------------------


def anthropic_tokens(usage: dict[str, Any]) -> dict[str, int]:
    """Anthropic `usage`: input is already non-cached; cache writes split 5 min / 1 h."""
    tokens = {
        "input_tokens": _int(usage.get("input_tokens")),
        "output_tokens": _int(usage.get("output_tokens")),
        "cache_read_tokens": _int(usage.get("cache_read_input_tokens")),
    }
    written = _int(usage.get("cache_creation_input_tokens"))
    split = usage.get("cache_creation")
    w5 = w1 = 0
    if isinstance(split, dict):
        w5 = _int(split.get("ephemeral_5m_input_tokens"))
        w1 = _int(split.get("ephemeral_1h_input_tokens"))
    if w5 + w1 == 0 and written:
        w5 = written  # no breakdown: Anthropic's default TTL is 5 minutes
    tokens["cache_write_5m_tokens"] = w5
    tokens["cache_write_1h_tokens"] = w1
    return tokens


def openai_tokens(usage: dict[str, Any]) -> dict[str, int]:
    """OpenAI chat/completions/embeddings (prompt_/completion_tokens) or Responses
    (input_/output_tokens) usage; cached tokens are inside the prompt and come out of it."""
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        prompt = _int(usage.get("prompt_tokens"))
        output = _int(usage.get("completion_tokens"))
        in_details = usage.get("prompt_tokens_details") or {}
        out_details = usage.get("completion_tokens_details") or {}
    else:
        prompt = _int(usage.get("input_tokens"))
        output = _int(usage.get("output_tokens"))
        in_details = usage.get("input_tokens_details") or {}
        out_details = usage.get("output_tokens_details") or {}
    cached = _int(in_details.get("cached_tokens")) if isinstance(in_details, dict) else 0
    cached = min(cached, prompt)
    reasoning = _int(out_details.get("reasoning_tokens")) if isinstance(out_details, dict) else 0
    return {
        "input_tokens": prompt - cached,
        "output_tokens": output,
        "cache_read_tokens": cached,
        "reasoning_tokens": min(reasoning, output),
    }


# --- whole JSON bodies -------------------------------------------------------------------------


def usage_from_json(provider: str, body: bytes) -> Usage:
    """Usage of a non-streamed response body (already decoded)."""
    try:
        data = json.loads(body)
    except ValueError:
        return Usage()
    if not isinstance(data, dict):
        return Usage()
    if data.get("object") == "response" and isinstance(data.get("response"), dict):
        data = data["response"]
    usage = data.get("usage")
    out = Usage(model=_str(data.get("model")), response_id=_str(data.get("id")))
    if isinstance(usage, dict):
        _read_usage(out, provider, usage)
    return out


def _read_usage(out: Usage, provider: str, usage: dict[str, Any]) -> None:
    """Fill out from a response's whole `usage` object."""
    out.found = True
    out.tokens = anthropic_tokens(usage) if provider == "anthropic" else openai_tokens(usage)
    out.fast = provider == "anthropic" and usage.get("speed") == "fast"


def usage_from_json_tail(provider: str, head: bytes, tail: bytes) -> Usage:
    """Usage of a body too big to keep whole: the last `usage` object of its tail, the model
    from its head."""
    out = Usage()
    match = _MODEL.search(head)
    if match:
        out.model = _unescape(match.group(1))
    matches = list(USAGE_OBJECT.finditer(tail))
    if matches:
        start = matches[-1].end() - 1
        try:
            usage, _ = json.JSONDecoder().raw_decode(tail[start:].decode("utf-8", "replace"))
        except ValueError:
            return out
        if isinstance(usage, dict):
            _read_usage(out, provider, usage)
    return out


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _unescape(raw: bytes) -> str:
    try:
        return json.loads(b'"' + raw + b'"')
    except ValueError:
        return raw.decode("utf-8", "replace")


def model_from_request(body: bytes | None) -> str | None:
    """The model a JSON request body asked for (for calls whose response says nothing)."""
    if not body:
        return None
    match = _MODEL.search(body[:65536])
    return _unescape(match.group(1)) if match else None


# --- server-sent events ------------------------------------------------------------------------


class SseUsageScanner:
    """Scans an SSE stream as it passes and keeps only the `data:` lines that carry a usage
    object (Anthropic message_start / message_delta, OpenAI's usage chunk, Responses'
    response.completed). Everything else costs one regex search per chunk."""

    __slots__ = ("_tail", "events", "overflow")

    def __init__(self) -> None:
        self._tail = b""
        self.events: list[bytes] = []
        self.overflow = False

    def feed(self, data: bytes) -> None:
        if self._tail:
            data = self._tail + data
        cut = data.rfind(b"\n")
        if cut < 0:
            self._keep(data)
            return
        self._tail = data[cut + 1 :]
        if len(self._tail) > LINE_CAP:
            self._keep(self._tail)
        complete = data[:cut]
        if USAGE_OBJECT.search(complete) is None:
            return
        for line in complete.split(b"\n"):
            if line.startswith(b"data:") and USAGE_OBJECT.search(line) is not None:
                self.events.append(line[5:].strip())

    def _keep(self, data: bytes) -> None:
        if len(data) > LINE_CAP:
            self.overflow = True
            self._tail = b""
        else:
            self._tail = data

    def finish(self) -> None:
        """The stream ended: a last line without a newline still counts."""
        if self._tail:
            tail, self._tail = self._tail, b""
            self.feed(tail + b"\n")


def usage_from_sse(provider: str, events: list[bytes]) -> Usage:
    """Usage from the usage-bearing SSE data lines of one stream.

    Anthropic: message_start has input and cache tokens; each message_delta has CUMULATIVE
    counts, so the latest value of a field wins (never summed)."""
    out = Usage()
    anthropic: dict[str, Any] = {}
    for raw in events:
        try:
            event = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        kind = event.get("type")
        if provider == "anthropic":
            if kind == "message_start" and isinstance(event.get("message"), dict):
                message = event["message"]
                out.model = _str(message.get("model")) or out.model
                out.response_id = _str(message.get("id")) or out.response_id
                usage = message.get("usage")
            else:
                usage = event.get("usage")
            if isinstance(usage, dict):
                out.found = True
                anthropic.update({k: v for k, v in usage.items() if v is not None})
            continue
        if isinstance(event.get("response"), dict):  # Responses API: response.completed & co
            response = event["response"]
            usage = response.get("usage")
            out.model = _str(response.get("model")) or out.model
            out.response_id = _str(response.get("id")) or out.response_id
        else:  # chat completions / completions usage chunk
            usage = event.get("usage")
            out.model = _str(event.get("model")) or out.model
            out.response_id = _str(event.get("id")) or out.response_id
        if isinstance(usage, dict):
            out.found = True
            out.tokens = openai_tokens(usage)
    if provider == "anthropic" and out.found:
        out.tokens = anthropic_tokens(anthropic)
        out.fast = anthropic.get("speed") == "fast"
    return out


# --- content encodings -------------------------------------------------------------------------


class UnsupportedEncoding(Exception):
    """A content-encoding this Python cannot decode (e.g. br without the brotli package)."""


class _Deflate:
    """HTTP "deflate" is zlib-wrapped by the standard, raw deflate by some servers."""

    def __init__(self) -> None:
        self._d: Any = None

    def decompress(self, data: bytes) -> bytes:
        if self._d is None:
            if not data:
                return b""
            zlib_wrapped = (
                len(data) >= 2 and (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0
            )
            self._d = zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)
        return self._d.decompress(data)


class _Brotli:
    """brotli's incremental decoder under the zlib-style name (`process` -> `decompress`)."""

    def __init__(self, decoder: Any) -> None:
        self._d = decoder

    def decompress(self, data: bytes) -> bytes:
        step = getattr(self._d, "process", None) or self._d.decompress
        return step(data)


def _one_decoder(encoding: str) -> Any:
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return _Deflate()
    if encoding == "br":
        try:
            import brotli  # type: ignore[import-not-found]
        except ImportError:
            try:
                import brotlicffi as brotli  # type: ignore[import-not-found,no-redef]
            except ImportError:
                raise UnsupportedEncoding(
                    "br (install the brotli package to read usage from brotli responses)"
                ) from None
        return _Brotli(brotli.Decompressor())
    if encoding == "zstd":
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError:
            raise UnsupportedEncoding("zstd (install zstandard to read usage)") from None
        return zstandard.ZstdDecompressor().decompressobj()
    raise UnsupportedEncoding(encoding)


class Decoder:
    """Incremental decoder of a Content-Encoding list ("gzip", "br", "gzip, br", identity)."""

    def __init__(self, content_encoding: str) -> None:
        names = [e.strip().lower() for e in content_encoding.split(",")]
        # applied in the order listed, so decoded in reverse
        self._steps = [_one_decoder(n) for n in reversed(names) if n and n != "identity"]

    def decompress(self, data: bytes) -> bytes:
        for step in self._steps:
            data = step.decompress(data)
        return data


def make_decoder(content_encoding: str | None) -> Decoder | None:
    """A decoder for the encoding, None for identity. Raises UnsupportedEncoding."""
    if not content_encoding or content_encoding.strip().lower() in ("identity", ""):
        return None
    return Decoder(content_encoding)


def decode_body(content_encoding: str | None, body: bytes) -> bytes:
    decoder = make_decoder(content_encoding)
    return body if decoder is None else decoder.decompress(body)


class BodyCopy:
    """A side copy of a JSON body: whole up to JSON_CAP, then only head and tail."""

    __slots__ = ("chunks", "size", "truncated", "tail", "tail_size")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.truncated = False
        self.tail: deque[bytes] = deque()
        self.tail_size = 0

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if not self.truncated:
            if self.size <= JSON_CAP:
                self.chunks.append(chunk)
                return
            self.truncated = True
            self.chunks = [b"".join(self.chunks)[:65536]]
        self.tail.append(chunk)
        self.tail_size += len(chunk)
        while self.tail_size - len(self.tail[0]) >= TAIL_CAP:
            self.tail_size -= len(self.tail.popleft())


# --- OpenAI streams the proxy asked usage for ------------------------------------------------

_USAGE_NULL = re.compile(rb'\s*,\s*"usage"\s*:\s*null|"usage"\s*:\s*null\s*,?\s*')


class IncludeUsageStripper:
    """Undoes what `stream_options.include_usage` changes in an OpenAI stream the client did
    not ask usage for: drops the usage-only chunk (kept aside for recording) and the
    `"usage":null` member every other chunk gained. Works on whole events; a partial event
    waits for its end (it would not be usable by the client before anyway)."""

    __slots__ = ("_pending", "_sep", "usage_events")

    def __init__(self) -> None:
        self._pending = b""
        self._sep = b""  # event separator, b"\n\n" or b"\r\n\r\n" as upstream writes it
        self.usage_events: list[bytes] = []

    def feed(self, data: bytes) -> bytes:
        data = self._pending + data if self._pending else data
        if not self._sep:
            if b"\n" not in data:
                self._pending = data
                return b""
            self._sep = b"\r\n\r\n" if b"\r\n" in data else b"\n\n"
        cut = data.rfind(self._sep)
        if cut < 0:
            self._pending = data
            return b""
        end = cut + len(self._sep)
        self._pending = data[end:]
        return self._events(data[:end])

    def finish(self) -> bytes:
        rest, self._pending = self._pending, b""
        return self._events(rest) if rest else b""

    def _events(self, block: bytes) -> bytes:
        sep = self._sep or b"\n\n"
        newline = sep[: len(sep) // 2]
        out = []
        for event in block.split(sep):
            if not event:
                continue
            kept = []
            drop = False
            for line in event.split(newline):
                if line.startswith(b"data:") and b'"usage"' in line:
                    if USAGE_OBJECT.search(line) and _no_choices(line):
                        self.usage_events.append(line[5:].strip())
                        drop = True
                        break
                    line = _USAGE_NULL.sub(b"", line, count=1)
                kept.append(line)
            if not drop:
                out.append(newline.join(kept) + sep)
        if block and not block.endswith(sep) and out:
            out[-1] = out[-1][: -len(sep)]  # an unterminated last event stays unterminated
        return b"".join(out)


def _no_choices(line: bytes) -> bool:
    try:
        chunk = json.loads(line[5:])
    except ValueError:
        return False
    return isinstance(chunk, dict) and not chunk.get("choices")
