"""The `aitrack` command: a click group that imports each command only when it runs."""

from __future__ import annotations

import gc
import importlib

import click

from aitrack import __version__
from aitrack.cli.common import State, fail
from aitrack.errors import AitrackError

# name -> "module:attribute"; modules import only when their command runs (start-up is a feature)
COMMANDS = {
    "start": "aitrack.cli.sessions:start",
    "log": "aitrack.cli.sessions:log",
    "flag": "aitrack.cli.sessions:flag",
    "end": "aitrack.cli.sessions:end",
    "active": "aitrack.cli.sessions:active",
    "status": "aitrack.cli.sessions:status",
    "list": "aitrack.cli.sessions:list_",
    "show": "aitrack.cli.sessions:show",
    "note": "aitrack.cli.sessions:note",
    "tag": "aitrack.cli.sessions:tag",
    "stats": "aitrack.cli.reports:stats",
    "report": "aitrack.cli.reports:report",
    "export": "aitrack.cli.reports:export",
    "sync": "aitrack.cli.team:sync",
    # MCP server, code metrics, installing into the user's tools (cli/server.py, cli/install.py)
    "server": "aitrack.cli.server:server",
    "mcp": "aitrack.cli.server:mcp",
    "metrics": "aitrack.cli.server:metrics",
    "install": "aitrack.cli.install:install",
    "uninstall": "aitrack.cli.install:uninstall",
    "service": "aitrack.cli.install:service",
    # spend: proxy, run wrapper, pricing, budgets, manual usage (cli/spend.py)
    "proxy": "aitrack.cli.spend:proxy",
    "run": "aitrack.cli.spend:run",
    "pricing": "aitrack.cli.spend:pricing",
    "budget": "aitrack.cli.spend:budget",
    "log-ai": "aitrack.cli.spend:log_ai",
    "git": "aitrack.cli.spend:git",
    # coding agents: hooks, transcript and seed imports, usage reports (cli/agents.py)
    "hook": "aitrack.cli.agents:hook",
    "import": "aitrack.cli.agents:import_",
    "usage": "aitrack.cli.agents:usage",
    "runs": "aitrack.cli.agents:runs",
    "close-idle": "aitrack.cli.agents:close_idle",
    # web dashboard and REST API (cli/dashboard.py)
    "dashboard": "aitrack.cli.dashboard:dashboard",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in set(COMMANDS) | set(self.commands) if self._available(n))

    @staticmethod
    def _available(name: str) -> bool:
        import importlib.util

        target = COMMANDS.get(name)
        return target is None or importlib.util.find_spec(target.split(":")[0]) is not None

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AitrackError as exc:
            fail(exc)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aitrack")
@click.option(
    "--max-session-duration-hours",
    type=float,
    default=None,
    help="Cap on a session's length; later ends are set to start + cap "
    "(default $AI_MAX_SESSION_DURATION_HOURS or 4).",
)
@click.pass_context
def cli(ctx: click.Context, max_session_duration_hours: float | None) -> None:
    """Track AI-assisted coding: sessions, time against estimates, tokens and cost, quality,
    issues, code changes and ROI. Data stays local (SQLite in $AITRACK_HOME) unless
    $AITRACK_DATABASE_URL points at PostgreSQL."""
    ctx.obj = State(max_session_duration_hours)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="aitrack")
    finally:
        # The process ends here. Frozen, what is left is not walked again by the
        # interpreter's collections at exit (0.14 s after a 1 GB import); its memory goes back
        # with the process either way, and stdout is flushed at exit as always.
        gc.freeze()
