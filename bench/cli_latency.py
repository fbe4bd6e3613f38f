"""Whole-process wall time of aitrack commands against a store of 100k sessions and 1M
interactions, next to bare `python -c pass` in the same run.

Targets (issue 2): `log` and `status` at most 120 ms more than bare Python start-up;
list/stats/report at most 300 ms.  Usage: python bench/cli_latency.py [--sessions N]
[--interactions N] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from seed_data import fill  # noqa: E402

VENV_BIN = Path(sys.executable).parent


def median_ms(cmd: list[str], env: dict, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True)
        times.append((time.perf_counter() - t0) * 1000)
        if proc.returncode != 0:
            raise SystemExit(f"{cmd} failed: {proc.stderr.decode()[-500:]}")
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--interactions", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="aitrack-bench-"))
    env = {**os.environ, "AITRACK_HOME": str(home)}
    env.pop("AITRACK_DATABASE_URL", None)
    t0 = time.perf_counter()
    fill(home / "aitrack.db", args.sessions, args.interactions)
    print(
        f"store: {args.sessions:,} sessions, {args.interactions:,} interactions "
        f"(filled in {time.perf_counter() - t0:.1f} s)"
    )
    aitrack = str(VENV_BIN / "aitrack")
    sid = subprocess.run(
        [
            aitrack,
            "start",
            "--name",
            "bench",
            "--type",
            "testing",
            "--model",
            "gpt-5",
            "--mins",
            "30",
            "--source",
            "manual",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    bare = median_ms([sys.executable, "-c", "pass"], env, args.runs)
    rows = [("python -c pass", bare, None)]
    cases = [
        (
            "log",
            [
                aitrack,
                "log",
                "--session-id",
                sid,
                "--prompt",
                "p",
                "--summary",
                "s",
                "--rating",
                "4",
            ],
            120,
        ),
        ("status", [aitrack, "status"], 120),
        ("status --json", [aitrack, "status", "--json"], 120),
        ("list", [aitrack, "list"], 300),
        ("list --json", [aitrack, "list", "--json"], 300),
        ("stats --json", [aitrack, "stats", "--json"], 300),
        ("report", [aitrack, "report"], 300),
    ]
    for name, cmd, budget in cases:
        rows.append((name, median_ms(cmd, env, args.runs), budget))
    print(f"{'command':<16}{'median ms':>10}{'over bare':>11}  target")
    for name, ms, budget in rows:
        if budget is None:
            print(f"{name:<16}{ms:>10.1f}{'':>11}")
            continue
        over = ms - bare
        limit = f"<= {budget} ms over bare" if budget == 120 else f"<= {budget} ms"
        ok = over <= budget if budget == 120 else ms <= budget
        print(f"{name:<16}{ms:>10.1f}{over:>+11.1f}  {limit}  {'OK' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
