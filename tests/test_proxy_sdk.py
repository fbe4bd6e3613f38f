"""The proxy driven by the official anthropic and openai SDKs (sync and async, streamed and not)
against a local fake upstream: the usage recorded, and its cost, are what the API reported
and what genai-prices charges for it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import anthropic
import openai
import pytest
from genai_prices import Usage, calc_price

from aitrack.pricing import TokenUsage, price_call
from aitrack.proxy.server import ProxyConfig, ProxyThread
from fake_upstream import ANTHROPIC_USAGE, CHAT_USAGE, RESPONSES_USAGE, FakeUpstream

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CLAUDE = "claude-sonnet-4-5-20250929"
MESSAGES = [{"role": "user", "content": "Say hello"}]
TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
)


@pytest.fixture(scope="module")
def fake():
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def proxy(fake, tracker, store_url):
    session, _ = tracker.start_session("proxied work", lane="sdk-lane")
    config = ProxyConfig(
        port=0,
        anthropic_upstream=fake.url,
        openai_upstream=fake.url + "/v1",
        lane="sdk-lane",
        store_url=store_url,
        warn=None,
    )
    with ProxyThread(config) as running:
        running.session_id = session["id"]
        yield running


def calls(tracker, proxy):
    assert proxy.flush()
    return tracker.records.rows_for_session("api_calls", proxy.session_id)


def tokens(row):
    return {f: row[f] for f in TOKEN_FIELDS}


ANTHROPIC_TOKENS = {
    "input_tokens": 1_200,
    "output_tokens": 350,
    "cache_read_tokens": 20_000,
    "cache_write_5m_tokens": 2_000,
    "cache_write_1h_tokens": 1_000,
    "reasoning_tokens": 0,
}
OPENAI_TOKENS = {
    "input_tokens": 5_000 - 3_072,
    "output_tokens": 800,
    "cache_read_tokens": 3_072,
    "cache_write_5m_tokens": 0,
    "cache_write_1h_tokens": 0,
    "reasoning_tokens": 256,
}


def assert_priced_like_genai_prices(row):
    expected = price_call(row["provider"], row["model"], TokenUsage(**tokens(row)), row["ts"])
    assert expected.cost_usd is not None
    assert row["cost_usd"] == pytest.approx(expected.cost_usd, rel=1e-12)
    assert row["cost_source"] == "genai-prices"


def test_anthropic_sync_message_records_cache_tokens_and_genai_prices_cost(tracker, proxy):
    client = anthropic.Anthropic(base_url=proxy.url, api_key="sk-ant-test", max_retries=0)
    message = client.messages.create(model=CLAUDE, max_tokens=64, messages=MESSAGES)
    assert message.usage.cache_read_input_tokens == 20_000
    [row] = calls(tracker, proxy)
    assert tokens(row) == ANTHROPIC_TOKENS
    assert (row["provider"], row["model"], row["source"]) == ("anthropic", CLAUDE, "proxy")
    assert row["request_type"] == "messages" and row["status"] == 200
    assert row["dedup_key"] == f"anthropic:{message.id}"
    assert row["latency_ms"] is not None and row["request_id"]
    assert_priced_like_genai_prices(row)
    # and by genai-prices' own calculation, which counts cache tokens inside input
    when = datetime.fromtimestamp(row["ts"] / 1000, UTC)
    direct = calc_price(
        Usage(
            input_tokens=1_200 + 20_000 + 3_000,
            output_tokens=350,
            cache_read_tokens=20_000,
            cache_write_tokens=3_000,
            cache_write_5m_tokens=2_000,
            cache_write_1h_tokens=1_000,
        ),
        CLAUDE,
        provider_id="anthropic",
        genai_request_timestamp=when,
    )
    assert row["cost_usd"] == pytest.approx(float(direct.total_price), rel=1e-9)


def test_anthropic_sync_stream_takes_the_latest_cumulative_message_delta(tracker, proxy):
    client = anthropic.Anthropic(
        base_url=proxy.url,
        api_key="sk-ant-test",
        max_retries=0,
        default_headers={"x-fake-deltas": "3"},
    )
    with client.messages.stream(model=CLAUDE, max_tokens=64, messages=MESSAGES) as stream:
        final = stream.get_final_message()
    assert final.usage.output_tokens == 350
    [row] = calls(tracker, proxy)
    assert tokens(row) == ANTHROPIC_TOKENS  # 350 output, not 116 + 233 + 350
    assert_priced_like_genai_prices(row)


def test_anthropic_async_message_and_stream(tracker, proxy):
    async def go():
        client = anthropic.AsyncAnthropic(base_url=proxy.url, api_key="k", max_retries=0)
        await client.messages.create(model=CLAUDE, max_tokens=8, messages=MESSAGES)
        stream = await client.messages.create(
            model=CLAUDE, max_tokens=8, messages=MESSAGES, stream=True
        )
        kinds = [event.type async for event in stream]
        await client.close()
        return kinds

    kinds = asyncio.run(go())
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    rows = calls(tracker, proxy)
    assert [tokens(r) for r in rows] == [ANTHROPIC_TOKENS, ANTHROPIC_TOKENS]
    for row in rows:
        assert_priced_like_genai_prices(row)


def test_openai_chat_sync_counts_cached_tokens_out_of_the_prompt(tracker, proxy):
    client = openai.OpenAI(base_url=proxy.url + "/v1", api_key="sk-test", max_retries=0)
    completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert completion.usage.prompt_tokens == 5_000
    [row] = calls(tracker, proxy)
    assert tokens(row) == OPENAI_TOKENS
    assert (row["provider"], row["model"], row["request_type"]) == (
        "openai",
        "gpt-4o",
        "chat.completions",
    )
    assert row["dedup_key"] == f"openai:{completion.id}"
    assert_priced_like_genai_prices(row)


def test_openai_streamed_chat_gets_usage_the_client_did_not_ask_for(tracker, proxy):
    client = openai.OpenAI(base_url=proxy.url + "/v1", api_key="sk-test", max_retries=0)
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    # the client sees what it asked for: no usage chunk, no usage member
    assert all(chunk.choices for chunk in chunks)
    assert all(chunk.usage is None and "usage" not in chunk.model_fields_set for chunk in chunks)
    [row] = calls(tracker, proxy)
    assert tokens(row) == OPENAI_TOKENS
    assert_priced_like_genai_prices(row)


def test_openai_streamed_chat_that_asked_for_usage_keeps_its_usage_chunk(tracker, proxy):
    client = openai.OpenAI(base_url=proxy.url + "/v1", api_key="sk-test", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 5_000
    [row] = calls(tracker, proxy)
    assert tokens(row) == OPENAI_TOKENS


def test_openai_async_chat_and_responses_streamed_and_not(tracker, proxy):
    async def go():
        client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0)
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        async for _ in stream:
            pass
        response = await client.responses.create(model="gpt-5", input="hi")
        events = [
            e.type
            async for e in await client.responses.create(model="gpt-5", input="hi", stream=True)
        ]
        await client.close()
        return response, events

    response, events = asyncio.run(go())
    assert response.usage.output_tokens_details.reasoning_tokens == 256
    assert events[-1] == "response.completed"
    rows = calls(tracker, proxy)
    assert [(r["model"], r["request_type"]) for r in rows] == [
        ("gpt-4o-mini", "chat.completions"),
        ("gpt-4o-mini", "chat.completions"),
        ("gpt-5", "responses"),
        ("gpt-5", "responses"),
    ]
    assert all(tokens(r) == OPENAI_TOKENS for r in rows)
    for row in rows:
        assert_priced_like_genai_prices(row)


def test_openai_sync_responses_and_embeddings(tracker, proxy):
    client = openai.OpenAI(base_url=proxy.url + "/v1", api_key="sk-test", max_retries=0)
    client.responses.create(model="gpt-5", input="hi")
    with client.responses.stream(model="gpt-5", input="hi") as stream:
        final = stream.get_final_response()
    assert final.usage.input_tokens == 5_000
    embedded = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(embedded.data) == 2
    rows = calls(tracker, proxy)
    assert [r["request_type"] for r in rows] == ["responses", "responses", "embeddings"]
    assert tokens(rows[2])["input_tokens"] == 12
    for row in rows:
        assert_priced_like_genai_prices(row)


def test_the_model_comes_from_the_response_not_the_request(tracker, proxy):
    client = anthropic.Anthropic(
        base_url=proxy.url,
        api_key="k",
        max_retries=0,
        default_headers={"x-fake-model": "claude-haiku-4-5-20251001"},
    )
    client.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=MESSAGES)
    [row] = calls(tracker, proxy)
    assert row["model"] == "claude-haiku-4-5-20251001"
    assert_priced_like_genai_prices(row)


def test_an_unknown_model_is_stored_unpriced_not_free(tracker, proxy):
    client = openai.OpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="acme-llm-9000", messages=MESSAGES)
    [row] = calls(tracker, proxy)
    assert row["cost_usd"] is None and row["cost_source"] is None
    assert tracker.session_detail(proxy.session_id)["summary"]["unpriced_calls"] == 1


def test_a_fast_mode_response_is_marked_fast_and_billed_at_fast_prices(tracker, proxy):
    """Anthropic reports fast mode as usage.speed "fast", in the body and in the stream's
    message_start: the call is stored as the import stores it, at the model's fast prices."""
    client = anthropic.Anthropic(
        base_url=proxy.url,
        api_key="sk-ant-test",
        max_retries=0,
        default_headers={"x-fake-usage": json.dumps({**ANTHROPIC_USAGE, "speed": "fast"})},
    )
    client.messages.create(model="claude-opus-4-8", max_tokens=64, messages=MESSAGES)
    with client.messages.stream(model="claude-opus-4-8", max_tokens=64, messages=MESSAGES) as s:
        s.get_final_message()
    rows = calls(tracker, proxy)
    assert len(rows) == 2
    for row in rows:
        assert row["request_type"] == "fast"
        usage, at = TokenUsage(**tokens(row)), row["ts"]
        fast = price_call("anthropic", "claude-opus-4-8", usage, at, fast=True).cost_usd
        standard = price_call("anthropic", "claude-opus-4-8", usage, at).cost_usd
        assert row["cost_usd"] == pytest.approx(fast, rel=1e-12)
        assert fast == pytest.approx(2 * standard, rel=1e-12)


def test_usage_overrides_from_upstream_are_read_exactly(tracker, proxy):
    usage = {
        **ANTHROPIC_USAGE,
        "input_tokens": 7,
        "cache_creation_input_tokens": 40,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 40},
        "cache_read_input_tokens": 0,
        "output_tokens": 3,
    }
    client = anthropic.Anthropic(
        base_url=proxy.url,
        api_key="k",
        max_retries=0,
        default_headers={"x-fake-usage": json.dumps(usage)},
    )
    client.messages.create(model=CLAUDE, max_tokens=8, messages=MESSAGES)
    chat = {
        **CHAT_USAGE,
        "prompt_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens": 9,
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    openai.OpenAI(
        base_url=proxy.url + "/v1",
        api_key="k",
        max_retries=0,
        default_headers={"x-fake-usage": json.dumps(chat)},
    ).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    first, second = calls(tracker, proxy)
    assert tokens(first) == {
        "input_tokens": 7,
        "output_tokens": 3,
        "cache_read_tokens": 0,
        "cache_write_5m_tokens": 0,
        "cache_write_1h_tokens": 40,
        "reasoning_tokens": 0,
    }
    assert tokens(second)["input_tokens"] == 10 and tokens(second)["output_tokens"] == 9
    assert RESPONSES_USAGE["input_tokens"] == 5_000  # the fake's default stays untouched
