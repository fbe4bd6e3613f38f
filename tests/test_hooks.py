"""Recorded Claude Code and Codex event sequences fed through the real `aitrack-hook` process:
sessions, runs, tool calls, exact tokens from the transcript at Stop, idle close of a killed
session, concurrent sessions in one repository, sub-agents, and a hook that never fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent_transcript_lines import claude_prompt, claude_reply, claude_tool_result
from aitrack.hooks import process_spool, spool_dir
from aitrack.settings import data_dir
from aitrack.store import open_store
from aitrack.tracker import Tracker

HOOK = Path(sys.executable).parent / "aitrack-hook"
AITRACK = Path(sys.executable).parent / "aitrack"


def hook(event: dict | str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    payload = event if isinstance(event, str) else json.dumps(event)
    result = subprocess.run([str(HOOK), *args], input=payload.encode(), capture_output=True,
                            env={**os.environ, **(env or {})}, timeout=30)  # fmt: skip
    assert result.returncode == 0 and result.stdout == b"", result
    return result


def settle() -> Tracker:
    """Wait for the detached processor, apply what is left, and open the store."""
    process_spool(wait=True)
    return Tracker(open_store())


def iso(seconds: float = 0) -> str:
    t = datetime.now(UTC) + timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "feature/x", str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "-c", "user.email=a@b", "-c", "user.name=a",
                    "commit", "-q", "--allow-empty", "-m", "init"], check=True)  # fmt: skip
    return path


def transcript(tmp_path: Path, sid: str, lines: list[str]) -> Path:
    path = tmp_path / "claude" / "projects" / "-tmp-repo" / f"{sid}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write("".join(line + "\n" for line in lines))
    return path


def event(name: str, sid: str, cwd: Path, **fields) -> dict:
    return {"session_id": sid, "cwd": str(cwd), "hook_event_name": name,
            "permission_mode": "default", **fields}  # fmt: skip


def test_a_claude_session_is_recorded_from_its_events(repo, tmp_path):
    sid = "3f0c1e0a-0000-4000-8000-000000000001"
    path = transcript(tmp_path, sid, [])
    hook(event("SessionStart", sid, repo, source="startup", model="claude-sonnet-4-5-20250929",
               transcript_path=str(path)))  # fmt: skip
    hook(event("UserPromptSubmit", sid, repo, prompt="Fix the login redirect\nplease",
               transcript_path=str(path)))  # fmt: skip
    transcript(tmp_path, sid, [
        claude_prompt("Fix the login redirect\nplease", "prompt-1", sid, iso()),
        claude_reply("msg_1", sid, iso(1), 10, 40, cache_write=1000, tool=("toolu_1", "Bash")),
    ])  # fmt: skip
    hook(event("PreToolUse", sid, repo, tool_name="Bash", tool_use_id="toolu_1", tool_input={}))
    time.sleep(0.05)
    hook(event("PostToolUse", sid, repo, tool_name="Bash", tool_use_id="toolu_1",
               tool_input={}, tool_response={"stdout": "ok"}))  # fmt: skip
    hook(event("PostToolUseFailure", sid, repo, tool_name="Edit", tool_use_id="toolu_2",
               error="no such file"))  # fmt: skip
    transcript(tmp_path, sid, [
        claude_tool_result("toolu_1", sid, iso(2)),
        claude_reply("msg_2", sid, iso(3), 5, 300, cache_read=1000),
    ])  # fmt: skip
    hook(event("Stop", sid, repo, stop_hook_active=False, transcript_path=str(path)))
    hook(event("PreCompact", sid, repo, trigger="auto", transcript_path=str(path)))
    hook(event("SessionEnd", sid, repo, reason="prompt_input_exit", transcript_path=str(path)))
    t = settle()
    s = t.records.session_by_external_id("claude-code", sid)
    assert s["name"] == "Fix the login redirect"
    assert (s["lane"], s["agent"], s["source"]) == (f"claude-code:{sid}", "claude-code", "hook")
    assert (s["repo_path"], s["branch"], s["project"]) == (str(repo.resolve()), "feature/x", "repo")
    assert s["git_head_start"] and s["model"] == "claude-sonnet-4-5-20250929"
    assert (s["status"], s["outcome"]) == ("completed", "success")
    assert "Claude Code session ended (prompt_input_exit)" in s["notes"]
    runs = t.records.rows_for_session("runs", s["id"], order="started_at")
    assert len(runs) == 1
    assert (runs[0]["status"], runs[0]["external_id"]) == ("completed", "prompt-1")
    assert runs[0]["prompt"].startswith("Fix the login redirect")
    tools = {c["external_id"]: c for c in t.records.rows_for_session("tool_calls", s["id"])}
    assert tools["toolu_1"]["ok"] == 1 and tools["toolu_1"]["duration_ms"] >= 40
    assert tools["toolu_2"]["ok"] == 0 and tools["toolu_2"]["name"] == "Edit"
    calls = t.records.rows_for_session("api_calls", s["id"])
    assert sorted(c["output_tokens"] for c in calls) == [40, 300]
    assert all(c["run_id"] == runs[0]["id"] and c["cost_usd"] > 0 for c in calls)
    notes = [n["message"] for n in t.records.rows_for_session("notes", s["id"])]
    assert notes == ["context compacted (auto)"]


def test_stop_and_import_never_count_a_response_twice(repo, tmp_path):
    sid = "3f0c1e0a-0000-4000-8000-000000000002"
    path = transcript(tmp_path, sid, [claude_prompt("go", "p1", sid, iso()),
                                      claude_reply("msg_1", sid, iso(1), 1, 50)])  # fmt: skip
    hook(event("SessionStart", sid, repo, source="startup"))
    hook(event("Stop", sid, repo, transcript_path=str(path)))
    transcript(tmp_path, sid, [claude_reply("msg_1", sid, iso(2), 1, 50),  # a re-written copy
                               claude_reply("msg_2", sid, iso(3), 1, 70)])  # fmt: skip
    hook(event("Stop", sid, repo, transcript_path=str(path)))
    t = settle()
    from aitrack.importing.transcripts import TranscriptImporter

    TranscriptImporter(t).import_agent("claude-code", [tmp_path / "claude"])
    TranscriptImporter(t).import_files("claude-code", [path])
    assert t.db.scalar("SELECT count(*) FROM api_calls") == 2
    assert t.db.scalar("SELECT sum(output_tokens) FROM api_calls") == 120
    assert t.db.scalar("SELECT count(*) FROM sessions") == 1


def test_a_killed_session_is_closed_at_its_last_activity(repo, monkeypatch):
    hook(event("SessionStart", "killed", repo, source="startup"))
    hook(event("UserPromptSubmit", "killed", repo, prompt="long task"))
    hook(event("PostToolUse", "killed", repo, tool_name="Read", tool_use_id="t1"))
    t = settle()
    last = t.records.session_by_external_id("claude-code", "killed")["last_activity"]
    time.sleep(0.3)
    # no SessionEnd ever comes; the next session's start applies the idle rule
    hook(
        event("SessionStart", "next", repo, source="startup"), env={"AITRACK_IDLE_MINUTES": "0.002"}
    )
    t = settle()
    killed = t.records.session_by_external_id("claude-code", "killed")
    assert (killed["status"], killed["outcome"]) == ("completed", "partial")
    assert killed["end_time"] == last
    assert "idle" in killed["notes"]
    assert t.records.session_by_external_id("claude-code", "next")["status"] == "active"


def test_two_concurrent_sessions_in_one_repository_stay_apart(repo):
    def agent(sid: str) -> None:
        hook(event("SessionStart", sid, repo, source="startup"))
        hook(event("UserPromptSubmit", sid, repo, prompt=f"task of {sid}"))
        for i in range(3):
            hook(event("PreToolUse", sid, repo, tool_name="Bash", tool_use_id=f"{sid}-t{i}"))
            hook(event("PostToolUse", sid, repo, tool_name="Bash", tool_use_id=f"{sid}-t{i}"))
        hook(event("Stop", sid, repo))

    threads = [threading.Thread(target=agent, args=(sid,)) for sid in ("left", "right")]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t = settle()
    active = t.records.active_sessions()
    assert sorted(s["lane"] for s in active) == ["claude-code:left", "claude-code:right"]
    assert {s["repo_path"] for s in active} == {str(repo.resolve())}
    for s in active:
        runs = t.records.rows_for_session("runs", s["id"], order="started_at")
        tools = t.records.rows_for_session("tool_calls", s["id"])
        assert [r["prompt"] for r in runs] == [f"task of {s['external_id']}"]
        assert runs[0]["status"] == "completed"
        assert sorted(c["external_id"] for c in tools) == [
            f"{s['external_id']}-t{i}" for i in range(3)
        ]
        assert all(c["run_id"] == runs[0]["id"] and c["duration_ms"] is not None for c in tools)


def test_a_subagent_transcript_counts_in_its_parent_session(repo, tmp_path):
    sid = "3f0c1e0a-0000-4000-8000-000000000003"
    path = transcript(tmp_path, sid, [claude_prompt("delegate", "p1", sid, iso()),
                                      claude_reply("msg_1", sid, iso(1), 2, 20, tool=("toolu_task", "Task"))])  # fmt: skip
    side = path.parent / sid / "subagents" / "agent-abc123.jsonl"
    side.parent.mkdir(parents=True)
    side.write_text(claude_reply("msg_side", sid, iso(2), 3, 90, side=True, agent_id="abc123",
                                 model="claude-haiku-4-5-20251001") + "\n")  # fmt: skip
    hook(event("SessionStart", sid, repo, source="startup"))
    hook(event("UserPromptSubmit", sid, repo, prompt="delegate"))
    hook(event("SubagentStop", sid, repo, agent_id="abc123", agent_type="general-purpose",
               agent_transcript_path=str(side), transcript_path=str(path)))  # fmt: skip
    t = settle()
    sessions = t.db.query("SELECT id, external_id FROM sessions")
    assert [s["external_id"] for s in sessions] == [sid]
    calls = t.records.rows_for_session("api_calls", sessions[0]["id"])
    assert sorted((c["model"], c["output_tokens"], c["is_sidechain"]) for c in calls) == [
        ("claude-haiku-4-5-20251001", 90, 1),
        ("claude-sonnet-4-5-20250929", 20, 0),
    ]


def test_a_resumed_session_is_reopened(repo):
    hook(event("SessionStart", "again", repo, source="startup"))
    hook(event("SessionEnd", "again", repo, reason="other"))
    t = settle()
    assert t.records.session_by_external_id("claude-code", "again")["status"] == "completed"
    hook(event("SessionStart", "again", repo, source="resume"))
    hook(event("UserPromptSubmit", "again", repo, prompt="continue"))
    t = settle()
    s = t.records.session_by_external_id("claude-code", "again")
    assert (s["status"], s["end_time"], s["outcome"]) == ("active", None, None)
    assert t.db.scalar("SELECT count(*) FROM sessions") == 1


def test_a_session_ended_mid_turn_is_partial(repo):
    hook(event("SessionStart", "cut", repo, source="startup"))
    hook(event("UserPromptSubmit", "cut", repo, prompt="something long"))
    hook(event("SessionEnd", "cut", repo, reason="other"))
    s = settle().records.session_by_external_id("claude-code", "cut")
    assert (s["status"], s["outcome"]) == ("completed", "partial")


def test_prompts_are_not_stored_when_redacted(repo):
    env = {"AITRACK_REDACT_PROMPTS": "1"}
    hook(event("SessionStart", "secret", repo, source="startup"), env=env)
    hook(event("UserPromptSubmit", "secret", repo, prompt="my API key is sk-123"), env=env)
    t = settle()
    s = t.records.session_by_external_id("claude-code", "secret")
    assert "sk-123" not in json.dumps(t.session_detail(s["id"]), default=str)
    assert t.records.rows_for_session("runs", s["id"], order="started_at")[0]["prompt"] is None


@pytest.mark.parametrize("payload", ["not json", "[1, 2]", "{}", '{"hook_event_name": 5}', ""])
def test_bad_input_exits_zero_without_output(payload):
    hook(payload)
    settle()
    assert Tracker(open_store()).db.scalar("SELECT count(*) FROM sessions") == 0


def test_an_internal_error_is_logged_and_the_hook_still_exits_zero(tmp_path, repo):
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    result = hook(event("SessionStart", "x", repo), env={"AITRACK_HOME": str(blocked / "home")})
    assert result.stdout == b""
    hook("garbage that is not json")
    settle()
    log = (data_dir() / "errors.log").read_text()
    assert "hook event" in log and "JSONDecodeError" in log


def test_the_aitrack_hook_command_takes_the_same_path(repo):
    result = subprocess.run([str(AITRACK), "hook"], input=json.dumps(event("SessionStart", "cli", repo)).encode(),
                            capture_output=True, timeout=30)  # fmt: skip
    assert (result.returncode, result.stdout) == (0, b"")
    assert settle().records.session_by_external_id("claude-code", "cli") is not None


def test_the_spool_lives_in_the_data_dir(monkeypatch, tmp_path):
    for env in ({"AITRACK_HOME": str(tmp_path / "a")}, {"AI_OUTPUT_DIR": str(tmp_path / "b")},
                {"XDG_DATA_HOME": str(tmp_path / "c")}, {}):  # fmt: skip
        for var in ("AITRACK_HOME", "AI_OUTPUT_DIR", "XDG_DATA_HOME"):
            monkeypatch.delenv(var, raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        assert Path(spool_dir()) == data_dir()


def test_hook_events_wait_in_order_until_processed(repo, monkeypatch):
    from aitrack.hooks import receive

    class Stdin:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def read(self) -> bytes:
            return self.data

    monkeypatch.delattr(os, "fork")  # no fork (Windows): the hook processes its event itself
    receive([], Stdin(json.dumps(event("SessionStart", "inline", repo)).encode()))
    t = Tracker(open_store())
    assert t.records.session_by_external_id("claude-code", "inline")["status"] == "active"
    assert (Path(spool_dir()) / "hook-events.spool").stat().st_size == 0


# -- Codex ---------------------------------------------------------------------------------------
def rollout(home: Path, thread: str, turn: str, prompt: str) -> Path:
    path = (
        home
        / "sessions"
        / datetime.now(UTC).strftime("%Y/%m/%d")
        / f"rollout-2025-10-20T10-00-00-{thread}.jsonl"
    )
    path.parent.mkdir(parents=True)
    usage = {"input_tokens": 1200, "cached_input_tokens": 1000, "output_tokens": 80,
             "reasoning_output_tokens": 30, "total_tokens": 1280}  # fmt: skip
    lines = [
        {"timestamp": iso(), "type": "session_meta", "payload": {"id": thread, "cwd": "/home/u/app",
         "cli_version": "0.46.0", "git": {"branch": "main"}}},
        {"timestamp": iso(), "type": "turn_context", "payload": {"cwd": "/home/u/app", "model": "gpt-5-codex", "turn_id": turn}},
        {"timestamp": iso(), "type": "event_msg", "payload": {"type": "user_message", "message": prompt}},
        {"timestamp": iso(1), "type": "event_msg", "payload": {"type": "token_count", "info": {
            "total_token_usage": usage, "last_token_usage": usage, "model_context_window": 272000}}},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_codex_notify_records_the_turn_and_its_tokens(tmp_path, monkeypatch):
    home = tmp_path / "codex"
    thread, turn = "0199a213-81c0-7800-8aa1-bbab2a035a53", "turn-1"
    rollout(home, thread, turn, "add a test")
    payload = {"type": "agent-turn-complete", "thread-id": thread, "turn-id": turn,
               "cwd": str(tmp_path), "input-messages": ["add a test"],
               "last-assistant-message": "done"}  # fmt: skip
    monkeypatch.setenv("CODEX_HOME", str(home))
    subprocess.run([str(HOOK), "codex-notify", json.dumps(payload)], check=True, timeout=30)
    t = settle()
    s = t.records.session_by_external_id("codex", thread)
    assert s["lane"] == f"codex:{thread}"
    runs = t.records.rows_for_session("runs", s["id"], order="started_at")
    assert [(r["external_id"], r["status"], r["prompt"]) for r in runs] == [
        (turn, "completed", "add a test")
    ]
    calls = t.records.rows_for_session("api_calls", s["id"])
    assert [
        (c["input_tokens"], c["cache_read_tokens"], c["output_tokens"], c["run_id"]) for c in calls
    ] == [(200, 1000, 80, runs[0]["id"])]


def test_codex_notify_runs_the_users_own_program_after_it(tmp_path):
    out = tmp_path / "theirs.txt"
    script = tmp_path / "theirs.py"
    script.write_text(f"import sys; open({str(out)!r}, 'w').write(sys.argv[-1])\n")
    payload = json.dumps({"type": "agent-turn-complete", "thread-id": "t9", "turn-id": "u1"})
    subprocess.run([str(HOOK), "codex-notify", "--then", sys.executable, str(script), payload],
                   check=True, timeout=30)  # fmt: skip
    deadline = time.time() + 10
    while not out.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert json.loads(out.read_text())["thread-id"] == "t9"
    assert settle().records.session_by_external_id("codex", "t9") is not None


def test_codex_hooks_and_notify_make_one_run_per_turn(repo, tmp_path, monkeypatch):
    home = tmp_path / "codex"
    thread = "0199a213-81c0-7800-8aa1-bbab2a035a99"
    monkeypatch.setenv("CODEX_HOME", str(home))
    hook(
        event("SessionStart", thread, repo, source="startup", model="gpt-5-codex"),
        "--agent",
        "codex",
    )
    hook(
        event("UserPromptSubmit", thread, repo, prompt="hello", turn_id="turn-a"),
        "--agent",
        "codex",
    )
    rollout(home, thread, "turn-a", "hello")
    subprocess.run([str(HOOK), "codex-notify", json.dumps(
        {"type": "agent-turn-complete", "thread-id": thread, "turn-id": "turn-a"})], check=True)  # fmt: skip
    t = settle()
    s = t.records.session_by_external_id("codex", thread)
    runs = t.records.rows_for_session("runs", s["id"], order="started_at")
    assert [(r["external_id"], r["status"], r["prompt"]) for r in runs] == [
        ("turn-a", "completed", "hello")
    ]
    assert s["model"] == "gpt-5-codex"
    calls = t.records.rows_for_session("api_calls", s["id"])
    assert [c["run_id"] for c in calls] == [runs[0]["id"]]


def test_codex_notify_without_a_rollout_still_records_the_turn(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "empty"))
    payload = {"type": "agent-turn-complete", "thread-id": "lonely", "turn-id": "t-1",
               "input-messages": ["do it"]}  # fmt: skip
    subprocess.run([str(HOOK), "codex-notify", json.dumps(payload)], check=True, timeout=30)
    t = settle()
    s = t.records.session_by_external_id("codex", "lonely")
    runs = t.records.rows_for_session("runs", s["id"], order="started_at")
    assert [(r["external_id"], r["status"], r["prompt"]) for r in runs] == [
        ("t-1", "completed", "do it")
    ]


def test_runs_and_close_idle_commands_read_what_hooks_wrote(repo):
    from click.testing import CliRunner

    from aitrack.cli.main import cli

    hook(event("SessionStart", "cmd", repo, source="startup"))
    hook(event("UserPromptSubmit", "cmd", repo, prompt="first turn"))
    hook(event("PostToolUse", "cmd", repo, tool_name="Read", tool_use_id="r1"))
    runner = CliRunner()
    listed = runner.invoke(cli, ["runs", "--json"])  # applies queued events before reading
    assert listed.exit_code == 0, listed.output
    runs = json.loads(listed.output)["data"]["runs"]
    assert [(r["prompt"], r["tool_call_count"], r["status"]) for r in runs] == [
        ("first turn", 1, "active")
    ]
    tagged = runner.invoke(cli, ["tag", "--run", runs[0]["id"], "kind=bugfix"])
    assert tagged.exit_code == 0, tagged.output
    by_tag = json.loads(runner.invoke(cli, ["runs", "--tag", "kind=bugfix", "--json"]).output)
    assert [r["tags"] for r in by_tag["data"]["runs"]] == [{"kind": "bugfix"}]
    other = json.loads(runner.invoke(cli, ["runs", "--tag", "kind=other", "--json"]).output)
    assert other["data"]["runs"] == []
    time.sleep(0.2)
    closed = runner.invoke(cli, ["close-idle", "--minutes", "0.001", "--json"])
    assert closed.exit_code == 0, closed.output
    assert [c["name"] for c in json.loads(closed.output)["data"]["closed"]] == ["first turn"]
    t = Tracker(open_store())
    assert t.records.session_by_external_id("claude-code", "cmd")["status"] == "completed"
