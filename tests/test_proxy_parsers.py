"""Reading usage from a side copy of what upstream returned, however it is split into chunks
and whatever its encoding; and undoing the usage chunk the proxy asked for."""

from __future__ import annotations

import json
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aitrack.proxy import usage_parsers as p


def sse(*events: dict, sep: bytes = b"\n") -> bytes:
    out = b""
    for event in events:
        out += b"event: " + event["type"].encode() + sep if "type" in event else b""
        out += b"data: " + json.dumps(event).encode() + sep + sep
    return out


ANTHROPIC_STREAM = sse(
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "model": "claude-opus-4-1",
            "usage": {
                "input_tokens": 10,
                "cache_read_input_tokens": 500,
                "cache_creation_input_tokens": 70,
                "output_tokens": 1,
            },
        },
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": 'say "usage": {x}'},
    },
    {"type": "message_delta", "delta": {"stop_reason": None}, "usage": {"output_tokens": 40}},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 90}},
    {"type": "message_stop"},
)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=40))
def test_anthropic_stream_usage_is_the_same_however_the_bytes_are_split(cuts):
    scanner = p.SseUsageScanner()
    for chunk in split(ANTHROPIC_STREAM, cuts):
        scanner.feed(chunk)
    scanner.finish()
    usage = p.usage_from_sse("anthropic", scanner.events)
    assert (usage.model, usage.response_id) == ("claude-opus-4-1", "msg_1")
    assert usage.tokens == {
        "input_tokens": 10,
        "output_tokens": 90,
        "cache_read_tokens": 500,
        "cache_write_5m_tokens": 70,
        "cache_write_1h_tokens": 0,
    }


def test_a_message_delta_with_input_counts_replaces_the_start_values():
    stream = sse(
        {
            "type": "message_start",
            "message": {"id": "m", "model": "c", "usage": {"input_tokens": 10, "output_tokens": 1}},
        },
        {
            "type": "message_delta",
            "usage": {"input_tokens": 25, "output_tokens": 7, "cache_read_input_tokens": None},
        },
    )
    scanner = p.SseUsageScanner()
    scanner.feed(stream)
    usage = p.usage_from_sse("anthropic", scanner.events)
    assert usage.tokens["input_tokens"] == 25 and usage.tokens["output_tokens"] == 7


def test_a_last_line_without_newline_still_counts():
    scanner = p.SseUsageScanner()
    scanner.feed(
        b'data: {"id":"c","model":"gpt-4o","choices":[],"usage":{"prompt_tokens":3,'
        b'"completion_tokens":2}}'
    )
    scanner.finish()
    assert p.usage_from_sse("openai", scanner.events).tokens["input_tokens"] == 3


CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "model": "gpt-4o",
    "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
}
WITHOUT = (
    b"".join(
        b"data: " + json.dumps(CHUNK, separators=(",", ":")).encode() + b"\n\n" for _ in range(3)
    )
    + b"data: [DONE]\n\n"
)
WITH = (
    b"".join(
        b"data: " + json.dumps({**CHUNK, "usage": None}, separators=(",", ":")).encode() + b"\n\n"
        for _ in range(3)
    )
    + b"data: "
    + json.dumps(
        {
            **CHUNK,
            "choices": [],
            "usage": {
                "prompt_tokens": 100,
                "completion_tokens": 20,
                "prompt_tokens_details": {"cached_tokens": 40},
                "completion_tokens_details": {"reasoning_tokens": 5},
            },
        },
        separators=(",", ":"),
    ).encode()
    + b"\n\ndata: [DONE]\n\n"
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=30))
def test_the_usage_chunk_the_proxy_asked_for_is_removed_however_the_bytes_are_split(cuts):
    stripper = p.IncludeUsageStripper()
    out = b"".join(stripper.feed(chunk) for chunk in split(WITH, cuts)) + stripper.finish()
    assert out == WITHOUT
    usage = p.usage_from_sse("openai", stripper.usage_events)
    assert usage.tokens == {
        "input_tokens": 60,
        "output_tokens": 20,
        "cache_read_tokens": 40,
        "reasoning_tokens": 5,
    }


def test_the_stripper_keeps_crlf_streams_and_usage_in_the_middle_of_a_chunk():
    crlf = WITH.replace(b"\n", b"\r\n")
    stripper = p.IncludeUsageStripper()
    assert stripper.feed(crlf) + stripper.finish() == WITHOUT.replace(b"\n", b"\r\n")
    first = b'data: {"usage":null,"id":"x","choices":[{"delta":{}}]}\n\n'
    assert p.IncludeUsageStripper().feed(first) == b'data: {"id":"x","choices":[{"delta":{}}]}\n\n'


@pytest.mark.parametrize(
    "encoding", ["gzip", "x-gzip", "deflate", "deflate-raw", "br", "zstd", "identity", ""]
)
def test_bodies_are_decoded_incrementally_in_every_encoding(encoding):
    body = (
        json.dumps(
            {
                "id": "msg_9",
                "model": "claude-haiku-4-5",
                "usage": {"input_tokens": 4, "output_tokens": 5},
            }
        ).encode()
        * 3
    )
    if encoding in ("gzip", "x-gzip"):
        c = zlib.compressobj(9, zlib.DEFLATED, 31)
        data = c.compress(body) + c.flush()
    elif encoding == "deflate":
        data = zlib.compress(body)
    elif encoding == "deflate-raw":
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        data, encoding = c.compress(body) + c.flush(), "deflate"
    elif encoding == "br":
        import brotli

        data = brotli.compress(body)
    elif encoding == "zstd":
        import zstandard

        data = zstandard.ZstdCompressor().compress(body)
    else:
        data = body
    decoder = p.make_decoder(encoding)
    if decoder is None:
        assert encoding in ("identity", "")
        return
    assert b"".join(decoder.decompress(data[i : i + 7]) for i in range(0, len(data), 7)) == body


def test_a_stacked_encoding_is_undone_in_reverse_order():
    body = b'{"usage": {"input_tokens": 1}}'
    once = zlib.compress(body)
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    twice = c.compress(once) + c.flush()
    assert p.decode_body("deflate, gzip", twice) == body


def test_an_unknown_encoding_is_reported_not_guessed():
    with pytest.raises(p.UnsupportedEncoding):
        p.make_decoder("compress")


def test_a_huge_json_body_keeps_its_tail_for_the_usage():
    copy = p.BodyCopy()
    head = b'{"id":"r","model":"text-embedding-3-large","data":['
    copy.feed(head)
    filler = b"[" + b"0.125," * 100_000 + b"0],"
    while copy.size <= p.JSON_CAP + 3 * p.TAIL_CAP:
        copy.feed(filler)
    copy.feed(b'[1]],"usage":{"prompt_tokens":77,"total_tokens":77}}')
    assert copy.truncated and copy.tail_size < 2 * p.TAIL_CAP + len(filler)
    usage = p.usage_from_json_tail("openai", copy.chunks[0], b"".join(copy.tail))
    assert usage.model == "text-embedding-3-large" and usage.tokens["input_tokens"] == 77


def test_usage_objects_map_to_the_stores_convention():
    assert p.anthropic_tokens({"input_tokens": 5, "cache_creation_input_tokens": 30}) == {
        "input_tokens": 5,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_5m_tokens": 30,
        "cache_write_1h_tokens": 0,
    }
    assert p.openai_tokens(
        {
            "input_tokens": 50,
            "input_tokens_details": {"cached_tokens": 80},
            "output_tokens": 3,
            "output_tokens_details": {"reasoning_tokens": 9},
        }
    ) == {"input_tokens": 0, "output_tokens": 3, "cache_read_tokens": 50, "reasoning_tokens": 3}
    assert p.model_from_request(b'{"messages": [], "model": "gpt-\\u00e9"}') == "gpt-é"
