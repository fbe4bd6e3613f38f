"""Sessions: the filterable, sortable, paginated list, one session's detail with its timeline,
and the few writes the dashboard offers (end a session, tag it, add a note)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from aitrack import analytics, presenters
from aitrack.clock import now_ms, to_iso
from aitrack.store.dashboard import SORTS
from aitrack.store.records import BILLABLE_TOKEN_COLUMNS, SESSION_CHILD_TABLES
from aitrack.web import shaping
from aitrack.web.context import AppState, Filters, FiltersDep, State

router = APIRouter()
Sort = Literal[
    "start",
    "name",
    "repo",
    "branch",
    "agent",
    "task_type",
    "model",
    "outcome",
    "status",
    "duration",
    "cost",
    "tokens",
    "interactions",
    "rating",
    "issues",
]
assert set(Sort.__args__) == set(SORTS)  # type: ignore[attr-defined]
TIMELINE_LIMIT = 400
SessionId = Annotated[
    str, Path(description="Session id or a unique prefix.", min_length=1, max_length=200)
]


def list_data(
    state: AppState, f: Filters, page: int, per_page: int, sort: str, order: str
) -> dict[str, Any]:
    q = state.queries
    sf = f.session_filters()
    rows = q.list_sessions(sf, per_page, (page - 1) * per_page, sort, order == "desc")
    total = q.count_sessions(sf)
    tags = state.store.records.tags_for("session", [r["id"] for r in rows])
    return {
        "filters": f.describe(),
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": max(1, -(-total // per_page)),
        "sort": sort,
        "order": order,
        "sessions": [shaping.session_item(r, tags.get(r["id"])) for r in rows],
    }


PageNo = Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1.")]
PerPage = Annotated[int, Query(ge=1, le=500, description="Sessions per page.")]
Order = Annotated[Literal["asc", "desc"], Query(description="Sort direction.")]


@router.get("/api/v1/sessions", tags=["api"], summary="Sessions, filtered, sorted, paginated")
def api_sessions(
    state: State,
    f: FiltersDep,
    page: PageNo = 1,
    per_page: PerPage = 50,
    sort: Annotated[Sort, Query(description="Sort key.")] = "start",
    order: Order = "desc",
) -> dict[str, Any]:
    """Sessions matching the filters with their cost, tokens, commits and lines."""
    return list_data(state, f, page, per_page, sort, order)


@router.get("/sessions", response_class=HTMLResponse, tags=["pages"], summary="Sessions page")
def page_sessions(
    request: Request,
    state: State,
    f: FiltersDep,
    page: PageNo = 1,
    per_page: PerPage = 50,
    sort: Annotated[Sort, Query(description="Sort key.")] = "start",
    order: Order = "desc",
) -> HTMLResponse:
    from aitrack.web.app import render

    d = list_data(state, f, page, per_page, sort, order)

    def link(**changes: Any) -> str:
        base = {
            "sort": sort,
            "order": order,
            "per_page": per_page if per_page != 50 else None,
            "page": page,
        }
        base.update(changes)
        return "/sessions?" + f.query(**base)

    def sort_link(key: str) -> str:
        flip = "asc" if (sort == key and order == "desc") else "desc"
        return link(sort=key, order=flip if sort == key else "desc", page=None)

    return render(
        request, "sessions.html", "sessions", f, {"d": d, "link": link, "sort_link": sort_link}
    )


# -- one session ---------------------------------------------------------------------------
def _timeline(detail: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Everything that happened in a session, oldest first (the last TIMELINE_LIMIT)."""
    events: list[dict[str, Any]] = [
        {"ts": detail["start_time"], "kind": "start", "text": "Session started"}
    ]
    for r in detail["runs"]:
        what = r.get("prompt") or r.get("command") or "agent turn"
        events.append({"ts": r["started_at"], "kind": "run", "text": what})
    for i in detail["interactions"]:
        events.append(
            {
                "ts": i["ts"],
                "kind": "interaction",
                "rating": i["rating"],
                "text": f"{i['prompt']} → {i['response_summary']}",
            }
        )
    for t in detail["tool_calls"]:
        state = "" if t.get("ok") is None else (" ✓" if t["ok"] else " ✗ failed")
        events.append({"ts": t["ts"], "kind": "tool", "text": f"{t['name']}{state}"})
    for a in detail["api_calls"]:
        cost = "unpriced" if a["cost_usd"] is None else f"${a['cost_usd']:.4f}"
        tokens = sum(a[k] for k in BILLABLE_TOKEN_COLUMNS)
        events.append(
            {"ts": a["ts"], "kind": "api", "text": f"{a['model']}: {tokens:,} tokens, {cost}"}
        )
    for i in detail["issues"]:
        events.append(
            {
                "ts": i["ts"],
                "kind": "issue",
                "severity": i["severity"],
                "text": f"{i['issue_type']}: {i['description']}",
            }
        )
    for n in detail["annotations"]:
        events.append({"ts": n["ts"], "kind": "note", "text": n["message"]})
    for c in detail["commits"]:
        events.append(
            {
                "ts": c["ts"],
                "kind": "commit",
                "text": f"{c['sha'][:10]} {c['message'].splitlines()[0] if c['message'] else ''}",
            }
        )
    if detail.get("end_time"):
        events.append(
            {
                "ts": detail["end_time"],
                "kind": "end",
                "text": f"Session ended ({detail.get('outcome') or 'no outcome'})",
            }
        )
    events.sort(key=lambda e: e["ts"])
    total = len(events)
    return events[-TIMELINE_LIMIT:], total


CHILDREN = SESSION_CHILD_TABLES


def _summary(
    state: AppState, session: dict[str, Any], usage: list[dict[str, Any]], rollup: dict[str, Any]
) -> dict[str, Any]:
    """Duration, quality, API usage and ROI of one session, from its rollups (as
    analytics.session_summary computes them from every call)."""
    from aitrack.vocab import EXCLUDED_FROM_ROI

    minutes = analytics.duration_minutes(session)
    counts = session["status"] == "completed" and session["task_type"] not in EXCLUDED_FROM_ROI
    estimate = session.get("final_estimate_minutes") or session.get("estimate_minutes") or 0
    calls, priced = rollup.get("api_calls") or 0, rollup.get("priced_calls") or 0
    cost = float(rollup.get("cost_usd") or 0.0)
    n = session.get("interaction_count") or 0
    top = max(usage, key=lambda u: u.get("tokens") or 0)["model"] if usage else session.get("model")
    return {
        "duration_minutes": round(minutes, 2),
        "capped": bool(session.get("capped")),
        "interactions": n,
        "average_rating": round(session["rating_sum"] / n, 2) if n else None,
        "issues": session.get("issue_count") or 0,
        "api_calls": calls,
        "tokens": rollup.get("tokens") or 0,
        "api_cost_usd": round(cost, 6) if priced or not calls else None,
        "unpriced_calls": calls - priced,
        "top_model": top,
        "roi": analytics.roi(
            {
                "roi_sessions": 1 if counts else 0,
                "roi_time_ms": minutes * 60_000 if counts else 0,
                "roi_estimate_minutes": estimate if counts else 0,
            },
            cost,
            state.settings,
        ),
    }


def detail_data(state: AppState, session_id: str, limit: int = 500) -> dict[str, Any]:
    """A session with the latest `limit` rows of each kind recorded in it (and their counts),
    a merged timeline, usage by model and its ROI."""
    session = state.tracker.resolve_session(session_id)
    sid = session["id"]
    q = state.queries
    detail: dict[str, Any] = dict(session)
    counts = {}
    for table in CHILDREN:
        detail[table], counts[table] = q.session_children(sid, table, limit)
    detail["annotations"] = detail.pop("notes")
    run_tags = state.store.records.tags_for("run", [r["id"] for r in detail["runs"]])
    detail["runs"] = [{**r, "tags": run_tags.get(r["id"], {})} for r in detail["runs"]]
    usage = q.usage_of_session(sid)
    rollup = (q.sessions_by_id([sid]) or [{}])[0]
    out = presenters.session_detail(detail)
    out["tags"] = state.store.records.tags_for("session", [sid]).get(sid, {})
    out["counts"] = {("annotations" if k == "notes" else k): v for k, v in counts.items()}
    out["summary"] = _summary(state, session, usage, rollup)
    out["usage_by_model"] = shaping.usage_by_model(usage)
    out["files_changed"] = rollup.get("files_changed") or 0
    out["lines_added"] = rollup.get("lines_added") or 0
    out["lines_removed"] = rollup.get("lines_removed") or 0
    out["commit_count"] = rollup.get("commits") or 0
    tools = Counter(t["name"] for t in detail["tool_calls"])
    failed = Counter(t["name"] for t in detail["tool_calls"] if t.get("ok") == 0)
    out["tools"] = [
        {"name": n, "calls": c, "failed": failed.get(n, 0)} for n, c in tools.most_common()
    ]
    events, _ = _timeline(detail)
    total = (
        1
        + (1 if detail.get("end_time") else 0)
        + sum(
            counts[k]
            for k in (
                "runs",
                "interactions",
                "tool_calls",
                "api_calls",
                "issues",
                "notes",
                "commits",
            )
        )
    )
    out["timeline"] = [{**e, "at": to_iso(e["ts"])} for e in events]
    out["timeline_total"] = total
    out["start_ms"] = detail["start_time"]
    out["end_ms"] = detail.get("end_time")
    out["strip_runs"] = [(r["started_at"], r.get("ended_at")) for r in detail["runs"]]
    return out


Limit = Annotated[int, Query(ge=1, le=100_000, description="Latest rows of each kind.")]


@router.get("/api/v1/sessions/{session_id}", tags=["api"], summary="One session in full")
def api_session(state: State, session_id: SessionId, limit: Limit = 500) -> dict[str, Any]:
    """A session with its runs, interactions, tool calls, API calls, issues, notes, files,
    commits and code metrics (the latest `limit` of each; `counts` has them all), a merged
    timeline, usage by model and its ROI."""
    d = detail_data(state, session_id, limit)
    d.pop("strip_runs")
    return d


@router.get(
    "/sessions/{session_id}", response_class=HTMLResponse, tags=["pages"], summary="Session page"
)
def page_session(request: Request, state: State, session_id: SessionId) -> HTMLResponse:
    from aitrack.web import charts
    from aitrack.web.app import render

    d = detail_data(state, session_id)
    end = d["end_ms"] or now_ms()
    strip = charts.timeline_strip(
        d["start_ms"],
        end,
        [(a, b or end) for a, b in d["strip_runs"]],
        [
            (e["ts"], e["kind"], e["text"])
            for e in d["timeline"]
            if e["kind"] in ("api", "interaction", "issue", "commit", "note")
        ],
    )
    tool_items = [
        (
            t["name"],
            t["calls"],
            f"{t['calls']:,}" + (f" · {t['failed']} failed" if t["failed"] else ""),
        )
        for t in d["tools"][:12]
    ]
    return render(
        request,
        "session.html",
        "sessions",
        None,
        {"s": d, "strip": strip, "title": d["name"], "tool_items": tool_items},
    )


# -- writes --------------------------------------------------------------------------------
class EndSession(BaseModel):
    outcome: Literal["success", "partial", "failed"] = "success"
    notes: str | None = Field(None, max_length=100_000)
    final_estimate_minutes: float | None = Field(None, ge=0, le=1_000_000)


class TagSession(BaseModel):
    tags: dict[str, str] | None = Field(None, description="KEY: VALUE pairs.")
    tag: str | None = Field(None, max_length=1000, description="One tag as KEY=VALUE.")


class NoteSession(BaseModel):
    message: str = Field(..., min_length=1, max_length=100_000)


def _written(state: AppState, session_id: str) -> dict[str, Any]:
    state.wrote()
    row = state.queries.sessions_by_id([session_id])[0]
    tags = state.store.records.tags_for("session", [session_id]).get(session_id, {})
    return {"ok": True, "session": shaping.session_item(row, tags)}


@router.post("/api/v1/sessions/{session_id}/end", tags=["api"], summary="End a session")
def api_end(state: State, session_id: SessionId, body: EndSession) -> dict[str, Any]:
    session = state.tracker.resolve_session(session_id)
    state.tracker.end_session(
        session["id"], body.outcome, body.notes, final_estimate_minutes=body.final_estimate_minutes
    )
    return _written(state, session["id"])


@router.post("/api/v1/sessions/{session_id}/tags", tags=["api"], summary="Tag a session")
def api_tag(state: State, session_id: SessionId, body: TagSession) -> dict[str, Any]:
    from aitrack.errors import InvalidValue

    tags = dict(body.tags or {})
    if body.tag:
        key, _, value = body.tag.partition("=")
        if not key.strip():
            raise InvalidValue("write the tag as KEY=VALUE")
        tags[key.strip()] = value.strip()
    session = state.tracker.resolve_session(session_id)
    state.tracker.tag(session["id"], tags)
    return _written(state, session["id"])


@router.post("/api/v1/sessions/{session_id}/notes", tags=["api"], summary="Add a note")
def api_note(state: State, session_id: SessionId, body: NoteSession) -> dict[str, Any]:
    session = state.tracker.resolve_session(session_id)
    state.tracker.add_note(body.message, session_id=session["id"])
    return _written(state, session["id"])
