"""ROI, quality and trend figures, computed in SQL on every backend."""

from __future__ import annotations

import threading

import pytest

from aitrack import analytics, usage
from aitrack.clock import from_iso
from aitrack.settings import Settings
from aitrack.store import open_store
from aitrack.tracker import Tracker


def _session(
    tracker: Tracker,
    name: str,
    minutes: float,
    estimate: float,
    *,
    task="testing",
    outcome="success",
    lane=None,
    start="2026-03-01T10:00:00Z",
) -> str:
    at = from_iso(start)
    row, _ = tracker.start_session(
        name, task, None, estimate, "manual", lane=lane or name, at_ms=at
    )
    tracker.end_session(row["id"], outcome, at_ms=at + int(minutes * 60_000))
    return row["id"]


def test_roi_compares_the_human_estimate_with_tracked_time_and_api_cost(tracker: Tracker):
    sid = _session(tracker, "a", minutes=30, estimate=120)
    _session(tracker, "b", minutes=90, estimate=60)
    _session(tracker, "review", minutes=60, estimate=600, task="human_review")
    with tracker.db.transaction():
        tracker.db.execute(
            "INSERT INTO user_prices (model, input_mtok, output_mtok, updated_at) "
            "VALUES ('house-model', 1000000, 0, 0)"
        )
    usage.record_api_call(
        tracker, model="house-model", source="manual", session_id=sid, input_tokens=3
    )
    data = analytics.overview(tracker.store, Settings())
    roi = data["roi"]
    assert roi["sessions"] == 2  # human review is oversight, not AI work
    assert roi["tracked_hours"] == 2.0 and roi["estimated_human_hours"] == 3.0
    assert roi["human_baseline_cost"] == 390.0
    assert roi["api_cost"] == 3.0
    # 2 h x $130 + 2 h x $40/160 + $3 of API calls
    assert roi["ai_assisted_cost"] == 263.5
    assert roi["cost_saved"] == 126.5
    assert roi["time_saved_hours"] == 1.0
    assert roi["productivity_multiplier"] == 1.5
    assert roi["roi_percentage"] == round(126.5 / 390 * 100, 1)


def test_rates_are_configurable(tracker: Tracker):
    _session(tracker, "a", minutes=60, estimate=120)
    roi = analytics.overview(tracker.store, Settings(human_hourly_rate=100, ai_monthly_cost=160))[
        "roi"
    ]
    assert roi["human_baseline_cost"] == 200.0 and roi["ai_assisted_cost"] == 101.0


def test_a_revised_estimate_wins_over_the_initial_one(tracker: Tracker):
    row, _ = tracker.start_session("a", "testing", None, 60, "manual", at_ms=0)
    tracker.end_session(row["id"], "success", final_estimate_minutes=180, at_ms=3_600_000)
    assert analytics.overview(tracker.store, Settings())["roi"]["estimated_human_hours"] == 3.0


def test_effectiveness_issues_and_gaps_are_counted(tracker: Tracker):
    row, _ = tracker.start_session("q")
    for rating in (5, 5, 3, 1):
        tracker.log_interaction(row["id"], "p", "r", rating)
    tracker.flag_issue(row["id"], "hallucination", "d", "high")
    tracker.flag_issue(row["id"], "hallucination", "d", "low")
    tracker.flag_issue(row["id"], "wrong_api", "d", "high")
    data = analytics.overview(tracker.store, Settings())
    assert data["effectiveness"] == {1: 1, 2: 0, 3: 1, 4: 0, 5: 2}
    assert data["average_rating"] == 3.5
    assert data["issues"]["by_type"] == {"hallucination": 2, "wrong_api": 1}
    assert data["issues"]["by_severity"] == {"high": 2, "low": 1}
    assert data["gaps"]["gaps"] == 3


@pytest.mark.parametrize(
    ("tz", "day"),
    [("UTC", "2026-03-01"), ("Asia/Kolkata", "2026-03-02"), ("America/Los_Angeles", "2026-03-01")],
)
def test_days_are_local_to_the_chosen_time_zone(tracker: Tracker, tz: str, day: str):
    _session(tracker, "late", minutes=10, estimate=20, start="2026-03-01T18:45:00Z")
    data = analytics.overview(tracker.store, Settings(), tz=tz, per_day=True)
    assert [d["day"] for d in data["per_day"]] == [day]


def test_groupings_by_model_repo_and_agent(tracker: Tracker):
    tracker.start_session("a", model="gpt-5", repo_path="/r/1", agent="codex", lane="1")
    tracker.start_session("b", model="gpt-5", repo_path="/r/2", agent="codex", lane="2")
    data = analytics.overview(tracker.store, Settings(), groups=("model", "repo", "agent"))
    assert data["by"]["model"][0] == {**data["by"]["model"][0], "key": "gpt-5", "sessions": 2}
    assert sorted(g["key"] for g in data["by"]["repo"]) == ["/r/1", "/r/2"]


def test_filters_restrict_every_figure(tracker: Tracker):
    _session(tracker, "old", minutes=10, estimate=20, start="2026-01-01T10:00:00Z")
    _session(tracker, "new", minutes=10, estimate=40, start="2026-03-01T10:00:00Z")
    data = analytics.overview(tracker.store, Settings(), {"since": from_iso("2026-02-01")})
    assert data["sessions"]["total"] == 1
    assert data["roi"]["estimated_human_hours"] == round(40 / 60, 4)


def test_threads_with_their_own_connections_keep_one_active_session_per_lane(store_url):
    open_store(store_url).close()
    errors = []

    def worker(n: int) -> None:
        try:
            store = open_store(store_url)
            tracker = Tracker(store, Settings())
            for k in range(5):
                tracker.start_session(f"w{n}-{k}", lane="contended")
            store.close()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = open_store(store_url)
    rows = store.db.query("SELECT status, outcome FROM sessions")
    assert len(rows) == 20
    assert sum(1 for r in rows if r["status"] == "active") == 1
    assert all(r["outcome"] == "partial" for r in rows if r["status"] != "active")
    store.close()
