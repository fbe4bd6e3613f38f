"""Time as aitrack stores it: integer milliseconds since the Unix epoch, UTC."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from aitrack.errors import InvalidValue


def now_ms() -> int:
    return int(time.time() * 1000)


def to_iso(ms: int | None) -> str | None:
    """ISO-8601 UTC with milliseconds and a Z, or None."""
    if ms is None:
        return None
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def from_iso(text: str) -> int:
    """Parse an ISO-8601 timestamp (naive means UTC) into epoch milliseconds."""
    dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def parse_since(text: str, tz: str | None = None) -> int:
    """A user's --since/--until: YYYY-MM-DD, YYYYMMDD, an ISO time, or 7d / 12h / 30m ago.

    Raises:
        InvalidValue: the text is none of these.
    """
    raw = text.strip()
    if raw and raw[-1] in "dhm" and raw[:-1].isdigit():
        unit = {"d": 86400, "h": 3600, "m": 60}[raw[-1]]
        return now_ms() - int(raw[:-1]) * unit * 1000
    try:
        if len(raw) == 8 and raw.isdigit():
            raw = f"{raw[:4]}-{raw[4:6]}-{raw[6:]}"
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return local_midnight_ms(day, tz)
        return from_iso(raw)
    except ValueError:
        raise InvalidValue(
            f"cannot read the date {text!r}: use YYYY-MM-DD, an ISO time, or 7d / 12h / 30m"
        ) from None


def zone(tz: str | None):
    """The user's time zone: a name like Europe/Paris, or the system's local zone."""
    if tz:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidValue(
                f"unknown time zone {tz!r}: use an IANA name such as UTC or Europe/Paris"
            ) from None
    return datetime.now().astimezone().tzinfo


def local_midnight_ms(day: date, tz: str | None = None) -> int:
    dt = datetime(day.year, day.month, day.day, tzinfo=zone(tz))
    return int(dt.timestamp() * 1000)


def local_day(ms: int, tz: str | None = None) -> str:
    return datetime.fromtimestamp(ms / 1000, zone(tz)).date().isoformat()


def day_bounds_ms(tz: str | None = None, days_back: int = 0) -> tuple[int, int]:
    """Start and end (exclusive) of a local calendar day, today by default."""
    today = datetime.now(zone(tz)).date() - timedelta(days=days_back)
    start = local_midnight_ms(today, tz)
    return start, local_midnight_ms(today + timedelta(days=1), tz)


def month_start_ms(tz: str | None = None) -> int:
    today = datetime.now(zone(tz)).date()
    return local_midnight_ms(today.replace(day=1), tz)


def format_duration(minutes: float | None) -> str:
    if minutes is None:
        return "-"
    total = int(round(minutes))
    if total < 60:
        return f"{total}m"
    return f"{total // 60}h {total % 60}m"
