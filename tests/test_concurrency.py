"""Many writers at once (hooks, proxy, MCP server, CLI) and a writer killed mid-loop: nothing
acknowledged is lost and the SQLite file stays intact."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aitrack.store import open_store

AITRACK = str(Path(sys.executable).parent / "aitrack")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AITRACK_", "AI_"))}
    env["AITRACK_HOME"] = str(home)
    return env


def _log_many(env: dict[str, str], session_id: str, worker: int, count: int) -> list[int]:
    codes = []
    for n in range(count):
        proc = subprocess.run(
            [
                AITRACK,
                "log",
                "--session-id",
                session_id,
                "--prompt",
                f"w{worker} p{n}",
                "--summary",
                "s",
                "--rating",
                str(1 + n % 5),
            ],
            env=env,
            capture_output=True,
        )
        codes.append(proc.returncode)
    return codes


def test_concurrent_log_processes_lose_nothing(aitrack_home: Path):
    env = _env(aitrack_home)
    sid = subprocess.run(
        [AITRACK, "start", "shared"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda w: _log_many(env, sid, w, 12), range(4)))
    assert all(code == 0 for codes in results for code in codes)
    conn = sqlite3.connect(aitrack_home / "aitrack.db")
    assert conn.execute("SELECT count(*) FROM interactions").fetchone()[0] == 48
    assert (
        conn.execute("SELECT interaction_count FROM sessions WHERE id = ?", (sid,)).fetchone()[0]
        == 48
    )


def test_concurrent_starts_in_one_lane_leave_exactly_one_active(aitrack_home: Path):
    env = _env(aitrack_home)

    def starts(worker: int) -> list[int]:
        return [
            subprocess.run(
                [AITRACK, "start", f"w{worker}-{n}", "--lane", "tab"], env=env, capture_output=True
            ).returncode
            for n in range(5)
        ]

    with ThreadPoolExecutor(4) as pool:
        codes = [c for cs in pool.map(starts, range(4)) for c in cs]
    assert codes == [0] * 20
    conn = sqlite3.connect(aitrack_home / "aitrack.db")
    rows = conn.execute("SELECT status, outcome FROM sessions").fetchall()
    assert len(rows) == 20
    assert sum(1 for status, _ in rows if status == "active") == 1
    assert all(outcome == "partial" for status, outcome in rows if status != "active")


WRITER = """
import sys
from aitrack.store import open_store
from aitrack.tracker import Tracker
t = Tracker(open_store())
session, _ = t.start_session("victim")
n = 0
while True:
    row = t.log_interaction(session["id"], "prompt %d" % n, "summary", 1 + n % 5)
    print(row["id"], flush=True)
    n += 1
"""


def test_a_writer_killed_mid_loop_keeps_every_acknowledged_write(aitrack_home: Path):
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER], env=_env(aitrack_home), stdout=subprocess.PIPE, text=True
    )
    acknowledged = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while len(acknowledged) < 300 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acknowledged.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(acknowledged) >= 300
    conn = sqlite3.connect(aitrack_home / "aitrack.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {r[0] for r in conn.execute("SELECT id FROM interactions")}
    assert set(acknowledged) <= stored
    count = conn.execute("SELECT interaction_count FROM sessions").fetchone()[0]
    assert count == len(stored)


def test_a_store_opened_while_another_process_holds_the_new_file_waits_for_it(tmp_path: Path):
    """Switching a new file to WAL upgrades a read lock to a write lock, for which SQLite
    does not wait while another connection writes: two commands creating the store at once
    failed with "database is locked" (about one `aitrack run` pair in ten)."""
    path = tmp_path / "aitrack.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # not WAL yet
    other.execute("BEGIN IMMEDIATE")  # another process creating the store: a write lock
    release = threading.Timer(0.4, lambda: other.execute("COMMIT"))
    release.start()
    started = time.monotonic()
    store = open_store(str(path))
    release.join()
    other.close()
    assert time.monotonic() - started >= 0.35  # it waited for the lock, then opened
    assert store.db.scalar("PRAGMA journal_mode") == "wal"
    assert "sessions" in store.db.table_names()
