"""What every route shares: the app's store and queries, the filters of a request, and the
period they select, cut into local-time buckets for charts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import Depends, Query, Request

from aitrack.clock import local_midnight_ms, now_ms, parse_since, zone
from aitrack.settings import Settings
from aitrack.store import Store
from aitrack.store.dashboard import DashboardQueries
from aitrack.tracker import Tracker

PERIODS = {
    "today": "Today",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "365d": "Last 12 months",
    "month": "This month",
    "all": "All time",
}
Period = Literal["today", "7d", "30d", "90d", "365d", "month", "all"]
DEFAULT_PERIOD = "30d"
SESSION_FILTER_NAMES = (
    "repo",
    "branch",
    "agent",
    "task_type",
    "outcome",
    "status",
    "model",
    "developer",
    "tag",
    "q",
)


class AppState:
    """One per app: the store (one connection, thread-safe), queries, tracker and caches."""

    def __init__(self, store: Store, settings: Settings, poll_seconds: float) -> None:
        self.store = store
        self.settings = settings
        self.queries = DashboardQueries(store.db)
        self.queries.tune_for_reads()
        self.tracker = Tracker(store, settings)
        self.poll_seconds = poll_seconds
        self.writes = 0  # bumped by this app's own writes (SQLite's data_version ignores them)
        self._cache: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def cached(self, key: str, ttl: float, compute: Callable[[], Any]) -> Any:
        """A value recomputed at most every ttl seconds (filter choices, the price catalog)."""
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < ttl:
            return hit[1]
        value = compute()
        with self._lock:
            self._cache[key] = (time.monotonic(), value)
        return value

    def wrote(self) -> None:
        with self._lock:
            self.writes += 1
            self._cache.pop("facets", None)

    def marker(self) -> str:
        return f"{self.queries.change_marker()}.{self.writes}"


def app_state(request: Request) -> AppState:
    return request.app.state.aitrack


State = Annotated[AppState, Depends(app_state)]


@dataclass
class Bucket:
    lo: int
    hi: int
    label: str  # short, for an axis
    title: str  # long, for a tooltip


@dataclass
class Filters:
    """The filters of a request (query parameters shared by every page and API list)."""

    period: str = DEFAULT_PERIOD
    since_text: str | None = None
    until_text: str | None = None
    tz: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    since: int | None = None
    until: int | None = None

    def session_filters(self) -> dict[str, Any]:
        """Filters as the store takes them (repo, agent, …, since/until in ms)."""
        out: dict[str, Any] = dict(self.values)
        out["since"] = self.since
        out["until"] = self.until
        return {k: v for k, v in out.items() if v not in (None, "")}

    def params(self, **changes: Any) -> dict[str, str]:
        """The query parameters that reproduce these filters, with changes applied."""
        out: dict[str, Any] = {
            "period": self.period,
            "since": self.since_text,
            "until": self.until_text,
            "tz": self.tz,
            **self.values,
        }
        out.update(changes)
        return {k: str(v) for k, v in out.items() if v not in (None, "")}

    def query(self, **changes: Any) -> str:
        return urlencode(self.params(**changes))

    def describe(self) -> dict[str, Any]:
        """The filters for JSON answers."""
        return {
            "period": self.period,
            "since": self.since,
            "until": self.until,
            "timezone": self.tz,
            **self.values,
        }

    @property
    def period_label(self) -> str:
        if self.since_text or self.until_text:
            return f"{self.since_text or '…'} → {self.until_text or 'now'}"
        return PERIODS.get(self.period, self.period)

    def buckets(self, first_start: int | None) -> tuple[str, list[Bucket]]:
        """The period cut into local hours, days, weeks or months (about 100 at most)."""
        tzinfo = zone(self.tz)
        now = now_ms()
        lo = self.since if self.since is not None else (first_start or now)
        hi = self.until if self.until is not None else now
        hi = max(hi, lo + 1)
        span_days = (hi - lo) / 86_400_000
        start = datetime.fromtimestamp(lo / 1000, tzinfo)
        if span_days <= 2:
            unit = "hour"
            cursor = start.replace(minute=0, second=0, microsecond=0)
        elif span_days <= 93:
            unit = "day"
            cursor = datetime(start.year, start.month, start.day, tzinfo=tzinfo)
        elif span_days <= 730:
            unit = "week"
            first = start.date() - timedelta(days=start.weekday())
            cursor = datetime(first.year, first.month, first.day, tzinfo=tzinfo)
        else:
            unit = "month"
            cursor = datetime(start.year, start.month, 1, tzinfo=tzinfo)
        out: list[Bucket] = []
        while int(cursor.timestamp() * 1000) < hi:
            nxt = _step(cursor, unit, tzinfo)
            a, b = int(cursor.timestamp() * 1000), int(nxt.timestamp() * 1000)
            out.append(
                Bucket(
                    max(a, lo), min(b, hi) if self.until is not None else b, *_labels(cursor, unit)
                )
            )
            cursor = nxt
        return unit, out


def _step(cursor: datetime, unit: str, tzinfo: Any) -> datetime:
    if unit == "hour":
        return (cursor + timedelta(hours=1)).astimezone(tzinfo)
    if unit == "day" or unit == "week":
        d = cursor.date() + timedelta(days=1 if unit == "day" else 7)
        return datetime(d.year, d.month, d.day, tzinfo=tzinfo)
    year, month = (cursor.year + 1, 1) if cursor.month == 12 else (cursor.year, cursor.month + 1)
    return datetime(year, month, 1, tzinfo=tzinfo)


def _labels(cursor: datetime, unit: str) -> tuple[str, str]:
    if unit == "hour":
        return cursor.strftime("%H:00"), cursor.strftime("%a %d %b %H:00")
    if unit == "day":
        return cursor.strftime("%d %b"), cursor.strftime("%a %d %b %Y")
    if unit == "week":
        return cursor.strftime("%d %b"), "week of " + cursor.strftime("%d %b %Y")
    return cursor.strftime("%b %y"), cursor.strftime("%B %Y")


def _period_start(period: str, tz: str | None) -> int | None:
    today = datetime.now(zone(tz)).date()
    days = {"today": 0, "7d": 6, "30d": 29, "90d": 89, "365d": 364}
    if period in days:
        return local_midnight_ms(today - timedelta(days=days[period]), tz)
    if period == "month":
        return local_midnight_ms(date(today.year, today.month, 1), tz)
    return None


def filters(
    period: Annotated[Period, Query(description="Sessions started in this period.")] = "30d",
    since: Annotated[
        str | None,
        Query(
            description="Start instead of the period: YYYY-MM-DD (local), an ISO time, or 7d/12h.",
            max_length=40,
        ),
    ] = None,
    until: Annotated[
        str | None, Query(description="End (exclusive), same forms as since.", max_length=40)
    ] = None,
    tz: Annotated[
        str | None,
        Query(description="IANA time zone for days (default: the server's).", max_length=64),
    ] = None,
    repo: Annotated[str | None, Query(description="Repository path.", max_length=4096)] = None,
    branch: Annotated[str | None, Query(max_length=1000)] = None,
    agent: Annotated[str | None, Query(max_length=200)] = None,
    task_type: Annotated[str | None, Query(max_length=100)] = None,
    outcome: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str | None, Query(max_length=100)] = None,
    model: Annotated[
        str | None, Query(description="The session's main model.", max_length=300)
    ] = None,
    developer: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(description="KEY or KEY=VALUE.", max_length=500)] = None,
    q: Annotated[
        str | None, Query(description="Text in name, notes or context.", max_length=500)
    ] = None,
) -> Filters:
    """Parse the shared filter parameters.

    Raises:
        InvalidValue: a date or time zone that cannot be read (answered as 422).
    """
    tz = tz or None
    zone(tz)  # validates
    values = {
        "repo": repo,
        "branch": branch,
        "agent": agent,
        "task_type": task_type,
        "outcome": outcome,
        "status": status,
        "model": model,
        "developer": developer,
        "tag": tag,
        "q": q,
    }
    f = Filters(
        period=period,
        since_text=since or None,
        until_text=until or None,
        tz=tz,
        values={k: v for k, v in values.items() if v},
    )
    f.since = parse_since(since, tz) if since else _period_start(period, tz)
    f.until = parse_since(until, tz) if until else None
    return f


FiltersDep = Annotated[Filters, Depends(filters)]
