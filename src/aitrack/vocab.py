"""The closed vocabularies of aitrack (task types, outcomes, severities, …) and their checks."""

from __future__ import annotations

from aitrack.errors import InvalidValue

TASK_TYPES = (
    "code_generation",
    "debugging",
    "refactoring",
    "testing",
    "documentation",
    "analysis",
    "architecture_planning",
    "planning",
    "human_review",
    "general",
)
ESTIMATE_SOURCES = ("manual", "issue_tracker", "historical")
OUTCOMES = ("success", "partial", "failed")
SEVERITIES = ("low", "medium", "high", "critical")
SESSION_STATUSES = ("active", "completed")
# Task types that do not count toward ROI: review is oversight time, not AI work (as the seed).
EXCLUDED_FROM_ROI = ("human_review",)
RATING_MIN, RATING_MAX = 1, 5


def check_choice(kind: str, value: object, allowed: tuple[str, ...]) -> str:
    """Return value when it is one of allowed, else raise naming the allowed values."""
    if not isinstance(value, str) or value not in allowed:
        raise InvalidValue(f"unknown {kind} {value!r}: use one of {', '.join(allowed)}")
    return value


def check_rating(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(f"rating must be a whole number from 1 to 5, not {value!r}")
    if not RATING_MIN <= value <= RATING_MAX:
        raise InvalidValue(f"rating {value} is out of range: use a whole number from 1 to 5")
    return value


def check_non_negative(kind: str, value: object, *, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValue(f"{kind} must be a number, not {value!r}")
    if value < 0:
        raise InvalidValue(f"{kind} must be zero or more, not {value}")
    return value


def check_text(kind: str, value: object, *, required: bool = True, max_len: int = 1_000_000) -> str:
    if value is None:
        if required:
            raise InvalidValue(f"{kind} is required")
        return ""
    if not isinstance(value, str):
        raise InvalidValue(f"{kind} must be text, not {type(value).__name__}")
    if required and not value.strip():
        raise InvalidValue(f"{kind} must not be empty")
    if len(value) > max_len:
        raise InvalidValue(f"{kind} is {len(value):,} characters; the limit is {max_len:,}")
    return value
