"""The MCP server as a real subprocess over stdio: the official client end to end, malformed
input, a closed stdin, the command aliases, and what the server costs other commands."""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from mcp import StdioServerParameters

from aitrack.settings import Settings
from aitrack.store import open_store
from aitrack.tracker import Tracker
from mcp_helpers import SEED_START, make_repo, run_client, text

BIN = Path(sys.executable).parent
INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "1"},
    },
}


def params(home: Path, command: str = "aitrack", *args: str) -> StdioServerParameters:
    env = {**os.environ, "AITRACK_HOME": str(home)}
    env.pop("AITRACK_DATABASE_URL", None)
    return StdioServerParameters(command=str(BIN / command), args=list(args or ["server"]), env=env)


class RawServer:
    """The server process with raw lines on its stdin and parsed lines from its stdout."""

    def __init__(self, home: Path, *args: str) -> None:
        env = {**os.environ, "AITRACK_HOME": str(home)}
        env.pop("AITRACK_DATABASE_URL", None)
        self.proc = subprocess.Popen(
            [str(BIN / "aitrack"), *(args or ("server",))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.stdout_raw: list[bytes] = []
        self.seen: dict[Any, dict[str, Any]] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout_raw.append(line)
            self.lines.put(line)

    def send(self, message: Any) -> None:
        data = message if isinstance(message, bytes) else (
            message.encode() if isinstance(message, str) else json.dumps(message).encode()
        )  # fmt: skip
        assert self.proc.stdin is not None
        self.proc.stdin.write(data + b"\n")
        self.proc.stdin.flush()

    def wait_for(self, request_id: Any, timeout: float = 60) -> dict[str, Any]:
        """The answer to request_id, read already or read now (the server answers
        concurrent requests in any order)."""
        if request_id in self.seen:
            return self.seen[request_id]
        while True:
            message = json.loads(self.lines.get(timeout=timeout))
            if isinstance(message.get("id"), int | str):
                self.seen[message["id"]] = message
            if message.get("id") == request_id:
                return message

    def initialize(self) -> None:
        self.send(INIT)
        assert self.wait_for(0)["result"]["serverInfo"]["name"] == "aitrack"
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def close(self) -> tuple[int, str]:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        code = self.proc.wait(timeout=60)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read().decode(errors="replace")


def tool_call(request_id: int, name: str, arguments: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}  # fmt: skip


def test_every_tool_works_over_stdio_through_the_official_client(tmp_path):
    home = tmp_path / "home"
    repo = make_repo(tmp_path / "repo", {"calc.py": "def add(a, b):\n    return a + b\n"})

    async def script(client):
        tools = {t.name for t in (await client.list_tools()).tools}
        started = await client.call_tool("start_ai_session", {**SEED_START, "repo_path": str(repo)})
        sid = started.structured_content["session_id"]
        # another process (a hook, the CLI) writes to the same store meanwhile
        other = Tracker(open_store(str(home / "aitrack.db")), Settings())
        run = other.open_run(sid, prompt="turn one")
        other.store.close()
        calls = {
            "log_ai_interaction": {"session_id": sid, "prompt": "p", "response_summary": "r",
                                   "effectiveness_rating": 5},
            "flag_ai_issue": {"session_id": sid, "issue_type": "wrong_api", "description": "d",
                              "severity": "low"},
            "log_code_metrics": {"session_id": sid, "file_path": "calc.py", "functions_modified":
                                 [{"name": "add", "modification_type": "added", "lines_added": 2}]},
            "log_ai_request": {"model": "gpt-4o", "request_type": "chat", "tokens_in": 10,
                               "session_id": sid},
            "get_request_stats": {},
            "log_ai_usage": {"provider": "anthropic", "model": "claude-sonnet-4-5",
                             "input_tokens": 100, "output_tokens": 10},
            "add_note": {"message": "note"},
            "session_list": {"repo_path": str(repo)},
            "session_get": {"session_id": sid},
            "session_current": {"repo_path": str(repo)},
            "run_list": {"session_id": sid},
            "run_tag": {"run_id": run["id"], "tags": {"kind": "feature"}},
            "get_stats": {"since": "7d"},
            "check_budget": {},
            "get_active_sessions": {},
            "get_ai_observability": {"session_id": sid, "time_range": "last_day"},
            "end_ai_session": {"session_id": sid, "outcome": "success"},
        }  # fmt: skip
        results = {"start_ai_session": started}
        for name, arguments in calls.items():
            results[name] = await client.call_tool(name, arguments)
        resources = [
            await client.read_resource(uri)
            for uri in ("aitrack://pricing", "aitrack://sessions/active")
        ]
        return tools, results, resources, sid

    tools, results, resources, sid = run_client(params(home), script)
    assert set(results) == tools
    for name, result in results.items():
        assert not result.is_error, (name, text(result))
        assert result.structured_content is not None, name
        assert text(result), name
    assert results["end_ai_session"].structured_content["total_interactions"] == 1
    assert results["session_get"].structured_content["session"]["runs"][0]["tags"] == {}
    assert results["run_list"].structured_content["runs"][0]["prompt"] == "turn one"
    assert results["run_tag"].structured_content["tags"] == {"kind": "feature"}
    assert json.loads(resources[1].contents[0].text)["count"] == 0
    db = sqlite3.connect(home / "aitrack.db")
    assert db.execute("SELECT status, outcome FROM sessions WHERE id = ?", (sid,)).fetchone() == (
        "completed", "success",
    )  # fmt: skip


def test_a_tool_error_over_stdio_is_an_error_result_and_the_server_keeps_answering(tmp_path):
    async def script(client):
        bad = await client.call_tool(
            "log_ai_interaction",
            {
                "session_id": "01NONE",
                "prompt": "p",
                "response_summary": "r",
                "effectiveness_rating": 7,
            },
        )
        unknown = await client.call_tool("no_such_tool", {})
        good = await client.call_tool("get_active_sessions", {})
        return bad, unknown, good

    bad, unknown, good = run_client(params(tmp_path / "home"), script)
    assert bad.is_error and "effectiveness_rating" in text(bad)
    assert unknown.is_error and "no_such_tool" in text(unknown)
    assert not good.is_error


def malformed_messages() -> list[Any]:
    """50 messages a broken or hostile client might send."""
    huge = "x" * 10_000_000
    start = dict(SEED_START)
    messages: list[Any] = [
        b"not json",
        b"{",
        b"}",
        b"{'single': 'quotes'}",
        b"\xff\xfe\x00garbage",
        b"\x00" * 10,
        b"[1, 2, 3]",
        b"[]",
        b'[{"jsonrpc": "2.0", "id": 1001, "method": "tools/list"}]',
        b'[{"jsonrpc": "2.0", "method": "notifications/initialized"}, 5]',
        b"42",
        b'"just a string"',
        b"null",
        b"true",
        {"jsonrpc": "2.0", "id": 1002, "method": "tools/call", "params": "string params"},
        {"jsonrpc": "2.0", "id": 1003, "method": "tools/call", "params": ["a", "list"]},
        {"jsonrpc": "2.0", "id": 1004, "method": "tools/call", "params": 12},
        {"jsonrpc": "2.0", "id": 1005, "method": "tools/list", "params": "x"},
        tool_call(1006, "start_ai_session", None),
        tool_call(1007, "log_ai_interaction", None),
        tool_call(1008, "get_active_sessions", None),
        tool_call(1009, "start_ai_session", "not an object"),
        tool_call(1010, "start_ai_session", [1, 2]),
        tool_call(1011, "start_ai_session", {**start, "task_type": 7}),
        tool_call(1012, "start_ai_session", {**start, "initial_estimate_minutes": "soon"}),
        tool_call(1013, "start_ai_session", {**start, "session_name": None}),
        tool_call(1014, "start_ai_session", {**start, "session_name": {"nested": True}}),
        tool_call(
            1015,
            "log_ai_interaction",
            {"session_id": 1, "prompt": 2, "response_summary": 3, "effectiveness_rating": "x"},
        ),
        tool_call(
            1016,
            "log_ai_interaction",
            {
                "session_id": "s",
                "prompt": "p",
                "response_summary": "r",
                "effectiveness_rating": 1e308,
            },
        ),
        tool_call(
            1017,
            "log_ai_interaction",
            {
                "session_id": "s",
                "prompt": "p",
                "response_summary": "r",
                "effectiveness_rating": 10**40,
            },
        ),
        tool_call(
            1018,
            "log_code_metrics",
            {"session_id": "s", "file_path": "a.py", "functions_modified": "all of them"},
        ),
        tool_call(
            1019,
            "log_code_metrics",
            {"session_id": "s", "file_path": "a.py", "functions_modified": [None, 3, "f"]},
        ),
        tool_call(1020, "run_tag", {"run_id": "r", "tags": ["a=b"]}),
        tool_call(1021, "session_list", {"limit": -5}),
        tool_call(1022, "session_list", {"limit": "ten"}),
        tool_call(1023, "get_ai_observability", {"time_range": ["all"]}),
        tool_call(1024, "end_ai_session", {"session_id": "s", "outcome": None}),
        tool_call(1025, None, {}),
        tool_call(1026, 12, {}),
        {"jsonrpc": "2.0", "id": 1027, "method": "tools/call"},
        {"jsonrpc": "1.0", "id": 1028, "method": "tools/list"},
        {"id": 1029, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": {"an": "object"}, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 1030, "method": None},
        {"jsonrpc": "2.0", "id": 1031, "method": "no/such/method"},
        tool_call(1032, "start_ai_session", {**start, "session_name": huge}),
        tool_call(
            1033,
            "log_ai_interaction",
            {"session_id": huge, "prompt": "p", "response_summary": "r", "effectiveness_rating": 3},
        ),
        tool_call(1034, "add_note", {"message": huge}),
        b'{"jsonrpc": "2.0", "id": 1035, "method": "tools/call", "params": {"name": "x", "argum',
        {"jsonrpc": "2.0", "id": 1036, "result": {"unexpected": "response"}},
    ]
    assert len(messages) == 50
    return messages


def test_fifty_malformed_messages_leave_the_server_alive_and_answering(tmp_path):
    server = RawServer(tmp_path / "home")
    server.initialize()
    for message in malformed_messages():
        server.send(message)
    server.send(tool_call(2000, "start_ai_session", SEED_START))
    started = server.wait_for(2000, timeout=120)
    assert started["result"]["isError"] is False
    sid = started["result"]["structuredContent"]["session_id"]
    server.send(
        tool_call(
            2001,
            "log_ai_interaction",
            {"session_id": sid, "prompt": "p", "response_summary": "r", "effectiveness_rating": 4},
        )
    )
    assert server.wait_for(2001)["result"]["structuredContent"]["total_interactions"] == 1
    server.send({"jsonrpc": "2.0", "id": 2002, "method": "tools/list"})
    assert len(server.wait_for(2002)["result"]["tools"]) == 18
    assert server.proc.poll() is None
    # well-formed requests with bad arguments get an error result naming the problem
    # (answered in any order: one may come after the later requests' answers)
    for request_id in [1006, 1007, *range(1009, 1025), 1032, 1033, 1034]:
        answer = server.wait_for(request_id)
        assert answer.get("error") or answer["result"]["isError"], answer
    assert server.wait_for(1008)["result"]["isError"] is False  # null arguments = no arguments
    for request_id in (1031, 1027):
        assert server.wait_for(request_id)["error"]["code"] in (-32601, -32602, -32600)
    code, stderr = server.close()
    assert code == 0
    for line in server.stdout_raw:  # stdout carries JSON-RPC only
        assert json.loads(line)["jsonrpc"] == "2.0"
    db = sqlite3.connect(tmp_path / "home" / "aitrack.db")
    names = [r[0] for r in db.execute("SELECT name FROM sessions")]
    assert names == ["Add login"]  # nothing malformed was written
    assert "Traceback" not in stderr


def test_a_closed_stdin_ends_the_server_cleanly_without_losing_or_corrupting_data(tmp_path):
    home = tmp_path / "home"
    server = RawServer(home)
    server.initialize()
    server.send(tool_call(1, "start_ai_session", SEED_START))
    sid = server.wait_for(1)["result"]["structuredContent"]["session_id"]
    for i in range(100):
        server.send(tool_call(100 + i, "log_ai_interaction", {
            "session_id": sid, "prompt": f"prompt {i}", "response_summary": "r",
            "effectiveness_rating": 1 + i % 5}))  # fmt: skip
    code, stderr = server.close()  # EOF right after the burst
    assert code == 0, stderr
    assert "Traceback" not in stderr
    db = sqlite3.connect(home / "aitrack.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stored = db.execute("SELECT count(*), sum(rating) FROM interactions").fetchone()
    counters = db.execute("SELECT interaction_count, rating_sum FROM sessions").fetchone()
    assert stored == counters  # the per-session counters agree with the rows
    assert stored[0] == 100  # every request read before EOF was carried out


@pytest.mark.parametrize(
    ("command", "args"), [("aitrack", ["mcp"]), ("ai-session-tracker", ["server"])]
)
def test_the_mcp_alias_and_the_seed_command_start_the_same_server(tmp_path, command, args):
    async def script(client):
        return await client.list_tools()

    tools = run_client(params(tmp_path / "home", command, *args), script).tools
    assert {"start_ai_session", "get_active_sessions", "session_list"} <= {t.name for t in tools}


def test_the_seed_subcommands_work_through_the_seed_command(tmp_path):
    env = {**os.environ, "AITRACK_HOME": str(tmp_path / "home")}
    seed = str(BIN / "ai-session-tracker")
    started = subprocess.run(
        [seed, "start", "--name", "Seed", "--type", "testing", "--model", "gpt-4", "--mins", "30",
         "--source", "manual", "--json"], capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    sid = json.loads(started.stdout)["data"]["session_id"]
    active = subprocess.run([seed, "active", "--json"], capture_output=True, text=True, env=env)
    assert [s["id"] for s in json.loads(active.stdout)["data"]["sessions"]] == [sid]


def test_the_dashboard_flags_serve_the_dashboard_beside_the_mcp_channel(tmp_path):
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:  # a free port, released for the dashboard to take
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = RawServer(
        tmp_path / "home", "server", "--dashboard-host", "127.0.0.1", "--dashboard-port", str(port)
    )
    server.initialize()
    server.send(tool_call(5, "start_ai_session", SEED_START))
    sid = server.wait_for(5)["result"]["structuredContent"]["session_id"]
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/sessions", timeout=5) as r:
                body = json.loads(r.read())
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert sid in json.dumps(body)  # the dashboard reads the store the MCP server writes
    server.send({"jsonrpc": "2.0", "id": 6, "method": "tools/list"})
    assert len(server.wait_for(6)["result"]["tools"]) == 18
    code, stderr = server.close()
    assert code == 0
    assert f"dashboard on http://127.0.0.1:{port}" in stderr
    for line in server.stdout_raw:  # the dashboard never writes to the MCP channel
        assert json.loads(line)["jsonrpc"] == "2.0"


def test_other_commands_do_not_import_the_mcp_sdk(tmp_path):
    env = {**os.environ, "AITRACK_HOME": str(tmp_path / "home")}
    for args in (["status"], ["--help"], ["list"]):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c",
             "import sys; from aitrack.cli.main import main; sys.argv[0] = 'aitrack'; main()",
             *args],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
        imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()
                    if line.startswith("import time:")}  # fmt: skip
        assert "mcp" not in imported, args
        assert "aitrack.cli.main" in imported


def test_the_max_session_duration_flag_caps_sessions_the_server_ends(tmp_path):
    from aitrack.clock import now_ms

    home = tmp_path / "home"
    store = open_store(str(home / "aitrack.db"))
    old, _ = Tracker(store, Settings()).start_session(
        "left open", lane="foreground", at_ms=now_ms() - 5 * 3_600_000
    )
    store.close()

    async def script(client):
        return await client.call_tool(
            "end_ai_session", {"session_id": old["id"], "outcome": "partial"}
        )

    ended = run_client(params(home, "aitrack", "server", "--max-session-duration-hours", "2"),
                       script)  # fmt: skip
    assert not ended.is_error, text(ended)
    assert ended.structured_content["capped"] is True
    assert ended.structured_content["duration_minutes"] == 120.0
    assert "capped" in text(ended)
