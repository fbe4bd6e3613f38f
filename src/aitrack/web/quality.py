"""Quality: ratings over time, effectiveness, issues by type and severity, and the worst
sessions of the period."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from aitrack.vocab import SEVERITIES
from aitrack.web import shaping
from aitrack.web.context import AppState, Filters, FiltersDep, State

router = APIRouter()
MEASURES = (
    "sessions",
    "completed",
    "succeeded",
    "failed",
    "interactions",
    "rating_sum",
    "rating_1",
    "rating_2",
    "rating_3",
    "rating_4",
    "rating_5",
    "issues",
)


def quality_data(state: AppState, f: Filters) -> dict[str, Any]:
    q = state.queries
    sf = f.session_filters()
    unit, buckets = f.buckets(q.first_session_start() if f.since is None else None)
    rows = q.session_series(sf, [(b.lo, b.hi) for b in buckets], MEASURES)
    per = shaping.by_bucket(rows, len(buckets))
    s = shaping.total(rows)
    issues = q.issues(sf)
    by_type: dict[str, int] = {}
    by_severity = dict.fromkeys(reversed(SEVERITIES), 0)
    resolved = 0
    for r in issues:
        by_type[r["issue_type"]] = by_type.get(r["issue_type"], 0) + r["issues"]
        by_severity[r["severity"]] = by_severity.get(r["severity"], 0) + r["issues"]
        resolved += r["resolved"] or 0
    worst = q.worst_sessions(sf, 10)
    tags = state.store.records.tags_for("session", [r["id"] for r in worst])
    return {
        "filters": f.describe(),
        "buckets": shaping.bucket_axis(unit, buckets),
        "totals": {
            "sessions": s.get("sessions", 0),
            "interactions": s.get("interactions", 0),
            "average_rating": shaping.rating_of(s.get("rating_sum", 0), s.get("interactions", 0)),
            "success_rate": shaping.ratio(s.get("succeeded"), s.get("completed")),
            "failed": s.get("failed", 0),
            "issues": sum(by_type.values()),
            "resolved_issues": resolved,
        },
        "series": {
            "average_rating": [
                shaping.rating_of(r.get("rating_sum", 0), r.get("interactions", 0)) for r in per
            ],
            "success_rate": [shaping.ratio(r.get("succeeded"), r.get("completed")) for r in per],
            "issues": [r.get("issues", 0) or 0 for r in per],
            "interactions": [r.get("interactions", 0) or 0 for r in per],
        },
        "effectiveness": {str(k): s.get(f"rating_{k}", 0) for k in range(1, 6)},
        "issues_by_type": dict(sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))),
        "issues_by_severity": by_severity,
        "worst_sessions": [shaping.session_item(r, tags.get(r["id"])) for r in worst],
    }


@router.get("/api/v1/quality", tags=["api"], summary="Ratings, issues and worst sessions")
def api_quality(state: State, f: FiltersDep) -> dict[str, Any]:
    """Average rating and success rate per bucket, effectiveness, issues by type and
    severity, and the ten sessions rated worst."""
    return quality_data(state, f)


@router.get("/quality", response_class=HTMLResponse, tags=["pages"], summary="Quality page")
def page_quality(request: Request, state: State, f: FiltersDep) -> HTMLResponse:
    from aitrack.web.app import render

    d = quality_data(state, f)
    total = sum(d["effectiveness"].values()) or 1
    effectiveness_items = [
        (f"{'★' * int(k)}{'☆' * (5 - int(k))}", v, f"{v:,} · {v / total:.0%}")
        for k, v in sorted(d["effectiveness"].items(), reverse=True)
    ]
    type_items = [(k, v, f"{v:,}") for k, v in d["issues_by_type"].items()][:10]
    severity_items = [(k, v, f"{v:,}") for k, v in d["issues_by_severity"].items()]
    success = [None if v is None else v * 100 for v in d["series"]["success_rate"]]
    return render(
        request,
        "quality.html",
        "quality",
        f,
        {
            "d": d,
            "effectiveness_items": effectiveness_items,
            "type_items": type_items,
            "severity_items": severity_items,
            "success_pct": success,
        },
    )
