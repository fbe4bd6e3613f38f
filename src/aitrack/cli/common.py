"""What every command shares: the --json option, the tracker, output and error handling."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from aitrack.errors import AitrackError


class State:
    """Per-invocation state: settings flags and a lazily opened tracker."""

    def __init__(self, max_session_hours: float | None = None) -> None:
        self.max_session_hours = max_session_hours
        self.json = False
        self._tracker = None

    @property
    def tracker(self):  # -> aitrack.tracker.Tracker
        if self._tracker is None:
            from aitrack.settings import Settings
            from aitrack.store import open_store
            from aitrack.tracker import Tracker

            self._tracker = Tracker(open_store(), Settings.from_env(self.max_session_hours))
        return self._tracker


def state() -> State:
    ctx = click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


def tracker():
    return state().tracker


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        state().json = True
    return value


def json_option(func: Callable) -> Callable:
    """--json: one JSON object on stdout, nothing else."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        expose_value=True,
        is_eager=True,
        callback=_set_json,
        help="Print one JSON object on stdout instead of text.",
    )(func)


def default_lane() -> str:
    return os.environ.get("AITRACK_LANE") or "background"


def lane_option(func: Callable) -> Callable:
    return click.option(
        "--lane",
        default=None,
        help="Lane of the session (one active session per lane). "
        "Default: $AITRACK_LANE or 'background'.",
    )(func)


def parse_tags(values: Sequence[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for raw in values:
        key, sep, value = raw.partition("=")
        if not key.strip():
            raise click.BadParameter(f"{raw!r}: write tags as KEY=VALUE", param_hint="tag")
        tags[key.strip()] = value.strip() if sep else ""
    return tags


def emit(message: str, data: dict[str, Any], human: Callable[[], None] | None = None) -> None:
    """Print the result: the seed-compatible JSON envelope with --json, else text."""
    if state().json:
        out = {"success": True, "message": message, "data": data}
        click.echo(json.dumps(out, default=str, ensure_ascii=False))
    elif human is not None:
        human()
    else:
        click.echo(message)


def fail(exc: AitrackError) -> None:
    """Report a user error: JSON envelope with --json, else click's error; exit 1."""
    if state().json:
        click.echo(json.dumps({"success": False, "error": str(exc)}, ensure_ascii=False))
        sys.exit(1)
    raise click.ClickException(str(exc))


def money(value: float | None) -> str:
    return "unpriced" if value is None else f"${value:,.2f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    """A table for people (rich), on stdout."""
    from rich.table import Table

    t = Table(title=title, title_justify="left", header_style="bold")
    for h in headers:
        t.add_column(h, overflow="fold", no_wrap=h in ("id", "sha", "cost", "tokens"))
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    _console().print(t)


def _console():
    from rich.console import Console

    # piped output is for files and tests: wide enough that ids and numbers never wrap
    width = None if sys.stdout.isatty() else max(int(os.environ.get("COLUMNS") or 0), 160)
    return Console(soft_wrap=False, width=width)


def pairs(rows: Sequence[tuple[str, Any]], title: str | None = None) -> None:
    """Label/value rows for people."""
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column(style="bold")
    t.add_column(overflow="fold")
    for k, v in rows:
        t.add_row(k, "" if v is None else str(v))
    _console().print(t)
