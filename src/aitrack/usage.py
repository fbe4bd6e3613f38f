"""Recording model API calls: tokens of every kind, the cost (or "unpriced"), and where they
came from (proxy, transcript import, manual). Prices come from aitrack.pricing only."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aitrack import ids
from aitrack.clock import now_ms
from aitrack.store.database import Row
from aitrack.store.records import TOKEN_COLUMNS
from aitrack.tracker import Tracker
from aitrack.vocab import check_non_negative, check_text

TOKEN_FIELDS = TOKEN_COLUMNS


def user_prices(tracker: Tracker) -> dict[str, Any]:
    """The user's own prices (aitrack pricing set), keyed by model."""
    from aitrack.pricing import UserPrice

    rows = tracker.db.query("SELECT * FROM user_prices")
    return {
        r["model"]: UserPrice(
            r["model"],
            r["input_mtok"],
            r["output_mtok"],
            r["cache_read_mtok"],
            r["cache_write_mtok"],
            r["cache_write_1h_mtok"],
        )
        for r in rows
    }


def api_call_row(
    *,
    model: str,
    source: str,
    provider: str | None = None,
    session_id: str | None = None,
    run_id: str | None = None,
    ts: int | None = None,
    cost_usd: float | None = None,
    latency_ms: int | None = None,
    status: int | None = None,
    request_id: str | None = None,
    request_type: str | None = None,
    dedup_key: str | None = None,
    is_sidechain: bool = False,
    **tokens: int,
) -> dict[str, Any]:
    """A validated api_calls row (not yet priced).

    Raises:
        InvalidValue: a negative or non-numeric token count, an empty model.
    """
    model = check_text("model", model, max_len=300)
    unknown = set(tokens) - set(TOKEN_FIELDS)
    if unknown:
        raise TypeError(f"unknown token fields {sorted(unknown)}")
    row: dict[str, Any] = {
        "id": ids.new_id(ts),
        "session_id": session_id,
        "run_id": run_id,
        "ts": now_ms() if ts is None else ts,
        "provider": provider,
        "model": model,
    }
    for field in TOKEN_FIELDS:
        value = tokens.get(field, 0) or 0
        check_non_negative(field, value, allow_none=False)
        row[field] = int(value)
    if cost_usd is not None:
        check_non_negative("cost", cost_usd)
    row.update(
        cost_usd=cost_usd,
        cost_source="reported" if cost_usd is not None else None,
        latency_ms=latency_ms,
        status=status,
        request_id=request_id,
        source=source,
        request_type=request_type,
        dedup_key=dedup_key,
        is_sidechain=1 if is_sidechain else 0,
    )
    return row


def _price_row(row: dict[str, Any], pricer: Any) -> None:
    from aitrack.pricing import TokenUsage

    if row["cost_usd"] is not None:
        return
    result = pricer.price(
        row["provider"],
        row["model"],
        TokenUsage(**{f: row[f] for f in TOKEN_FIELDS}),
        row["ts"],
        fast=row.get("request_type") == "fast",
    )
    row["cost_usd"] = result.cost_usd
    row["cost_source"] = result.source
    if row["provider"] is None:
        row["provider"] = result.provider_ref


def record_api_call(tracker: Tracker, **fields: Any) -> Row:
    """Price and store one API call (see api_call_row for the fields); returns the row."""
    return record_api_calls(tracker, [api_call_row(**fields)])[0]


def record_api_calls(tracker: Tracker, rows: Iterable[dict[str, Any]]) -> list[Row]:
    """Price (in bulk) and store api_calls rows in one transaction; rows with a dedup_key
    already stored keep whichever copy has more tokens."""
    from aitrack.pricing import BulkPricer

    pricer = BulkPricer(user_prices(tracker))
    rows = list(rows)
    for row in rows:
        _price_row(row, pricer)
    with tracker.db.transaction():
        for row in rows:
            tracker.records.upsert_api_call(row)
            if row["session_id"]:
                tracker.records.touch_session(row["session_id"], row["ts"])
    return rows
