"""Budgets: limits per session, day and month, globally or per repository; the check every
interface shows, the `budget` command and the notice in `status`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from aitrack import budgets
from aitrack.cli.main import cli
from aitrack.clock import now_ms
from aitrack.errors import InvalidValue
from aitrack.store import open_store
from aitrack.tracker import Tracker
from aitrack.usage import record_api_call

DAY = 86_400_000


def spend(tracker, session_id, usd, ts=None, model="claude-sonnet-4-5"):
    return record_api_call(
        tracker,
        model=model,
        source="manual",
        session_id=session_id,
        cost_usd=usd,
        ts=ts,
        input_tokens=10,
    )


def test_nothing_is_over_budget_without_budgets(tracker):
    session, _ = tracker.start_session("s")
    spend(tracker, session["id"], 50.0)
    check = budgets.check_budgets(tracker, session["id"])
    assert check["over_budget"] is False and check["rules"] == []
    assert check["spend"]["session"] == 50.0
    assert check["limits"] == {"session": None, "daily": None, "monthly": None}


def test_a_session_limit_is_reached_at_its_amount(tracker):
    budgets.set_budgets(tracker, {"session": 2.0})
    session, _ = tracker.start_session("s")
    other, _ = tracker.start_session("other", lane="elsewhere")
    spend(tracker, session["id"], 1.5)
    spend(tracker, other["id"], 5.0)
    assert budgets.check_budgets(tracker, session["id"])["over_budget"] is False
    spend(tracker, session["id"], 0.5)
    check = budgets.check_budgets(tracker, session["id"])
    assert check["over_budget"] is True and check["enforced"] is False
    [rule] = check["exceeded"]
    assert (rule["scope"], rule["limit_usd"], rule["spend_usd"]) == ("session", 2.0, 2.0)
    assert budgets.describe(rule) == "session budget $2.00 reached: $2.00 spent"


def test_daily_and_monthly_limits_count_only_their_period(tracker):
    budgets.set_budgets(tracker, {"daily": 10.0, "monthly": 100.0})
    session, _ = tracker.start_session("s")
    spend(tracker, session["id"], 9.0)
    spend(tracker, session["id"], 500.0, ts=now_ms() - 62 * DAY)  # two months ago
    check = budgets.check_budgets(tracker)
    assert check["spend"]["daily"] == 9.0 and check["spend"]["monthly"] >= 9.0
    assert check["spend"]["monthly"] < 500
    assert check["over_budget"] is False
    spend(tracker, session["id"], 1.0)
    assert [r["scope"] for r in budgets.check_budgets(tracker)["exceeded"]] == ["daily"]


def test_unpriced_calls_never_count_as_spend(tracker):
    budgets.set_budgets(tracker, {"session": 0.5})
    session, _ = tracker.start_session("s")
    record_api_call(
        tracker,
        model="unknown-model-x",
        source="manual",
        session_id=session["id"],
        input_tokens=1_000_000,
    )
    check = budgets.check_budgets(tracker, session["id"])
    assert check["over_budget"] is False
    assert check["rules"][0]["unpriced_calls"] == 1


def test_a_repository_budget_counts_only_that_repository(tracker):
    budgets.set_budgets(tracker, {"daily": 5.0}, repo="/work/repo-a")
    a, _ = tracker.start_session("a", repo_path="/work/repo-a", lane="a")
    b, _ = tracker.start_session("b", repo_path="/work/repo-b", lane="b")
    spend(tracker, b["id"], 20.0)
    assert budgets.check_budgets(tracker, a["id"])["over_budget"] is False
    assert budgets.check_budgets(tracker, b["id"])["rules"] == []
    spend(tracker, a["id"], 5.0)
    check = budgets.check_budgets(tracker, a["id"])
    assert check["over_budget"] is True and check["exceeded"][0]["repo_path"] == "/work/repo-a"


def test_enforce_is_kept_when_limits_change_and_can_be_switched_off(tracker):
    budgets.set_budgets(tracker, {"session": 1.0}, enforce=True)
    budgets.set_budgets(tracker, {"daily": 3.0})
    assert {(b["scope"], b["enforce"]) for b in budgets.list_budgets(tracker)} == {
        ("session", True),
        ("daily", False),
    }
    budgets.set_budgets(tracker, {}, enforce=False)
    assert not any(b["enforce"] for b in budgets.list_budgets(tracker))


def test_bad_budgets_are_refused(tracker):
    with pytest.raises(InvalidValue, match="zero or more"):
        budgets.set_budgets(tracker, {"daily": -1.0})
    with pytest.raises(InvalidValue, match="session, daily, monthly"):
        budgets.set_budgets(tracker, {"weekly": 1.0})
    assert budgets.list_budgets(tracker) == []


def test_the_budget_command_sets_shows_and_clears_limits(aitrack_home):
    runner = CliRunner()
    result = runner.invoke(cli, ["budget", "--session", "2", "--daily", "10", "--enforce"])
    assert result.exit_code == 0, result.output
    assert "$10.00" in result.output and "yes" in result.output
    shown = json.loads(runner.invoke(cli, ["budget", "--json"]).output)
    assert shown["success"] is True
    assert {(b["scope"], b["limit_usd"], b["enforce"]) for b in shown["data"]["budgets"]} == {
        ("session", 2.0, True),
        ("daily", 10.0, True),
    }
    assert shown["data"]["over_budget"] is False
    result = runner.invoke(cli, ["budget", "--clear", "--daily", "0"])
    assert result.exit_code == 0 and "1 limit(s) removed" in result.output
    shown = json.loads(runner.invoke(cli, ["budget", "--json"]).output)
    assert [b["scope"] for b in shown["data"]["budgets"]] == ["session"]
    assert runner.invoke(cli, ["budget", "--daily", "-3"]).exit_code == 2


def test_status_shows_a_notice_when_a_limit_is_reached(aitrack_home):
    tracker = Tracker(open_store())
    session, _ = tracker.start_session("spendy")
    runner = CliRunner()
    assert "budget" not in runner.invoke(cli, ["status"]).output
    budgets.set_budgets(tracker, {"session": 1.0}, enforce=True)
    spend(tracker, session["id"], 1.25)
    result = runner.invoke(cli, ["status"])
    assert result.exit_code == 0
    assert "⚠ budget: session budget $1.00 reached: $1.25 spent" in result.output
    assert "refuses further calls" in result.output
    data = json.loads(runner.invoke(cli, ["status", "--json"]).output)["data"]
    assert data["over_budget"] is True and len(data["budget_notices"]) == 1
