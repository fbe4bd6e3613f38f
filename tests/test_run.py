"""`aitrack run -- CMD`: exit status, arguments exactly as given, signals, the proxy between CMD
and the API, concurrent runs as separate sessions, and the summary."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from aitrack.cli.main import cli
from aitrack.store import open_store
from aitrack.tracker import Tracker
from fake_upstream import FakeUpstream

AITRACK = str(Path(sys.executable).with_name("aitrack"))
PY = sys.executable

AGENT = """
import os, sys, anthropic
client = anthropic.Anthropic(api_key="sk-test", max_retries=0)
for _ in range(int(sys.argv[1])):
    client.messages.create(model="claude-sonnet-4-5", max_tokens=5,
                           messages=[{"role": "user", "content": "hi"}])
if len(sys.argv) > 2:  # wait for the other run, so that both are surely running at once
    open(sys.argv[2] + ".ready", "w").close()
    import time
    deadline = time.time() + 20
    while not os.path.exists(sys.argv[3] + ".ready") and time.time() < deadline:
        time.sleep(0.05)
    for _ in range(int(sys.argv[1])):
        client.messages.create(model="claude-sonnet-4-5", max_tokens=5,
                               messages=[{"role": "user", "content": "hi"}])
"""


@pytest.fixture(scope="module")
def fake():
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def env(fake, aitrack_home, tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "ANTHROPIC_CUSTOM_HEADERS")
    }
    env.update(
        AITRACK_ANTHROPIC_UPSTREAM=fake.url,
        AITRACK_OPENAI_UPSTREAM=fake.url + "/v1",
        AITRACK_PROXY_PORT="0",
        AITRACK_HOME=str(aitrack_home),
        PYTHONWARNINGS="ignore",
    )
    return env


def run(env, *args, cwd=None, timeout=60):
    return subprocess.run(
        [AITRACK, "run", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def tracker() -> Tracker:
    return Tracker(open_store())


def sessions():
    return tracker().list_sessions(limit=100, descending=False)


@pytest.mark.parametrize("code", [0, 1, 7, 255])
def test_run_exits_with_the_commands_status_and_ends_the_session(env, code):
    done = run(env, "--", PY, "-c", f"import sys; sys.exit({code})")
    assert done.returncode == code, done.stderr
    [session] = sessions()
    assert session["status"] == "completed"
    assert session["outcome"] == ("success" if code == 0 else "failed")
    [r] = tracker().session_detail(session["id"])["runs"]
    assert r["exit_code"] == code and r["command"].startswith(PY)


def test_arguments_reach_the_command_exactly_as_given(env, tmp_path):
    out = tmp_path / "argv.json"
    args = [
        "two words",
        'a "quoted" one',
        "it's",
        "$HOME",
        "*",
        "",
        "semi;colon",
        "new\nline",
        "--name",
        "-x",
    ]
    script = f"import json, sys; open({str(out)!r}, 'w').write(json.dumps(sys.argv[1:]))"
    done = run(env, "--", PY, "-c", script, *args)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text()) == args


def test_options_after_the_command_belong_to_the_command(env, tmp_path):
    out = tmp_path / "argv.json"
    script = f"import json, sys; open({str(out)!r}, 'w').write(json.dumps(sys.argv[1:]))"
    done = run(env, PY, "-c", script, "--name", "--no-proxy", "--port", "1")
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text()) == ["--name", "--no-proxy", "--port", "1"]
    assert sessions()[0]["name"].startswith(PY)


TRAP = """
import signal, sys, time, pathlib
log = pathlib.Path(sys.argv[1])
def handler(signum, frame):
    with log.open("a") as f:
        f.write(signal.Signals(signum).name + "\\n")
    if signum == signal.SIGTERM:
        sys.exit(42)
signal.signal(signal.SIGTERM, handler)
signal.signal(signal.SIGINT, handler)
signal.signal(signal.SIGHUP, handler)
log.with_suffix(".ready").write_text("ready")
for _ in range(600):
    time.sleep(0.05)
sys.exit(3)
"""


def _start_trapping_run(env, tmp_path):
    log = tmp_path / "signals.log"
    proc = subprocess.Popen(
        [AITRACK, "run", "--", PY, "-c", TRAP, str(log)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 30
    while not log.with_suffix(".ready").exists():
        assert time.time() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    return proc, log


def test_signals_sent_to_run_reach_the_command_once(env, tmp_path):
    proc, log = _start_trapping_run(env, tmp_path)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 42, err
    received = log.read_text().split()
    assert sorted(received[:2]) == ["SIGHUP", "SIGINT"] and received[2:] == ["SIGTERM"]
    assert sessions()[0]["outcome"] == "failed"


def test_a_command_killed_by_a_signal_exits_128_plus_n(env, tmp_path):
    done = run(env, "--", PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert done.returncode == 128 + 9
    assert "Killed by signal 9" in done.stderr


def test_a_missing_command_exits_127(env):
    done = run(env, "--", "no-such-command-aitrack-test")
    assert done.returncode == 127
    assert "command not found" in done.stderr


def test_the_command_talks_to_the_api_through_the_proxy_and_the_summary_shows_it(env, tmp_path):
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    done = run(env, "--name", "agent task", "--", PY, str(agent), "3")
    assert done.returncode == 0, done.stderr
    [session] = sessions()
    assert session["name"] == "agent task" and session["api_calls"] == 3
    assert session["lane"].startswith("run:")
    lines = done.stderr.strip().splitlines()
    assert lines[0] == f"Done {PY} {agent} 3"
    assert " • 0 commits • " in lines[1] and f"{3 * 24_550:,} tokens" in lines[1]
    assert f"${session['cost_usd']:,.2f} AI cost" in lines[1]
    assert lines[2] == "  Top model: claude-sonnet-4-5"


def test_run_warns_on_stderr_when_a_budget_is_reached(env, tmp_path):
    from aitrack import budgets

    budgets.set_budgets(tracker(), {"session": 0.01})
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    done = run(env, "--", PY, str(agent), "2")
    assert done.returncode == 0, done.stderr
    assert "aitrack: session budget $0.01 reached" in done.stderr
    assert "  Budget: session budget $0.01 reached" in done.stderr


def test_the_summary_counts_what_the_command_changed_in_the_repository(env, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git_env = {
        **env,
        "GIT_AUTHOR_NAME": "A",
        "GIT_AUTHOR_EMAIL": "a@x",
        "GIT_COMMITTER_NAME": "A",
        "GIT_COMMITTER_EMAIL": "a@x",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=git_env)
    script = (
        "import pathlib, subprocess\n"
        "pathlib.Path('a.py').write_text('1\\n2\\n3\\n')\n"
        "subprocess.run(['git', 'add', 'a.py'], check=True)\n"
        "subprocess.run(['git', 'commit', '-q', '-m', 'add a'], check=True)\n"
        "pathlib.Path('b.txt').write_text('x\\n')\n"
    )
    done = run(git_env, "--", PY, "-c", script, cwd=repo)
    assert done.returncode == 0, done.stderr
    assert " • 2 files (+4 -0) • 1 commits • " in done.stderr
    [session] = sessions()
    assert session["repo_path"] == str(repo.resolve()) and session["commits"] == 1


def test_two_runs_at_once_are_independent_sessions_with_their_own_calls(env, tmp_path):
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    procs = [
        subprocess.Popen(
            [AITRACK, "run", "--name", "A", "--", PY, str(agent), "2", a, b],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
        subprocess.Popen(
            [AITRACK, "run", "--name", "B", "--", PY, str(agent), "3", b, a],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ),
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err
    by_name = {s["name"]: s for s in sessions()}
    assert by_name["A"]["api_calls"] == 4 and by_name["B"]["api_calls"] == 6
    assert by_name["A"]["lane"] != by_name["B"]["lane"]
    assert by_name["A"]["outcome"] == by_name["B"]["outcome"] == "success"


def test_the_child_gets_the_proxy_the_session_and_its_lane(env, tmp_path):
    out = tmp_path / "env.json"
    names = [
        "ANTHROPIC_BASE_URL",
        "OPENAI_BASE_URL",
        "AITRACK_SESSION_ID",
        "AITRACK_LANE",
        "ANTHROPIC_CUSTOM_HEADERS",
        "OPENAI_CUSTOM_HEADERS",
    ]
    script = (
        f"import json, os; open({str(out)!r}, 'w').write(json.dumps("
        f"{{k: os.environ.get(k) for k in {names!r}}}))"
    )
    env = {**env, "OPENAI_CUSTOM_HEADERS": "X-Team: web"}
    assert run(env, "--", PY, "-c", script).returncode == 0
    seen = json.loads(out.read_text())
    [session] = sessions()
    assert seen["ANTHROPIC_BASE_URL"].startswith("http://127.0.0.1:")
    assert seen["OPENAI_BASE_URL"] == seen["ANTHROPIC_BASE_URL"] + "/v1"
    assert seen["AITRACK_SESSION_ID"] == session["id"]
    assert seen["AITRACK_LANE"] == session["lane"]
    assert seen["ANTHROPIC_CUSTOM_HEADERS"] == f"x-aitrack-session: {session['id']}"
    assert seen["OPENAI_CUSTOM_HEADERS"] == f"X-Team: web\nx-aitrack-session: {session['id']}"


def test_no_proxy_tracks_the_session_only(env, tmp_path):
    out = tmp_path / "env.json"
    script = (
        f"import json, os; open({str(out)!r}, 'w').write(json.dumps("
        "os.environ.get('ANTHROPIC_BASE_URL')))"
    )
    done = run(env, "--no-proxy", "--", PY, "-c", script)
    assert done.returncode == 0
    assert json.loads(out.read_text()) is None
    assert sessions()[0]["status"] == "completed"


def test_a_users_own_gateway_becomes_the_proxys_upstream(env, fake, tmp_path):
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    env = {
        **env,
        "ANTHROPIC_BASE_URL": fake.url,
        "AITRACK_ANTHROPIC_UPSTREAM": "http://127.0.0.1:9",
    }
    done = run(env, "--", PY, str(agent), "1")
    assert done.returncode == 0, done.stderr
    assert sessions()[0]["api_calls"] == 1


def test_a_bad_gateway_url_is_refused_before_anything_starts(env):
    done = run({**env, "ANTHROPIC_BASE_URL": "not a url"}, "--", PY, "-c", "pass")
    assert done.returncode == 1 and "must be an http(s) URL" in done.stderr
    assert sessions() == []


def test_a_taken_default_port_falls_back_to_a_free_one(env, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = tmp_path / "url"
        script = f"import os; open({str(out)!r}, 'w').write(os.environ['ANTHROPIC_BASE_URL'])"
        done = run({**env, "AITRACK_PROXY_PORT": str(port)}, "--", PY, "-c", script)
        assert done.returncode == 0, done.stderr
        assert out.read_text() != f"http://127.0.0.1:{port}"
        explicit = run(env, "--port", str(port), "--", PY, "-c", "pass")
    assert explicit.returncode == 1
    assert f"port {port} is taken" in explicit.stderr


def test_run_in_process_through_click(env, monkeypatch, tmp_path):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(cli, ["run", "--", PY, "-c", "import sys; sys.exit(5)"])
    assert result.exit_code == 5
    assert sessions()[0]["outcome"] == "failed"
