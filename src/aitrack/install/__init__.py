"""Installing aitrack into the user's tools: MCP server entries (VS Code, Claude Code, Codex),
Copilot agent and instruction files, and the background service. Everything written is
recorded so `aitrack uninstall` removes exactly that."""

from aitrack.errors import AitrackError


class InstallError(AitrackError):
    """A configuration file aitrack will not touch (unparsable, not an object), or a failed
    service command; the message says what to do."""
