"""Repositories & branches: sessions, time, API cost, commits and lines changed per repository
and branch, and the cost of a commit."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from aitrack.web import shaping
from aitrack.web.context import AppState, Filters, FiltersDep, State

router = APIRouter()
MEASURES = (
    "sessions",
    "time_ms",
    "succeeded",
    "interactions",
    "rating_sum",
    "issues",
    "api_calls",
    "priced_calls",
    "cost_usd",
    "tokens",
    "commits",
    "files_changed",
    "lines_added",
    "lines_removed",
)


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    cost = row.get("cost_usd") or 0.0
    commits = row.get("commits") or 0
    calls, priced = row.get("api_calls") or 0, row.get("priced_calls") or 0
    return {
        "sessions": row.get("sessions") or 0,
        "hours": round((row.get("time_ms") or 0) / 3_600_000, 2),
        "succeeded": row.get("succeeded") or 0,
        "average_rating": shaping.rating_of(
            row.get("rating_sum") or 0, row.get("interactions") or 0
        ),
        "issues": row.get("issues") or 0,
        "api_calls": calls,
        "unpriced_calls": calls - priced,
        "cost_usd": round(cost, 4) if priced else (None if calls else 0.0),
        "tokens": row.get("tokens") or 0,
        "commits": commits,
        "files_changed": row.get("files_changed") or 0,
        "lines_added": row.get("lines_added") or 0,
        "lines_removed": row.get("lines_removed") or 0,
        "cost_per_commit_usd": round(cost / commits, 4) if commits and priced else None,
    }


def repos_data(state: AppState, f: Filters) -> dict[str, Any]:
    rows = state.queries.grouped(["repo", "branch"], f.session_filters(), MEASURES)
    repos: dict[str | None, dict[str, Any]] = {}
    for r in rows:
        entry = repos.setdefault(r["repo"], {"repo_path": r["repo"], "sum": {}, "branches": []})
        for k in MEASURES:
            entry["sum"][k] = entry["sum"].get(k, 0) + (r.get(k) or 0)
        entry["branches"].append({"branch": r["branch"], **_shape(r)})
    out = []
    for entry in repos.values():
        branches = sorted(entry["branches"], key=lambda b: -(b["cost_usd"] or 0))
        out.append({"repo_path": entry["repo_path"], **_shape(entry["sum"]), "branches": branches})
    out.sort(key=lambda r: (-(r["cost_usd"] or 0), -r["hours"]))
    return {"filters": f.describe(), "repositories": out}


@router.get("/api/v1/repos", tags=["api"], summary="Cost, time and changes per repository")
def api_repos(state: State, f: FiltersDep) -> dict[str, Any]:
    """Per repository, and per branch inside it: sessions, hours, API cost, tokens, commits,
    files and lines changed, and cost per commit."""
    return repos_data(state, f)


@router.get("/repos", response_class=HTMLResponse, tags=["pages"], summary="Repositories page")
def page_repos(request: Request, state: State, f: FiltersDep) -> HTMLResponse:
    from aitrack.web.app import render
    from aitrack.web.format import money, repo_name

    d = repos_data(state, f)
    repos = d["repositories"][:12]
    cost_items = [
        (repo_name(r["repo_path"]), r["cost_usd"] or 0, money(r["cost_usd"])) for r in repos
    ]
    time_items = [
        (repo_name(r["repo_path"]), r["hours"], f"{r['hours']:,.1f} h")
        for r in sorted(repos, key=lambda r: -r["hours"])
    ]
    commit_items = [
        (
            repo_name(r["repo_path"]),
            r["cost_per_commit_usd"] or 0,
            money(r["cost_per_commit_usd"]) + f" · {r['commits']:,} commits",
        )
        for r in sorted(repos, key=lambda r: -(r["cost_per_commit_usd"] or 0))
        if r["commits"]
    ]
    return render(
        request,
        "repos.html",
        "repos",
        f,
        {
            "d": d,
            "cost_items": cost_items,
            "time_items": time_items,
            "commit_items": commit_items,
            "title": "Repositories",
        },
    )
