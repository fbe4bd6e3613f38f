"""Turning stored rows into the JSON shapes every interface shows (ISO times, parsed lists)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from aitrack.analytics import duration_minutes
from aitrack.clock import now_ms, to_iso
from aitrack.ids import short

_TIME_FIELDS = ("start_time", "end_time", "last_activity", "ts", "started_at", "ended_at")


def times_to_iso(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for field in _TIME_FIELDS:
        if field in out and isinstance(out[field], int):
            out[field] = to_iso(out[field])
    if isinstance(out.get("tools_used"), str):
        with contextlib.suppress(ValueError):
            out["tools_used"] = json.loads(out["tools_used"])
    for flag in ("capped", "resolved", "documented", "found", "ok", "is_sidechain"):
        if flag in out and out[flag] is not None:
            out[flag] = bool(out[flag])
    return out


def session(row: dict[str, Any]) -> dict[str, Any]:
    """A session for JSON output, with its duration and average rating."""
    out = times_to_iso(row)
    out.pop("metadata", None)
    out["short_id"] = short(row["id"])
    out["session_name"] = row["name"]
    out["duration_minutes"] = round(duration_minutes(row, now_ms()), 2)
    n = row.get("interaction_count") or 0
    out["average_rating"] = round(row["rating_sum"] / n, 2) if n else None
    return out


def session_detail(detail: dict[str, Any]) -> dict[str, Any]:
    out = session(detail)
    for key in (
        "interactions",
        "issues",
        "annotations",
        "runs",
        "tool_calls",
        "api_calls",
        "changes",
        "commits",
        "code_metrics",
    ):
        out[key] = [times_to_iso(r) for r in detail.get(key, [])]
    return out
