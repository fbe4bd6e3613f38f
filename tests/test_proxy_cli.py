"""`aitrack proxy` as a user runs it: a process that serves, records to its session and loses
nothing when stopped."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from aitrack.store import open_store
from aitrack.tracker import Tracker
from fake_upstream import FakeUpstream

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

AITRACK = str(Path(sys.executable).with_name("aitrack"))
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def fake():
    with FakeUpstream() as upstream:
        yield upstream


def start(env, *args):
    proc = subprocess.Popen(
        [AITRACK, "proxy", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    for line in proc.stdout:  # type: ignore[union-attr]
        lines.append(line)
        if line.startswith("  export OPENAI_BASE_URL"):
            break
    match = re.search(r"http://127\.0\.0\.1:(\d+)", "".join(lines))
    assert match, (lines, proc.stderr.read() if proc.poll() is not None else "")  # type: ignore
    return proc, f"http://127.0.0.1:{match.group(1)}", "".join(lines)


def test_the_proxy_records_to_its_session_and_flushes_everything_when_stopped(fake, aitrack_home):
    env = {
        **os.environ,
        "AITRACK_ANTHROPIC_UPSTREAM": fake.url,
        "AITRACK_OPENAI_UPSTREAM": fake.url + "/v1",
    }
    proc, url, banner = start(env, "--port", "0", "--session", "fix auth bug")
    try:
        assert f"export ANTHROPIC_BASE_URL={url}" in banner
        assert f"export OPENAI_BASE_URL={url}/v1" in banner
        health = httpx.get(url + "/health").json()
        assert health["status"] == "ok" and health["session"]["name"] == "fix auth bug"
        claude = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
        for _ in range(5):
            claude.messages.create(model="claude-sonnet-4-5", max_tokens=5, messages=MESSAGES)
        openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0).chat.completions.create(
            model="gpt-4o", messages=MESSAGES
        )
    finally:
        proc.send_signal(signal.SIGTERM)  # right away: the queued calls must still be stored
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "6 calls recorded" in err
    tracker = Tracker(open_store())
    [session] = tracker.records.active_sessions()
    assert session["name"] == "fix auth bug" and session["source"] == "proxy"
    rows = tracker.records.rows_for_session("api_calls", session["id"])
    assert len(rows) == 6 and all(r["cost_usd"] for r in rows)


def test_a_taken_port_is_an_error_that_says_what_to_do(aitrack_home):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [AITRACK, "proxy", "--port", str(port)], capture_output=True, text=True, timeout=30
        )
    assert done.returncode == 1
    assert f"port {port} is taken" in done.stderr and "--port" in done.stderr


def test_a_bad_upstream_url_is_refused(aitrack_home):
    done = subprocess.run(
        [AITRACK, "proxy", "--port", "0", "--anthropic-upstream", "ftp://x"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1 and "must be an http(s) URL" in done.stderr
