"""The MCP server commands (`server`, its alias `mcp`) and `metrics` (recompute the code
metrics of a session)."""

from __future__ import annotations

import click

from aitrack.cli.common import emit, json_option, state, table, tracker
from aitrack.ids import short


def _server_options(func):
    func = click.option(
        "--max-session-duration-hours", "max_hours", type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Cap on a session's length (default $AI_MAX_SESSION_DURATION_HOURS or 4).",
    )(func)  # fmt: skip
    func = click.option(
        "--dashboard-port", type=click.IntRange(1, 65535), default=None,
        help="Also serve the web dashboard on this port (default 8050 with --dashboard-host).",
    )(func)  # fmt: skip
    func = click.option(
        "--dashboard-host", default=None,
        help="Also serve the web dashboard on this host (default 127.0.0.1 with --dashboard-port).",
    )(func)  # fmt: skip
    return func


def _serve(dashboard_host: str | None, dashboard_port: int | None, max_hours: float | None) -> None:
    from aitrack.settings import Settings

    hours = max_hours if max_hours is not None else state().max_session_hours
    settings = Settings.from_env(hours)
    dashboard = None
    if dashboard_host or dashboard_port:
        dashboard = (dashboard_host or "127.0.0.1", dashboard_port or 8050)
    from aitrack.mcp.server import run_stdio

    run_stdio(settings, dashboard)


@click.command()
@_server_options
def server(dashboard_host, dashboard_port, max_hours):
    """Run the MCP server on stdin/stdout (for VS Code, Claude Code, Codex…).

    Sessions it starts are in the `foreground` lane. `aitrack install` registers it with
    your tools.
    """
    _serve(dashboard_host, dashboard_port, max_hours)


@click.command()
@_server_options
def mcp(dashboard_host, dashboard_port, max_hours):
    """Run the MCP server on stdin/stdout (same as `aitrack server`)."""
    _serve(dashboard_host, dashboard_port, max_hours)


@click.command()
@click.argument("session_id")
@click.option(
    "--base",
    "base_rev",
    default=None,
    help="Measure changes since this git revision (default: HEAD at session start).",
)
@json_option
def metrics(session_id, base_rev, as_json):
    """Recompute the code metrics of a session: the functions changed in its repository since
    it started, with complexity, length, documentation and effort scores."""
    from aitrack.code_metrics_capture import measure_session, summary

    t = tracker()
    session = t.resolve_session(session_id)
    if not session.get("repo_path"):
        raise click.ClickException(
            f"session {short(session['id'])} has no repository: nothing to measure"
        )
    if not (base_rev or session.get("git_head_start")):
        raise click.ClickException(
            f"session {short(session['id'])} has no git revision recorded at its start: "
            "give one with --base REV"
        )
    rows = measure_session(t, session, base_rev)
    totals = summary(rows)
    data = {"session_id": session["id"], "summary": totals, "functions": rows}

    def human():
        if not rows:
            click.echo(f"No changed functions in {session['repo_path']} since the session started.")
            return
        table(
            ["file", "function", "change", "+", "~", "-", "complexity", "length", "doc", "effort"],
            [
                [r["file_path"], r["function_name"], r["modification_type"], r["lines_added"],
                 r["lines_modified"], r["lines_deleted"], r["complexity"], r["length"],
                 r["doc_score"], r["effort_score"]]
                for r in rows
            ],
            title=f"Code metrics of {short(session['id'])} {session['name']}",
        )  # fmt: skip
        click.echo(
            f"{totals['functions']} functions in {totals['files']} files, avg complexity "
            f"{totals['average_complexity']}, avg doc score {totals['average_doc_score']}, "
            f"effort {totals['total_effort_score']}"
        )

    emit("Code metrics", data, human)
