"""The MCP server's tools, driven in memory through the official MCP client, on SQLite and
(when configured) PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.types import Implementation

from aitrack.clock import now_ms
from aitrack.mcp.server import build_server
from mcp_helpers import SEED_START, call, interaction, make_repo, run_client, start, text

SEED_TOOLS = {
    "start_ai_session": (
        ["session_name", "task_type", "model_name", "estimate_source"],
        ["human_time_estimate_minutes", "initial_estimate_minutes", "context", "developer",
         "project"],
    ),
    "log_ai_interaction": (
        ["session_id", "prompt", "response_summary", "effectiveness_rating"],
        ["iteration_count", "tools_used", "tokens_in", "tokens_out", "cached_tokens",
         "new_tokens", "cache_hit_rate", "context_pct"],
    ),
    "end_ai_session": (["session_id", "outcome"], ["notes", "final_estimate_minutes"]),
    "flag_ai_issue": (["session_id", "issue_type", "description", "severity"], []),
    "log_code_metrics": (["session_id", "file_path", "functions_modified"], []),
    "get_ai_observability": ([], ["session_id", "time_range"]),
    "get_active_sessions": ([], []),
    "log_ai_request": (["model", "request_type"], ["tokens_in", "tokens_out", "cached_tokens"]),
    "get_request_stats": ([], ["request_type", "model"]),
}  # fmt: skip
OTHER_TOOLS = {
    "session_list", "session_get", "session_current", "run_list", "run_tag", "log_ai_usage",
    "add_note", "get_stats", "check_budget",
}  # fmt: skip


@pytest.fixture
def server(tracker):
    return build_server(tracker)


def test_the_server_lists_the_seed_tools_with_their_exact_parameters_and_output_schemas(server):
    tools = run_client(server, lambda c: c.list_tools()).tools
    by_name = {t.name: t for t in tools}
    assert set(by_name) == set(SEED_TOOLS) | OTHER_TOOLS
    for name, (required, optional) in SEED_TOOLS.items():
        schema = by_name[name].input_schema
        assert sorted(schema.get("required", [])) == sorted(required), name
        assert set(required + optional) <= set(schema["properties"]), name
        assert by_name[name].output_schema is not None, name
        assert by_name[name].description
    start_props = by_name["start_ai_session"].input_schema["properties"]
    assert set(start_props["task_type"]["enum"]) >= {
        "code_generation", "debugging", "refactoring", "testing", "documentation", "analysis",
        "architecture_planning", "human_review", "planning",
    }  # fmt: skip
    assert set(start_props["estimate_source"]["enum"]) >= {"manual", "issue_tracker", "historical"}
    end_props = by_name["end_ai_session"].input_schema["properties"]
    assert end_props["outcome"]["enum"] == ["success", "partial", "failed"]
    rating = by_name["log_ai_interaction"].input_schema["properties"]["effectiveness_rating"]
    assert (rating["minimum"], rating["maximum"]) == (1, 5)
    flag_props = by_name["flag_ai_issue"].input_schema["properties"]
    assert flag_props["severity"]["enum"] == ["low", "medium", "high", "critical"]
    obs = by_name["get_ai_observability"].input_schema["properties"]["time_range"]
    assert obs["enum"] == ["last_day", "last_week", "all"]
    item = by_name["log_code_metrics"].input_schema["$defs"]["FunctionModified"]
    assert item["required"] == ["name", "modification_type"]
    assert item["properties"]["modification_type"]["enum"] == [
        "added", "modified", "refactored", "deleted",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "estimate_name", ["initial_estimate_minutes", "human_time_estimate_minutes"]
)
def test_start_accepts_either_estimate_name_and_starts_in_the_foreground_lane(
    server, tracker, estimate_name
):
    args = {k: v for k, v in SEED_START.items() if k != "initial_estimate_minutes"}
    result = call(server, "start_ai_session", {**args, estimate_name: 45})
    assert not result.is_error, text(result)
    data = result.structured_content
    session = tracker.get_session(data["session_id"])
    assert session["estimate_minutes"] == 45
    assert session["lane"] == "foreground" == data["lane"]
    assert session["source"] == "mcp"
    assert data["session_id"] in text(result)
    assert data["auto_closed_sessions"] == []


@pytest.mark.parametrize(
    "client_name, agent",
    [("claude-code", "claude-code"), ("Visual Studio Code", "visual-studio-code"), ("  ", None)],
)
def test_a_session_started_over_mcp_belongs_to_the_agent_the_client_named(
    server, tracker, client_name, agent
):
    async def script(client: Client):
        return await client.call_tool("start_ai_session", SEED_START)

    async def main():
        info = Implementation(name=client_name, version="1.0")
        async with Client(server, read_timeout_seconds=60, client_info=info) as client:
            return await script(client)

    result = anyio.run(main)
    assert not result.is_error, text(result)
    assert tracker.get_session(result.structured_content["session_id"])["agent"] == agent


def test_start_without_an_estimate_or_with_two_different_ones_is_a_tool_error(server, tracker):
    args = {k: v for k, v in SEED_START.items() if k != "initial_estimate_minutes"}
    missing = call(server, "start_ai_session", args)
    assert missing.is_error and "human_time_estimate_minutes" in text(missing)
    both = call(
        server, "start_ai_session",
        {**args, "initial_estimate_minutes": 10, "human_time_estimate_minutes": 20},
    )  # fmt: skip
    assert both.is_error and "disagree" in text(both)
    assert tracker.records.active_sessions() == []


def test_starting_a_session_closes_the_previous_one_in_its_lane_but_not_other_lanes(
    server, tracker
):
    first = start(server)
    other = start(server, lane="tab-2")
    result = call(server, "start_ai_session", SEED_START)
    assert result.structured_content["auto_closed_sessions"] == [first]
    assert "Auto-closed 1" in text(result)
    assert tracker.get_session(first)["outcome"] == "partial"
    assert tracker.get_session(other)["status"] == "active"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("task_type", "cooking", "task_type"),
        ("estimate_source", "guess", "estimate_source"),
        ("initial_estimate_minutes", -5, "greater than or equal to 0"),
        ("initial_estimate_minutes", "sixty", "initial_estimate_minutes"),
        ("session_name", "", "must not be empty"),
        ("session_name", 42, "session_name"),
    ],
)
def test_start_rejects_bad_values_with_a_message_naming_the_field(
    server, tracker, field, value, message
):
    result = call(server, "start_ai_session", {**SEED_START, field: value})
    assert result.is_error
    assert message in text(result)
    assert tracker.records.active_sessions() == []


def test_log_interaction_records_the_rating_and_returns_the_session_totals(server, tracker):
    sid = start(server)
    call(server, "log_ai_interaction", interaction(sid, 5))
    result = call(
        server, "log_ai_interaction",
        interaction(sid, 2, iteration_count=3, tools_used=["edit", "run"], tokens_in=1200,
                    tokens_out=300, cached_tokens=800, cache_hit_rate=0.4, context_pct=35.5),
    )  # fmt: skip
    assert not result.is_error, text(result)
    data = result.structured_content
    assert data["total_interactions"] == 2
    assert data["avg_effectiveness"] == 3.5
    assert "★★☆☆☆ (2/5)" in text(result)
    rows = tracker.records.rows_for_session("interactions", sid)
    assert [r["rating"] for r in rows] == [5, 2]
    assert json.loads(rows[1]["tools_used"]) == ["edit", "run"]
    assert rows[1]["cache_hit_rate"] == 0.4


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"effectiveness_rating": 0}, "greater than or equal to 1"),
        ({"effectiveness_rating": 6}, "less than or equal to 5"),
        ({"effectiveness_rating": 4.5}, "effectiveness_rating"),
        ({"effectiveness_rating": "4"}, "effectiveness_rating"),
        ({"effectiveness_rating": True}, "effectiveness_rating"),
        ({"effectiveness_rating": None}, "effectiveness_rating"),
        ({"iteration_count": 0}, "iteration_count"),
        ({"tokens_in": -1}, "tokens_in"),
        ({"cache_hit_rate": 1.5}, "cache_hit_rate"),
        ({"context_pct": 101}, "context_pct"),
        ({"tools_used": "edit"}, "tools_used"),
        ({"prompt": "   "}, "must not be empty"),
        ({"unexpected": 1}, None),
    ],
)
def test_out_of_range_or_wrongly_typed_interaction_values_are_rejected_not_clamped(
    server, tracker, extra, message
):
    sid = start(server)
    result = call(server, "log_ai_interaction", {**interaction(sid), **extra})
    if message is None:  # unknown arguments are ignored, as JSON schema allows
        assert not result.is_error
        return
    assert result.is_error
    assert message in text(result)
    assert tracker.records.rows_for_session("interactions", sid) == []
    assert tracker.get_session(sid)["interaction_count"] == 0


def test_logging_to_an_unknown_or_ended_session_is_a_tool_error_that_says_what_to_do(server):
    unknown = call(server, "log_ai_interaction", interaction("01NOPE"))
    assert unknown.is_error and "no session" in text(unknown)
    sid = start(server)
    call(server, "end_ai_session", {"session_id": sid, "outcome": "success"})
    ended = call(server, "log_ai_interaction", interaction(sid))
    assert ended.is_error and "Start a new session" in text(ended)


def test_end_returns_duration_quality_issues_roi_and_api_cost(server, tracker):
    sid = start(server)
    call(server, "log_ai_interaction", interaction(sid, 4))
    call(server, "log_ai_interaction", interaction(sid, 2))
    call(
        server,
        "flag_ai_issue",
        {
            "session_id": sid,
            "issue_type": "hallucination",
            "description": "invented an API",
            "severity": "high",
        },
    )
    usage = call(
        server,
        "log_ai_usage",
        {
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "input_tokens": 10_000,
            "output_tokens": 2_000,
            "session_id": sid,
        },
    )
    assert usage.structured_content["cost_usd"] > 0
    result = call(
        server,
        "end_ai_session",
        {"session_id": sid, "outcome": "success", "notes": "done", "final_estimate_minutes": 30},
    )
    assert not result.is_error, text(result)
    data = result.structured_content
    assert data["outcome"] == "success"
    assert data["total_interactions"] == 2 and data["avg_effectiveness"] == 3.0
    assert data["issues_count"] == 1
    assert data["api_calls"] == 1 and data["tokens"] == 12_000
    assert data["api_cost_usd"] == pytest.approx(usage.structured_content["cost_usd"])
    assert data["roi"]["estimated_human_hours"] == 0.5
    assert "Session Ended" in text(result) and "1 issues" in text(result)
    session = tracker.get_session(sid)
    assert (session["status"], session["notes"], session["final_estimate_minutes"]) == (
        "completed", "done", 30,
    )  # fmt: skip
    again = call(server, "end_ai_session", {"session_id": sid, "outcome": "failed"})
    assert again.is_error and "already ended" in text(again)


def test_an_unpriced_model_shows_a_null_cost_not_zero(server):
    sid = start(server)
    call(
        server,
        "log_ai_usage",
        {"provider": "acme", "model": "acme-secret-1", "input_tokens": 100, "session_id": sid},
    )
    data = call(
        server, "end_ai_session", {"session_id": sid, "outcome": "partial"}
    ).structured_content
    assert data["api_cost_usd"] is None and data["unpriced_calls"] == 1


def test_flag_issue_rejects_an_unknown_severity_and_records_a_valid_one(server, tracker):
    sid = start(server)
    bad = call(
        server,
        "flag_ai_issue",
        {"session_id": sid, "issue_type": "x", "description": "y", "severity": "urgent"},
    )
    assert bad.is_error and "severity" in text(bad)
    ok = call(
        server,
        "flag_ai_issue",
        {
            "session_id": sid,
            "issue_type": "wrong_api",
            "description": "used v1",
            "severity": "critical",
        },
    )
    assert not ok.is_error and "🔴" in text(ok)
    assert [i["issue_type"] for i in tracker.records.rows_for_session("issues", sid)] == [
        "wrong_api"
    ]


PY = '''def add(a, b):
    """Add two numbers and return the sum.

    a: first number
    b: second number
    Returns the sum.
    """
    return a + b


def branchy(x):
    if x > 1:
        return 1
    elif x < 0:
        return -1
    return 0
'''


def test_log_code_metrics_measures_the_functions_of_a_file_in_the_session_repository(
    server, tracker, tmp_path
):
    repo = make_repo(tmp_path / "repo", {"calc.py": PY})
    sid = start(server, repo_path=str(repo))
    result = call(server, "log_code_metrics", {
        "session_id": sid,
        "file_path": "calc.py",
        "functions_modified": [
            {"name": "add", "modification_type": "added", "lines_added": 7},
            {"name": "branchy", "modification_type": "modified", "lines_modified": 4},
            {"name": "ghost", "modification_type": "deleted", "lines_deleted": 3},
        ],
    })  # fmt: skip
    assert not result.is_error, text(result)
    data = result.structured_content
    by_name = {f["function_name"]: f for f in data["functions"]}
    assert by_name["add"]["documentation"]["has_docstring"] is True
    assert by_name["add"]["value_metrics"]["effort_score"] == 7.0
    assert by_name["branchy"]["context"]["final_complexity"] == 3
    assert by_name["branchy"]["value_metrics"]["effort_score"] == 2.3
    assert data["functions_not_found"] == ["ghost"]
    rows = {r["function_name"]: r for r in tracker.records.rows_for_session("code_metrics", sid)}
    assert set(rows) == {"add", "branchy", "ghost"}
    assert rows["add"]["source"] == "mcp" and rows["add"]["file_path"] == "calc.py"
    # reporting a function again replaces its row
    call(
        server,
        "log_code_metrics",
        {
            "session_id": sid,
            "file_path": str(repo / "calc.py"),
            "functions_modified": [{"name": "add", "modification_type": "modified"}],
        },
    )
    rows = tracker.records.rows_for_session("code_metrics", sid)
    assert sorted(r["function_name"] for r in rows) == ["add", "branchy", "ghost"]


@pytest.mark.parametrize(
    ("file_path", "functions", "message"),
    [
        ("../outside.py", [{"name": "f", "modification_type": "added"}], "outside"),
        ("{outside}", [{"name": "f", "modification_type": "added"}], "outside"),
        ("missing.py", [{"name": "f", "modification_type": "added"}], "no such file"),
        ("notes.txt", [{"name": "f", "modification_type": "added"}], "unsupported"),
        ("calc.py", [], "functions_modified"),
        ("calc.py", [{"name": "f", "modification_type": "rewritten"}], "modification_type"),
        (
            "calc.py",
            [{"name": "f", "modification_type": "added", "lines_added": -2}],
            "lines_added",
        ),
        ("calc.py", [{"modification_type": "added"}], "name"),
    ],
)
def test_log_code_metrics_refuses_paths_outside_the_repository_and_bad_entries(
    server, tracker, tmp_path, file_path, functions, message
):
    repo = make_repo(tmp_path / "repo", {"calc.py": PY, "notes.txt": "hi"})
    outside = tmp_path / "outside.py"
    outside.write_text("def f():\n    return 1\n")
    sid = start(server, repo_path=str(repo))
    result = call(server, "log_code_metrics", {
        "session_id": sid, "file_path": file_path.format(outside=outside),
        "functions_modified": functions,
    })  # fmt: skip
    assert result.is_error
    assert message in text(result)
    assert tracker.records.rows_for_session("code_metrics", sid) == []


def test_a_fifo_or_a_directory_is_refused_without_reading_it(server, tracker, tmp_path):
    import os

    repo = make_repo(tmp_path / "repo", {"calc.py": PY})
    os.mkfifo(repo / "pipe.py")  # reading it would block forever
    (repo / "pkg.py").mkdir()
    sid = start(server, repo_path=str(repo))
    for name in ("pipe.py", "pkg.py", "."):
        result = call(server, "log_code_metrics", {
            "session_id": sid, "file_path": name,
            "functions_modified": [{"name": "f", "modification_type": "added"}],
        })  # fmt: skip
        assert result.is_error and "not a regular file" in text(result), name


def test_a_symlink_pointing_outside_the_repository_is_refused(server, tracker, tmp_path):
    repo = make_repo(tmp_path / "repo", {"calc.py": PY})
    secret = tmp_path / "secret.py"
    secret.write_text("def f():\n    return 1\n")
    (repo / "link.py").symlink_to(secret)
    sid = start(server, repo_path=str(repo))
    result = call(
        server,
        "log_code_metrics",
        {
            "session_id": sid,
            "file_path": "link.py",
            "functions_modified": [{"name": "f", "modification_type": "added"}],
        },
    )
    assert result.is_error and "outside" in text(result)


def test_observability_honours_the_time_range_and_the_session(server, tracker):
    old, _ = tracker.start_session("old work", lane="x", at_ms=now_ms() - 3 * 86_400_000)
    tracker.end_session(old["id"], "success", at_ms=now_ms() - 3 * 86_400_000 + 60_000)
    sid = start(server)
    call(server, "log_ai_interaction", interaction(sid, 5))

    def totals(args):
        result = call(server, "get_ai_observability", args)
        assert not result.is_error, text(result)
        return result.structured_content["overview"]["sessions"]["total"], text(result)

    assert totals({})[0] == 2
    assert totals({"time_range": "all"})[0] == 2
    assert totals({"time_range": "last_week"})[0] == 2
    count, report = totals({"time_range": "last_day"})
    assert count == 1 and "Total sessions: 1" in report
    assert totals({"session_id": old["id"]})[0] == 1
    bad = call(server, "get_ai_observability", {"time_range": "last_year"})
    assert bad.is_error and "time_range" in text(bad)
    missing = call(server, "get_ai_observability", {"session_id": "01ZZZZ"})
    assert missing.is_error and "no session" in text(missing)


def test_active_sessions_lists_every_lane(server):
    assert call(server, "get_active_sessions").structured_content["count"] == 0
    assert "No active sessions" in text(call(server, "get_active_sessions"))
    a = start(server)
    b = start(server, lane="tab-2")
    result = call(server, "get_active_sessions")
    assert {s["session_id"] for s in result.structured_content["active_sessions"]} == {a, b}
    assert a in text(result) and b in text(result)


def test_an_unexpected_failure_is_a_tool_error_logged_to_errors_log_and_the_server_goes_on(
    tracker, aitrack_home
):
    server = build_server(tracker)
    start(server)
    tracker.store.close()  # the connection is gone: sqlite raises a non-aitrack error
    result = call(server, "get_active_sessions")
    assert result.is_error and "internal error" in text(result)
    log = Path(aitrack_home / "errors.log").read_text()
    assert "MCP tool get_active_sessions" in log and "Traceback" in log
    listed = run_client(server, lambda c: c.list_tools())
    assert len(listed.tools) == len(SEED_TOOLS) + len(OTHER_TOOLS)


def test_concurrent_calls_share_one_tracker_safely(server, tracker):
    import anyio

    sid = start(server)

    async def script(client):
        results = []

        async def one(i):
            results.append(
                await client.call_tool("log_ai_interaction", interaction(sid, 1 + i % 5))
            )

        async with anyio.create_task_group() as tg:
            for i in range(40):
                tg.start_soon(one, i)
        return results

    results = run_client(server, script)
    assert not any(r.is_error for r in results)
    session = tracker.get_session(sid)
    rows = tracker.records.rows_for_session("interactions", sid)
    assert session["interaction_count"] == len(rows) == 40
    assert session["rating_sum"] == sum(r["rating"] for r in rows) == 8 * 15
