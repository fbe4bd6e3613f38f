"""Token and cost reports over api_calls, like ccusage: per local day, week, month or session,
with input, output, cache-write and cache-read tokens, cost and models per row, and totals.

Days are calendar days in the chosen time zone. When the zone keeps one UTC offset over the
whole span, SQL groups by day directly; otherwise it groups by 15-minute UTC buckets, which
every real zone offset divides, and they are folded into local days here. A call's cost is
what was stored for it (priced per request, see docs/agents.md); unpriced calls are counted,
never shown as $0.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from aitrack.clock import to_iso, zone
from aitrack.errors import InvalidValue
from aitrack.ids import short
from aitrack.store import Store
from aitrack.store.agents import AgentStore

PERIODS = ("daily", "weekly", "monthly", "session")
DAY_MS = 86_400_000
BUCKET_MS = 900_000
_SUM_FIELDS = (
    "calls", "input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens",
    "reasoning_tokens", "priced_calls",
)  # fmt: skip
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
HIDDEN_MODELS = ("<synthetic>",)  # Claude Code's API-error lines: no tokens, not a model


def usage_report(
    store: Store,
    period: str,
    filters: dict[str, Any] | None = None,
    tz: str | None = None,
    start_of_week: str = "monday",
) -> dict[str, Any]:
    """Rows for period (daily, weekly, monthly, session) and their totals.

    filters: since/until (ms, on each call's time), project, branch, agent, repo.

    Raises:
        InvalidValue: unknown period, start of week or time zone.
    """
    if period not in PERIODS:
        raise InvalidValue(f"unknown report {period!r}: use one of {', '.join(PERIODS)}")
    if start_of_week not in ("monday", "sunday"):
        raise InvalidValue("start of week must be monday or sunday")
    filters = dict(filters or {})
    agents = AgentStore(store.db)
    if period == "session":
        rows = _sessions(agents, filters)
    else:
        days = _days(agents, filters, tz)
        rows = [_finish(key, models, period) for key, models in _group(days, period, start_of_week)]
    totals = _empty()
    for row in rows:
        _add(totals, {**row, "priced_calls": row["calls"] - row["unpriced_calls"]})
    return {
        "period": period,
        "timezone": _zone_name(tz),
        "rows": rows,
        "totals": {**_rounded(totals), "total_tokens": _total(totals)},
    }


# -- days ---------------------------------------------------------------------------------------
def _days(
    agents: AgentStore, filters: dict[str, Any], tz: str | None
) -> dict[str, dict[str, dict]]:
    """local day -> model -> sums."""
    tzinfo = zone(tz)
    span = agents.usage_span(filters)
    if span["first"] is None:
        return {}
    offset = _fixed_offset_ms(tzinfo, span["first"], span["last"])
    out: dict[str, dict[str, dict]] = {}
    if offset is not None:
        for r in agents.usage_by_period(filters, DAY_MS, offset):
            day = date.fromordinal(_EPOCH_ORDINAL + int(r["bucket"])).isoformat()
            _add(out.setdefault(day, {}).setdefault(r["model"], _empty()), r)
        return out
    for r in agents.usage_by_period(filters, BUCKET_MS, 0):
        when = datetime.fromtimestamp(int(r["bucket"]) * BUCKET_MS / 1000, tzinfo)
        _add(out.setdefault(when.date().isoformat(), {}).setdefault(r["model"], _empty()), r)
    return out


def _fixed_offset_ms(tzinfo: Any, first_ms: int, last_ms: int) -> int | None:
    """The zone's UTC offset in ms if it is the same at every local midnight of the span
    (and at its ends), else None."""
    start = datetime.fromtimestamp(first_ms / 1000, tzinfo)
    end = datetime.fromtimestamp(last_ms / 1000, tzinfo)
    offsets = {start.utcoffset(), end.utcoffset()}
    day = start.date()
    while day <= end.date() and len(offsets) == 1:
        offsets.add(datetime(day.year, day.month, day.day, 12, tzinfo=tzinfo).utcoffset())
        day += timedelta(days=1)
    if len(offsets) != 1:
        return None
    only = offsets.pop()
    return int(only.total_seconds() * 1000) if only is not None else 0


def _group(
    days: dict[str, dict[str, dict]], period: str, start_of_week: str
) -> Iterable[tuple[str, dict[str, dict]]]:
    grouped: dict[str, dict[str, dict]] = {}
    for day, models in days.items():
        key = _period_key(date.fromisoformat(day), period, start_of_week)
        target = grouped.setdefault(key, {})
        for model, sums in models.items():
            _add(target.setdefault(model, _empty()), sums)
    return sorted(grouped.items())


def _period_key(day: date, period: str, start_of_week: str) -> str:
    if period == "monthly":
        return day.strftime("%Y-%m")
    if period == "weekly":
        back = day.weekday() if start_of_week == "monday" else (day.weekday() + 1) % 7
        return (day - timedelta(days=back)).isoformat()
    return day.isoformat()


# -- sessions -----------------------------------------------------------------------------------
def _sessions(agents: AgentStore, filters: dict[str, Any]) -> list[dict[str, Any]]:
    per: dict[str | None, dict[str, dict]] = {}
    spans: dict[str | None, tuple[int | None, int | None]] = {}
    for r in agents.usage_by_session(filters):
        sid = r["session_id"]
        _add(per.setdefault(sid, {}).setdefault(r["model"], _empty()), r)
        spans[sid] = (r["first_ts"], r["last_ts"])
    sessions = agents.sessions_by_ids([s for s in per if s])
    rows = []
    for sid, models in per.items():
        row = _finish(sid or "", models, "session")
        s = sessions.get(sid or "", {})
        row.update({
            "session_id": sid,
            "short_id": short(sid) if sid else None,
            "name": s.get("name") if sid else "(calls outside any session)",
            "agent": s.get("agent"),
            "external_id": s.get("external_id"),
            "project": s.get("project"),
            "repo_path": s.get("repo_path"),
            "branch": s.get("branch"),
            "status": s.get("status"),
            "first_activity": to_iso(spans[sid][0]),
            "last_activity": to_iso(spans[sid][1]),
        })  # fmt: skip
        rows.append(row)
    rows.sort(key=lambda r: (-(r["cost_usd"] or 0.0), r["last_activity"] or ""))
    return rows


# -- rows ---------------------------------------------------------------------------------------
def _empty() -> dict[str, Any]:
    return {**dict.fromkeys(_SUM_FIELDS, 0), "cost_usd": 0.0}


def _add(target: dict[str, Any], row: dict[str, Any]) -> None:
    for field in _SUM_FIELDS:
        target[field] += int(row.get(field) or 0)
    target["cost_usd"] += float(row.get("cost_usd") or 0.0)


def _total(row: dict[str, Any]) -> int:
    return (row["input_tokens"] + row["output_tokens"] + row["cache_write_tokens"]
            + row["cache_read_tokens"])  # fmt: skip


def _finish(key: str, models: dict[str, dict], period: str) -> dict[str, Any]:
    label = {"daily": "date", "weekly": "week", "monthly": "month", "session": "key"}[period]
    row: dict[str, Any] = {label: key} if period != "session" else {}
    sums = _empty()
    breakdowns = []
    for model, m in sorted(models.items(), key=lambda kv: -kv[1]["cost_usd"]):
        _add(sums, m)
        if model in HIDDEN_MODELS:
            continue
        breakdowns.append({"model": model, **_rounded(m), "total_tokens": _total(m)})
    row.update(_rounded(sums))
    row["total_tokens"] = _total(sums)
    row["models"] = sorted(b["model"] for b in breakdowns)
    row["model_breakdowns"] = breakdowns
    return row


def _rounded(sums: dict[str, Any]) -> dict[str, Any]:
    """The sums as shown: cost None when no call was priced (unpriced is never $0)."""
    out = {k: v for k, v in sums.items() if k != "priced_calls"}
    out["unpriced_calls"] = sums["calls"] - sums["priced_calls"]
    out["cost_usd"] = round(sums["cost_usd"], 6) if sums["priced_calls"] else None
    return out


def _zone_name(tz: str | None) -> str:
    if tz:
        return tz
    info = zone(None)
    return str(getattr(info, "key", None) or datetime.now(info).tzname() or "local")
