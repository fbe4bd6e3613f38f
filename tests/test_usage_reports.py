"""`aitrack usage daily|weekly|monthly|session`: sums per local day in any time zone (also
across a DST change), per week, month and session, with filters, unpriced calls kept apart,
and totals equal to the generator's truth after an import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from aitrack.cli.main import cli
from aitrack.clock import from_iso
from aitrack.errors import InvalidValue
from aitrack.importing.transcripts import TranscriptImporter
from aitrack.store import open_store
from aitrack.tracker import Tracker
from aitrack.usage import record_api_call
from aitrack.usage_reports import usage_report
from test_import_transcripts import claude_corpus, truth  # noqa: F401 - shared fixture


def session(tracker, name="work", **kw):
    defaults = dict(
        lane=name, agent="claude-code", repo_path=f"/src/{name}", project=name, branch="main"
    )
    return tracker.start_session(
        name, **{**defaults, **kw}, at_ms=from_iso("2025-09-01T00:00:00Z")
    )[0]


def call(tracker, sid, when, model="claude-sonnet-4-5", **tokens):
    tokens = {"input_tokens": 100, "output_tokens": 10, **tokens}
    return record_api_call(
        tracker, model=model, source="test", session_id=sid, ts=from_iso(when), **tokens
    )


def days(report):
    return {r["date"]: r["input_tokens"] for r in report["rows"]}


def test_imported_transcripts_report_the_truth_totals(tracker, claude_corpus):  # noqa: F811
    TranscriptImporter(tracker).import_agent("claude-code", [claude_corpus])
    report = usage_report(tracker.store, "daily", tz="UTC")
    expected = truth(claude_corpus, "claude-code")
    totals = report["totals"]
    assert totals["input_tokens"] == sum(m["input"] for m in expected.values())
    assert totals["output_tokens"] == sum(m["output"] for m in expected.values())
    assert totals["cache_read_tokens"] == sum(m["cache_read"] for m in expected.values())
    assert totals["cache_write_tokens"] == sum(m["cache_creation"] for m in expected.values())
    assert totals["total_tokens"] == sum(
        m["input"] + m["output"] + m["cache_read"] + m["cache_creation"] for m in expected.values()
    )
    assert totals["cost_usd"] > 0 and totals["unpriced_calls"] == 0
    assert {m for r in report["rows"] for m in r["models"]} == set(expected)
    assert sum(r["input_tokens"] for r in report["rows"]) == totals["input_tokens"]
    for r in report["rows"]:
        assert sum(b["output_tokens"] for b in r["model_breakdowns"]) == r["output_tokens"]


@pytest.mark.parametrize(("tz", "expected"), [
    ("UTC", {"2025-10-01": 100, "2025-10-02": 100}),
    ("Asia/Tokyo", {"2025-10-02": 200}),
    ("America/Los_Angeles", {"2025-10-01": 200}),
])  # fmt: skip
def test_days_are_calendar_days_of_the_time_zone(tracker, tz, expected):
    sid = session(tracker)["id"]
    call(tracker, sid, "2025-10-01T23:30:00Z")
    call(tracker, sid, "2025-10-02T00:30:00Z")
    assert days(usage_report(tracker.store, "daily", tz=tz)) == expected


def test_days_across_a_daylight_saving_change_stay_local(tracker):
    sid = session(tracker)["id"]
    call(tracker, sid, "2025-10-25T22:30:00Z", input_tokens=1)  # 00:30 CEST, Oct 26
    call(tracker, sid, "2025-10-26T22:30:00Z", input_tokens=2)  # 23:30 CET, Oct 26
    call(tracker, sid, "2025-10-26T23:30:00Z", input_tokens=4)  # 00:30 CET, Oct 27
    assert days(usage_report(tracker.store, "daily", tz="Europe/Paris")) == {
        "2025-10-26": 3,
        "2025-10-27": 4,
    }


def test_weeks_and_months_group_the_days(tracker):
    sid = session(tracker)["id"]
    for when in (
        "2025-09-28T12:00:00Z",
        "2025-09-29T12:00:00Z",
        "2025-10-05T12:00:00Z",
        "2025-10-06T12:00:00Z",
    ):  # Sun, Mon, Sun, Mon
        call(tracker, sid, when)
    weekly = usage_report(tracker.store, "weekly", tz="UTC")
    assert [(r["week"], r["calls"]) for r in weekly["rows"]] == [
        ("2025-09-22", 1),
        ("2025-09-29", 2),
        ("2025-10-06", 1),
    ]
    sunday = usage_report(tracker.store, "weekly", tz="UTC", start_of_week="sunday")
    assert [(r["week"], r["calls"]) for r in sunday["rows"]] == [
        ("2025-09-28", 2),
        ("2025-10-05", 2),
    ]
    monthly = usage_report(tracker.store, "monthly", tz="UTC")
    assert [(r["month"], r["calls"]) for r in monthly["rows"]] == [("2025-09", 2), ("2025-10", 2)]
    assert monthly["totals"]["calls"] == 4


def test_session_report_has_one_row_per_session_most_expensive_first(tracker):
    cheap = session(tracker, "cheap", branch="fix/a")["id"]
    dear = session(tracker, "dear", agent="codex", branch="main")["id"]
    call(tracker, cheap, "2025-10-01T10:00:00Z", model="claude-haiku-4-5")
    call(tracker, dear, "2025-10-01T11:00:00Z", model="claude-opus-4-1", output_tokens=50_000)
    call(tracker, dear, "2025-10-02T11:00:00Z", model="claude-sonnet-4-5")
    rows = usage_report(tracker.store, "session")["rows"]
    assert [r["name"] for r in rows] == ["dear", "cheap"]
    assert rows[0]["models"] == ["claude-opus-4-1", "claude-sonnet-4-5"]
    assert (rows[0]["agent"], rows[0]["branch"], rows[1]["branch"]) == ("codex", "main", "fix/a")
    assert rows[0]["first_activity"].startswith("2025-10-01T11:00")
    assert rows[0]["last_activity"].startswith("2025-10-02T11:00")
    assert rows[0]["cost_usd"] > rows[1]["cost_usd"] > 0


def test_filters_by_project_branch_agent_and_time(tracker):
    a = session(tracker, "alpha", branch="main")["id"]
    b = session(tracker, "beta", branch="dev", agent="codex")["id"]
    call(tracker, a, "2025-10-01T10:00:00Z", input_tokens=1)
    call(tracker, b, "2025-10-02T10:00:00Z", input_tokens=2)
    call(tracker, b, "2025-10-03T10:00:00Z", input_tokens=4)

    def total(**filters):
        return usage_report(tracker.store, "daily", filters, tz="UTC")["totals"]["input_tokens"]

    assert total(project="alpha") == 1
    assert total(project="/src/beta") == 6
    assert total(branch="dev") == 6
    assert total(agent="claude-code") == 1
    assert total(since=from_iso("2025-10-02T00:00:00Z")) == 6
    assert (
        total(since=from_iso("2025-10-02T00:00:00Z"), until=from_iso("2025-10-03T00:00:00Z")) == 2
    )


def test_unpriced_calls_are_counted_never_shown_as_zero(tracker):
    sid = session(tracker)["id"]
    call(tracker, sid, "2025-10-01T10:00:00Z", model="our-private-model-x")
    only = usage_report(tracker.store, "daily", tz="UTC")["rows"][0]
    assert (only["cost_usd"], only["unpriced_calls"]) == (None, 1)
    call(tracker, sid, "2025-10-01T11:00:00Z")
    mixed = usage_report(tracker.store, "daily", tz="UTC")["rows"][0]
    assert mixed["cost_usd"] > 0 and mixed["unpriced_calls"] == 1


def test_api_error_lines_are_not_listed_as_a_model(tracker):
    sid = session(tracker)["id"]
    call(tracker, sid, "2025-10-01T10:00:00Z", model="<synthetic>", input_tokens=0, output_tokens=0)
    call(tracker, sid, "2025-10-01T11:00:00Z")
    row = usage_report(tracker.store, "daily", tz="UTC")["rows"][0]
    assert row["models"] == ["claude-sonnet-4-5"] and row["calls"] == 2


def test_an_empty_store_gives_no_rows_and_zero_totals(tracker):
    report = usage_report(tracker.store, "monthly")
    assert report["rows"] == [] and report["totals"]["total_tokens"] == 0
    assert report["totals"]["cost_usd"] is None


def test_unknown_period_or_zone_is_refused(tracker):
    with pytest.raises(InvalidValue):
        usage_report(tracker.store, "hourly")
    session_id = session(tracker)["id"]
    call(tracker, session_id, "2025-10-01T10:00:00Z")
    with pytest.raises(InvalidValue, match="time zone"):
        usage_report(tracker.store, "daily", tz="Mars/Olympus")


def _cli_store():
    return Tracker(open_store())


def test_usage_command_json_and_table(tmp_path: Path):
    t = _cli_store()
    sid = session(t, "cli")["id"]
    call(t, sid, "2025-10-01T10:00:00Z")
    call(t, sid, "2025-10-03T10:00:00Z")
    t.store.close()
    runner = CliRunner()
    result = runner.invoke(cli, ["usage", "daily", "--json", "--timezone", "UTC",
                                 "--since", "2025-10-01", "--until", "20251001"])  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["success"] and [r["date"] for r in out["data"]["rows"]] == ["2025-10-01"]
    assert out["data"]["totals"]["calls"] == 1
    table = runner.invoke(cli, ["usage", "monthly", "-z", "UTC"])
    assert table.exit_code == 0 and "2025-10" in table.output and "Total" in table.output
    bad = runner.invoke(
        cli, ["usage", "daily", "--since", "2025-10-05", "--until", "2025-10-01", "--json"]
    )
    assert bad.exit_code == 1 and "before" in json.loads(bad.output)["error"]
    sessions = runner.invoke(cli, ["usage", "session", "--json"])
    assert json.loads(sessions.output)["data"]["rows"][0]["name"] == "cli"


def test_rollup_and_call_by_call_reading_agree(tracker, claude_corpus):  # noqa: F811
    TranscriptImporter(tracker).import_agent("claude-code", [claude_corpus])
    since = from_iso("2025-10-01T00:00:00Z")
    for period in ("daily", "session"):
        rolled = usage_report(tracker.store, period, {"since": since}, tz="Europe/Paris")
        exact = usage_report(
            tracker.store, period, {"since": since + 1}, tz="Europe/Paris"
        )  # not on a bucket
        assert rolled["rows"] == exact["rows"] and rolled["totals"] == exact["totals"]


def test_the_rollup_follows_replaced_and_deleted_calls(tracker):
    sid = session(tracker)["id"]
    record_api_call(tracker, model="claude-sonnet-4-5", source="t", session_id=sid, dedup_key="k",
                    ts=from_iso("2025-10-01T10:00:00Z"), input_tokens=5, output_tokens=1)  # fmt: skip
    record_api_call(tracker, model="claude-sonnet-4-5", source="t", session_id=sid, dedup_key="k",
                    ts=from_iso("2025-10-01T10:00:00Z"), input_tokens=5, output_tokens=90)  # fmt: skip
    totals = usage_report(tracker.store, "daily", tz="UTC")["totals"]
    assert (totals["calls"], totals["output_tokens"]) == (1, 90)
    tracker.db.execute("DELETE FROM sessions WHERE id = ?", (sid,))
    assert usage_report(tracker.store, "daily", tz="UTC")["rows"] == []
    assert tracker.db.scalar("SELECT count(*) FROM api_usage_by_bucket") == 0


def test_the_rollup_migration_fills_in_existing_calls(tmp_path):
    from aitrack.store.database import connect
    from aitrack.store.migrations import MIGRATIONS, migrate

    names = [name for name, _ in MIGRATIONS]
    older = MIGRATIONS[: names.index("0010_create_usage_by_bucket")]
    db = connect(str(tmp_path / "old.db"))
    migrate(db, older)
    db.execute("INSERT INTO api_calls (id, ts, model, input_tokens, output_tokens, cost_usd, source) "
               "VALUES ('a', ?, 'm', 7, 3, 0.5, 'x'), ('b', ?, 'm', 1, 1, NULL, 'x')",
               (from_iso("2025-10-01T10:00:00Z"), from_iso("2025-10-01T10:01:00Z")))  # fmt: skip
    db.close()
    store = open_store(str(tmp_path / "old.db"))
    row = usage_report(store, "daily", tz="UTC")["rows"][0]
    assert (row["calls"], row["input_tokens"], row["cost_usd"], row["unpriced_calls"]) == (
        2,
        8,
        0.5,
        1,
    )


def test_the_rollup_stays_exact_when_a_copy_with_more_tokens_replaces_a_call(tracker):
    sid = session(tracker)["id"]
    for out in (1, 2, 3):  # streaming snapshots of one response, each with a 5m and 1h write
        record_api_call(tracker, model="claude-sonnet-4-5", source="t", session_id=sid, dedup_key="k",
                        ts=from_iso("2025-10-01T10:00:00Z"), input_tokens=5, output_tokens=out,
                        cache_write_5m_tokens=100, cache_write_1h_tokens=10)  # fmt: skip
    totals = usage_report(tracker.store, "daily", tz="UTC")["totals"]
    assert (totals["calls"], totals["output_tokens"], totals["cache_write_tokens"]) == (1, 3, 110)
