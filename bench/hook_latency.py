"""Wall time of one agent hook event (a new process each), next to `python -c pass`.

Claude Code waits for its hooks, so this is what a hook costs the agent. The store already
holds a few hundred imported sessions; events come in a realistic sequence (session start,
prompt, tool calls, stop), a few tens of milliseconds apart like real tool calls.

Run: .venv/bin/python bench/hook_latency.py [events]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
GENERATOR = Path(__file__).resolve().parents[2] / "shared" / "tools" / "gen_agent_logs.py"
if not GENERATOR.exists():
    GENERATOR = Path("/work/shared/tools/gen_agent_logs.py")


def events(n: int, cwd: str):
    """A session's events: start, then turns of a prompt, tool calls and a stop."""
    sid = "bench-session"
    yield {"hook_event_name": "SessionStart", "session_id": sid, "cwd": cwd, "source": "startup"}
    i = 0
    while True:
        yield {
            "hook_event_name": "UserPromptSubmit",
            "session_id": sid,
            "cwd": cwd,
            "prompt": f"task {i}",
        }
        for k in range(4):
            tool = {"session_id": sid, "cwd": cwd, "tool_name": "Bash", "tool_use_id": f"t{i}-{k}"}
            yield {"hook_event_name": "PreToolUse", **tool}
            yield {"hook_event_name": "PostToolUse", **tool}
        yield {"hook_event_name": "Stop", "session_id": sid, "cwd": cwd}
        i += 1


def timed(cmd: list[str], payload: bytes, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, input=payload, stdout=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0 and done.stdout == b"", done
    return elapsed * 1000


def measure(
    label: str, cmd: list[str] | None, n: int, env: dict[str, str], cwd: str, gap_s: float = 0.03
) -> dict[str, float]:
    samples = []
    stream = events(n, cwd)
    for _ in range(n):
        payload = json.dumps(next(stream)).encode()
        samples.append(timed(cmd or [sys.executable, "-c", "pass"], payload, env))
        time.sleep(gap_s)
    samples.sort()
    return {"label": label, "median_ms": statistics.median(samples),
            "p90_ms": samples[int(0.9 * (len(samples) - 1))], "min_ms": samples[0]}  # fmt: skip


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    with tempfile.TemporaryDirectory(prefix="aitrack-hook-bench-") as tmp:
        home = Path(tmp) / "home"
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(AITRACK_HOME=str(home), AITRACK_IDLE_MINUTES="100000")
        corpus = Path(tmp) / "corpus"
        subprocess.run([sys.executable, str(GENERATOR), "--out", str(corpus), "--sessions", "300",
                        "--turns", "8"], check=True, capture_output=True)  # fmt: skip
        subprocess.run([str(BIN / "aitrack"), "import", "claude-code", "--path", str(corpus), "--json"],
                       check=True, capture_output=True, env=env)  # fmt: skip
        stored = subprocess.run(
            [sys.executable, "-c", "from aitrack.store import open_store; db=open_store().db; "
             "print(db.scalar('select count(*) from sessions'), db.scalar('select count(*) from api_calls'))"],
            check=True, capture_output=True, env=env, text=True,
        ).stdout.split()  # fmt: skip
        for cmd in (
            [str(BIN / "aitrack-hook")],
            [str(BIN / "aitrack"), "hook"],
        ):  # write .pyc files
            timed(cmd, b"{}", env)
        results = [
            measure("python -c pass", None, n, env, tmp),
            measure("aitrack-hook (installed command)", [str(BIN / "aitrack-hook")], n, env, tmp),
            measure("aitrack hook (click CLI)", [str(BIN / "aitrack"), "hook"], n, env, tmp),
            measure(
                "aitrack-hook, AITRACK_HOOK_SYNC=1",
                [str(BIN / "aitrack-hook")],
                n,
                {**env, "AITRACK_HOOK_SYNC": "1"},
                tmp,
            ),
        ]
        drained = subprocess.run([sys.executable, "-c", "from aitrack.hooks import process_spool; "
                                  "print(process_spool(wait=True))"], env=env, capture_output=True,
                                 text=True, check=True).stdout.strip()  # fmt: skip
    print(
        f"store: {stored[0]} sessions, {stored[1]} api_calls; {n} events per row; "
        f"{os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}"
    )
    print(f"{'':38} {'median':>8} {'p90':>8} {'min':>8}")
    for r in results:
        print(f"{r['label']:38} {r['median_ms']:7.1f}ms {r['p90_ms']:7.1f}ms {r['min_ms']:7.1f}ms")
    hook = results[1]["median_ms"]
    print(
        f"target: median <= 60 ms per event -> {'met' if hook <= 60 else 'NOT met'} "
        f"({hook:.1f} ms); events left for the final drain: {drained}"
    )
    print(json.dumps({"results": results, "target_met": hook <= 60}))


if __name__ == "__main__":
    main()
