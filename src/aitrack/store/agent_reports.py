"""Reads and writes behind what agents report through the MCP server: request statistics of
manually logged API requests and code metrics rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aitrack.store.database import Database, Row
from aitrack.store.records import TOKEN_SUM, insert


class AgentReports:
    """SQL for agent-reported data over one Database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- requests logged by agents (seed `log_ai_request`) -----------------------------------
    def request_stats(
        self, request_type: str | None = None, model: str | None = None, source: str | None = None
    ) -> list[Row]:
        """Calls, tokens and cost of api_calls grouped by request type and model."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("request_type", request_type), ("model", model), ("source", source)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        return self.db.query(
            "SELECT COALESCE(request_type, '') AS request_type, model, count(*) AS requests, "
            "sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, "
            "sum(cache_read_tokens) AS cache_read_tokens, "
            "sum(cache_write_5m_tokens + cache_write_1h_tokens) AS cache_write_tokens, "
            f"sum({TOKEN_SUM.format(p='')}) AS tokens, sum(cost_usd) AS cost_usd, "
            "sum(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_requests, "
            "avg(latency_ms) AS avg_latency_ms "
            f"FROM api_calls{where} GROUP BY COALESCE(request_type, ''), model "
            "ORDER BY requests DESC, model",
            params,
        )

    # -- code metrics ------------------------------------------------------------------------
    def replace_code_metrics(
        self, session_id: str, source: str, rows: Sequence[dict[str, Any]]
    ) -> None:
        """Replace all of a session's code metrics of one source; call inside a transaction."""
        self.db.execute(
            "DELETE FROM code_metrics WHERE session_id = ? AND source = ?", (session_id, source)
        )
        for row in rows:
            insert(self.db, "code_metrics", row)

    def upsert_function_metrics(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store metrics rows, replacing earlier rows of the same session, source, file and
        function (an agent reporting a function twice); call inside a transaction."""
        for row in rows:
            self.db.execute(
                "DELETE FROM code_metrics WHERE session_id = ? AND source = ? AND file_path = ? "
                "AND function_name = ?",
                (row["session_id"], row["source"], row["file_path"], row["function_name"]),
            )
            insert(self.db, "code_metrics", row)

    def code_metrics(self, session_id: str, source: str | None = None) -> list[Row]:
        if source is None:
            return self.db.query(
                "SELECT * FROM code_metrics WHERE session_id = ? ORDER BY file_path, function_name",
                (session_id,),
            )
        return self.db.query(
            "SELECT * FROM code_metrics WHERE session_id = ? AND source = ? "
            "ORDER BY file_path, function_name",
            (session_id, source),
        )
