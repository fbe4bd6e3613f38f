"""The proxy as a transparent forwarder: every path and method, bytes unchanged both ways,
streams unbuffered, every encoding, clean gateway errors, loopback only, nothing secret stored,
attribution to the right session and budgets enforced in the provider's own error format."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from aitrack import budgets
from aitrack.proxy.server import ProxyConfig, ProxyThread
from aitrack.settings import Settings
from aitrack.store import open_store
from aitrack.tracker import Tracker
from fake_upstream import FakeUpstream

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CLAUDE = "claude-sonnet-4-5"
MESSAGES = [{"role": "user", "content": "Say hello"}]
ANTHROPIC_HEADERS = {
    "anthropic-version": "2023-06-01",
    "x-api-key": "sk-ant-test",
    "content-type": "application/json",
}


@pytest.fixture(scope="module")
def fake():
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def local(aitrack_home):
    store = open_store()
    yield Tracker(store, Settings())
    store.close()


def start_proxy(fake, lane="t-lane", **kwargs):
    config = ProxyConfig(
        port=0,
        anthropic_upstream=kwargs.pop("anthropic", fake.url),
        openai_upstream=kwargs.pop("openai", fake.url + "/v1"),
        lane=lane,
        warn=kwargs.pop("warn", None),
        **kwargs,
    )
    return ProxyThread(config).start()


@pytest.fixture
def proxy(fake, local):
    session, _ = local.start_session("lane work", lane="t-lane")
    running = start_proxy(fake)
    running.session_id = session["id"]
    yield running
    running.stop()


def recorded(local, proxy, session_id=None):
    assert proxy.flush()
    return local.records.rows_for_session("api_calls", session_id or proxy.session_id)


def raw(method, url, **kwargs):
    """Status, headers and the undecoded body bytes of one request."""
    with httpx.Client(timeout=30) as client, client.stream(method, url, **kwargs) as resp:
        return resp.status_code, resp.headers, b"".join(resp.iter_raw())


# --- transparency ------------------------------------------------------------------------------


def test_what_the_client_sends_reaches_upstream_unchanged(fake, proxy):
    body = bytes(range(256)) * 40
    headers = [
        ("X-Custom-Header", "Keep Case"),
        ("Authorization", "Bearer sk-live-123"),
        ("x-api-key", "sk-ant-456"),
        ("anthropic-beta", "a,b"),
        ("X-Dup", "one"),
        ("X-Dup", "two"),
        ("Content-Type", "application/octet-stream"),
    ]
    path = "/v1/some/thing%2Fencoded?b=2&a=1&x=%2F&empty="
    sent = httpx.Request("PATCH", proxy.url + path, headers=headers, content=body)
    with httpx.Client() as client:
        direct = client.send(
            httpx.Request("PATCH", fake.url + path, headers=headers, content=body)
        ).json()
        through = client.send(sent).json()
    assert through["method"] == "PATCH"
    assert through["raw_path"] == direct["raw_path"] == path
    assert through["body_sha256"] == hashlib.sha256(body).hexdigest()

    def comparable(echo):
        return sorted((k.lower(), v) for k, v in echo["headers"] if k.lower() != "host")

    assert comparable(through) == comparable(direct)


def test_large_and_chunked_request_bodies_are_streamed_upstream_intact(proxy):
    big = bytes(range(256)) * (9 * 4096 + 3)  # over the size read at once
    pieces = [bytes([i]) * 70_000 for i in range(40)]
    with httpx.Client(timeout=60) as client:
        echo = client.post(proxy.url + "/v1/uploads/big", content=big).json()
        chunked = client.post(proxy.url + "/v1/uploads/chunked", content=iter(pieces)).json()
    assert (echo["body_len"], echo["body_sha256"]) == (len(big), hashlib.sha256(big).hexdigest())
    joined = b"".join(pieces)
    assert chunked["body_sha256"] == hashlib.sha256(joined).hexdigest()
    assert ["transfer-encoding", "chunked"] in [[k.lower(), v] for k, v in chunked["headers"]]


def test_head_requests_get_headers_only(fake, proxy):
    direct = httpx.head(fake.url + "/v1/files/x")
    through = httpx.head(proxy.url + "/v1/files/x")
    assert through.status_code == direct.status_code == 200
    assert through.content == b"" and int(through.headers["content-length"]) > 0


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT", "OPTIONS"])
def test_every_method_is_forwarded(proxy, method):
    with httpx.Client() as client:
        echo = client.request(method, proxy.url + "/v1/files/file-abc?limit=3").json()
    assert (echo["method"], echo["raw_path"]) == (method, "/v1/files/file-abc?limit=3")


def test_models_count_tokens_files_and_batches_pass_through_and_are_not_usage(
    local, proxy, tmp_path
):
    claude = anthropic.Anthropic(base_url=proxy.url, api_key="k", max_retries=0)
    gpt = openai.OpenAI(base_url=proxy.url + "/v1", api_key="k", max_retries=0)
    assert [m.id for m in claude.models.list()] == ["claude-sonnet-4-5-20250929"]
    assert [m.id for m in gpt.models.list()] == ["gpt-4o"]
    assert claude.messages.count_tokens(model=CLAUDE, messages=MESSAGES).input_tokens == 42
    upload = tmp_path / "batch.jsonl"
    upload.write_bytes(b'{"custom_id": "1"}\n' * 1000)
    created = gpt.files.create(file=upload.open("rb"), purpose="batch")
    assert created.bytes > upload.stat().st_size  # the whole multipart body arrived
    assert (
        gpt.batches.create(
            input_file_id=created.id, endpoint="/v1/chat/completions", completion_window="24h"
        ).status
        == "validating"
    )
    batch = claude.messages.batches.create(
        requests=[
            {"custom_id": "a", "params": {"model": CLAUDE, "max_tokens": 5, "messages": MESSAGES}}
        ]
    )
    assert batch.processing_status == "in_progress"
    assert recorded(local, proxy) == []


# --- responses: unchanged, unbuffered, every encoding ------------------------------------------


@pytest.mark.parametrize("encoding", ["identity", "gzip", "deflate", "deflate-raw"])
@pytest.mark.parametrize("chunked", ["0", "1"])
@pytest.mark.parametrize("stream", [False, True])
def test_responses_arrive_byte_for_byte_and_usage_is_read_in_every_encoding(
    fake, local, proxy, encoding, chunked, stream
):
    headers = {
        **ANTHROPIC_HEADERS,
        "x-fake-encoding": encoding,
        "x-fake-chunked": chunked,
        "x-fake-id": "msg_fixed" + encoding + chunked,
        "accept-encoding": "gzip, deflate",
    }
    body = json.dumps({"model": CLAUDE, "max_tokens": 9, "messages": MESSAGES, "stream": stream})
    direct = raw("POST", fake.url + "/v1/messages", headers=headers, content=body)
    through = raw("POST", proxy.url + "/v1/messages", headers=headers, content=body)
    assert through[0] == direct[0] == 200
    assert through[2] == direct[2]  # the very bytes, still compressed
    assert through[1].get("content-encoding") == direct[1].get("content-encoding")
    [row] = recorded(local, proxy)
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (
        1_200,
        20_000,
        350,
    )


def test_a_stream_without_include_usage_reaches_the_client_exactly_as_upstream_sent_it(
    fake, local, proxy
):
    headers = {
        "authorization": "Bearer sk",
        "content-type": "application/json",
        "x-fake-id": "chatcmpl-fixed",
    }
    body = json.dumps({"model": "gpt-4o", "messages": MESSAGES, "stream": True})
    direct = raw("POST", fake.url + "/v1/chat/completions", headers=headers, content=body)
    through = raw("POST", proxy.url + "/v1/chat/completions", headers=headers, content=body)
    assert b'"usage"' not in direct[2]
    assert through[2] == direct[2]
    [row] = recorded(local, proxy)
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (
        1_928,
        3_072,
        800,
    )


def test_a_gzipped_stream_without_include_usage_is_still_what_the_client_would_see(
    fake, local, proxy
):
    headers = {
        "authorization": "Bearer sk",
        "content-type": "application/json",
        "x-fake-id": "chatcmpl-gz",
        "x-fake-encoding": "gzip",
    }
    body = json.dumps({"model": "gpt-4o", "messages": MESSAGES, "stream": True})
    with httpx.Client() as client:
        direct = client.post(fake.url + "/v1/chat/completions", headers=headers, content=body)
        through = client.post(proxy.url + "/v1/chat/completions", headers=headers, content=body)
    assert through.content == direct.content  # decoded text, event for event
    assert recorded(local, proxy)[0]["output_tokens"] == 800


def test_streamed_events_flow_through_as_they_come(fake, proxy):
    headers = {**ANTHROPIC_HEADERS, "x-fake-delay-ms": "400", "x-fake-events": "2"}
    body = json.dumps({"model": CLAUDE, "max_tokens": 9, "messages": MESSAGES, "stream": True})
    arrivals = []
    start = time.monotonic()
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", proxy.url + "/v1/messages", headers=headers, content=body) as resp,
    ):
        for chunk in resp.iter_raw():
            arrivals.append((time.monotonic() - start, chunk))
    assert arrivals[0][0] < 0.8  # the first event, not the whole stream
    assert arrivals[-1][0] > 2.0
    assert b"message_start" in arrivals[0][1]
    assert len(arrivals) >= 5


def test_a_long_generation_is_not_cut_off(fake, local, proxy):
    headers = {**ANTHROPIC_HEADERS, "x-fake-delay-ms": "300", "x-fake-events": "10"}
    client = anthropic.Anthropic(
        base_url=proxy.url, api_key="k", max_retries=0, default_headers=headers
    )
    with client.messages.stream(model=CLAUDE, max_tokens=9, messages=MESSAGES) as stream:
        text = stream.get_final_text()
    assert text.count("word") == 10
    assert recorded(local, proxy)[0]["output_tokens"] == 350


def test_a_client_that_leaves_mid_stream_still_gets_its_input_tokens_recorded(local, proxy):
    headers = {**ANTHROPIC_HEADERS, "x-fake-delay-ms": "200", "x-fake-events": "20"}
    body = json.dumps({"model": CLAUDE, "max_tokens": 9, "messages": MESSAGES, "stream": True})
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", proxy.url + "/v1/messages", headers=headers, content=body) as resp,
    ):
        assert b"message_start" in next(resp.iter_raw())
    [row] = recorded(local, proxy)
    assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (
        1_200,
        20_000,
        1,
    )
    assert httpx.get(proxy.url + "/health").json()["status"] == "ok"


# --- failures --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_upstream_gives_a_clean_502_in_the_providers_shape(fake):
    dead = f"http://127.0.0.1:{_free_port()}"
    with start_proxy(fake, anthropic=dead, openai=dead + "/v1") as running:
        claude = anthropic.Anthropic(base_url=running.url, api_key="k", max_retries=0)
        with pytest.raises(anthropic.InternalServerError) as caught:
            claude.messages.create(model=CLAUDE, max_tokens=5, messages=MESSAGES)
        assert caught.value.status_code == 502
        body = caught.value.response.json()
        assert body["type"] == "error" and "cannot reach" in body["error"]["message"]
        resp = httpx.post(running.url + "/v1/chat/completions", json={"model": "gpt-4o"})
        assert resp.status_code == 502 and "Traceback" not in resp.text
        assert set(resp.json()) == {"error"} and resp.json()["error"]["message"]


def test_an_upstream_that_does_not_answer_in_time_gives_504(fake):
    with start_proxy(fake, read_timeout_s=0.3) as running:
        resp = httpx.post(
            running.url + "/v1/messages",
            headers={**ANTHROPIC_HEADERS, "x-fake-head-delay-ms": "3000"},
            content=b"{}",
            timeout=10,
        )
    assert resp.status_code == 504
    assert resp.json()["error"]["type"] == "timeout_error" and "Traceback" not in resp.text


def test_an_upstream_error_passes_through_and_is_recorded_with_its_status(local, proxy):
    client = anthropic.Anthropic(
        base_url=proxy.url, api_key="k", max_retries=0, default_headers={"x-fake-status": "529"}
    )
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(model=CLAUDE, max_tokens=5, messages=MESSAGES)
    assert caught.value.status_code == 529
    assert caught.value.response.json()["error"]["type"] == "overloaded_error"
    [row] = recorded(local, proxy)
    assert (row["status"], row["model"], row["output_tokens"]) == (529, CLAUDE, 0)


def _outside_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.123", 9))
            address = s.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_clients_that_are_not_on_this_machine_get_403(fake):
    address = _outside_address()
    if address is None:
        pytest.skip("no non-loopback address on this machine")
    config = ProxyConfig(
        host="0.0.0.0",
        port=0,
        anthropic_upstream=fake.url,
        openai_upstream=fake.url + "/v1",
        warn=None,
    )
    with ProxyThread(config) as running:
        resp = httpx.get(f"http://{address}:{running.port}/v1/models")
        assert resp.status_code == 403
        assert httpx.get(f"http://127.0.0.1:{running.port}/v1/models").status_code == 200


def test_keys_and_bodies_are_never_stored_or_logged(fake, local, proxy, aitrack_home):
    secret_key, secret_prompt = "sk-ant-SECRETKEY-9f8e7d", "TOP-SECRET-PROMPT-4242"
    client = anthropic.Anthropic(
        base_url=proxy.url,
        api_key=secret_key,
        max_retries=0,
        default_headers={"authorization": "Bearer BEARER-SECRET-77"},
    )
    client.messages.create(
        model=CLAUDE, max_tokens=5, messages=[{"role": "user", "content": secret_prompt}]
    )
    httpx.post(
        proxy.url + "/v1/chat/completions",
        headers={"x-fake-status": "500", "authorization": "Bearer BEARER-SECRET-77"},
        json={"model": "gpt-4o"},
    )
    assert len(recorded(local, proxy)) == 2
    proxy.stop()
    local.store.close()
    stored = b"".join(p.read_bytes() for p in Path(aitrack_home).rglob("*") if p.is_file())
    for secret in (secret_key, secret_prompt, "BEARER-SECRET-77", "word0"):
        assert secret.encode() not in stored


def test_health_reports_status_and_the_active_session(proxy):
    health = httpx.get(proxy.url + "/health").json()
    assert health["status"] == "ok" and health["port"] == proxy.port
    assert health["session"]["id"] == proxy.session_id
    assert health["session"]["name"] == "lane work"


# --- attribution -----------------------------------------------------------------------------


def test_a_claude_code_session_header_wins_over_the_lane(local, proxy):
    agent_session, _ = local.start_session(
        "claude code task", lane="cc-tab", agent="claude-code", external_id="3f1c0e2a-cc"
    )
    client = anthropic.Anthropic(
        base_url=proxy.url,
        api_key="k",
        max_retries=0,
        default_headers={"X-Claude-Code-Session-Id": "3f1c0e2a-cc"},
    )
    client.messages.create(model=CLAUDE, max_tokens=5, messages=MESSAGES)
    assert len(recorded(local, proxy, agent_session["id"])) == 1
    assert recorded(local, proxy) == []


def test_an_unknown_agent_session_falls_back_to_the_lane(local, proxy):
    client = anthropic.Anthropic(
        base_url=proxy.url,
        api_key="k",
        max_retries=0,
        default_headers={"X-Claude-Code-Session-Id": "never-seen"},
    )
    client.messages.create(model=CLAUDE, max_tokens=5, messages=MESSAGES)
    assert len(recorded(local, proxy)) == 1


def test_parallel_sessions_never_get_each_others_calls(local, proxy):
    first, _ = local.start_session("agent one", lane="tab-1")
    second, _ = local.start_session("agent two", lane="tab-2")

    def agent(session_id: str, count: int) -> None:
        client = anthropic.Anthropic(
            base_url=proxy.url,
            api_key="k",
            max_retries=0,
            default_headers={"x-aitrack-session": session_id},
        )
        for _ in range(count):
            client.messages.create(model=CLAUDE, max_tokens=5, messages=MESSAGES)

    threads = [
        threading.Thread(target=agent, args=(first["id"], 7)),
        threading.Thread(target=agent, args=(second["id"], 5)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(recorded(local, proxy, first["id"])) == 7
    assert len(recorded(local, proxy, second["id"])) == 5
    assert recorded(local, proxy) == []


def test_without_a_lane_session_a_single_active_session_gets_the_call(fake, local):
    only, _ = local.start_session("the only one", lane="elsewhere")
    with start_proxy(fake, lane="empty-lane") as running:
        anthropic.Anthropic(base_url=running.url, api_key="k", max_retries=0).messages.create(
            model=CLAUDE, max_tokens=5, messages=MESSAGES
        )
        assert running.flush()
    assert len(local.records.rows_for_session("api_calls", only["id"])) == 1


def test_with_several_active_sessions_and_none_in_the_lane_the_call_is_unattributed(fake, local):
    local.start_session("a", lane="x1")
    local.start_session("b", lane="x2")
    with start_proxy(fake, lane="empty-lane") as running:
        anthropic.Anthropic(base_url=running.url, api_key="k", max_retries=0).messages.create(
            model=CLAUDE, max_tokens=5, messages=MESSAGES
        )
        assert running.flush()
    rows = local.db.query("SELECT session_id FROM api_calls")
    assert rows == [{"session_id": None}]


# --- budgets -----------------------------------------------------------------------------------


def test_an_enforced_session_budget_refuses_further_calls_in_each_providers_format(
    fake, local, proxy
):
    warnings: list[str] = []
    proxy.stop()
    budgets.set_budgets(local, {"session": 0.01}, enforce=True)
    with start_proxy(fake, warn=warnings.append) as running:
        claude = anthropic.Anthropic(base_url=running.url, api_key="k", max_retries=3)
        claude.messages.create(model=CLAUDE, max_tokens=5, messages=MESSAGES)  # $0.028
        assert running.flush()
        with pytest.raises(anthropic.RateLimitError) as refused:
            claude.messages.create(model=CLAUDE, max_tokens=5, messages=MESSAGES)
        error = refused.value.response.json()
        assert error["type"] == "error" and error["error"]["type"] == "rate_limit_error"
        assert "budget" in error["error"]["message"]
        assert refused.value.response.headers["x-should-retry"] == "false"
        gpt = openai.OpenAI(base_url=running.url + "/v1", api_key="k", max_retries=0)
        with pytest.raises(openai.RateLimitError) as refused_openai:
            gpt.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert refused_openai.value.code == "insufficient_quota"
        assert gpt.models.list().data  # what is not a model call still passes
        assert running.flush()
    assert any("session budget $0.01 reached" in w and "refused" in w for w in warnings)
    assert len(local.records.rows_for_session("api_calls", proxy.session_id)) == 1
    assert budgets.check_budgets(local, proxy.session_id)["over_budget"] is True


def test_a_budget_without_enforce_only_warns(fake, local, proxy):
    warnings: list[str] = []
    proxy.stop()
    budgets.set_budgets(local, {"daily": 0.01})
    with start_proxy(fake, warn=warnings.append) as running:
        claude = anthropic.Anthropic(base_url=running.url, api_key="k", max_retries=0)
        for _ in range(3):
            claude.messages.create(model=CLAUDE, max_tokens=5, messages=MESSAGES)
            assert running.flush()
    assert len(local.records.rows_for_session("api_calls", proxy.session_id)) == 3
    assert [w for w in warnings if "daily budget" in w] == [warnings[0]]  # warned once
