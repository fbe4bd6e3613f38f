"""Turning the store's rows into what pages and the API show: totals, per-bucket series split
by a key (model, outcome), rates. Pure functions over rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from aitrack import presenters
from aitrack.analytics import average_rating
from aitrack.store.database import Row
from aitrack.web.context import Bucket

OTHER = "other"


def total(rows: Iterable[Row], maxima: Sequence[str] = ("max_gap_ms",)) -> dict[str, Any]:
    """Column sums of rows (maxima for the named columns); the bucket/key columns dropped."""
    out: dict[str, Any] = {}
    for r in rows:
        for k, v in r.items():
            if k in ("bucket", "model", "provider") or v is None or isinstance(v, str):
                continue
            if k in maxima:
                out[k] = max(out.get(k, 0), v)
            else:
                out[k] = out.get(k, 0) + v
    return out


def split_series(
    rows: Iterable[Row], buckets: int, key: str, measure: str, order: Sequence[str]
) -> list[tuple[str, list[float]]]:
    """[(key value, [measure per bucket])] in `order`; keys not in order add up as 'other'."""
    index = {name: i for i, name in enumerate(order)}
    values = [[0.0] * buckets for _ in order]
    other = [0.0] * buckets
    for r in rows:
        v = float(r.get(measure) or 0)
        slot = index.get(r[key])
        if slot is None:
            other[r["bucket"]] += v
        else:
            values[slot][r["bucket"]] += v
    out = list(zip(order, values, strict=True))
    if any(other):
        out.append((OTHER, other))
    return out


def top_keys(rows: Iterable[Row], key: str, measure: str, limit: int = 7) -> list[str]:
    """The keys with the largest sum of measure (ties by name), at most limit."""
    sums: dict[str, float] = {}
    for r in rows:
        if r[key] is not None:
            sums[r[key]] = sums.get(r[key], 0.0) + float(r.get(measure) or 0)
    return [k for k, _ in sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def by_bucket(rows: Iterable[Row], buckets: int) -> list[Row]:
    """One row (or {}) per bucket index."""
    out: list[Row] = [{} for _ in range(buckets)]
    for r in rows:
        out[r["bucket"]] = r
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    return (a or 0) / b if b else None


def usage_by_model(rows: Iterable[Row]) -> list[dict[str, Any]]:
    """Usage rows (any buckets) summed per model, with cache hit ratio, largest cost first."""
    models: dict[str, dict[str, Any]] = {}
    for r in rows:
        m = models.setdefault(r["model"], {"model": r["model"], "provider": r.get("provider")})
        for k, v in r.items():
            if k not in ("bucket", "model", "provider") and v is not None:
                m[k] = m.get(k, 0) + v
        m["provider"] = m["provider"] or r.get("provider")
    out = []
    for m in models.values():
        calls, priced = m.get("calls", 0), m.get("priced_calls", 0)
        cache_in = m.get("cache_read_tokens", 0)
        fresh_in = (
            m.get("input_tokens", 0)
            + m.get("cache_write_5m_tokens", 0)
            + m.get("cache_write_1h_tokens", 0)
        )
        m["unpriced_calls"] = calls - priced
        m["cost_usd"] = m.get("cost_usd", 0.0) if priced else None
        m["cache_hit_ratio"] = ratio(cache_in, cache_in + fresh_in)
        out.append(m)
    return sorted(out, key=lambda m: (-(m["cost_usd"] or 0), -m.get("tokens", 0), m["model"]))


def session_item(row: Row, tags: dict[str, str] | None = None) -> dict[str, Any]:
    """A session row (with its rollup columns) for the API and tables."""
    out = presenters.session(row)
    calls = row.get("api_calls") or 0
    priced = row.get("priced_calls") or 0
    out.update(
        api_calls=calls,
        unpriced_calls=calls - priced,
        cost_usd=round(row["cost_usd"], 6) if priced else (None if calls else 0.0),
        tokens=row.get("tokens") or 0,
        commits=row.get("commits") or 0,
        files_changed=row.get("files_changed") or 0,
        lines_added=row.get("lines_added") or 0,
        lines_removed=row.get("lines_removed") or 0,
        tags=tags or {},
        start_ms=row["start_time"],
        end_ms=row.get("end_time"),
    )
    out.pop("priced_calls", None)
    return out


def rating_of(rating_sum: float, count: float) -> float | None:
    return average_rating(rating_sum, count) if count else None


def bucket_axis(unit: str, buckets: Sequence[Bucket]) -> dict[str, Any]:
    """A page's time axis: the bucket unit, axis labels, tooltip titles and start times."""
    return {
        "unit": unit,
        "labels": [b.label for b in buckets],
        "titles": [b.title for b in buckets],
        "starts": [b.lo for b in buckets],
    }
