"""MCP resources: aitrack://pricing (what aitrack bills per model) and
aitrack://sessions/active (the sessions not yet ended)."""

from __future__ import annotations

import json

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError

from aitrack import presenters
from aitrack.errors import AitrackError
from aitrack.mcp.server import Backend


def register(server: MCPServer, backend: Backend) -> None:
    """Add the resources to server."""

    @server.resource(
        "aitrack://pricing",
        name="pricing",
        title="Model prices",
        description="Prices per million tokens of every model aitrack can price "
        "(genai-prices), and the user's own prices, which win",
        mime_type="application/json",
    )
    def pricing() -> str:
        from aitrack.pricing import known_models

        try:
            user = backend.tracker.db.query("SELECT * FROM user_prices ORDER BY model")
        except AitrackError as exc:
            raise ResourceError(str(exc)) from None
        return json.dumps({"user_prices": user, "models": known_models()}, default=str)

    @server.resource(
        "aitrack://sessions/active",
        name="active_sessions",
        title="Active sessions",
        description="Sessions not yet ended, in every lane",
        mime_type="application/json",
    )
    def active_sessions() -> str:
        try:
            rows = backend.tracker.records.active_sessions()
        except AitrackError as exc:
            raise ResourceError(str(exc)) from None
        sessions = [presenters.session(r) for r in rows]
        return json.dumps({"sessions": sessions, "count": len(sessions)}, default=str)
