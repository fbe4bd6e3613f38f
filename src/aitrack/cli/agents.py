"""Coding-agent commands: hook, import, usage, runs, close-idle."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from aitrack.cli.common import emit, json_option, money, parse_tags, state, table, tracker
from aitrack.errors import InvalidValue, NotFound


def _settled() -> Any:
    """The tracker after queued hook events are applied and idle sessions closed: what
    reads of agent data show is never behind the hooks."""
    from aitrack.hooks import process_spool

    process_spool(wait=True)
    from aitrack.agent_sessions import close_idle as apply_idle_rule

    t = tracker()
    apply_idle_rule(t)
    return t


# -- hook ---------------------------------------------------------------------------------------
@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook(args):
    """Record one agent event (JSON on stdin): what `aitrack install claude-code|codex`
    configures, as the faster `aitrack-hook`. Prints nothing and always exits 0.

    \b
    echo '{"hook_event_name":"SessionStart","session_id":"…","cwd":"…"}' | aitrack hook
    aitrack hook --agent codex < event.json
    """
    from aitrack.hooks import main

    main(list(args))


# -- import -------------------------------------------------------------------------------------
@click.group("import")
def import_():
    """Import history: coding-agent transcripts, and the stores of the tools aitrack replaces.
    Every import is incremental or idempotent: running it again adds only what is new."""


def _progress_bar(enabled: bool):
    """A progress callback drawing a bar on stderr (a terminal, not --json), and its closer."""
    if not enabled or state().json or not sys.stderr.isatty():
        return None, lambda: None
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    bar = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                   TimeRemainingColumn(), transient=True)  # fmt: skip
    bar.start()
    task = bar.add_task("importing", total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return update, bar.stop


def _import_transcripts(
    agent: str, paths: tuple[str, ...], workers: int | None, quiet_missing: bool = False
) -> dict[str, Any]:
    from aitrack.importing.transcripts import TranscriptImporter

    roots = [Path(p).expanduser() for p in paths] or None
    for root in roots or []:
        if not root.exists():
            raise NotFound(f"{root} does not exist: give the directory holding the transcripts")
    t = _settled()
    update, stop = _progress_bar(True)
    try:
        summary = TranscriptImporter(t).import_agent(agent, roots, update, workers)
    finally:
        stop()
    return summary.as_dict()


def _print_summary(data: dict[str, Any]) -> None:
    click.echo(
        f"{data['agent']}: {data['files']} files ({data['files_read']} with new data), "
        f"{data['lines']:,} lines, {data['api_calls']:,} API responses, "
        f"{data['sessions_created']} new sessions, {data['skipped']} lines skipped "
        f"(malformed or too long) in {data['seconds']:.1f}s"
    )
    for error in data["errors"][:5]:
        click.echo(f"  could not read {error}", err=True)


_workers_option = click.option(
    "--workers", type=click.IntRange(min=1), default=None,
    help="Processes parsing files in a large import (default: one per CPU).",
)  # fmt: skip


@import_.command("claude-code")
@click.option("--path", "paths", multiple=True, type=click.Path(),
              help="Claude config dir or its projects/ dir (default $CLAUDE_CONFIG_DIR or "
              "~/.claude); repeatable.")  # fmt: skip
@_workers_option
@json_option
def import_claude_code(paths, workers, as_json):
    """Import Claude Code transcripts: sessions, runs, tool calls, tokens and cost."""
    data = _import_transcripts("claude-code", paths, workers)
    emit("Claude Code transcripts imported", data, lambda: _print_summary(data))


@import_.command("codex")
@click.option(
    "--path",
    "paths",
    multiple=True,
    type=click.Path(),
    help="Codex home (default $CODEX_HOME or ~/.codex); repeatable.",
)
@_workers_option
@json_option
def import_codex(paths, workers, as_json):
    """Import Codex CLI rollouts: sessions, runs, tool calls, tokens and cost."""
    data = _import_transcripts("codex", paths, workers)
    emit("Codex transcripts imported", data, lambda: _print_summary(data))


@import_.command("all")
@_workers_option
@json_option
def import_all(workers, as_json):
    """Import whatever local Claude Code and Codex transcripts exist (missing dirs are
    skipped quietly); what `make run` does before serving."""
    results = [_import_transcripts(agent, (), workers) for agent in ("claude-code", "codex")]

    def human():
        for data in results:
            _print_summary(data)

    emit("Transcripts imported", {"imports": results}, human)


@import_.command("ai-session-tracker")
@click.argument("directory", type=click.Path(file_okay=False))
@json_option
def import_ai_session_tracker(directory, as_json):
    """Import an ai-session-tracker-mcp store (its .ai_sessions/ folder, or the folder
    holding it): sessions, interactions, issues, code metrics and token requests."""
    from aitrack.importing.seed_ai_session_tracker import import_ai_session_tracker

    data = import_ai_session_tracker(_settled(), Path(directory).expanduser())
    emit("ai-session-tracker store imported", data, lambda: _print_counts(data))


@import_.command("codesession")
@click.argument("database", required=False, type=click.Path(dir_okay=False))
@json_option
def import_codesession(database, as_json):
    """Import a codesession-cli database (default $CODESESSION_DB_PATH or
    ~/.codesession/sessions.db), read-only: sessions, AI usage, files, commits, notes."""
    from aitrack.importing.seed_codesession import default_database, import_codesession

    path = Path(database).expanduser() if database else default_database()
    data = import_codesession(_settled(), path)
    emit("codesession database imported", data, lambda: _print_counts(data))


def _print_counts(data: dict[str, Any]) -> None:
    added = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in data["added"].items() if n)
    click.echo(f"imported from {data['source']}: {added or 'nothing new'}")
    if data.get("already_imported"):
        click.echo(f"already imported before: {data['already_imported']} records")
    for note in data.get("notes", []):
        click.echo(f"  {note}")


# -- usage --------------------------------------------------------------------------------------
def _usage_options(func):
    for option in reversed([
        click.option("--since", default=None, help="From this day (YYYY-MM-DD, YYYYMMDD) or time (7d, 12h)."),
        click.option("--until", default=None, help="Up to and including this day, or before this time."),
        click.option("--timezone", "-z", "tz", default=None, help="IANA zone for days (default: the system's)."),
        click.option("--project", default=None, help="Only this project (name, repository path or cwd)."),
        click.option("--branch", default=None, help="Only this git branch."),
        click.option("--agent", type=click.Choice(["claude-code", "codex"]), default=None, help="Only this agent."),
    ]):  # fmt: skip
        func = option(func)
    return json_option(func)


def _usage_filters(since, until, tz, project, branch, agent) -> dict[str, Any]:
    from aitrack.clock import parse_since

    filters: dict[str, Any] = {"project": project, "branch": branch, "agent": agent}
    if since:
        filters["since"] = parse_since(since, tz)
    if until:
        end = parse_since(until, tz)
        raw = until.strip()
        if (len(raw) == 10 and raw[4] == "-") or (len(raw) == 8 and raw.isdigit()):
            end = parse_since(_next_day(raw), tz)  # a day is included whole
        filters["until"] = end
    if (
        filters.get("since") is not None
        and filters.get("until") is not None
        and filters["since"] >= filters["until"]
    ):
        raise InvalidValue("--since must be before --until")
    return filters


def _next_day(raw: str) -> str:
    from datetime import date, timedelta

    day = date.fromisoformat(raw if "-" in raw else f"{raw[:4]}-{raw[4:6]}-{raw[6:]}")
    return (day + timedelta(days=1)).isoformat()


def _usage(period: str, since, until, tz, project, branch, agent, start_of_week="monday"):
    from aitrack.usage_reports import usage_report

    filters = _usage_filters(since, until, tz, project, branch, agent)
    data = usage_report(_settled().store, period, filters, tz, start_of_week)
    emit(f"{period} usage", data, lambda: _print_usage(data))


def _print_usage(data: dict[str, Any]) -> None:
    period = data["period"]
    if not data["rows"]:
        click.echo("no API usage recorded for these filters")
        return
    first = {"daily": "Date", "weekly": "Week", "monthly": "Month", "session": "Session"}[period]
    headers = [first, "Models", "Input", "Output", "Cache write", "Cache read", "Total", "Cost"]
    if period == "session":
        headers[1:1] = ["Agent", "Project", "Branch", "Last activity"]
    rows = []
    for r in data["rows"]:
        key = (
            r.get("date")
            or r.get("week")
            or r.get("month")
            or f"{r['short_id'] or '-'} {(r['name'] or '')[:40]}"
        )
        cells = [key, ", ".join(r["models"]), f"{r['input_tokens']:,}", f"{r['output_tokens']:,}",
                 f"{r['cache_write_tokens']:,}", f"{r['cache_read_tokens']:,}",
                 f"{r['total_tokens']:,}", _cost(r)]  # fmt: skip
        if period == "session":
            cells[1:1] = [r["agent"] or "", r["project"] or "", r["branch"] or "",
                          (r["last_activity"] or "")[:16]]  # fmt: skip
        rows.append(cells)
    t = data["totals"]
    total = ["Total", "", f"{t['input_tokens']:,}", f"{t['output_tokens']:,}",
             f"{t['cache_write_tokens']:,}", f"{t['cache_read_tokens']:,}", f"{t['total_tokens']:,}",
             _cost(t)]  # fmt: skip
    if period == "session":
        total[1:1] = ["", "", "", ""]
    rows.append(total)
    table(headers, rows, title=f"{period.capitalize()} token usage ({data['timezone']})")


def _cost(row: dict[str, Any]) -> str:
    text = money(row["cost_usd"])
    if row["unpriced_calls"] and row["cost_usd"] is not None:
        text += f" (+{row['unpriced_calls']} unpriced)"
    return text


@click.group()
def usage():
    """Token and cost reports of the recorded API calls (like ccusage): input, output,
    cache-write and cache-read tokens, cost and models per row, with totals."""


@usage.command("daily")
@_usage_options
def usage_daily(since, until, tz, project, branch, agent, as_json):
    """Usage per local day."""
    _usage("daily", since, until, tz, project, branch, agent)


@usage.command("weekly")
@_usage_options
@click.option("--start-of-week", type=click.Choice(["monday", "sunday"]), default="monday",
              show_default=True)  # fmt: skip
def usage_weekly(since, until, tz, project, branch, agent, as_json, start_of_week):
    """Usage per week (labelled by its first day)."""
    _usage("weekly", since, until, tz, project, branch, agent, start_of_week)


@usage.command("monthly")
@_usage_options
def usage_monthly(since, until, tz, project, branch, agent, as_json):
    """Usage per calendar month."""
    _usage("monthly", since, until, tz, project, branch, agent)


@usage.command("session")
@_usage_options
def usage_session(since, until, tz, project, branch, agent, as_json):
    """Usage per session, most expensive first."""
    _usage("session", since, until, tz, project, branch, agent)


# -- runs, close-idle -----------------------------------------------------------------------------
@click.command()
@click.option("--session-id", default=None, help="Only runs of this session (id or prefix).")
@click.option("--repo", default=None, help="Only runs in this repository.")
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="KEY[=VALUE]",
    help="Only runs with this tag; repeatable.",
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@json_option
def runs(session_id, repo, tags, limit, as_json):
    """List runs (agent turns and `aitrack run` commands), newest first, with their tags."""
    from aitrack import presenters
    from aitrack.clock import format_duration
    from aitrack.ids import short

    t = _settled()
    sid = t.resolve_session(session_id)["id"] if session_id else None
    rows = t.records.list_runs(
        sid, os.path.abspath(repo) if repo else None, parse_tags(tags), limit
    )
    run_tags = t.records.tags_for("run", [r["id"] for r in rows])
    items = [{**presenters.times_to_iso(r), "tags": run_tags.get(r["id"], {})} for r in rows]

    def human():
        if not rows:
            click.echo("no runs")
            return
        table(
            ["Run", "Session", "Started", "Duration", "Status", "Tools", "Prompt / command", "Tags"],
            [
                [
                    short(r["id"]), r["session_name"], (i["started_at"] or "")[:19],
                    format_duration((r["ended_at"] - r["started_at"]) / 60_000) if r["ended_at"] else "-",
                    r["status"], r["tool_call_count"],
                    ((r["prompt"] or r["command"] or "").splitlines() or [""])[0][:60],
                    ", ".join(f"{k}={v}" if v else k for k, v in i["tags"].items()),
                ]
                for r, i in zip(rows, items, strict=True)
            ],
        )  # fmt: skip

    emit(f"{len(rows)} runs", {"runs": items}, human)


@click.command("close-idle")
@click.option(
    "--minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Idle time after which a session is closed (default $AITRACK_IDLE_MINUTES or 120).",
)
@json_option
def close_idle(minutes, as_json):
    """Close active sessions with no activity for the idle time, at their last activity
    (agents do not always say when they stop)."""
    from aitrack.agent_sessions import close_idle as apply_idle_rule
    from aitrack.clock import to_iso
    from aitrack.hooks import process_spool
    from aitrack.ids import short

    process_spool(wait=True)
    t = tracker()
    closed = apply_idle_rule(t, minutes)
    for c in closed:
        session = t.records.get_session(c.id)
        if session is not None and session.get("source") == "hook":
            t.run_end_captures(session)
    data = {"closed": [{"session_id": c.id, "name": c.name, "end_time": to_iso(c.end_time),
                        "capped": c.capped} for c in closed]}  # fmt: skip

    def human():
        click.echo(f"closed {len(closed)} idle sessions")
        for c in closed:
            click.echo(f"  {short(c.id)} {c.name}")

    emit(f"{len(closed)} idle sessions closed", data, human)
