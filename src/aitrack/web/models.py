"""Models & cost: cost and tokens by model and provider over the period, cache hit ratio,
unpriced models, and calls recorded outside any session."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from aitrack.store.records import TOKEN_COLUMNS
from aitrack.web import shaping
from aitrack.web.context import AppState, Filters, FiltersDep, State

router = APIRouter()
MEASURES = ("calls", *TOKEN_COLUMNS, "tokens", "cost_usd", "priced_calls")


def models_data(state: AppState, f: Filters) -> dict[str, Any]:
    q = state.queries
    unit, buckets = f.buckets(q.first_session_start() if f.since is None else None)
    rows = q.usage_series(f.session_filters(), [(b.lo, b.hi) for b in buckets], MEASURES)
    models = shaping.usage_by_model(rows)
    total_cost = sum(m["cost_usd"] or 0 for m in models)
    for m in models:
        m["cost_share"] = shaping.ratio(m["cost_usd"], total_cost) if m["cost_usd"] else 0.0
    providers: dict[str, dict[str, Any]] = {}
    for m in models:
        p = providers.setdefault(
            m["provider"] or "unknown",
            {
                "provider": m["provider"] or "unknown",
                "models": 0,
                "calls": 0,
                "tokens": 0,
                "cost_usd": 0.0,
                "unpriced_calls": 0,
            },
        )
        p["models"] += 1
        p["calls"] += m.get("calls", 0)
        p["tokens"] += m.get("tokens", 0)
        p["cost_usd"] += m["cost_usd"] or 0
        p["unpriced_calls"] += m["unpriced_calls"]
    order = shaping.top_keys(rows, "model", "cost_usd") or shaping.top_keys(rows, "model", "tokens")
    n = len(buckets)
    outside = shaping.usage_by_model(q.unattached_usage(f.since, f.until)) if not (f.values) else []
    cache_read = sum(m.get("cache_read_tokens", 0) for m in models)
    fresh = sum(
        m.get("input_tokens", 0)
        + m.get("cache_write_5m_tokens", 0)
        + m.get("cache_write_1h_tokens", 0)
        for m in models
    )
    return {
        "filters": f.describe(),
        "buckets": shaping.bucket_axis(unit, buckets),
        "totals": {
            "calls": sum(m.get("calls", 0) for m in models),
            "tokens": sum(m.get("tokens", 0) for m in models),
            "cost_usd": round(total_cost, 4),
            "unpriced_calls": sum(m["unpriced_calls"] for m in models),
            "cache_hit_ratio": shaping.ratio(cache_read, cache_read + fresh),
            "models": len(models),
        },
        "models": models,
        "providers": sorted(providers.values(), key=lambda p: -p["cost_usd"]),
        "unpriced_models": [
            {"model": m["model"], "provider": m["provider"], "unpriced_calls": m["unpriced_calls"]}
            for m in models
            if m["unpriced_calls"]
        ],
        "series": {
            "cost_by_model": dict(shaping.split_series(rows, n, "model", "cost_usd", order)),
            "tokens_by_model": dict(shaping.split_series(rows, n, "model", "tokens", order)),
        },
        "outside_sessions": outside,
    }


@router.get("/api/v1/models", tags=["api"], summary="Cost and tokens by model and provider")
def api_models(state: State, f: FiltersDep) -> dict[str, Any]:
    """API usage of the filtered sessions by model and provider, per bucket and in total;
    calls outside any session in the period (when no session filter is set)."""
    return models_data(state, f)


@router.get("/models", response_class=HTMLResponse, tags=["pages"], summary="Models page")
def page_models(request: Request, state: State, f: FiltersDep) -> HTMLResponse:
    from aitrack.web.app import render
    from aitrack.web.format import money, percent

    d = models_data(state, f)
    share_items = [
        (m["model"], m["cost_usd"] or 0, f"{money(m['cost_usd'])} · {percent(m['cost_share'])}")
        for m in d["models"]
        if m["cost_usd"]
    ]
    cache_items = [
        (m["model"], m["cache_hit_ratio"] or 0, percent(m["cache_hit_ratio"]))
        for m in d["models"]
        if m["cache_hit_ratio"] is not None
    ]
    return render(
        request,
        "models.html",
        "models",
        f,
        {"d": d, "share_items": share_items, "cache_items": cache_items, "title": "Models & cost"},
    )
