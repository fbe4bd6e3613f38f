"""The MCP server's query and bookkeeping tools (sessions, runs, usage, requests, stats,
budgets) and its resources, driven in memory through the official MCP client."""

from __future__ import annotations

import json

import pytest

from aitrack.clock import now_ms
from aitrack.mcp.server import build_server
from mcp_helpers import call, make_repo, run_client, start, text


@pytest.fixture
def server(tracker):
    return build_server(tracker)


def test_requests_are_stored_as_manual_api_calls_and_grouped_by_type_and_model(server, tracker):
    sid = start(server)
    for request_type, model, tokens in [
        ("chat", "gpt-4o", 100),
        ("chat", "gpt-4o", 50),
        ("embedding", "text-embedding-3-small", 10),
    ]:
        result = call(
            server,
            "log_ai_request",
            {
                "model": model,
                "request_type": request_type,
                "tokens_in": tokens,
                "tokens_out": 5,
                "session_id": sid,
            },
        )
        assert not result.is_error, text(result)
    rows = tracker.records.rows_for_session("api_calls", sid)
    assert {r["source"] for r in rows} == {"manual"}
    assert sorted(r["request_type"] for r in rows) == ["chat", "chat", "embedding"]
    stats = call(server, "get_request_stats").structured_content
    assert stats["total_requests"] == 3
    groups = {(g["request_type"], g["model"]): g for g in stats["groups"]}
    assert groups[("chat", "gpt-4o")]["requests"] == 2
    assert groups[("chat", "gpt-4o")]["input_tokens"] == 150
    only = call(server, "get_request_stats", {"request_type": "embedding"}).structured_content
    assert only["total_requests"] == 1
    bad = call(
        server, "log_ai_request", {"model": "gpt-4o", "request_type": "chat", "tokens_in": -3}
    )
    assert bad.is_error and "tokens_in" in text(bad)


def test_session_queries_list_get_and_find_the_current_session(server, tracker, tmp_path):
    repo = make_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    sid = start(server, repo_path=str(repo))
    run = tracker.open_run(sid, prompt="do it", external_id="turn-1")
    tracker.record_tool_call(sid, "Edit", ok=True, duration_ms=12)
    call(server, "add_note", {"message": "halfway"})
    listed = call(server, "session_list", {"repo_path": str(repo), "active_only": True})
    assert [s["id"] for s in listed.structured_content["sessions"]] == [sid]
    assert (
        call(server, "session_list", {"repo_path": str(tmp_path)}).structured_content["count"] == 0
    )
    assert (
        call(server, "session_list", {"since": "1d", "limit": 5}).structured_content["count"] == 1
    )
    assert call(server, "session_list", {"since": "someday"}).is_error
    detail = call(server, "session_get", {"session_id": sid[:14]}).structured_content["session"]
    assert detail["id"] == sid
    assert [r["id"] for r in detail["runs"]] == [run["id"]]
    assert [t["name"] for t in detail["tool_calls"]] == ["Edit"]
    assert [n["message"] for n in detail["annotations"]] == ["halfway"]
    assert "summary" in detail
    current = call(server, "session_current", {"repo_path": str(repo)}).structured_content
    assert current["session"]["id"] == sid
    assert (
        call(server, "session_current", {"repo_path": str(tmp_path)}).structured_content["session"]
        is None
    )
    assert call(server, "session_get", {"session_id": "nope"}).is_error


def test_runs_can_be_listed_by_tag_and_tagged(server, tracker):
    sid = start(server)
    first = tracker.open_run(sid, prompt="one")
    second = tracker.open_run(sid, prompt="two")
    tagged = call(server, "run_tag", {"run_id": first["id"], "tags": {"kind": "bugfix"}})
    assert tagged.structured_content == {"id": first["id"], "tags": {"kind": "bugfix"}}
    runs = call(server, "run_list", {"session_id": sid}).structured_content["runs"]
    assert {r["id"] for r in runs} == {first["id"], second["id"]}
    only = call(server, "run_list", {"tags": {"kind": "bugfix"}}).structured_content["runs"]
    assert [r["id"] for r in only] == [first["id"]]
    assert call(server, "run_tag", {"run_id": first["id"], "tags": {}}).is_error
    assert call(server, "run_tag", {"run_id": "01NONE", "tags": {"a": "b"}}).is_error


def test_usage_without_a_session_id_goes_to_the_servers_active_session(server, tracker):
    sid = start(server)
    result = call(
        server,
        "log_ai_usage",
        {
            "provider": "openai",
            "model": "gpt-4o",
            "input_tokens": 1000,
            "output_tokens": 100,
            "cost": 0.5,
        },
    )
    assert result.structured_content["session_id"] == sid
    assert result.structured_content["cost_usd"] == 0.5
    assert call(
        server, "log_ai_usage", {"provider": "openai", "model": "gpt-4o", "cost": -1}
    ).is_error


def test_stats_cover_the_period_asked_for(server, tracker):
    old, _ = tracker.start_session("old", lane="y", at_ms=now_ms() - 10 * 86_400_000)
    start(server)
    everything = call(server, "get_stats").structured_content["overview"]
    recent = call(server, "get_stats", {"since": "2d"}).structured_content["overview"]
    assert everything["sessions"]["total"] == 2
    assert recent["sessions"]["total"] == 1


def test_check_budget_reports_spend_against_the_budgets(server, tracker):
    from aitrack import budgets

    empty = call(server, "check_budget")
    assert empty.structured_content["over_budget"] is False
    assert "No budget" in text(empty)
    sid = start(server)
    budgets.set_budgets(tracker, {"daily": 1.0, "session": 5.0})
    call(
        server,
        "log_ai_usage",
        {"provider": "openai", "model": "gpt-4o", "cost": 0.4, "session_id": sid},
    )
    within = call(server, "check_budget").structured_content
    assert within["over_budget"] is False
    assert within["session_id"] == sid  # the server's active session by default
    assert {r["scope"] for r in within["rules"]} == {"daily", "session"}
    call(
        server,
        "log_ai_usage",
        {"provider": "openai", "model": "gpt-4o", "cost": 0.7, "session_id": sid},
    )
    over = call(server, "check_budget", {"session_id": sid})
    assert over.structured_content["over_budget"] is True
    assert [r["scope"] for r in over.structured_content["exceeded"]] == ["daily"]
    assert "Over budget" in text(over)


def test_resources_give_prices_and_active_sessions(server):
    sid = start(server)

    async def script(client):
        listed = await client.list_resources()
        pricing = await client.read_resource("aitrack://pricing")
        active = await client.read_resource("aitrack://sessions/active")
        return listed, pricing, active

    listed, pricing, active = run_client(server, script)
    assert {str(r.uri) for r in listed.resources} == {
        "aitrack://pricing",
        "aitrack://sessions/active",
    }
    prices = json.loads(pricing.contents[0].text)
    assert any(m["model"].startswith("claude") for m in prices["models"])
    assert [s["id"] for s in json.loads(active.contents[0].text)["sessions"]] == [sid]
