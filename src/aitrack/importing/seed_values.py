"""Readers for the loosely typed values of the seed stores, shared by their importers."""

from __future__ import annotations

from typing import Any

from aitrack.clock import from_iso


def iso_ms(value: Any) -> int | None:
    """Epoch ms of an ISO-8601 string; None when blank, not a string or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return from_iso(value)
    except ValueError:
        return None


def to_int(value: Any) -> int | None:
    """An int or float as int (bools excluded); None for anything else."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
