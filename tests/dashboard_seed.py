"""A small, known store for the dashboard tests, written through the tracker and the store's
own write paths (not raw SQL): sessions in two repositories over the last days, rated
interactions, issues, API calls of priced and unpriced models, commits, changed files, a tag,
and one session still running."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from aitrack import ids, usage
from aitrack.clock import local_midnight_ms, now_ms, zone
from aitrack.tracker import Tracker

DAY = 86_400_000
HOUR = 3_600_000
REPO_A = "/work/repos/payments"
REPO_B = "/work/repos/frontend"


@dataclass
class Seeded:
    sessions: dict[str, str] = field(default_factory=dict)  # name -> id
    active: str = ""


def seed(tracker: Tracker) -> Seeded:
    now = now_ms()
    out = Seeded()
    plan = [
        # name, repo, branch, agent, model, task, days ago, minutes, estimate, outcome
        (
            "Fix login redirect",
            REPO_A,
            "main",
            "claude-code",
            "claude-sonnet-4-5",
            "debugging",
            1,
            40,
            90,
            "success",
        ),
        (
            "Add refund webhook",
            REPO_A,
            "feat/refunds",
            "claude-code",
            "claude-sonnet-4-5",
            "code_generation",
            2,
            95,
            240,
            "success",
        ),
        (
            "Refactor checkout form",
            REPO_B,
            "main",
            "codex",
            "gpt-5",
            "refactoring",
            3,
            60,
            120,
            "partial",
        ),
        (
            "Investigate flaky test",
            REPO_B,
            "main",
            "codex",
            "gpt-5",
            "testing",
            4,
            30,
            30,
            "failed",
        ),
        (
            "Document the API",
            REPO_A,
            "main",
            "copilot",
            "local-coder",
            "documentation",
            5,
            20,
            60,
            "success",
        ),
    ]
    for k, (name, repo, branch, agent, model, task, days, minutes, estimate, outcome) in enumerate(
        plan
    ):
        start = now - days * DAY - 2 * HOUR
        s, _ = tracker.start_session(
            name,
            task,
            model,
            estimate,
            "manual",
            lane=f"lane-{k}",
            agent=agent,
            repo_path=repo,
            branch=branch,
            at_ms=start,
            developer="ana" if k % 2 else "ben",
        )
        out.sessions[name] = s["id"]
        for rating in (5, 4, 2 if outcome == "failed" else 4):
            tracker.log_interaction(s["id"], "make the change", "changed it", rating)
        if outcome != "success":
            tracker.flag_issue(s["id"], "hallucination", "invented an API", "high")
        usage.record_api_calls(
            tracker,
            [
                usage.api_call_row(
                    model=model,
                    source="import",
                    session_id=s["id"],
                    ts=start + j * 60_000,
                    input_tokens=1_000 * (j + 1),
                    output_tokens=500,
                    cache_read_tokens=10_000,
                )
                for j in range(4)
            ],
        )
        if outcome != "failed":
            with tracker.db.transaction():
                tracker.records.insert_commit(
                    {
                        "id": ids.new_id(),
                        "session_id": s["id"],
                        "sha": f"{k:040x}",
                        "message": f"{name}\n\nbody",
                        "author": "dev",
                        "ts": start + minutes * 60_000,
                        "lines_added": 30,
                        "lines_removed": 5,
                    }
                )
                tracker.records.replace_changes(
                    s["id"],
                    [
                        {
                            "id": ids.new_id(),
                            "session_id": s["id"],
                            "path": f"src/file{k}.py",
                            "change_type": "modified",
                            "lines_added": 20 + k,
                            "lines_removed": 3,
                            "ts": start,
                        }
                    ],
                )
        tracker.end_session(s["id"], outcome, at_ms=start + minutes * 60_000)
    tracker.tag(out.sessions["Add refund webhook"], {"ticket": "PAY-42"})
    # the live session started 20 minutes ago, but never before today's local midnight:
    # it is "today's" session whenever the tests run
    today = datetime.fromtimestamp(now / 1000, zone(None)).date()
    live_start = max(now - 20 * 60_000, local_midnight_ms(today))
    running, _ = tracker.start_session(
        "Speed up search",
        "code_generation",
        "claude-opus-4-1",
        45,
        "manual",
        lane="lane-live",
        agent="claude-code",
        repo_path=REPO_B,
        branch="perf/search",
        at_ms=live_start,
    )
    usage.record_api_call(
        tracker,
        model="claude-opus-4-1",
        source="proxy",
        session_id=running["id"],
        ts=max(now - 10 * 60_000, live_start),
        input_tokens=2_000,
        output_tokens=800,
    )
    usage.record_api_call(
        tracker,
        model="gpt-5-mini",
        source="proxy",
        ts=max(now - 5 * 60_000, live_start),
        input_tokens=300,
        output_tokens=100,
    )  # outside any session
    out.active = running["id"]
    out.sessions["Speed up search"] = running["id"]
    return out


class AsgiClient:
    """httpx's in-process ASGI transport behind a synchronous face, for plain test
    functions: each call runs on this client's own event loop."""

    def __init__(self, app, base_url: str = "http://127.0.0.1:8050") -> None:
        import asyncio

        import httpx

        self.app = app
        self._loop = asyncio.new_event_loop()
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)

    def request(self, method: str, url: str, **kwargs):
        return self._loop.run_until_complete(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs):
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()
        self.app.state.aitrack.store.close()
