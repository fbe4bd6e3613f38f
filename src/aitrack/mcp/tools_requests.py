"""The seed's token request records as MCP tools: log_ai_request stores one model request as
an api call (source 'manual', with its request type), get_request_stats groups them by request
type and model."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from aitrack.mcp.server import Backend, result, tool

Count = Annotated[int, Field(strict=True, ge=0)]


class LoggedRequest(BaseModel):
    request_id: str
    model: str
    request_type: str
    session_id: str | None
    tokens: int
    cost_usd: float | None = Field(description="null when the model could not be priced")


class RequestStats(BaseModel):
    total_requests: int
    total_tokens: int
    total_cost_usd: float
    unpriced_requests: int
    groups: list[dict[str, Any]]


def register(server: MCPServer, backend: Backend) -> None:
    """Add log_ai_request and get_request_stats to server."""

    @tool(server)
    def log_ai_request(
        model: Annotated[str, Field(min_length=1, description="Model that served the request")],
        request_type: Annotated[
            str,
            Field(
                min_length=1,
                max_length=200,
                description="Kind of request, e.g. chat, completion, embedding, tool_use",
            ),
        ],
        tokens_in: Annotated[
            Count,
            Field(
                description="Input tokens not read from cache (subtract cached_tokens "
                "if your count includes them)"
            ),
        ] = 0,
        tokens_out: Annotated[Count, Field(description="Output tokens (reasoning included)")] = 0,
        cached_tokens: Annotated[Count, Field(description="Input tokens read from cache")] = 0,
        cache_write_tokens: Annotated[
            Count, Field(description="Input tokens written to cache")
        ] = 0,
        provider: Annotated[
            str | None, Field(description="anthropic, openai, google… (default: from the model)")
        ] = None,
        session_id: Annotated[
            str | None, Field(description="Session to attach the request to")
        ] = None,
        latency_ms: Annotated[Count | None, Field(description="Request latency in ms")] = None,
        cost_usd: Annotated[
            float | None,
            Field(
                strict=True, ge=0, description="Cost in USD if known (default: priced by aitrack)"
            ),
        ] = None,
    ) -> Annotated[CallToolResult, LoggedRequest]:
        """Record one model API request with its token counts; it is priced from the model
        unless cost_usd is given."""
        from aitrack.usage import record_api_call

        t = backend.tracker
        sid = t.resolve_session(session_id)["id"] if session_id else None
        row = record_api_call(
            t, model=model, source="manual", provider=provider, session_id=sid,
            request_type=request_type, latency_ms=latency_ms, cost_usd=cost_usd,
            input_tokens=tokens_in, output_tokens=tokens_out, cache_read_tokens=cached_tokens,
            cache_write_5m_tokens=cache_write_tokens,
        )  # fmt: skip
        tokens = tokens_in + tokens_out + cached_tokens + cache_write_tokens
        cost = "unpriced" if row["cost_usd"] is None else f"${row['cost_usd']:.6f}"
        return result(
            f"🔌 Request logged: {request_type} on {model}, {tokens:,} tokens, {cost}",
            {
                "request_id": row["id"],
                "model": row["model"],
                "request_type": request_type,
                "session_id": sid,
                "tokens": tokens,
                "cost_usd": row["cost_usd"],
            },
        )

    @tool(server)
    def get_request_stats(
        request_type: Annotated[str | None, Field(description="Only this request type")] = None,
        model: Annotated[str | None, Field(description="Only this model")] = None,
    ) -> Annotated[CallToolResult, RequestStats]:
        """Statistics of recorded model requests grouped by request type and model: count,
        tokens by kind, cost and average latency."""
        from aitrack.store.agent_reports import AgentReports

        groups = AgentReports(backend.tracker.db).request_stats(request_type, model)
        total_cost = float(sum(g["cost_usd"] or 0 for g in groups))
        data = {
            "total_requests": int(sum(g["requests"] for g in groups)),
            "total_tokens": int(sum(g["tokens"] or 0 for g in groups)),
            "total_cost_usd": round(total_cost, 6),
            "unpriced_requests": int(sum(g["unpriced_requests"] or 0 for g in groups)),
            "groups": groups,
        }
        lines = [
            f"{data['total_requests']} requests, {data['total_tokens']:,} tokens, "
            f"${total_cost:,.4f}"
        ]
        lines += [
            f"• {g['request_type'] or '(none)'} / {g['model']}: {g['requests']} requests, "
            f"{int(g['tokens'] or 0):,} tokens"
            for g in groups[:20]
        ]
        return result("\n".join(lines), data)
