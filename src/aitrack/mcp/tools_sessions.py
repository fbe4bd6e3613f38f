"""Query and bookkeeping tools beyond the seed (Chau7's and codesession-cli's MCP servers):
session_list, session_get, session_current, run_list, run_tag, log_ai_usage, add_note,
get_stats, check_budget."""

from __future__ import annotations

import os
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from aitrack import presenters
from aitrack.clock import parse_since, to_iso
from aitrack.ids import short
from aitrack.mcp.server import Backend, result, tool

RepoPath = Annotated[
    str | None, Field(description="Repository path (any directory inside it works)")
]
Count = Annotated[int, Field(strict=True, ge=0)]
Tags = Annotated[
    dict[str, str], Field(min_length=1, max_length=50, description="Tags as {key: value}")
]


class SessionList(BaseModel):
    sessions: list[dict[str, Any]]
    count: int


class SessionDetail(BaseModel):
    session: dict[str, Any]


class CurrentSession(BaseModel):
    session: dict[str, Any] | None
    active_sessions: int


class RunList(BaseModel):
    runs: list[dict[str, Any]]
    count: int


class Tagged(BaseModel):
    id: str
    tags: dict[str, str]


class LoggedUsage(BaseModel):
    api_call_id: str
    provider: str | None
    model: str
    session_id: str | None
    tokens: int
    cost_usd: float | None = Field(description="null when the model could not be priced")


class Note(BaseModel):
    note_id: str
    session_id: str
    ts: str


class Stats(BaseModel):
    since: str | None
    overview: dict[str, Any]


class BudgetStatus(BaseModel):
    over_budget: bool
    enforced: bool
    session_id: str | None
    repo_path: str | None
    limits: dict[str, float | None]
    spend: dict[str, float | None]
    rules: list[dict[str, Any]]
    exceeded: list[dict[str, Any]]


def repo_root(path: str | None) -> str | None:
    """The repository root around path (the path itself outside git), as sessions store it."""
    if not path:
        return None
    from aitrack import gitinfo

    root = gitinfo.repo_root(path)
    return str(root) if root else os.path.abspath(path)


def register(server: MCPServer, backend: Backend) -> None:
    """Add the session query and bookkeeping tools to server."""

    @tool(server)
    def session_list(
        repo_path: RepoPath = None,
        active_only: Annotated[bool, Field(description="Only sessions still active")] = False,
        agent: Annotated[
            str | None, Field(description="Only this agent (claude-code, codex…)")
        ] = None,
        since: Annotated[
            str | None,
            Field(description="Only sessions started since: YYYY-MM-DD, ISO time, 7d, 12h"),
        ] = None,
        limit: Annotated[int, Field(strict=True, ge=1, le=1000)] = 20,
    ) -> Annotated[CallToolResult, SessionList]:
        """List sessions, newest first, with duration, rating, files, tokens and cost."""
        filters = {
            "repo": repo_root(repo_path),
            "status": "active" if active_only else None,
            "agent": agent,
            "since": parse_since(since) if since else None,
        }
        rows = backend.tracker.list_sessions(filters, limit=limit)
        sessions = [presenters.session(r) for r in rows]
        lines = [f"{len(sessions)} session(s)"] + [
            f"• {s['short_id']} {s['name']} [{s['status']}{'/' + s['outcome'] if s['outcome'] else ''}]"
            f" {s['duration_minutes']:.0f}min, {s['tokens']:,} tokens"
            for s in sessions[:50]
        ]
        return result("\n".join(lines), {"sessions": sessions, "count": len(sessions)})

    @tool(server)
    def session_get(
        session_id: Annotated[str, Field(description="Session id or unique prefix")],
    ) -> Annotated[CallToolResult, SessionDetail]:
        """One session with its runs, tool calls, API calls, interactions, issues, notes,
        changed files, commits, code metrics and summary (duration, cost, ROI)."""
        detail = backend.tracker.session_detail(session_id)
        data = presenters.session_detail(detail)
        data["summary"] = detail["summary"]
        s = detail["summary"]
        cost = "unpriced" if s["api_cost_usd"] is None else f"${s['api_cost_usd']:,.2f}"
        text = (
            f"Session {data['id']} {data['name']!r}: {data['status']}"
            f"{' (' + data['outcome'] + ')' if data['outcome'] else ''}, "
            f"{s['duration_minutes']:.1f}min, {len(data['runs'])} runs, "
            f"{len(data['tool_calls'])} tool calls, {s['api_calls']} API calls ({cost}), "
            f"{s['interactions']} interactions, {s['issues']} issues, "
            f"{len(data['commits'])} commits"
        )
        return result(text, {"session": data})

    @tool(server)
    def session_current(repo_path: RepoPath = None) -> Annotated[CallToolResult, CurrentSession]:
        """The active session of a repository (default: this server's lane, else any), or null."""
        t = backend.tracker
        active = t.records.active_sessions()
        root = repo_root(repo_path)
        if root:
            candidates = [s for s in active if s["repo_path"] == root]
        else:
            candidates = [s for s in active if s["lane"] == backend.lane] or active
        current = candidates[-1] if candidates else None
        if current is None:
            return result(
                "No active session" + (f" in {root}" if root else "") + ".",
                {"session": None, "active_sessions": len(active)},
            )
        data = presenters.session(current)
        return result(
            f"Active: {current['id']} {current['name']!r} since {data['start_time']} "
            f"({data['duration_minutes']:.0f}min, lane {current['lane']})",
            {"session": data, "active_sessions": len(active)},
        )

    @tool(server)
    def run_list(
        session_id: Annotated[str | None, Field(description="Only runs of this session")] = None,
        repo_path: RepoPath = None,
        tags: Annotated[
            dict[str, str] | None,
            Field(description="Only runs with these tags ({key: value}; empty value = any)"),
        ] = None,
        limit: Annotated[int, Field(strict=True, ge=1, le=1000)] = 50,
    ) -> Annotated[CallToolResult, RunList]:
        """List runs (agent turns or `aitrack run` commands), newest first, with their tool
        call counts and tags."""
        t = backend.tracker
        sid = t.resolve_session(session_id)["id"] if session_id else None
        rows = t.records.list_runs(sid, repo_root(repo_path), tags or None, limit)
        run_tags = t.records.tags_for("run", [r["id"] for r in rows])
        runs = [{**presenters.times_to_iso(r), "tags": run_tags.get(r["id"], {})} for r in rows]
        lines = [f"{len(runs)} run(s)"] + [
            f"• {short(r['id'])} {r['status']} {r['started_at']} "
            f"{r['tool_call_count']} tool calls {r['tags'] or ''}"
            for r in runs[:50]
        ]
        return result("\n".join(lines), {"runs": runs, "count": len(runs)})

    @tool(server)
    def run_tag(
        run_id: Annotated[str, Field(description="Run id or unique prefix")],
        tags: Tags,
    ) -> Annotated[CallToolResult, Tagged]:
        """Set key=value tags on a run (existing keys are overwritten)."""
        tagged = backend.tracker.tag(run_id, tags, "run")
        text = f"Tagged run {short(tagged['id'])}: " + ", ".join(
            f"{k}={v}" for k, v in tagged["tags"].items()
        )
        return result(text, tagged)

    @tool(server)
    def log_ai_usage(
        provider: Annotated[str, Field(min_length=1, description="anthropic, openai, google…")],
        model: Annotated[str, Field(min_length=1, description="Model name")],
        input_tokens: Annotated[Count, Field(description="Input tokens not read from cache")] = 0,
        output_tokens: Annotated[
            Count, Field(description="Output tokens (reasoning included)")
        ] = 0,
        cache_read_tokens: Annotated[Count, Field(description="Input tokens read from cache")] = 0,
        cache_write_tokens: Annotated[
            Count, Field(description="Input tokens written to cache")
        ] = 0,
        cost: Annotated[
            float | None,
            Field(strict=True, ge=0, description="Cost in USD (default: priced by aitrack)"),
        ] = None,
        session_id: Annotated[
            str | None, Field(description="Session to charge (default: this server's active one)")
        ] = None,
    ) -> Annotated[CallToolResult, LoggedUsage]:
        """Record AI usage (tokens and cost) against a session, like `aitrack log-ai`."""
        from aitrack.usage import record_api_call

        t = backend.tracker
        if session_id:
            sid: str | None = t.resolve_session(session_id)["id"]
        else:
            lane_active = t.records.active_sessions(backend.lane)
            sid = lane_active[0]["id"] if len(lane_active) == 1 else None
        row = record_api_call(
            t, model=model, source="manual", provider=provider, session_id=sid, cost_usd=cost,
            input_tokens=input_tokens, output_tokens=output_tokens,
            cache_read_tokens=cache_read_tokens, cache_write_5m_tokens=cache_write_tokens,
        )  # fmt: skip
        tokens = input_tokens + output_tokens + cache_read_tokens + cache_write_tokens
        price = "unpriced" if row["cost_usd"] is None else f"${row['cost_usd']:.4f}"
        where = f" to session {short(sid)}" if sid else " (no session)"
        return result(
            f"Logged {tokens:,} tokens of {model}, {price}{where}",
            {
                "api_call_id": row["id"],
                "provider": row["provider"],
                "model": row["model"],
                "session_id": sid,
                "tokens": tokens,
                "cost_usd": row["cost_usd"],
            },
        )

    @tool(server)
    def add_note(
        message: Annotated[str, Field(description="The note")],
        session_id: Annotated[
            str | None, Field(description="Session (default: this server's active one)")
        ] = None,
    ) -> Annotated[CallToolResult, Note]:
        """Add a timestamped note to a session."""
        row = backend.tracker.add_note(message, session_id, backend.lane)
        return result(
            f"Noted on {short(row['session_id'])}",
            {"note_id": row["id"], "session_id": row["session_id"], "ts": to_iso(row["ts"])},
        )

    @tool(server)
    def get_stats(
        since: Annotated[
            str | None, Field(description="Only sessions started since: YYYY-MM-DD, ISO time, 7d")
        ] = None,
        repo_path: RepoPath = None,
    ) -> Annotated[CallToolResult, Stats]:
        """Totals across sessions: time, tokens, cost, quality, issues, ROI, per task type,
        model, repository and agent, and per day."""
        from aitrack import analytics

        t = backend.tracker
        start = parse_since(since) if since else None
        data = analytics.overview(
            t.store, t.settings, {"since": start, "repo": repo_root(repo_path)}
        )
        s, api, r = data["sessions"], data["api"], data["roi"]
        text = (
            f"{s['total']} sessions ({s['active']} active), {s['hours']:.1f}h, "
            f"{data['interactions']} interactions (avg {data['average_rating']}), "
            f"{data['issues']['total']} issues, {api['tokens']:,} tokens, "
            f"${api['cost_usd'] or 0:,.2f}"
            + (f" ({api['unpriced_calls']} unpriced calls)" if api["unpriced_calls"] else "")
            + f", time saved {r['time_saved_hours']:.1f}h, ROI {r['roi_percentage']:.1f}%"
        )
        return result(text, {"since": to_iso(start), "overview": data})

    @tool(server)
    def check_budget(
        session_id: Annotated[
            str | None,
            Field(
                description="Session whose limit to check too (default: this server's active "
                "session)"
            ),
        ] = None,
        repo_path: RepoPath = None,
    ) -> Annotated[CallToolResult, BudgetStatus]:
        """Spend against the budgets set with `aitrack budget` (per session, local day and
        month, global or per repository): over_budget is true when any limit is reached."""
        from aitrack import budgets

        t = backend.tracker
        if session_id is None:
            lane_active = t.records.active_sessions(backend.lane)
            session_id = lane_active[0]["id"] if len(lane_active) == 1 else None
        status = budgets.check_budgets(t, session_id=session_id, repo=repo_root(repo_path))
        if not status["rules"]:
            lines = ["No budget applies: `aitrack budget` sets one."]
        else:
            lines = ["⛔ Over budget" if status["over_budget"] else "✅ Within budget"]
            lines += [
                ("⛔ " if r["over"] else "• ")
                + f"{r['scope']}{' ' + r['repo_path'] if r['repo_path'] else ''}: "
                f"${r['spend_usd']:,.2f} of ${r['limit_usd']:,.2f}"
                + (" (enforced)" if r["enforce"] else "")
                for r in status["rules"]
            ]
        return result("\n".join(lines), status)
