"""Overview: the period's KPIs, cost and tokens per day by model, sessions per day by outcome,
effectiveness, task types, sessions running now and the month's spend against its budget."""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from aitrack import analytics
from aitrack.clock import month_start_ms, now_ms, zone
from aitrack.web import shaping
from aitrack.web.context import Filters, FiltersDep, State

router = APIRouter()

SESSION_MEASURES = (
    "sessions",
    "active",
    "completed",
    "succeeded",
    "partial",
    "failed",
    "time_ms",
    "roi_sessions",
    "roi_time_ms",
    "roi_estimate_minutes",
    "interactions",
    "rating_sum",
    "rating_1",
    "rating_2",
    "rating_3",
    "rating_4",
    "rating_5",
    "issues",
)
USAGE_MEASURES = ("calls", "tokens", "cost_usd", "priced_calls", "roi_cost_usd")
OUTCOMES = (
    ("success", "succeeded"),
    ("partial", "partial"),
    ("failed", "failed"),
    ("active", "active"),
)


def month_projection(state: Any, tz: str | None) -> dict[str, Any]:
    """Spend of API calls made this month (all sessions, as budgets count it), its projection
    to the month's end, and the tightest global monthly budget when one is set."""
    start, now = month_start_ms(tz), now_ms()
    today = datetime.now(zone(tz))
    days = calendar.monthrange(today.year, today.month)[1]
    elapsed = max((now - start) / 86_400_000, 1 / 24)
    limits = [
        b["amount_usd"]
        for b in state.queries.budgets()
        if b["scope"] == "monthly" and not b["repo_path"]
    ]
    budget = min(limits) if limits else None
    spend = state.queries.spend_since(start)
    projected = spend / elapsed * days
    return {
        "month": today.strftime("%B %Y"),
        "spend_usd": round(spend, 4),
        "projected_usd": round(projected, 2),
        "days_elapsed": round(elapsed, 2),
        "days_in_month": days,
        "budget_usd": budget,
        "projected_over_budget": budget is not None and projected > budget,
    }


def overview_data(state: Any, f: Filters) -> dict[str, Any]:
    q = state.queries
    sf = f.session_filters()
    unit, buckets = f.buckets(q.first_session_start() if f.since is None else None)
    edges = [(b.lo, b.hi) for b in buckets]
    srows = q.session_series(sf, edges, SESSION_MEASURES)
    urows = q.usage_series(sf, edges, USAGE_MEASURES)
    s = shaping.total(srows)
    u = shaping.total(urows)
    for name in SESSION_MEASURES:
        s.setdefault(name, 0)
    roi = analytics.roi(s, float(u.get("roi_cost_usd") or 0.0), state.settings)
    calls, priced = u.get("calls", 0), u.get("priced_calls", 0)
    models = shaping.top_keys(urows, "model", "cost_usd") or shaping.top_keys(
        urows, "model", "tokens"
    )
    n = len(buckets)
    per_bucket = shaping.by_bucket(srows, n)
    live = {k: v for k, v in sf.items() if k not in ("since", "until", "status")}
    task_types = q.grouped(
        ["task_type"], sf, ["sessions", "time_ms", "interactions", "rating_sum", "succeeded"]
    )
    return {
        "filters": f.describe(),
        "buckets": shaping.bucket_axis(unit, buckets),
        "kpis": {
            "sessions": s["sessions"],
            "active_now": q.count_sessions({**live, "status": "active"}),
            "completed": s["completed"],
            "success_rate": shaping.ratio(s["succeeded"], s["completed"]),
            "hours": round(s["time_ms"] / 3_600_000, 2),
            "api_cost_usd": round(u.get("cost_usd", 0.0), 4)
            if priced
            else (None if calls else 0.0),
            "api_calls": calls,
            "unpriced_calls": calls - priced,
            "tokens": u.get("tokens", 0),
            "time_saved_hours": roi["time_saved_hours"],
            "roi_multiplier": roi["productivity_multiplier"],
            "roi_percentage": roi["roi_percentage"],
            "cost_saved_usd": roi["cost_saved"],
            "average_rating": shaping.rating_of(s["rating_sum"], s["interactions"]),
            "interactions": s["interactions"],
            "issues": s["issues"],
        },
        "roi": roi,
        "series": {
            "cost_by_model": dict(shaping.split_series(urows, n, "model", "cost_usd", models)),
            "tokens_by_model": dict(shaping.split_series(urows, n, "model", "tokens", models)),
            "sessions_by_outcome": {
                name: [r.get(col, 0) or 0 for r in per_bucket] for name, col in OUTCOMES
            },
        },
        "effectiveness": {str(k): s[f"rating_{k}"] for k in range(1, 6)},
        "task_types": sorted(
            (
                {
                    "task_type": g["task_type"],
                    "sessions": g["sessions"],
                    "hours": round((g["time_ms"] or 0) / 3_600_000, 2),
                    "average_rating": shaping.rating_of(
                        g["rating_sum"] or 0, g["interactions"] or 0
                    ),
                    "succeeded": g["succeeded"] or 0,
                }
                for g in task_types
            ),
            key=lambda g: -g["sessions"],
        ),
        "month": month_projection(state, f.tz),
        "active_sessions": [shaping.session_item(r) for r in q.active_sessions()][:20],
    }


@router.get("/api/v1/overview", tags=["api"], summary="KPIs, daily series and breakdowns")
def api_overview(state: State, f: FiltersDep) -> dict[str, Any]:
    """The overview of the sessions started in the period that match the filters."""
    return overview_data(state, f)


@router.get("/", response_class=HTMLResponse, tags=["pages"], summary="Overview page")
def page_overview(request: Request, state: State, f: FiltersDep) -> HTMLResponse:
    from aitrack.web.app import render

    d = overview_data(state, f)
    ratings = d["effectiveness"]
    count = sum(ratings.values()) or 1
    effectiveness_items = [
        (f"{'★' * int(k)}{'☆' * (5 - int(k))}", v, f"{v:,} · {v / count:.0%}")
        for k, v in sorted(ratings.items(), reverse=True)
    ]
    task_items = [
        (
            t["task_type"],
            t["sessions"],
            f"{t['sessions']:,} · {t['hours']:.0f} h"
            + (f" · ★{t['average_rating']:.1f}" if t["average_rating"] else ""),
        )
        for t in d["task_types"]
    ]

    def task_href(task_type: str) -> str:
        return "/sessions?" + f.query(task_type=task_type)

    return render(
        request,
        "overview.html",
        "overview",
        f,
        {
            "d": d,
            "effectiveness_items": effectiveness_items,
            "task_items": task_items,
            "task_href": task_href,
        },
    )
