"""Budget rules: spending limits per session, per local day and per month, globally or for
one repository, and the check every interface shows (status, dashboard, API, proxy).

A limit is reached when priced spend is at or over it (unpriced calls cannot count). An
enforced limit makes the proxy refuse further calls of that session, day or month.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aitrack.clock import day_bounds_ms, local_midnight_ms, now_ms, zone
from aitrack.errors import InvalidValue
from aitrack.store.spend import SpendRecords
from aitrack.tracker import Tracker

SCOPES = ("session", "daily", "monthly")


def _spend(tracker: Tracker) -> SpendRecords:
    return SpendRecords(tracker.db)


def list_budgets(tracker: Tracker) -> list[dict[str, Any]]:
    return [_budget_out(r) for r in _spend(tracker).budgets()]


def _budget_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "scope": row["scope"],
        "repo_path": row["repo_path"] or None,
        "limit_usd": row["amount_usd"],
        "enforce": bool(row["enforce"]),
    }


def set_budgets(
    tracker: Tracker,
    limits: dict[str, float | None],
    repo: str | None = None,
    enforce: bool | None = None,
) -> list[dict[str, Any]]:
    """Set limits ({scope: USD}) for all spend or one repository; `enforce` True/False
    switches refusal on or off for every limit of that repository (None keeps it).

    Raises:
        InvalidValue: an unknown scope or a negative amount.
    """
    repo_path = repo or ""
    spend = _spend(tracker)
    at = now_ms()
    current = {r["scope"]: r for r in spend.budgets() if r["repo_path"] == repo_path}
    with tracker.db.transaction():
        for scope, amount in limits.items():
            if scope not in SCOPES:
                raise InvalidValue(f"unknown budget {scope!r}: use one of {', '.join(SCOPES)}")
            if amount is None:
                continue
            if amount < 0:
                raise InvalidValue(f"the {scope} budget must be zero or more dollars, not {amount}")
            keep = bool(current[scope]["enforce"]) if scope in current else False
            spend.set_budget(
                scope, repo_path, float(amount), keep if enforce is None else enforce, at
            )
        if enforce is not None:
            spend.set_budget_enforce(repo_path, enforce, at)
    return [b for b in list_budgets(tracker) if (b["repo_path"] or "") == repo_path]


def clear_budgets(
    tracker: Tracker, repo: str | None = None, scopes: tuple[str, ...] | None = None
) -> int:
    with tracker.db.transaction():
        return _spend(tracker).delete_budgets(repo or "", scopes)


def _month_bounds(tz: str | None) -> tuple[int, int]:
    today = datetime.now(zone(tz)).date()
    first = today.replace(day=1)
    following = (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else (first.replace(month=first.month + 1))
    )
    return local_midnight_ms(first, tz), local_midnight_ms(following, tz)


def check_budgets(
    tracker: Tracker,
    session_id: str | None = None,
    repo: str | None = None,
    tz: str | None = None,
) -> dict[str, Any]:
    """Limits that apply (global ones, plus those of the session's or given repository), the
    spend against each, and whether any is reached: {"limits", "spend", "rules", "exceeded",
    "over_budget", "enforced"}."""
    spend = _spend(tracker)
    session = None
    if session_id:
        session = tracker.resolve_session(session_id)
        repo = repo or session.get("repo_path")
    rules = [r for r in spend.budgets() if r["repo_path"] in ("", repo or "")]
    day = day_bounds_ms(tz)
    month = _month_bounds(tz)
    cache: dict[tuple[str, str], dict[str, Any] | None] = {}

    def spent(scope: str, repo_path: str) -> dict[str, Any] | None:
        key = (scope, repo_path)
        if key not in cache:
            if scope == "session":
                cache[key] = spend.session_spend(session["id"]) if session else None
            else:
                start, end = day if scope == "daily" else month
                cache[key] = spend.spend_between(start, end, repo_path or None)
        return cache[key]

    out_rules = []
    for rule in rules:
        if rule["scope"] == "session" and session is None:
            continue
        row = spent(rule["scope"], rule["repo_path"])
        if row is None:
            continue
        cost = float(row["cost_usd"] or 0)
        out_rules.append(
            {
                **_budget_out(rule),
                "spend_usd": round(cost, 6),
                "unpriced_calls": int(row["unpriced_calls"] or 0),
                "remaining_usd": round(rule["amount_usd"] - cost, 6),
                "over": cost >= rule["amount_usd"],
            }
        )
    limits: dict[str, float | None] = {s: None for s in SCOPES}
    spent_by_scope: dict[str, float | None] = {s: None for s in SCOPES}
    for r in out_rules:
        if limits[r["scope"]] is None or r["limit_usd"] < limits[r["scope"]]:
            limits[r["scope"]] = r["limit_usd"]
            spent_by_scope[r["scope"]] = r["spend_usd"]
    if session is not None and spent_by_scope["session"] is None:
        spent_by_scope["session"] = round(float(spend.session_spend(session["id"])["cost_usd"]), 6)
    exceeded = [r for r in out_rules if r["over"]]
    return {
        "session_id": session["id"] if session else None,
        "repo_path": repo,
        "limits": limits,
        "spend": spent_by_scope,
        "rules": out_rules,
        "exceeded": exceeded,
        "over_budget": bool(exceeded),
        "enforced": any(r["enforce"] for r in exceeded),
    }


def describe(rule: dict[str, Any]) -> str:
    """One line for a reached limit: 'daily budget $10.00 reached: $12.34 spent'."""
    where = f" for {rule['repo_path']}" if rule.get("repo_path") else ""
    return (
        f"{rule['scope']} budget{where} ${rule['limit_usd']:,.2f} reached: "
        f"${rule['spend_usd']:,.2f} spent"
    )


def status_notice(tracker: Tracker, session_ids: list[str]) -> dict[str, Any]:
    """What `status` and the dashboard show: reached limits for the given (active) sessions
    and for all spend, as {"over_budget": bool, "notices": [text, ...]}."""
    if not _spend(tracker).has_budgets():
        return {"over_budget": False, "notices": []}
    seen: dict[tuple[str, str | None, str | None], str] = {}
    for check in [check_budgets(tracker)] + [check_budgets(tracker, s) for s in session_ids]:
        for rule in check["exceeded"]:
            session = check["session_id"] if rule["scope"] == "session" else None
            text = describe(rule) + (f" (session {session[:12]})" if session else "")
            if rule["enforce"]:
                text += "; the proxy refuses further calls"
            seen[(rule["scope"], rule["repo_path"], session)] = text
    return {"over_budget": bool(seen), "notices": list(seen.values())}
