"""MCP server latency over stdio: `log_ai_interaction` p50/p99 with 1k and with 1M interactions
already stored, and the server's start-up (process start to the first `tools/list` answer).

    .venv/bin/python bench/mcp_latency.py [--calls 1000] [--sizes 1000,1000000] [--keep DIR]

The stores are filled directly with executemany (fast), then `aitrack server` runs as a
subprocess and is driven with JSON-RPC lines on its stdin, one request at a time: the figure
is the full round trip (pipe, SDK, validation, one SQLite transaction, the answer). The same
calls through the official MCP client are measured too (its own validation adds a little).
Targets: p50 <= 3 ms and p99 <= 10 ms at both sizes, the 1M figure within 1.5x of the 1k one;
first tools/list within 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
INIT = {
    "jsonrpc": "2.0", "id": 0, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "bench", "version": "1"}},
}  # fmt: skip


def fill(home: Path, interactions: int, per_session: int = 100) -> None:
    """A store with `interactions` rated interactions over completed sessions."""
    from aitrack import ids
    from aitrack.store import open_store

    home.mkdir(parents=True, exist_ok=True)
    store = open_store(str(home / "aitrack.db"))
    db = store.db
    now = int(time.time() * 1000)
    start = now - 90 * 86_400_000
    sessions = max(1, interactions // per_session)
    step = (now - start) // max(1, interactions)
    rng = random.Random(7)
    session_rows, interaction_rows = [], []
    t = start
    for s in range(sessions):
        sid = ids.new_id(t)
        n = per_session if s < sessions - 1 else interactions - per_session * (sessions - 1)
        ratings = [rng.randint(1, 5) for _ in range(n)]
        first = t
        for r in ratings:
            interaction_rows.append(
                (ids.new_id(t), sid, t, "prompt text", "summary", r, 1, "[]", step)
            )
            t += step
        session_rows.append(
            (sid, f"session {s}", "code_generation", "claude-sonnet-4-5", 60.0, "manual",
             f"lane-{s}", "bench", first, t, t, "completed", "success", n, sum(ratings))
        )  # fmt: skip
    with db.transaction():
        db.executemany(
            "INSERT INTO sessions (id, name, task_type, model, estimate_minutes, estimate_source, "
            "lane, source, start_time, end_time, last_activity, status, outcome, "
            "interaction_count, rating_sum) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            session_rows,
        )
        for i in range(0, len(interaction_rows), 100_000):
            db.executemany(
                "INSERT INTO interactions (id, session_id, ts, prompt, response_summary, rating, "
                "iteration_count, tools_used, gap_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                interaction_rows[i : i + 100_000],
            )
    db.execute("ANALYZE")
    store.close()


class Raw:
    """`aitrack server` driven with raw JSON-RPC lines."""

    def __init__(self, home: Path) -> None:
        env = {**os.environ, "AITRACK_HOME": str(home)}
        env.pop("AITRACK_DATABASE_URL", None)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(BIN / "aitrack"), "server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env, bufsize=0,
        )  # fmt: skip
        self.next_id = 1

    def request(self, method: str, params: dict | None = None) -> dict:
        request_id = self.next_id
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        while True:
            answer = json.loads(self.proc.stdout.readline())
            if answer.get("id") == request_id:
                return answer

    def initialize(self) -> float:
        """Handshake and tools/list; returns seconds from process start to the tools answer."""
        self.proc.stdin.write(json.dumps(INIT).encode() + b"\n")
        self.proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        json.loads(self.proc.stdout.readline())
        tools = self.request("tools/list")
        assert len(tools["result"]["tools"]) > 10
        return time.perf_counter() - self.started

    def call(self, name: str, arguments: dict) -> dict:
        answer = self.request("tools/call", {"name": name, "arguments": arguments})
        assert not answer["result"]["isError"], answer
        return answer["result"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return statistics.median(ordered) * 1000, p99 * 1000


START = {"session_name": "bench", "task_type": "testing", "model_name": "m",
         "estimate_source": "manual", "initial_estimate_minutes": 30}  # fmt: skip


def interaction_args(sid: str, i: int) -> dict:
    return {"session_id": sid, "prompt": f"prompt {i}", "response_summary": "done",
            "effectiveness_rating": 1 + i % 5, "tools_used": ["edit"]}  # fmt: skip


def raw_latency(home: Path, calls: int) -> tuple[float, float, float]:
    server = Raw(home)
    startup = server.initialize()
    sid = server.call("start_ai_session", START)["structuredContent"]["session_id"]
    for i in range(50):  # warm-up
        server.call("log_ai_interaction", interaction_args(sid, i))
    samples = []
    for i in range(calls):
        t0 = time.perf_counter()
        server.call("log_ai_interaction", interaction_args(sid, i))
        samples.append(time.perf_counter() - t0)
    server.close()
    return (*percentiles(samples), startup)


def client_latency(home: Path, calls: int) -> tuple[float, float]:
    import anyio
    from mcp import Client, StdioServerParameters

    env = {**os.environ, "AITRACK_HOME": str(home)}
    env.pop("AITRACK_DATABASE_URL", None)

    async def main() -> list[float]:
        params = StdioServerParameters(command=str(BIN / "aitrack"), args=["server"], env=env)
        async with Client(params) as client:
            started = await client.call_tool("start_ai_session", START)
            sid = started.structured_content["session_id"]
            for i in range(50):
                await client.call_tool("log_ai_interaction", interaction_args(sid, i))
            samples = []
            for i in range(calls):
                t0 = time.perf_counter()
                await client.call_tool("log_ai_interaction", interaction_args(sid, i))
                samples.append(time.perf_counter() - t0)
            return samples

    return percentiles(anyio.run(main))


def startup_times(home: Path, runs: int = 5) -> list[float]:
    out = []
    for _ in range(runs):
        server = Raw(home)
        out.append(server.initialize())
        server.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--keep", default=None, help="Keep the stores in this directory.")
    args = parser.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="aitrack-bench-"))
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    results = {}
    try:
        for size in sizes:
            home = root / f"store-{size}"
            if not (home / "aitrack.db").exists():
                t0 = time.perf_counter()
                fill(home, size)
                print(f"filled {size:,} interactions in {time.perf_counter() - t0:.1f} s")
            p50, p99, startup = raw_latency(home, args.calls)
            c50, c99 = client_latency(home, args.calls)
            results[size] = p50
            print(
                f"{size:>9,} stored | raw stdio p50 {p50:.2f} ms  p99 {p99:.2f} ms | "
                f"official client p50 {c50:.2f} ms  p99 {c99:.2f} ms"
            )
        starts = startup_times(root / f"store-{sizes[0]}")
        print(
            "start-up to first tools/list answer: "
            + ", ".join(f"{s:.2f}" for s in starts)
            + f" s (median {statistics.median(starts):.2f} s)"
        )
        if len(sizes) > 1:
            ratio = results[sizes[-1]] / results[sizes[0]]
            print(f"p50 ratio {sizes[-1]:,} / {sizes[0]:,}: {ratio:.2f}x (target <= 1.5x)")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
