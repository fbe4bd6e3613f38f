"""Pricing: the price aitrack uses today for every model in the store (the user's own price
or genai-prices', or none), the user's overrides, and the catalog genai-prices knows."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from aitrack.web.context import AppState, State

router = APIRouter()
CATALOG_TTL = 3600.0
CATALOG_ROWS = 150
PROBE = 100_000  # tokens per probe: below every long-context tier


def _price_per_mtok(model: str, user_prices: dict[str, Any]) -> dict[str, Any]:
    """Today's price per million tokens of each kind, as aitrack would bill one request."""
    from aitrack.pricing import TokenUsage, price_call

    out: dict[str, Any] = {"model": model}
    first = None
    for kind, usage in (
        ("input_mtok", TokenUsage(input_tokens=PROBE)),
        ("output_mtok", TokenUsage(output_tokens=PROBE)),
        ("cache_read_mtok", TokenUsage(cache_read_tokens=PROBE)),
        ("cache_write_mtok", TokenUsage(cache_write_5m_tokens=PROBE)),
        ("cache_write_1h_mtok", TokenUsage(cache_write_1h_tokens=PROBE)),
    ):
        result = price_call(None, model, usage, None, user_prices)
        first = first or result
        out[kind] = (
            None if result.cost_usd is None else round(result.cost_usd * 1_000_000 / PROBE, 6)
        )
    assert first is not None
    out["source"] = first.source or "unpriced"
    out["provider"] = first.provider_ref
    out["matched"] = first.model_ref
    out["reason"] = first.reason
    return out


def pricing_data(state: AppState, search: str | None) -> dict[str, Any]:
    from aitrack.pricing import known_models
    from aitrack.usage import user_prices

    q = state.queries
    own = user_prices(state.tracker)
    in_use = sorted(
        set(q.usage_models()) | set(state.cached("session_models", 60, lambda: q.distinct("model")))
    )
    catalog = state.cached("catalog", CATALOG_TTL, known_models)
    needle = (search or "").strip().lower()
    matches = [
        m
        for m in catalog
        if not needle
        or needle in m["model"].lower()
        or needle in (m.get("name") or "").lower()
        or needle in m["provider"]
    ]
    return {
        "in_use": [_price_per_mtok(m, own) for m in in_use],
        "user_prices": q.user_prices(),
        "catalog": {
            "search": search,
            "total": len(catalog),
            "matches": len(matches),
            "models": [
                {k: v for k, v in m.items() if k != "tiers"} | {"tiers": len(m["tiers"])}
                for m in matches[:CATALOG_ROWS]
            ],
        },
    }


Search = Annotated[
    str | None, Query(description="Filter the catalog by model, name or provider.", max_length=200)
]


@router.get("/api/v1/pricing", tags=["api"], summary="Prices in use, overrides, catalog")
def api_pricing(state: State, search: Search = None) -> dict[str, Any]:
    """For each model recorded: today's price per million tokens and where it comes from;
    the user's own prices; the first 150 models of the genai-prices catalog matching search."""
    return pricing_data(state, search)


@router.get("/pricing", response_class=HTMLResponse, tags=["pages"], summary="Pricing page")
def page_pricing(request: Request, state: State, search: Search = None) -> HTMLResponse:
    from aitrack.web.app import render

    return render(
        request,
        "pricing.html",
        "pricing",
        None,
        {"d": pricing_data(state, search), "title": "Pricing"},
    )
