"""The rollups the dashboard reads stay exact under any sequence of writes (triggers), and the
dashboard's queries agree with plain aggregates over the raw rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aitrack import ids, usage
from aitrack.clock import local_midnight_ms, now_ms
from aitrack.settings import Settings
from aitrack.store import open_store
from aitrack.store.dashboard import DashboardQueries
from aitrack.tracker import Tracker
from dashboard_seed import REPO_A, seed

BILLABLE = (
    "input_tokens + output_tokens + cache_read_tokens + cache_write_5m_tokens "
    "+ cache_write_1h_tokens"
)


def rollups_match(db) -> None:
    """Every rollup equals the same sums computed from the raw rows."""
    direct = db.query(
        f"SELECT COALESCE(session_id, '') AS s, model, count(*) AS calls, sum({BILLABLE}) AS t, "
        "COALESCE(sum(cost_usd), 0) AS cost, count(cost_usd) AS priced FROM api_calls "
        "GROUP BY COALESCE(session_id, ''), model ORDER BY 1, 2"
    )
    rolled = db.query(
        "SELECT session_id AS s, model, sum(calls) AS calls, sum(tokens) AS t, "
        "sum(cost_usd) AS cost, sum(priced_calls) AS priced FROM api_usage_by_session "
        "GROUP BY session_id, model ORDER BY 1, 2"
    )
    assert [(r["s"], r["model"], r["calls"], r["t"], r["priced"]) for r in direct] == [
        (r["s"], r["model"], r["calls"], r["t"], r["priced"]) for r in rolled
    ]
    for a, b in zip(direct, rolled, strict=True):
        assert a["cost"] == pytest.approx(b["cost"], abs=1e-9)
    copied = db.query(
        "SELECT u.session_start, u.productive, s.start_time, s.status, s.task_type "
        "FROM api_usage_by_session u JOIN sessions s ON s.id = u.session_id"
    )
    for r in copied:
        assert r["session_start"] == r["start_time"]
        productive = r["status"] == "completed" and r["task_type"] != "human_review"
        assert r["productive"] == (1 if productive else 0)
    expected: dict[str, list] = {}
    for r in db.query(
        f"SELECT session_id, count(*) AS c, count(cost_usd) AS p, "
        f"COALESCE(sum(cost_usd), 0) AS cost, sum({BILLABLE}) AS t FROM api_calls "
        "WHERE session_id IS NOT NULL GROUP BY session_id"
    ):
        expected.setdefault(r["session_id"], [0] * 8)[0:4] = [r["c"], r["p"], r["cost"], r["t"]]
    for r in db.query("SELECT session_id, count(*) AS c FROM commits GROUP BY session_id"):
        expected.setdefault(r["session_id"], [0] * 8)[4] = r["c"]
    for r in db.query(
        "SELECT session_id, count(*) AS c, sum(lines_added) AS a, "
        "sum(lines_removed) AS d FROM changes GROUP BY session_id"
    ):
        expected.setdefault(r["session_id"], [0] * 8)[5:8] = [r["c"], r["a"], r["d"]]
    got = {
        r["session_id"]: [
            r["api_calls"],
            r["priced_calls"],
            r["cost_usd"],
            r["tokens"],
            r["commits"],
            r["files_changed"],
            r["lines_added"],
            r["lines_removed"],
        ]
        for r in db.query("SELECT * FROM session_rollup")
    }
    # a cost summed then taken away again may leave a float residue (1e-21), not a row
    got = {k: v for k, v in got.items() if any(abs(x) > 1e-9 for x in v)}
    assert set(got) == set(expected)
    for sid, values in expected.items():
        assert got[sid] == pytest.approx(values, abs=1e-9), sid
    spend = db.query(
        "SELECT ts / 900000 AS b, count(*) AS c, COALESCE(sum(cost_usd), 0) AS cost "
        "FROM api_calls GROUP BY ts / 900000 ORDER BY 1"
    )
    buckets = db.query(
        "SELECT bucket AS b, calls AS c, cost_usd AS cost FROM api_spend_by_bucket "
        "WHERE calls <> 0 ORDER BY 1"
    )
    assert [(r["b"], r["c"]) for r in spend] == [(r["b"], r["c"]) for r in buckets]


OPS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "call",
                "call",
                "call",
                "delete_call",
                "move_call",
                "commit",
                "change",
                "redo_changes",
                "end",
                "delete_session",
                "restart",
            ]
        ),
        st.integers(0, 3),
        st.integers(0, 5000),
    ),
    min_size=1,
    max_size=25,
)


@given(ops=OPS)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_rollups_stay_exact_under_any_writes(tracker, ops):
    db = tracker.db
    with db.transaction():
        for table in ("api_calls", "commits", "changes", "sessions"):
            db.execute(f"DELETE FROM {table}")
    lanes = [
        tracker.start_session(f"s{k}", "human_review" if k == 3 else "debugging", lane=f"p{k}")[0][
            "id"
        ]
        for k in range(4)
    ]
    rnd = random.Random(len(ops))
    for op, k, n in ops:
        sid = lanes[k]
        exists = db.scalar("SELECT count(*) FROM sessions WHERE id = ?", (sid,))
        if op == "call":
            usage.record_api_calls(
                tracker,
                [
                    usage.api_call_row(
                        model=rnd.choice(["claude-sonnet-4-5", "gpt-5", "no-price-model"]),
                        source="proxy",
                        session_id=sid if exists and n % 5 else None,
                        ts=now_ms() - n * 60_000,
                        input_tokens=n,
                        output_tokens=n // 2,
                        cache_read_tokens=n * 3,
                        dedup_key=f"d{n % 7}" if n % 2 else None,
                    )
                ],
            )
        elif op == "delete_call":
            with db.transaction():
                db.execute(
                    "DELETE FROM api_calls WHERE id IN (SELECT id FROM api_calls "
                    "ORDER BY id LIMIT 1)"
                )
        elif op == "move_call" and exists:
            with db.transaction():
                db.execute(
                    "UPDATE api_calls SET session_id = ?, cost_usd = NULL WHERE id IN "
                    "(SELECT id FROM api_calls ORDER BY ts LIMIT 2)",
                    (sid,),
                )
        elif op == "commit" and exists:
            with db.transaction():
                tracker.records.insert_commit(
                    {
                        "id": ids.new_id(),
                        "session_id": sid,
                        "sha": f"{n:040x}",
                        "message": "m",
                        "ts": n,
                    }
                )
        elif op in ("change", "redo_changes") and exists:
            rows = [
                {
                    "id": ids.new_id(),
                    "session_id": sid,
                    "path": f"f{j}",
                    "change_type": "modified",
                    "lines_added": n + j,
                    "lines_removed": j,
                    "ts": n,
                }
                for j in range(1 + n % 3)
            ]
            with db.transaction():
                tracker.records.replace_changes(sid, rows if op == "change" else rows[:1])
        elif op == "end" and exists:
            if db.scalar("SELECT status FROM sessions WHERE id = ?", (sid,)) == "active":
                tracker.end_session(sid, "success")
        elif op == "delete_session" and exists:
            with db.transaction():
                db.execute("DELETE FROM sessions WHERE id = ?", (sid,))
        elif op == "restart" and not exists:
            lanes[k] = tracker.start_session(f"again{k}", lane=f"p{k}")[0]["id"]
    rollups_match(db)


@pytest.fixture
def seeded(tracker):
    seed(tracker)
    return tracker


def _day_edges(days: int = 30) -> list[tuple[int, int]]:
    from datetime import date, timedelta

    today = date.today()
    return [
        (
            local_midnight_ms(today - timedelta(days=d)),
            local_midnight_ms(today - timedelta(days=d - 1)),
        )
        for d in range(days - 1, -1, -1)
    ]


def test_the_seed_leaves_exact_rollups(seeded):
    rollups_match(seeded.db)


def _direct_usage(db, edges, repo=None):
    out = {}
    for i, (lo, hi) in enumerate(edges):
        sql = (
            "SELECT a.model, count(*) AS calls, sum("
            + BILLABLE.replace("input", "a.input")
            + ") AS tokens, COALESCE(sum(a.cost_usd), 0) AS cost FROM api_calls a "
            "JOIN sessions s ON s.id = a.session_id WHERE s.start_time >= ? "
            "AND s.start_time < ?"
        )
        params = [lo, hi]
        if repo:
            sql += " AND s.repo_path = ?"
            params.append(repo)
        for r in db.query(sql + " GROUP BY a.model", params):
            out[(i, r["model"])] = (r["calls"], r["tokens"], round(r["cost"], 9))
    return out


@pytest.mark.parametrize("repo", [None, REPO_A])
def test_usage_by_model_per_day_matches_the_raw_calls(seeded, repo):
    """Without filters the rollup's model index answers; with one, the join with sessions."""
    q = DashboardQueries(seeded.db)
    edges = _day_edges()
    filters = {"since": edges[0][0], **({"repo": repo} if repo else {})}
    got = {
        (r["bucket"], r["model"]): (r["calls"], r["tokens"], round(r["cost_usd"], 9))
        for r in q.usage_series(filters, edges)
    }
    assert got == _direct_usage(seeded.db, edges, repo)
    assert got


def test_session_series_add_up_to_the_core_totals(seeded):
    q = DashboardQueries(seeded.db)
    edges = _day_edges()
    rows = q.session_series({"since": edges[0][0]}, edges)
    core = seeded.store.aggregates.session_totals({"since": edges[0][0]})
    for measure in (
        "sessions",
        "active",
        "completed",
        "succeeded",
        "failed",
        "time_ms",
        "interactions",
        "rating_sum",
        "issues",
        "roi_time_ms",
        "roi_estimate_minutes",
    ):
        assert sum(r[measure] or 0 for r in rows) == pytest.approx(core[measure]), measure


def test_grouped_by_repository_matches_raw_rows(seeded):
    q = DashboardQueries(seeded.db)
    rows = {
        r["repo"]: r
        for r in q.grouped(["repo"], {}, ["sessions", "cost_usd", "commits", "lines_added"])
    }
    a = rows[REPO_A]
    assert a["sessions"] == 3
    assert a["commits"] == seeded.db.scalar(
        "SELECT count(*) FROM commits c JOIN sessions s ON s.id = c.session_id "
        "WHERE s.repo_path = ?",
        (REPO_A,),
    )
    assert a["cost_usd"] == pytest.approx(
        seeded.db.scalar(
            "SELECT sum(a.cost_usd) FROM api_calls a JOIN sessions s ON s.id = a.session_id "
            "WHERE s.repo_path = ?",
            (REPO_A,),
        )
    )


def test_spend_series_match_the_calls_made_each_day(seeded):
    q = DashboardQueries(seeded.db)
    edges = _day_edges(10)
    spend = q.spend_series(edges)
    for (lo, hi), value in zip(edges, spend, strict=True):
        direct = (
            seeded.db.scalar(
                "SELECT sum(cost_usd) FROM api_calls WHERE ts >= ? AND ts < ?", (lo, hi)
            )
            or 0.0
        )
        assert value == pytest.approx(direct)
    unaligned = now_ms() - 3 * 86_400_000 + 1234
    assert q.spend_since(unaligned) == pytest.approx(
        seeded.db.scalar("SELECT sum(cost_usd) FROM api_calls WHERE ts >= ?", (unaligned,))
    )


def test_rollups_are_built_for_rows_written_before_the_migration(tmp_path):
    from aitrack.store.database import connect
    from aitrack.store.migrations import MIGRATIONS, migrate

    db = connect(str(tmp_path / "old.db"))
    before = [m for m in MIGRATIONS if m[0] < "0009"]
    migrate(db, before)
    with db.transaction():
        db.execute(
            "INSERT INTO sessions (id, name, task_type, lane, source, start_time, "
            "last_activity, status) VALUES ('S1', 'old', 'general', 'l', 'cli', 5, 5, "
            "'completed')"
        )
        db.execute(
            "INSERT INTO api_calls (id, session_id, ts, model, input_tokens, cost_usd, "
            "source) VALUES ('A1', 'S1', 1000, 'm', 10, 0.5, 'import')"
        )
        db.execute(
            "INSERT INTO api_calls (id, ts, model, input_tokens, source) "
            "VALUES ('A2', 2000, 'm', 7, 'proxy')"
        )
        db.execute(
            "INSERT INTO commits (id, session_id, sha, message, ts) "
            "VALUES ('C1', 'S1', 'abc', 'm', 3)"
        )
    db.close()
    store = open_store(str(tmp_path / "old.db"))
    rollups_match(store.db)
    store.close()


def test_the_rollup_migration_runs_on_both_dialects(store):
    names = store.db.table_names()
    assert {"api_usage_by_session", "session_rollup", "api_spend_by_bucket"} <= names
    tracker = Tracker(store, Settings())
    sid = tracker.start_session("x")[0]["id"]
    usage.record_api_call(tracker, model="gpt-5", source="proxy", session_id=sid, input_tokens=100)
    rollups_match(store.db)
