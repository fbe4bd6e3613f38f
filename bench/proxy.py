"""What the proxy adds: latency (p50/p99), time to first streamed byte, and throughput.

Three processes, as on a 2-core machine: the fake upstream (tests/fake_upstream.py), the
proxy (`aitrack proxy`, recording to a throw-away data dir) and this load generator.
Latency: N requests direct and N through the proxy, interleaved one by one, half JSON
(Anthropic messages) and half SSE (streamed messages, events 2 ms apart), so both paths
see the same machine state. Throughput: 16 concurrent clients for a few seconds per round,
direct and proxied rounds alternating.

Run: PYTHONPATH=src .venv/bin/python bench/proxy.py [--requests 2000] [--seconds 5]
Targets: added p50 <= 1 ms, p99 <= 5 ms, added time to first byte <= 2 ms,
proxied throughput >= 50% of direct.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
BODY = json.dumps(
    {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Say hello " * 40}],
    }
).encode()
STREAM_BODY = json.dumps({**json.loads(BODY), "stream": True}).encode()
HEADERS = {
    "content-type": "application/json",
    "anthropic-version": "2023-06-01",
    "x-api-key": "sk-bench",
}


def start_fake() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_upstream.py")],
        stdout=subprocess.PIPE,
        text=True,
    )
    return proc, int(proc.stdout.readline())  # type: ignore[union-attr]


def start_proxy(upstream: str, home: str) -> tuple[subprocess.Popen, int]:
    env = {**os.environ, "AITRACK_HOME": home, "PYTHONPATH": str(ROOT / "src")}
    env.pop("AITRACK_DATABASE_URL", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from aitrack.cli.main import main; main()",
            "proxy",
            "--port",
            "0",
            "--session",
            "bench",
            "--anthropic-upstream",
            upstream,
            "--openai-upstream",
            upstream + "/v1",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    for line in proc.stdout:  # type: ignore[union-attr]
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if match:
            return proc, int(match.group(1))
    raise RuntimeError("the proxy did not start")


SENT: dict[str, int] = {}


async def one(
    session: aiohttp.ClientSession, base: str, stream: bool, delay_ms: int = 0
) -> tuple[float, float]:
    """(total seconds, seconds to the first body byte) of one request."""
    headers = dict(HEADERS)
    if delay_ms:
        headers["x-fake-delay-ms"] = str(delay_ms)
    SENT[base] = SENT.get(base, 0) + 1
    start = time.perf_counter()
    async with session.post(
        base + "/v1/messages", data=STREAM_BODY if stream else BODY, headers=headers
    ) as resp:
        first = await resp.content.readany()
        ttfb = time.perf_counter() - start
        assert resp.status == 200 and first, resp.status
        while await resp.content.readany():
            pass
    return time.perf_counter() - start, ttfb


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


async def latency(direct: str, proxied: str, n: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, list[float]]] = {
        k: {"direct": [], "proxy": []} for k in ("json", "sse_total", "sse_ttfb")
    }
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        for base in (direct, proxied):  # warm up connections and caches
            for _ in range(50):
                await one(session, base, False)
                await one(session, base, True)
        for i in range(n):
            stream = i % 2 == 1
            order = ((direct, "direct"), (proxied, "proxy"))
            for base, label in order if i % 4 < 2 else order[::-1]:
                total, ttfb = await one(session, base, stream, 2 if stream else 0)
                if stream:
                    out["sse_total"][label].append(total)
                    out["sse_ttfb"][label].append(ttfb)
                else:
                    out["json"][label].append(total)
    result = {}
    for kind, runs in out.items():
        d, p = runs["direct"], runs["proxy"]
        result[kind] = {
            "direct_p50_ms": pct(d, 50),
            "proxy_p50_ms": pct(p, 50),
            "direct_p99_ms": pct(d, 99),
            "proxy_p99_ms": pct(p, 99),
            "added_p50_ms": pct(p, 50) - pct(d, 50),
            "added_p99_ms": pct(p, 99) - pct(d, 99),
            "added_mean_ms": (statistics.mean(p) - statistics.mean(d)) * 1000,
        }
    return result


async def throughput(base: str, seconds: float, stream: bool, clients: int = 16) -> float:
    connector = aiohttp.TCPConnector(limit=0)
    done = 0
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await one(session, base, stream)
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return done / (time.perf_counter() - start)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    fake, fake_port = start_fake()
    home = tempfile.mkdtemp(prefix="aitrack-bench-")
    proxy, proxy_port = start_proxy(f"http://127.0.0.1:{fake_port}", home)
    direct, proxied = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{proxy_port}"
    try:
        print(f"cores: {os.cpu_count()}; fake upstream :{fake_port}, proxy :{proxy_port}")
        lat = await latency(direct, proxied, args.requests)
        for kind, r in lat.items():
            print(
                f"{kind:10s} direct p50 {r['direct_p50_ms']:.2f} p99 {r['direct_p99_ms']:.2f} | "
                f"proxy p50 {r['proxy_p50_ms']:.2f} p99 {r['proxy_p99_ms']:.2f} | added p50 "
                f"{r['added_p50_ms']:+.2f} ms, p99 {r['added_p99_ms']:+.2f} ms, mean "
                f"{r['added_mean_ms']:+.2f} ms"
            )
        for stream in (False, True):
            d_rates, p_rates = [], []
            for _ in range(args.rounds):
                d_rates.append(await throughput(direct, args.seconds, stream))
                p_rates.append(await throughput(proxied, args.seconds, stream))
            d, p = statistics.mean(d_rates), statistics.mean(p_rates)
            label = "SSE " if stream else "JSON"
            print(
                f"throughput {label} 16 clients: direct {d:,.0f} req/s, proxy {p:,.0f} req/s "
                f"= {p / d:.0%} of direct"
            )
        deadline = time.time() + 120
        async with aiohttp.ClientSession() as s:
            while True:  # the writer catches up once the load stops
                async with s.get(proxied + "/health") as r:
                    health = await r.json()
                if health["pending_calls"] == 0 or time.time() > deadline:
                    break
                await asyncio.sleep(0.5)
        print(
            f"recorded by the proxy: {health['recorded_calls']:,} of "
            f"{SENT[proxied]:,} proxied calls ({health['pending_calls']} still queued)"
        )
    finally:
        proxy.terminate()
        proxy.wait(30)
        fake.terminate()
        fake.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
