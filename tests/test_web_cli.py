"""`aitrack dashboard` as a user runs it (a real process on a free port), and the in-thread
server the MCP server embeds."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from aitrack.cli.main import cli

AITRACK = Path(sys.executable).with_name("aitrack")


def _start(args: list[str], home: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "AITRACK_HOME": str(home)}
    env.pop("AITRACK_DATABASE_URL", None)
    proc = subprocess.Popen(
        [str(AITRACK), "dashboard", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        match = re.search(r"(http://\S+)", line)
        if match:
            return proc, match.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"the dashboard did not print its address: {proc.stderr.read()}")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_dashboard_command_serves_the_api_and_pages(aitrack_home):
    proc, url = _start(["--port", "0"], aitrack_home)
    try:
        assert url.startswith("http://127.0.0.1:")
        live = httpx.get(url + "api/v1/live", timeout=10)
        assert live.status_code == 200 and live.json()["active_sessions"] == 0
        page = httpx.get(url, timeout=10, headers={"accept": "text/html"})
        assert page.status_code == 200 and "<h1>Overview</h1>" in page.text
    finally:
        _stop(proc)
    assert proc.returncode == 0


def test_dashboard_on_all_interfaces_prints_a_token_and_requires_it(aitrack_home):
    proc, url = _start(["--host", "0.0.0.0", "--port", "0"], aitrack_home)
    try:
        token = url.split("token=", 1)[1]
        base = url.split("?", 1)[0]
        assert len(token) >= 24
        assert httpx.get(base + "api/v1/overview", timeout=10).status_code == 401
        ok = httpx.get(
            base + "api/v1/overview", timeout=10, headers={"authorization": f"Bearer {token}"}
        )
        assert ok.status_code == 200
    finally:
        _stop(proc)


def test_a_busy_port_is_a_clear_error(aitrack_home):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        result = CliRunner().invoke(cli, ["dashboard", "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "--port" in result.output


def test_help_names_the_seed_flags(aitrack_home):
    result = CliRunner().invoke(cli, ["dashboard", "--help"])
    assert result.exit_code == 0
    for flag in ("--host", "--port", "--open", "--token"):
        assert flag in result.output


def test_the_mcp_server_can_run_the_dashboard_in_a_thread(aitrack_home):
    from aitrack.web.app import serve_in_thread

    handle = serve_in_thread(host="127.0.0.1", port=0)
    try:
        r = httpx.get(f"http://127.0.0.1:{handle.port}/api/v1/live", timeout=10)
        assert r.status_code == 200
    finally:
        handle.stop()
    assert not handle.thread.is_alive()
