"""How numbers, money, durations and times read on the dashboard (Jinja filters)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aitrack.clock import now_ms, zone


def money(value: float | None, unpriced: bool = False) -> str:
    """$1,234 for large sums, $12.34 and $0.042 for small ones; None is unpriced, never $0."""
    if value is None:
        return "unpriced"
    v = float(value)
    if abs(v) >= 1000:
        text = f"${v:,.0f}"
    elif abs(v) >= 1 or v == 0:
        text = f"${v:,.2f}"
    else:
        text = f"${v:.3f}"
    return text + ("+" if unpriced else "")


def money_axis(value: float) -> str:
    if value >= 1000:
        return f"${value / 1000:.1f}k".replace(".0k", "k")
    if value >= 10 or value == 0:
        return f"${value:.0f}"
    return f"${value:.2f}".rstrip("0").rstrip(".")


def compact(value: float | None) -> str:
    """12, 3.4k, 5.6M, 7.8B."""
    if value is None:
        return "-"
    v = float(value)
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= size:
            text = f"{v / size:.1f}".rstrip("0").rstrip(".")
            return f"{text}{unit}"
    return f"{v:.0f}" if v == int(v) else f"{v:.1f}"


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if float(value) == int(value) else f"{value:,.2f}"


def hours(ms: float | None) -> str:
    h = (ms or 0) / 3_600_000
    return f"{h:,.0f} h" if h >= 100 else f"{h:,.1f} h"


def duration(minutes: float | None) -> str:
    if minutes is None:
        return "-"
    total = int(round(minutes))
    if total < 60:
        return f"{total} min"
    return f"{total // 60} h {total % 60:02d}"


def percent(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.{digits}f}%"


def when(ms: int | None, tz: str | None = None, fmt: str = "%d %b %H:%M") -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, zone(tz)).strftime(fmt)


def ago(ms: int | None) -> str:
    if ms is None:
        return "-"
    seconds = max(0, (now_ms() - ms) // 1000)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def repo_name(path: str | None) -> str:
    """The last part of a repository path (the full path is shown in a tooltip)."""
    if not path:
        return "(no repository)"
    return path.rstrip("/").rsplit("/", 1)[-1] or path


def rating(value: float | None) -> str:
    return "-" if not value else f"{value:.1f}"


def hrs(value: float | None) -> str:
    """Hours given as hours."""
    return hours((value or 0) * 3_600_000)


FILTERS: dict[str, Any] = {
    "hrs": hrs,
    "money": money,
    "compact": compact,
    "number": number,
    "hours": hours,
    "duration": duration,
    "percent": percent,
    "when": when,
    "ago": ago,
    "repo_name": repo_name,
    "rating": rating,
}
