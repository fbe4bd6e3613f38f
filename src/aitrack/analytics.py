"""Analytics: ROI, quality and trend figures computed from the store's aggregates.

ROI follows ai-session-tracker-mcp's cost model with the human estimate as baseline:
human cost = estimated hours × human rate; AI-assisted cost = tracked hours × human rate
(the developer's time) + tracked hours × subscription rate + real API cost. Only completed
sessions count, and not human-review sessions (oversight, not AI work), as in the seed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from aitrack.clock import zone
from aitrack.settings import Settings
from aitrack.store import Store
from aitrack.store.database import Row
from aitrack.store.records import BILLABLE_TOKEN_COLUMNS


def roi(totals: Row, api_cost_usd: float, settings: Settings) -> dict[str, Any]:
    """ROI figures from session_totals() of completed productive sessions and their API cost."""
    tracked_hours = (totals.get("roi_time_ms") or 0) / 3_600_000
    estimate_hours = (totals.get("roi_estimate_minutes") or 0) / 60
    human_cost = estimate_hours * settings.human_hourly_rate
    developer_cost = tracked_hours * settings.human_hourly_rate
    subscription_cost = tracked_hours * settings.ai_hourly_rate
    ai_cost = developer_cost + subscription_cost + api_cost_usd
    saved = human_cost - ai_cost
    return {
        "sessions": int(totals.get("roi_sessions") or 0),
        "tracked_hours": round(tracked_hours, 4),
        "estimated_human_hours": round(estimate_hours, 4),
        "time_saved_hours": round(estimate_hours - tracked_hours, 4),
        "human_baseline_cost": round(human_cost, 2),
        "developer_time_cost": round(developer_cost, 2),
        "ai_subscription_cost": round(subscription_cost, 2),
        "api_cost": round(api_cost_usd, 4),
        "ai_assisted_cost": round(ai_cost, 2),
        "cost_saved": round(saved, 2),
        "roi_percentage": round(saved / human_cost * 100, 1) if human_cost else 0.0,
        "productivity_multiplier": round(estimate_hours / tracked_hours, 2)
        if tracked_hours
        else 0.0,
        "rates": {
            "human_hourly_rate": settings.human_hourly_rate,
            "ai_monthly_cost": settings.ai_monthly_cost,
            "ai_hourly_rate": round(settings.ai_hourly_rate, 4),
        },
    }


def duration_minutes(session: Row, now: int | None = None) -> float:
    end = session.get("end_time") or now or session.get("last_activity") or session["start_time"]
    return max(0.0, (end - session["start_time"]) / 60_000)


def session_summary(session: Row, api_calls: list[Row], settings: Settings) -> dict[str, Any]:
    """One session's duration, quality, API usage and ROI."""
    minutes = duration_minutes(session)
    priced = [c["cost_usd"] for c in api_calls if c.get("cost_usd") is not None]
    cost = float(sum(priced))
    models: dict[str, int] = defaultdict(int)
    tokens = 0
    for c in api_calls:
        total = sum(c[k] for k in BILLABLE_TOKEN_COLUMNS)
        tokens += total
        models[c["model"]] += total
    n = session.get("interaction_count") or 0
    estimate = session.get("final_estimate_minutes") or session.get("estimate_minutes") or 0
    totals = {
        "roi_sessions": 1 if session["status"] == "completed" else 0,
        "roi_time_ms": minutes * 60_000 if session["status"] == "completed" else 0,
        "roi_estimate_minutes": estimate if session["status"] == "completed" else 0,
    }
    if session.get("task_type") == "human_review":
        totals = {"roi_sessions": 0, "roi_time_ms": 0, "roi_estimate_minutes": 0}
    return {
        "duration_minutes": round(minutes, 2),
        "capped": bool(session.get("capped")),
        "interactions": n,
        "average_rating": round(session["rating_sum"] / n, 2) if n else None,
        "issues": session.get("issue_count") or 0,
        "api_calls": len(api_calls),
        "tokens": tokens,
        "api_cost_usd": round(cost, 6) if priced or not api_calls else None,
        "unpriced_calls": len(api_calls) - len(priced),
        "top_model": max(models, key=lambda m: models[m]) if models else session.get("model"),
        "roi": roi(totals, cost, settings),
    }


def by_local_day(
    rows: list[Row], tz: str | None, bucket_ms: int = 900_000, key: str | None = None
) -> dict[str, dict[str, Any]]:
    """Fold 15-minute UTC bucket rows into local calendar days (optionally split by key)."""
    tzinfo = zone(tz)
    days: dict[str, dict[str, Any]] = {}
    for r in rows:
        day = datetime.fromtimestamp(r["bucket"] * bucket_ms / 1000, tzinfo).date().isoformat()
        slot = days.setdefault(day, {})
        target = slot.setdefault(r[key] or "unknown", {}) if key else slot
        for field, value in r.items():
            if field in ("bucket", key) or value is None:
                continue
            target[field] = target.get(field, 0) + value
    return dict(sorted(days.items()))


def average_rating(rating_sum: float, count: float) -> float:
    return round(rating_sum / count, 2) if count else 0.0


def overview(
    store: Store,
    settings: Settings,
    filters: dict[str, Any] | None = None,
    tz: str | None = None,
    groups: tuple[str, ...] = ("task_type",),
    per_day: bool = False,
) -> dict[str, Any]:
    """What `stats`, `report` and the dashboard's overview show, for the filters: groupings
    by the given dimensions (task_type, model, repo, agent, …) and optionally per local day."""
    agg = store.aggregates
    totals = agg.session_totals(filters)
    api = agg.api_totals(filters)
    roi_api = agg.api_totals(filters, roi_only=True)
    by: dict[str, list[dict[str, Any]]] = {}
    for dim in groups:
        by[dim] = [
            {
                "key": g["key"],
                "sessions": g["sessions"],
                "hours": round((g["time_ms"] or 0) / 3_600_000, 2),
                "estimate_hours": round((g["estimate_minutes"] or 0) / 60, 2),
                "interactions": g["interactions"] or 0,
                "average_rating": average_rating(g["rating_sum"] or 0, g["interactions"] or 0),
                "issues": g["issues"] or 0,
                "succeeded": g["succeeded"] or 0,
            }
            for g in agg.grouped(dim, filters)
        ]
    days = by_local_day(agg.sessions_by_bucket(filters), tz) if per_day else {}
    return {
        "sessions": {
            "total": totals["sessions"],
            "active": totals["active"],
            "completed": totals["completed"],
            "success": totals["succeeded"],
            "partial": totals["partial"],
            "failed": totals["failed"],
            "capped": totals["capped"],
            "hours": round(totals["time_ms"] / 3_600_000, 2),
        },
        "interactions": totals["interactions"],
        "average_rating": average_rating(totals["rating_sum"], totals["interactions"]),
        "effectiveness": {n: int(totals[f"rating_{n}"]) for n in range(1, 6)},
        "issues": agg.issue_summary(filters),
        "gaps": {
            "gaps": totals["gaps"],
            "avg_gap_ms": totals["gap_sum_ms"] / totals["gaps"] if totals["gaps"] else 0,
            "max_gap_ms": totals["max_gap_ms"],
            "long_gaps": totals["long_gaps"],
        },
        "api": api,
        "roi": roi(totals, float(roi_api["cost_usd"] or 0.0), settings),
        "by": by,
        "per_day": [
            {
                "day": day,
                "sessions": d.get("sessions", 0),
                "hours": round(d.get("time_ms", 0) / 3_600_000, 2),
                "interactions": d.get("interactions", 0),
                "average_rating": average_rating(d.get("rating_sum", 0), d.get("interactions", 0)),
                "success": d.get("succeeded", 0),
                "partial": d.get("partial", 0),
                "failed": d.get("failed", 0),
            }
            for day, d in days.items()
        ],
        "code": agg.code_metrics_summary(filters),
        "changes": agg.change_totals(filters),
    }


def report_text(data: dict[str, Any]) -> str:
    """The text ROI report (`aitrack report`, MCP get_ai_observability), seed-compatible."""
    r, s = data["roi"], data["sessions"]
    lines = [
        "=" * 50,
        "AI SESSION TRACKER - ANALYTICS REPORT",
        "=" * 50,
        "",
        "📊 SESSION SUMMARY",
        f"  • Total sessions: {s['total']}",
        f"  • Completed sessions: {s['completed']} (success {s['success']}, "
        f"partial {s['partial']}, failed {s['failed']})",
        f"  • Active sessions: {s['active']}",
        f"  • Total AI time: {s['hours']:.1f} hours",
        "",
        "💰 ROI METRICS",
        f"  • Human baseline cost: ${r['human_baseline_cost']:,.2f} "
        f"({r['estimated_human_hours']:.1f} h estimated)",
        f"  • AI-assisted cost: ${r['ai_assisted_cost']:,.2f} "
        f"({r['tracked_hours']:.1f} h tracked, API ${r['api_cost']:,.2f})",
        f"  • Time saved: {r['time_saved_hours']:.1f} hours",
        f"  • Cost saved: ${r['cost_saved']:,.2f}",
        f"  • ROI: {r['roi_percentage']:.1f}%",
        f"  • Productivity multiplier: {r['productivity_multiplier']:.2f}x",
        "",
        "⭐ EFFECTIVENESS DISTRIBUTION",
    ]
    for rating in range(5, 0, -1):
        stars = "★" * rating + "☆" * (5 - rating)
        lines.append(f"  {stars}: {data['effectiveness'].get(rating, 0)}")
    lines += ["", f"  Average: {data['average_rating']:.1f}/5", ""]
    issues = data["issues"]
    lines += ["🐛 ISSUES SUMMARY", f"  • Total issues: {issues['total']}"]
    for severity in ("critical", "high", "medium", "low"):
        count = issues["by_severity"].get(severity, 0)
        if count:
            lines.append(f"  • {severity.capitalize()}: {count}")
    for issue_type, count in list(issues["by_type"].items())[:5]:
        lines.append(f"  • {issue_type}: {count}")
    gaps = data["gaps"]
    if gaps.get("gaps"):
        lines += [
            "",
            "⏱ SESSION GAPS",
            f"  • Average gap between interactions: {gaps['avg_gap_ms'] / 60000:.1f} min",
            f"  • Longest gap: {gaps['max_gap_ms'] / 60000:.1f} min",
            f"  • Gaps over 15 min: {gaps['long_gaps']}",
        ]
    api = data["api"]
    if api.get("calls"):
        unpriced = f" ({api['unpriced_calls']} unpriced)" if api.get("unpriced_calls") else ""
        lines += [
            "",
            "🔌 API USAGE",
            f"  • Calls: {api['calls']:,}{unpriced}",
            f"  • Tokens: {api['tokens']:,} (input {api['input_tokens']:,}, output "
            f"{api['output_tokens']:,}, cache read {api['cache_read_tokens']:,}, cache write "
            f"{api['cache_write_tokens']:,})",
            f"  • Cost: ${api['cost_usd']:,.2f}",
        ]
    by_type = data["by"].get("task_type", [])
    if by_type:
        lines += ["", "🧩 BY TASK TYPE"]
        for g in by_type[:10]:
            lines.append(
                f"  • {g['key']}: {g['sessions']} sessions, {g['hours']:.1f} h, "
                f"avg rating {g['average_rating']:.1f}"
            )
    code = data["code"]
    lines += [
        "",
        "📝 CODE METRICS",
        f"  • Functions analyzed: {code['functions']}",
        f"  • Lines added: {code['lines_added']}",
        f"  • Avg complexity: {code['avg_complexity']:.1f}",
        f"  • Avg doc score: {code['avg_doc_score']:.0f}/100",
        f"  • Total effort score: {code['effort_score']:.1f}",
        "",
        "=" * 50,
    ]
    return "\n".join(lines)
