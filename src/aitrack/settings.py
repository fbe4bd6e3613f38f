"""Where aitrack keeps its data and the settings a user can change through the environment."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from aitrack.errors import InvalidValue

DEFAULT_MAX_SESSION_HOURS = 4.0
DEFAULT_HUMAN_HOURLY_RATE = 130.0
DEFAULT_AI_MONTHLY_COST = 40.0
WORKING_HOURS_PER_MONTH = 160.0


def data_dir() -> Path:
    """AITRACK_HOME, else the seed's AI_OUTPUT_DIR, else the platform's user data dir."""
    for var in ("AITRACK_HOME", "AI_OUTPUT_DIR"):
        value = os.environ.get(var)
        if value:
            return Path(value).expanduser()
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "aitrack"
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / "aitrack"
    base = os.environ.get("XDG_DATA_HOME") or str(home / ".local" / "share")
    return Path(base) / "aitrack"


def database_url() -> str:
    """AITRACK_DATABASE_URL, else the SQLite file aitrack.db in the data dir."""
    url = os.environ.get("AITRACK_DATABASE_URL")
    if url:
        return url
    return str(data_dir() / "aitrack.db")


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidValue(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise InvalidValue(f"{name} must be greater than zero, not {raw}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Rates for ROI and the session duration cap."""

    max_session_hours: float = DEFAULT_MAX_SESSION_HOURS
    human_hourly_rate: float = DEFAULT_HUMAN_HOURLY_RATE
    ai_monthly_cost: float = DEFAULT_AI_MONTHLY_COST
    working_hours_per_month: float = WORKING_HOURS_PER_MONTH
    idle_close_minutes: float = 120.0

    @property
    def ai_hourly_rate(self) -> float:
        return self.ai_monthly_cost / self.working_hours_per_month

    @property
    def max_session_ms(self) -> int:
        return int(self.max_session_hours * 3_600_000)

    @classmethod
    def from_env(cls, max_session_hours: float | None = None) -> Settings:
        """Read AI_MAX_SESSION_DURATION_HOURS, AITRACK_HUMAN_HOURLY_RATE, AITRACK_AI_MONTHLY_COST,
        AITRACK_IDLE_MINUTES; an explicit max_session_hours (a --flag) wins."""
        if max_session_hours is not None and max_session_hours <= 0:
            raise InvalidValue("the maximum session duration must be greater than zero hours")
        return cls(
            max_session_hours=max_session_hours
            or _float_env("AI_MAX_SESSION_DURATION_HOURS", DEFAULT_MAX_SESSION_HOURS),
            human_hourly_rate=_float_env("AITRACK_HUMAN_HOURLY_RATE", DEFAULT_HUMAN_HOURLY_RATE),
            ai_monthly_cost=_float_env("AITRACK_AI_MONTHLY_COST", DEFAULT_AI_MONTHLY_COST),
            idle_close_minutes=_float_env("AITRACK_IDLE_MINUTES", 120.0),
        )
