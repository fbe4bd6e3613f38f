"""Dashboard latency at scale: a SQLite store with 100k sessions, 1M interactions and 1M
api_calls (90 days, 8 repositories, 3 agents, 6 models; see demo_data.py), then the median
server time of every /api/v1 overview/list endpoint (target <= 150 ms) and every page
(target <= 300 ms), in one run, in-process through httpx.ASGITransport. Server time is the
app's Server-Timing header (request in to response start, HTML rendered included).

    .venv/bin/python bench/dashboard.py                 # builds /tmp/aitrack-bench/dashboard.db
    .venv/bin/python bench/dashboard.py --reuse         # keeps an existing store
    .venv/bin/python bench/dashboard.py --sessions 10000 --rows 100000 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx  # noqa: E402

from aitrack.settings import Settings  # noqa: E402
from aitrack.web.app import create_app  # noqa: E402
from demo_data import REPOS, fill  # noqa: E402

API_TARGET_MS, PAGE_TARGET_MS = 150.0, 300.0
REPO = next(iter(REPOS))


def targets(session_id: str) -> list[tuple[str, str, float]]:
    """(group, url, target ms): defaults first, then filtered and longer-period variants."""
    api = [
        "/api/v1/overview",
        "/api/v1/sessions",
        "/api/v1/models",
        "/api/v1/repos",
        "/api/v1/quality",
        "/api/v1/budgets",
        "/api/v1/pricing",
        "/api/v1/facets",
        "/api/v1/live",
        f"/api/v1/sessions/{session_id}",
    ]
    pages = [
        "/",
        "/sessions",
        "/models",
        "/repos",
        "/quality",
        "/budgets",
        "/pricing",
        f"/sessions/{session_id}",
    ]
    variants = [
        "/api/v1/overview?period=90d",
        "/api/v1/overview?period=all",
        f"/api/v1/overview?repo={REPO}",
        "/api/v1/overview?agent=codex&task_type=debugging",
        "/api/v1/sessions?sort=cost",
        "/api/v1/sessions?sort=rating&order=asc",
        "/api/v1/sessions?page=200",
        "/api/v1/sessions?agent=codex&q=login",
        "/api/v1/sessions?period=all",
        "/api/v1/models?period=90d",
        "/api/v1/repos?period=90d",
        "/api/v1/quality?period=90d",
        "/?period=90d",
        "/sessions?period=all&sort=cost",
    ]
    return (
        [("api", u, API_TARGET_MS) for u in api]
        + [("page", u, PAGE_TARGET_MS) for u in pages]
        + [
            ("variant", u, PAGE_TARGET_MS if not u.startswith("/api/") else API_TARGET_MS)
            for u in variants
        ]
    )


async def measure(app, runs: int) -> list[dict]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8050") as c:
        sid = (await c.get("/api/v1/sessions", params={"per_page": 1, "period": "7d"})).json()[
            "sessions"
        ][0]["id"]
        out = []
        for group, url, target in targets(sid):
            server, client = [], []
            status = 0
            for _ in range(runs + 1):  # the first run warms caches and is reported apart
                began = time.perf_counter()
                r = await c.get(
                    url,
                    headers={
                        "accept": "text/html"
                        if group != "api" and not url.startswith("/api/")
                        else "application/json"
                    },
                )
                client.append((time.perf_counter() - began) * 1000)
                timing = re.search(r"dur=([\d.]+)", r.headers.get("server-timing", ""))
                server.append(float(timing.group(1)) if timing else client[-1])
                status = r.status_code
            out.append(
                {
                    "group": group,
                    "url": url,
                    "target": target,
                    "status": status,
                    "first": server[0],
                    "median": statistics.median(server[1:]),
                    "p90": sorted(server[1:])[max(0, int(len(server[1:]) * 0.9) - 1)],
                    "client_median": statistics.median(client[1:]),
                    "bytes": len(r.content),
                }
            )
        return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="/tmp/aitrack-bench/dashboard.db")
    parser.add_argument("--reuse", action="store_true", help="Keep an existing store.")
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="Interactions, and API calls, to insert (each)."
    )
    parser.add_argument("--runs", type=int, default=9, help="Measured runs per URL.")
    args = parser.parse_args()

    db = Path(args.db)
    if not (args.reuse and db.exists()):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        db.parent.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        counts = fill(db, args.sessions, args.rows, args.rows)
        print(
            f"built {db} in {time.perf_counter() - began:.0f} s: "
            + ", ".join(f"{v:,} {k}" for k, v in counts.items())
        )
    app = create_app(str(db), Settings())
    _budgets(app)
    rows = asyncio.run(measure(app, args.runs))
    app.state.aitrack.store.close()

    print(f"\n{'':8} {'url':58} {'median':>8} {'p90':>8} {'first':>8} {'target':>7}  ok")
    failed = 0
    for r in rows:
        ok = r["status"] == 200 and r["median"] <= r["target"]
        failed += 0 if ok or r["group"] == "variant" else 1
        print(
            f"{r['group']:8} {r['url'][:58]:58} {r['median']:7.1f}  {r['p90']:7.1f}  "
            f"{r['first']:7.1f}  {r['target']:6.0f}  {'yes' if ok else 'NO'}"
            + ("" if r["status"] == 200 else f" (HTTP {r['status']})")
        )
    api = [r["median"] for r in rows if r["group"] == "api"]
    pages = [r["median"] for r in rows if r["group"] == "page"]
    print(
        f"\nslowest /api/v1 endpoint median {max(api):.1f} ms (target {API_TARGET_MS:.0f}); "
        f"slowest page median {max(pages):.1f} ms (target {PAGE_TARGET_MS:.0f}); "
        f"{'all within targets' if not failed else f'{failed} over target'}"
    )
    sys.exit(1 if failed else 0)


def _budgets(app) -> None:
    """A daily, a monthly and a repository budget, so the budget page has work to do."""
    from aitrack import budgets

    tracker = app.state.aitrack.tracker
    budgets.set_budgets(tracker, {"daily": 400.0, "monthly": 9000.0})
    budgets.set_budgets(tracker, {"monthly": 2000.0}, REPO)


if __name__ == "__main__":
    main()
