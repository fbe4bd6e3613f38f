"""Session commands: start, log, flag, end, active, status, list, show, note, tag."""

from __future__ import annotations

import os

import click

from aitrack import presenters
from aitrack.cli.common import (
    default_lane,
    emit,
    json_option,
    lane_option,
    money,
    pairs,
    parse_tags,
    table,
    tracker,
)
from aitrack.clock import format_duration, parse_since, to_iso
from aitrack.ids import short
from aitrack.vocab import ESTIMATE_SOURCES, OUTCOMES, SEVERITIES, TASK_TYPES


@click.command()
@click.argument("description", required=False)
@click.option("--name", help="Session name (or give it as the argument).")
@click.option(
    "--type",
    "task_type",
    type=click.Choice(TASK_TYPES),
    default="general",
    show_default=True,
    help="Kind of task.",
)
@click.option("--model", help="Main AI model used, e.g. claude-sonnet-4-5.")
@click.option("--mins", type=click.FloatRange(min=0), help="Human time estimate in minutes.")
@click.option(
    "--source",
    "estimate_source",
    type=click.Choice(ESTIMATE_SOURCES),
    default=None,
    help="Where the estimate comes from (default manual with --mins).",
)
@click.option("--context", help="Free text about the task.")
@lane_option
@click.option(
    "--repo",
    type=click.Path(file_okay=False),
    help="Repository path (default: the git repository around the current directory).",
)
@click.option("--agent", help="Agent doing the work (claude-code, codex, copilot, …).")
@click.option("--developer", default=None, help="Who is working (default $AITRACK_DEVELOPER).")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Tag; repeatable.")
@json_option
def start(
    description,
    name,
    task_type,
    model,
    mins,
    estimate_source,
    context,
    lane,
    repo,
    agent,
    developer,
    tags,
    as_json,
):
    """Start a session and print its id. Closes the lane's active session as partial.

    \b
    aitrack start "Fix login"
    aitrack start --name "Add search" --type code_generation --model gpt-5 --mins 90 --source manual
    """
    from aitrack import gitinfo

    title = name or description
    if not title:
        raise click.UsageError('give the session a name: aitrack start "Fix login" or --name')
    git = gitinfo.describe(repo or os.getcwd())
    session, closed = tracker().start_session(
        title,
        task_type,
        model,
        mins,
        estimate_source or ("manual" if mins is not None else None),
        context=context,
        lane=lane or default_lane(),
        agent=agent,
        source="cli",
        developer=developer or os.environ.get("AITRACK_DEVELOPER") or _user(),
        repo_path=git["repo_path"] or (os.path.abspath(repo) if repo else None),
        branch=git["branch"],
        cwd=os.getcwd(),
        git_head=git["head"],
        tags=parse_tags(tags),
    )
    data = {
        "session_id": session["id"],
        "short_id": short(session["id"]),
        "lane": session["lane"],
        "repo_path": session["repo_path"],
        "branch": session["branch"],
        "auto_closed_sessions": [c.id for c in closed],
    }

    def human():
        click.echo(session["id"])
        for c in closed:
            click.echo(f"auto-closed {short(c.id)} ({c.name}) as partial", err=True)

    emit("Session started", data, human)


def _user() -> str | None:
    return os.environ.get("USER") or os.environ.get("USERNAME")


@click.command()
@click.option("--session-id", required=True, help="Session id or unique prefix.")
@click.option("--prompt", required=True, help="What was asked.")
@click.option("--summary", required=True, help="What the AI answered, in short.")
@click.option("--rating", required=True, type=int, help="Effectiveness 1 (useless) to 5 (perfect).")
@click.option(
    "--iterations",
    type=int,
    default=1,
    show_default=True,
    help="Tries it took to get a usable answer.",
)
@click.option("--tools", default="", help="Comma-separated tools used.")
@json_option
def log(session_id, prompt, summary, rating, iterations, tools, as_json):
    """Log a rated AI interaction to an active session."""
    row = tracker().log_interaction(
        session_id,
        prompt,
        summary,
        rating,
        iterations,
        [t.strip() for t in tools.split(",") if t.strip()],
    )
    emit(
        "Interaction logged",
        {"interaction_id": row["id"], "session_id": row["session_id"], "rating": row["rating"]},
        lambda: click.echo(f"logged to {short(row['session_id'])} (rating {row['rating']})"),
    )


@click.command()
@click.option("--session-id", required=True, help="Session id or unique prefix.")
@click.option(
    "--type",
    "issue_type",
    required=True,
    help="Kind of problem, e.g. hallucination, wrong_api, incorrect_output.",
)
@click.option("--desc", required=True, help="What went wrong.")
@click.option("--severity", required=True, type=click.Choice(SEVERITIES))
@json_option
def flag(session_id, issue_type, desc, severity, as_json):
    """Flag a problem with the AI's work in an active session."""
    row = tracker().flag_issue(session_id, issue_type, desc, severity)
    emit(
        "Issue flagged",
        {"issue_id": row["id"], "session_id": row["session_id"], "severity": severity},
        lambda: click.echo(f"flagged {severity} {issue_type} on {short(row['session_id'])}"),
    )


@click.command()
@click.option("--session-id", default=None, help="Session id or prefix (default: the active one).")
@click.option("--outcome", type=click.Choice(OUTCOMES), default="success", show_default=True)
@click.option("-n", "--notes", default=None, help="Notes to keep with the session.")
@click.option(
    "--final-estimate",
    type=click.FloatRange(min=0),
    default=None,
    help="Revised human estimate in minutes.",
)
@lane_option
@json_option
def end(session_id, outcome, notes, final_estimate, lane, as_json):
    """End a session with an outcome and print its summary."""
    from pathlib import Path

    from aitrack import gitinfo

    t = tracker()
    target = t.active_session(session_id, lane or default_lane())
    head = gitinfo.head_sha(Path(target["repo_path"])) if target.get("repo_path") else None
    session = t.end_session(
        target["id"], outcome, notes, final_estimate_minutes=final_estimate, git_head=head
    )
    detail = t.session_detail(session["id"])
    summary = detail["summary"]
    data = {"session_id": session["id"], **presenters.session(session), "summary": summary}

    def human():
        capped = " (capped at the maximum duration)" if session["capped"] else ""
        click.echo(
            f"Ended {short(session['id'])} {session['name']!r}: {outcome}, "
            f"{format_duration(summary['duration_minutes'])}{capped}, "
            f"{summary['interactions']} interactions, {summary['issues']} issues, "
            f"API {money(summary['api_cost_usd'])}"
        )

    emit("Session ended", data, human)


@click.command()
@json_option
def active(as_json):
    """List active sessions (all lanes)."""
    rows = tracker().records.active_sessions()
    sessions = [presenters.session(r) for r in rows]

    def human():
        if not rows:
            click.echo("No active sessions.")
            return
        table(
            ["id", "name", "lane", "type", "started", "elapsed", "repo"],
            [
                [
                    s["short_id"],
                    s["name"],
                    s["lane"],
                    s["task_type"],
                    s["start_time"],
                    format_duration(s["duration_minutes"]),
                    s["repo_path"],
                ]
                for s in sessions
            ],
        )

    emit(f"{len(rows)} active session(s)", {"sessions": sessions, "count": len(rows)}, human)


@click.command()
@json_option
def status(as_json):
    """Is a session active? Id, name, lane, start and elapsed time of each."""
    from aitrack import budgets

    rows = tracker().records.active_sessions()
    sessions = [presenters.session(r) for r in rows]
    budget = budgets.status_notice(tracker(), [r["id"] for r in rows])

    def human():
        for notice in budget["notices"]:
            click.echo(f"⚠ budget: {notice}")
        if not rows:
            click.echo("No active session.")
            return
        for s in sessions:
            click.echo(
                f"● {s['short_id']}  {s['name']}  [{s['lane']}]  started {s['start_time']}  "
                f"elapsed {format_duration(s['duration_minutes'])}  "
                f"{s['interaction_count']} interactions"
            )

    emit(
        "active" if rows else "no active session",
        {
            "active": bool(rows),
            "sessions": sessions,
            "over_budget": budget["over_budget"],
            "budget_notices": budget["notices"],
        },
        human,
    )


@click.command(name="list")
@click.option("-l", "--limit", type=click.IntRange(1, 100_000), default=10, show_default=True)
@click.option("--repo", default=None, help="Only sessions of this repository path.")
@click.option("--since", default=None, help="Only sessions started since (YYYY-MM-DD, 7d, …).")
@click.option("--outcome", type=click.Choice(OUTCOMES), default=None)
@click.option("--agent", default=None)
@click.option("--tag", default=None, metavar="KEY[=VALUE]")
@click.option("--active", "active_only", is_flag=True, help="Only active sessions.")
@json_option
def list_(limit, repo, since, outcome, agent, tag, active_only, as_json):
    """List recent sessions with duration, files, tokens and cost."""
    filters = {
        "repo": os.path.abspath(repo) if repo else None,
        "since": parse_since(since) if since else None,
        "outcome": outcome,
        "agent": agent,
        "tag": tag,
        "status": "active" if active_only else None,
    }
    rows = tracker().list_sessions(filters, limit=limit)
    sessions = [presenters.session(r) for r in rows]

    def human():
        if not rows:
            click.echo("No sessions.")
            return
        table(
            ["id", "name", "type", "outcome", "duration", "rating", "files", "tokens", "cost"],
            [
                [
                    s["short_id"],
                    s["name"],
                    s["task_type"],
                    s["outcome"] or s["status"],
                    format_duration(s["duration_minutes"]),
                    s["average_rating"] or "-",
                    s["files_changed"],
                    f"{s['tokens']:,}",
                    money(s["cost_usd"]) if s["api_calls"] else "-",
                ]
                for s in sessions
            ],
            title="Recent sessions",
        )

    emit(f"{len(rows)} session(s)", {"sessions": sessions, "count": len(rows)}, human)


@click.command()
@click.argument("session_id", required=False)
@click.option("--files", is_flag=True, help="List changed files.")
@click.option("--commits", is_flag=True, help="List commits.")
@json_option
def show(session_id, files, commits, as_json):
    """Show a session (default: the most recent) with everything recorded in it."""
    t = tracker()
    if not session_id:
        latest = t.records.latest_session()
        if latest is None:
            raise click.ClickException("no sessions yet: start one with `aitrack start NAME`")
        session_id = latest["id"]
    detail = t.session_detail(session_id)
    data = presenters.session_detail(detail)
    data["summary"] = detail["summary"]

    def human():
        s, summary = data, detail["summary"]
        pairs(
            [
                ("Id", s["id"]),
                ("Status", s["status"] + (f" ({s['outcome']})" if s["outcome"] else "")),
                ("Type", s["task_type"]),
                ("Model", s["model"]),
                ("Started", s["start_time"]),
                ("Ended", s["end_time"]),
                (
                    "Duration",
                    format_duration(summary["duration_minutes"])
                    + (" (capped)" if s["capped"] else ""),
                ),
                ("Estimate", format_duration(s["final_estimate_minutes"] or s["estimate_minutes"])),
                ("Repository", s["repo_path"]),
                ("Branch", s["branch"]),
                ("Lane", s["lane"]),
                (
                    "Interactions",
                    f"{summary['interactions']} (avg rating {summary['average_rating'] or '-'})",
                ),
                ("Issues", summary["issues"]),
                ("Files changed", len(s["changes"])),
                ("Commits", len(s["commits"])),
                ("AI tokens", f"{summary['tokens']:,}"),
                ("AI cost", money(summary["api_cost_usd"])),
                ("Top model", summary["top_model"]),
                ("Time saved", f"{summary['roi']['time_saved_hours']:.2f} h"),
                ("Tags", ", ".join(f"{k}={v}" for k, v in s["tags"].items())),
                ("Notes", s["notes"]),
            ],
            title=f"Session: {s['name']}",
        )
        if files and s["changes"]:
            table(
                ["file", "change", "+", "-"],
                [
                    [c["path"], c["change_type"], c["lines_added"], c["lines_removed"]]
                    for c in s["changes"]
                ],
                title="Files",
            )
        if commits and s["commits"]:
            table(
                ["sha", "message", "author", "time"],
                [[c["sha"][:10], c["message"], c["author"], c["ts"]] for c in s["commits"]],
                title="Commits",
            )

    emit("Session", data, human)


@click.command()
@click.argument("message")
@click.option("--session-id", default=None, help="Session id or prefix (default: the active one).")
@lane_option
@json_option
def note(message, session_id, lane, as_json):
    """Add a timestamped note to a session."""
    row = tracker().add_note(message, session_id, lane or default_lane())
    emit(
        "Note added",
        {"note_id": row["id"], "session_id": row["session_id"], "ts": to_iso(row["ts"])},
        lambda: click.echo(f"noted on {short(row['session_id'])}"),
    )


@click.command()
@click.argument("entity_id")
@click.argument("tags", nargs=-1, required=True)
@click.option("--run", "is_run", is_flag=True, help="ENTITY_ID is a run, not a session.")
@json_option
def tag(entity_id, tags, is_run, as_json):
    """Tag a session (or a run with --run): aitrack tag ID team=web ticket=ABC-1"""
    result = tracker().tag(entity_id, parse_tags(tags), "run" if is_run else "session")
    emit(
        "Tagged",
        result,
        lambda: click.echo(
            f"{short(result['id'])}: " + ", ".join(f"{k}={v}" for k, v in result["tags"].items())
        ),
    )
