"""The tools of ai-session-tracker-mcp, same names, parameters and enums, on aitrack's tracker:
start_ai_session, log_ai_interaction, end_ai_session, flag_ai_issue, log_code_metrics,
get_ai_observability, get_active_sessions (its request records are in tools_requests)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import BaseModel, ConfigDict, Field

from aitrack import ids
from aitrack.clock import now_ms, to_iso
from aitrack.code_metrics import MODIFICATION_TYPES
from aitrack.mcp.server import Backend, result, tool
from aitrack.vocab import ESTIMATE_SOURCES, OUTCOMES, SEVERITIES, TASK_TYPES

# the closed vocabularies, from the one place that defines them (Literal of a tuple = its values)
TaskType = Literal[TASK_TYPES]  # type: ignore[valid-type]
EstimateSource = Literal[ESTIMATE_SOURCES]  # type: ignore[valid-type]
Outcome = Literal[OUTCOMES]  # type: ignore[valid-type]
Severity = Literal[SEVERITIES]  # type: ignore[valid-type]
ModificationType = Literal[MODIFICATION_TYPES]  # type: ignore[valid-type]
TimeRange = Literal["last_day", "last_week", "all"]

SessionId = Annotated[str, Field(description="ID from start_ai_session (a unique prefix works)")]
Minutes = Annotated[float, Field(strict=True, ge=0, le=1_000_000)]
Count = Annotated[int, Field(strict=True, ge=0)]
SEVERITY_EMOJI = {"low": "🟢", "medium": "🟡", "high": "🟠", "critical": "🔴"}
TIME_RANGES_MS = {"last_day": 86_400_000, "last_week": 7 * 86_400_000}


# -- results ---------------------------------------------------------------------------------
class StartedSession(BaseModel):
    session_id: str
    short_id: str
    session_name: str
    task_type: str
    model_name: str | None
    initial_estimate_minutes: float | None
    estimate_source: str
    lane: str
    repo_path: str | None
    branch: str | None
    start_time: str
    auto_closed_sessions: list[str]


class LoggedInteraction(BaseModel):
    interaction_id: str
    session_id: str
    effectiveness_rating: int
    iteration_count: int
    total_interactions: int
    avg_effectiveness: float


class EndedSession(BaseModel):
    session_id: str
    session_name: str
    outcome: str
    duration_minutes: float
    capped: bool
    total_interactions: int
    avg_effectiveness: float | None
    issues_count: int
    api_calls: int
    tokens: int
    api_cost_usd: float | None = Field(description="null when a call could not be priced")
    unpriced_calls: int
    roi: dict[str, Any]
    code_metrics: dict[str, Any]


class FlaggedIssue(BaseModel):
    issue_id: str
    session_id: str
    issue_type: str
    severity: str


class FunctionModified(BaseModel):
    """One function you changed in the file."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=500, description="Function/method name")]
    modification_type: ModificationType
    lines_added: Count = 0
    lines_modified: Count = 0
    lines_deleted: Count = 0


class CodeMetricsLogged(BaseModel):
    session_id: str
    file_path: str
    language: str
    functions_analyzed: int
    functions_not_found: list[str]
    average_complexity: float
    average_doc_quality: float
    average_effort_score: float
    total_effort_score: float
    lines_added: int
    lines_modified: int
    lines_deleted: int
    functions: list[dict[str, Any]]


class Observability(BaseModel):
    report: str
    time_range: str
    session_id: str | None
    overview: dict[str, Any]


class ActiveSession(BaseModel):
    session_id: str
    session_name: str
    task_type: str
    start_time: str
    lane: str
    repo_path: str | None
    interactions: int


class ActiveSessions(BaseModel):
    active_sessions: list[ActiveSession]
    count: int


def client_agent(ctx: Context | None) -> str | None:
    """The agent a session started over MCP belongs to: the name the MCP client gave when it
    connected ("claude-code", "Visual Studio Code" -> "visual-studio-code"), or None."""
    try:
        params = ctx.request_context.session.client_params if ctx is not None else None
    except ValueError:  # no request (a direct call)
        return None
    name = params.client_info.name.strip() if params is not None else ""
    return "-".join(name.lower().split())[:100] or None


def register(server: MCPServer, backend: Backend) -> None:
    """Add the seed-compatible tools to server."""

    @tool(server)
    def start_ai_session(
        session_name: Annotated[str, Field(description="Descriptive name for this session")],
        task_type: Annotated[TaskType, Field(description="Task category")],
        model_name: Annotated[
            str, Field(description="AI model being used (e.g. 'claude-sonnet-4-5', 'gpt-5')")
        ],
        estimate_source: Annotated[
            EstimateSource, Field(description="Where the time estimate came from")
        ],
        human_time_estimate_minutes: Annotated[
            Minutes | None,
            Field(
                description="Estimated minutes for a human to do this task (or use "
                "initial_estimate_minutes; one of the two is required)"
            ),
        ] = None,
        initial_estimate_minutes: Annotated[
            Minutes | None, Field(description="Same as human_time_estimate_minutes")
        ] = None,
        context: Annotated[str, Field(description="Additional context about the work")] = "",
        developer: Annotated[str, Field(description="Developer name (git config user.name)")] = "",
        project: Annotated[str, Field(description="Project name")] = "",
        lane: Annotated[
            str,
            Field(
                min_length=1,
                max_length=500,
                description="Lane: one active session per "
                "lane; starting one closes the lane's previous session as partial",
            ),
        ] = "foreground",
        repo_path: Annotated[
            str | None, Field(description="Repository worked in (default: the server's directory)")
        ] = None,
        ctx: Context | None = None,
    ) -> Annotated[CallToolResult, StartedSession]:
        """Start a new AI coding session for tracking workflow metrics. CALL THIS FIRST at the
        start of every coding task. Returns session_id for subsequent tool calls."""
        from aitrack import gitinfo

        estimate = _one_estimate(human_time_estimate_minutes, initial_estimate_minutes)
        where = repo_path or os.getcwd()
        git = gitinfo.describe(where)
        session, closed = backend.tracker.start_session(
            session_name,
            task_type,
            model_name,
            estimate,
            estimate_source,
            context=context or None,
            lane=lane or backend.lane,
            agent=client_agent(ctx),
            source="mcp",
            developer=developer or None,
            project=project or None,
            repo_path=git["repo_path"] or (str(Path(where).resolve()) if repo_path else None),
            branch=git["branch"],
            cwd=where,
            git_head=git["head"],
        )
        closed_ids = [c.id for c in closed]
        notice = (
            f"\n⚠️ Auto-closed {len(closed)} previous session(s): {', '.join(closed_ids)}"
            if closed
            else ""
        )
        text = (
            f"✅ Session Started: {session['id']}\n"
            f"Type: {task_type} | Model: {model_name}\n"
            f"Estimate: {estimate:.0f}min ({estimate_source}){notice}\n"
            "⚠️ Log interactions! Call log_ai_interaction(session_id, prompt, rating 1-5) "
            "after responses."
        )
        return result(
            text,
            {
                "session_id": session["id"],
                "short_id": ids.short(session["id"]),
                "session_name": session["name"],
                "task_type": task_type,
                "model_name": model_name,
                "initial_estimate_minutes": estimate,
                "estimate_source": estimate_source,
                "lane": session["lane"],
                "repo_path": session["repo_path"],
                "branch": session["branch"],
                "start_time": to_iso(session["start_time"]),
                "auto_closed_sessions": closed_ids,
            },
        )

    @tool(server)
    def log_ai_interaction(
        session_id: SessionId,
        prompt: Annotated[str, Field(description="The prompt sent to AI")],
        response_summary: Annotated[str, Field(description="Brief summary of what AI produced")],
        effectiveness_rating: Annotated[
            int,
            Field(
                strict=True, ge=1, le=5, description="Rating 1-5: 1=failed, 3=partial, 5=perfect"
            ),
        ],
        iteration_count: Annotated[
            int, Field(strict=True, ge=1, description="Number of attempts to achieve goal")
        ] = 1,
        tools_used: Annotated[
            list[str], Field(description="MCP tools used in this interaction")
        ] = [],  # noqa: B006 - the schema shows the default; never mutated
        tokens_in: Annotated[
            Count | None, Field(description="Input tokens of the exchange")
        ] = None,
        tokens_out: Annotated[Count | None, Field(description="Output tokens")] = None,
        cached_tokens: Annotated[
            Count | None, Field(description="Input tokens read from cache")
        ] = None,
        new_tokens: Annotated[
            Count | None, Field(description="Input tokens not from cache")
        ] = None,
        cache_hit_rate: Annotated[
            float | None, Field(strict=True, ge=0, le=1, description="Cache hit rate, 0 to 1")
        ] = None,
        context_pct: Annotated[
            float | None,
            Field(strict=True, ge=0, le=100, description="Context window used, percent"),
        ] = None,
    ) -> Annotated[CallToolResult, LoggedInteraction]:
        """Log an AI prompt/response interaction within an active session. Call after
        significant AI exchanges to track effectiveness."""
        t = backend.tracker
        row = t.log_interaction(
            session_id, prompt, response_summary, effectiveness_rating, iteration_count,
            list(tools_used), tokens_in=tokens_in, tokens_out=tokens_out,
            cached_tokens=cached_tokens, new_tokens=new_tokens, cache_hit_rate=cache_hit_rate,
            context_pct=context_pct,
        )  # fmt: skip
        session = t.get_session(row["session_id"])
        total = session["interaction_count"] or 0
        avg = round(session["rating_sum"] / total, 2) if total else 0.0
        rating = row["rating"]
        stars = "★" * rating + "☆" * (5 - rating)
        text = (
            f"📝 Logged: {stars} ({rating}/5) | Iterations: {row['iteration_count']}\n"
            f"Session: {total} interactions, avg {avg:.1f}/5"
        )
        return result(
            text,
            {
                "interaction_id": row["id"],
                "session_id": row["session_id"],
                "effectiveness_rating": rating,
                "iteration_count": row["iteration_count"],
                "total_interactions": total,
                "avg_effectiveness": avg,
            },
        )

    @tool(server)
    def end_ai_session(
        session_id: SessionId,
        outcome: Annotated[Outcome, Field(description="Session result")],
        notes: Annotated[str, Field(description="Summary notes about the session")] = "",
        final_estimate_minutes: Annotated[
            Minutes | None,
            Field(
                description="Revised human estimate in minutes, e.g. (insertions + deletions) "
                "x 10 / 50 rounded up to 15|30|60|120|240|480|960|2400|4800"
            ),
        ] = None,
    ) -> Annotated[CallToolResult, EndedSession]:
        """End an AI session and calculate final metrics (duration, quality, issues, ROI, API
        cost). Call when the coding task is complete."""
        from aitrack import analytics, gitinfo
        from aitrack.code_metrics_capture import summary as metrics_summary
        from aitrack.store.agent_reports import AgentReports

        t = backend.tracker
        target = t.resolve_session(session_id)
        head = gitinfo.head_sha(Path(target["repo_path"])) if target.get("repo_path") else None
        session = t.end_session(
            target["id"],
            outcome,
            notes or None,
            final_estimate_minutes=final_estimate_minutes,
            git_head=head,
        )
        calls = t.records.rows_for_session("api_calls", session["id"])
        s = analytics.session_summary(session, calls, t.settings)
        metrics = metrics_summary(AgentReports(t.db).code_metrics(session["id"]))
        roi = s["roi"]
        cost = "unpriced" if s["api_cost_usd"] is None else f"${s['api_cost_usd']:,.2f}"
        avg = s["average_rating"]
        capped = " (capped at the maximum duration)" if s["capped"] else ""
        text = (
            f"✅ Session Ended: {session['id']}\n"
            f"Duration: {s['duration_minutes']:.1f}min{capped} | Outcome: {outcome}\n"
            f"Metrics: {s['interactions']} interactions, {avg or 0:.1f}/5 avg, "
            f"{s['issues']} issues\n"
            f"API: {s['api_calls']} calls, {s['tokens']:,} tokens, {cost} | "
            f"Time saved: {roi['time_saved_hours']:.2f}h, ROI {roi['roi_percentage']:.1f}%"
        )
        if metrics["functions"]:
            text += (
                f"\nCode: {metrics['functions']} functions, avg complexity "
                f"{metrics['average_complexity']:.1f}, effort {metrics['total_effort_score']:.1f}"
            )
        return result(
            text,
            {
                "session_id": session["id"],
                "session_name": session["name"],
                "outcome": outcome,
                "duration_minutes": s["duration_minutes"],
                "capped": s["capped"],
                "total_interactions": s["interactions"],
                "avg_effectiveness": avg,
                "issues_count": s["issues"],
                "api_calls": s["api_calls"],
                "tokens": s["tokens"],
                "api_cost_usd": s["api_cost_usd"],
                "unpriced_calls": s["unpriced_calls"],
                "roi": roi,
                "code_metrics": metrics,
            },
        )

    @tool(server)
    def flag_ai_issue(
        session_id: SessionId,
        issue_type: Annotated[
            str, Field(description="Issue category (e.g. 'incorrect_output', 'hallucination')")
        ],
        description: Annotated[str, Field(description="Detailed description of what went wrong")],
        severity: Annotated[Severity, Field(description="Impact level")],
    ) -> Annotated[CallToolResult, FlaggedIssue]:
        """Flag a problematic AI interaction for analysis. Use when AI produces incorrect output
        or the approach needs changing."""
        row = backend.tracker.flag_issue(session_id, issue_type, description, severity)
        text = (
            f"{SEVERITY_EMOJI[severity]} Issue Flagged: {row['issue_type']} ({severity.upper()})\n"
            f"Session: {row['session_id']}\n📋 Next: log_ai_interaction() or end_ai_session()"
        )
        return result(
            text,
            {
                "issue_id": row["id"],
                "session_id": row["session_id"],
                "issue_type": row["issue_type"],
                "severity": severity,
            },
        )

    @tool(server)
    def log_code_metrics(
        session_id: SessionId,
        file_path: Annotated[
            str,
            Field(
                description="Path of the source file modified (absolute, or relative to the "
                "session's repository); Python, TypeScript/JavaScript, Go, Rust, Java, C/C++, "
                "C#, Kotlin, Swift, Ruby, PHP and more"
            ),
        ],
        functions_modified: Annotated[
            list[FunctionModified],
            Field(min_length=1, max_length=1000, description="Functions that were modified"),
        ],
    ) -> Annotated[CallToolResult, CodeMetricsLogged]:
        """Calculate and log code quality metrics for modified functions: cyclomatic
        complexity, length, parameters, documentation score and effort score."""
        from aitrack.code_metrics_capture import log_code_metrics as log_metrics

        measured = log_metrics(
            backend.tracker, session_id, file_path,
            [f.model_dump() for f in functions_modified],
        )  # fmt: skip
        data = measured.to_dict()
        missing = data["functions_not_found"]
        text = (
            "📊 Code Metrics Logged\n"
            f"File: {file_path}\nFunctions: {data['functions_analyzed']}"
            + (f" (not found: {', '.join(missing)})" if missing else "")
            + f"\n• Avg Complexity: {data['average_complexity']:.1f}\n"
            f"• Avg Doc Score: {data['average_doc_quality']:.0f}/100\n"
            f"• Total Effort: {data['total_effort_score']:.1f}"
        )
        session = backend.tracker.resolve_session(session_id)
        return result(text, {"session_id": session["id"], **data})

    @tool(server)
    def get_ai_observability(
        session_id: Annotated[
            str | None, Field(description="Specific session to analyze (omit for all)")
        ] = None,
        time_range: Annotated[TimeRange, Field(description="Time filter")] = "all",
    ) -> Annotated[CallToolResult, Observability]:
        """Retrieve AI session analytics and ROI metrics: summary statistics, effectiveness
        distribution, issues, API usage and cost, code metrics."""
        from aitrack import analytics

        t = backend.tracker
        filters: dict[str, Any] = {}
        sid = None
        if session_id:
            sid = t.resolve_session(session_id)["id"]
            filters["id"] = sid
        if time_range in TIME_RANGES_MS:
            filters["since"] = now_ms() - TIME_RANGES_MS[time_range]
        data = analytics.overview(t.store, t.settings, filters)
        report = analytics.report_text(data)
        return result(
            report,
            {"report": report, "time_range": time_range, "session_id": sid, "overview": data},
        )

    @tool(server)
    def get_active_sessions() -> Annotated[CallToolResult, ActiveSessions]:
        """Get the currently active (not ended) sessions. Use this to find the session to end
        when its session_id is lost."""
        rows = backend.tracker.records.active_sessions()
        sessions = [
            {
                "session_id": r["id"],
                "session_name": r["name"],
                "task_type": r["task_type"],
                "start_time": to_iso(r["start_time"]),
                "lane": r["lane"],
                "repo_path": r["repo_path"],
                "interactions": r["interaction_count"],
            }
            for r in rows
        ]
        if not sessions:
            text = "No active sessions found."
        else:
            text = f"Found {len(sessions)} active session(s):\n" + "\n".join(
                f"• {s['session_name']} - ID: {s['session_id']} - Type: {s['task_type']} - "
                f"Started: {s['start_time']}"
                for s in sessions
            )
        return result(text, {"active_sessions": sessions, "count": len(sessions)})


def _one_estimate(human: float | None, initial: float | None) -> float:
    if human is None and initial is None:
        raise ToolError(
            "give the human time estimate: human_time_estimate_minutes (or its other name "
            "initial_estimate_minutes), in minutes"
        )
    if human is not None and initial is not None and human != initial:
        raise ToolError(
            f"human_time_estimate_minutes ({human}) and initial_estimate_minutes ({initial}) "
            "disagree: they are the same estimate, give one"
        )
    return float(human if human is not None else initial)  # type: ignore[arg-type]
