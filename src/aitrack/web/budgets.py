"""Budgets: spend against every limit (per session, local day and month; global or per
repository), the month's projection, daily spend, and setting or clearing limits."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from aitrack import budgets
from aitrack.clock import day_bounds_ms
from aitrack.web import shaping
from aitrack.web.context import AppState, State
from aitrack.web.overview import month_projection

router = APIRouter()
DAYS = 30
Tz = Annotated[
    str | None, Query(description="IANA time zone for days (default: the server's).", max_length=64)
]


def budgets_data(state: AppState, tz: str | None) -> dict[str, Any]:
    from aitrack.clock import zone

    zone(tz)
    tracker = state.tracker
    limits = budgets.list_budgets(tracker)
    rules: list[dict[str, Any]] = []
    for repo in sorted({b["repo_path"] or "" for b in limits}):
        check = budgets.check_budgets(tracker, repo=repo or None, tz=tz)
        rules += [r for r in check["rules"] if (r["repo_path"] or "") == repo]
    session_limits = [b for b in limits if b["scope"] == "session"]
    running = []
    if session_limits:
        for s in state.queries.active_sessions()[:50]:
            check = budgets.check_budgets(tracker, session_id=s["id"], tz=tz)
            for r in check["rules"]:
                if r["scope"] == "session":
                    running.append({**r, "session": shaping.session_item(s)})
    edges = [day_bounds_ms(tz, days_back=k) for k in range(DAYS - 1, -1, -1)]
    daily = state.queries.spend_series(edges)
    daily_limit = min(
        (b["limit_usd"] for b in limits if b["scope"] == "daily" and not b["repo_path"]),
        default=None,
    )
    return {
        "budgets": limits,
        "rules": rules,
        "sessions": running,
        "over_budget": any(r["over"] for r in rules + running),
        "month": month_projection(state, tz),
        "daily_spend": {
            "starts": [lo for lo, _ in edges],
            "spend_usd": daily,
            "limit_usd": daily_limit,
        },
    }


@router.get("/api/v1/budgets", tags=["api"], summary="Spend against every budget")
def api_budgets(state: State, tz: Tz = None) -> dict[str, Any]:
    """Every limit with its current spend; session limits for the running sessions; this
    month's projection; spend per local day over the last 30 days."""
    return budgets_data(state, tz or None)


@router.get("/budgets", response_class=HTMLResponse, tags=["pages"], summary="Budgets page")
def page_budgets(request: Request, state: State, tz: Tz = None) -> HTMLResponse:
    from aitrack.web.app import render
    from aitrack.web.format import when

    d = budgets_data(state, tz or None)
    starts = d["daily_spend"]["starts"]
    labels = [when(s, tz, "%d %b") for s in starts]
    titles = [when(s, tz, "%a %d %b %Y") for s in starts]
    return render(
        request,
        "budgets.html",
        "budgets",
        None,
        {"d": d, "labels": labels, "titles": titles, "title": "Budgets"},
    )


class SetBudget(BaseModel):
    scope: Literal["session", "daily", "monthly"]
    amount_usd: float = Field(..., ge=0, le=1e9, description="Limit in USD.")
    repo_path: str | None = Field(
        None, max_length=4096, description="Only this repository (default: all spend)."
    )
    enforce: bool | None = Field(None, description="Make the proxy refuse calls over it.")


class ClearBudget(BaseModel):
    scope: Literal["session", "daily", "monthly"] | None = None
    repo_path: str | None = Field(None, max_length=4096)


@router.post("/api/v1/budgets", tags=["api"], summary="Set a budget")
def api_set_budget(state: State, body: SetBudget) -> dict[str, Any]:
    budgets.set_budgets(
        state.tracker, {body.scope: body.amount_usd}, body.repo_path or None, body.enforce
    )
    state.wrote()
    return {"ok": True, "budgets": budgets.list_budgets(state.tracker)}


@router.post("/api/v1/budgets/clear", tags=["api"], summary="Remove budgets")
def api_clear_budget(state: State, body: ClearBudget) -> dict[str, Any]:
    removed = budgets.clear_budgets(
        state.tracker, body.repo_path or None, (body.scope,) if body.scope else None
    )
    state.wrote()
    return {"ok": True, "removed": removed, "budgets": budgets.list_budgets(state.tracker)}
