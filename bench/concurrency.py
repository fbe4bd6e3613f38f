"""Concurrent writers into one SQLite store, as separate `aitrack` processes.

1. 8 processes x 250 `aitrack log` calls into one session: expect 2,000 of 2,000 stored, no error.
2. 4 processes starting sessions in the same lane (--starts each): expect exactly one active at
   the end and every other session closed as partial.
Usage: python bench/concurrency.py [--procs 8] [--logs 250] [--start-procs 4] [--starts 50]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

AITRACK = str(Path(sys.executable).parent / "aitrack")


def run(cmd: list[str], env: dict) -> int:
    return subprocess.run(cmd, env=env, capture_output=True).returncode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--logs", type=int, default=250)
    ap.add_argument("--start-procs", type=int, default=4)
    ap.add_argument("--starts", type=int, default=50)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="aitrack-conc-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AITRACK_", "AI_"))}
    env["AITRACK_HOME"] = str(home)
    sid = subprocess.run(
        [AITRACK, "start", "shared"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()

    def logger(worker: int) -> list[int]:
        return [
            run(
                [
                    AITRACK,
                    "log",
                    "--session-id",
                    sid,
                    "--prompt",
                    f"w{worker} {n}",
                    "--summary",
                    "s",
                    "--rating",
                    str(1 + n % 5),
                ],
                env,
            )
            for n in range(args.logs)
        ]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.procs) as pool:
        codes = [c for cs in pool.map(logger, range(args.procs)) for c in cs]
    elapsed = time.perf_counter() - t0
    db = sqlite3.connect(home / "aitrack.db")
    stored = db.execute("SELECT count(*) FROM interactions").fetchone()[0]
    expected = args.procs * args.logs
    errors = sum(1 for c in codes if c != 0)
    print(
        f"log: {args.procs} processes x {args.logs} calls: {stored:,} of {expected:,} stored, "
        f"{errors} errors, {elapsed:.1f} s ({expected / elapsed:.0f} calls/s) "
        f"{'OK' if stored == expected and not errors else 'FAILED'}"
    )

    def starter(worker: int) -> list[int]:
        return [
            run([AITRACK, "start", f"w{worker}-{n}", "--lane", "contended"], env)
            for n in range(args.starts)
        ]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.start_procs) as pool:
        codes = [c for cs in pool.map(starter, range(args.start_procs)) for c in cs]
    elapsed = time.perf_counter() - t0
    rows = db.execute("SELECT status, outcome FROM sessions WHERE lane = 'contended'").fetchall()
    active = sum(1 for s, _ in rows if s == "active")
    partial = sum(1 for s, o in rows if s == "completed" and o == "partial")
    errors = sum(1 for c in codes if c != 0)
    total = args.start_procs * args.starts
    ok = active == 1 and partial == total - 1 and not errors and len(rows) == total
    print(
        f"start: {args.start_procs} processes x {args.starts} starts in one lane: {len(rows)} "
        f"sessions, {active} active, {partial} partial, {errors} errors, {elapsed:.1f} s "
        f"{'OK' if ok else 'FAILED'}"
    )
    print(f"integrity_check: {db.execute('PRAGMA integrity_check').fetchone()[0]}")


if __name__ == "__main__":
    main()
