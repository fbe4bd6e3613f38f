"""`ai-session-tracker`: the command of ai-session-tracker-mcp, kept working as an alias of
aitrack so existing .vscode/mcp.json files and scripts keep running."""

from __future__ import annotations

from aitrack.cli.main import cli


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="ai-session-tracker")
