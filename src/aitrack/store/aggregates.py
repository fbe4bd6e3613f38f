"""Aggregate queries behind stats, reports and the dashboard: computed in SQL, never by
loading every row into Python."""

from __future__ import annotations

from typing import Any

from aitrack.store.database import Database, Row
from aitrack.store.records import TOKEN_SUM, Records
from aitrack.vocab import EXCLUDED_FROM_ROI

DURATION = "(COALESCE(s.end_time, s.last_activity) - s.start_time)"
ESTIMATE = "COALESCE(s.final_estimate_minutes, s.estimate_minutes, 0)"
_EXCLUDED = ", ".join(f"'{t}'" for t in EXCLUDED_FROM_ROI)


class Aggregates:
    """Read-only aggregate queries over sessions and what hangs off them."""

    def __init__(self, db: Database, records: Records) -> None:
        self.db = db
        self.records = records

    def _where(self, filters: dict[str, Any] | None) -> tuple[str, list[Any]]:
        return self.records.session_where(filters or {})

    def session_totals(self, filters: dict[str, Any] | None = None) -> Row:
        """Counts, tracked time and human estimates; ROI inputs count completed, productive
        sessions only (human review is oversight, as in the seed)."""
        where, params = self._where(filters)
        productive = f"s.status = 'completed' AND s.task_type NOT IN ({_EXCLUDED})"
        row = self.db.query_one(
            "SELECT count(*) AS sessions, "
            "sum(CASE WHEN s.status = 'active' THEN 1 ELSE 0 END) AS active, "
            "sum(CASE WHEN s.status = 'completed' THEN 1 ELSE 0 END) AS completed, "
            "sum(CASE WHEN s.outcome = 'success' THEN 1 ELSE 0 END) AS succeeded, "
            "sum(CASE WHEN s.outcome = 'partial' THEN 1 ELSE 0 END) AS partial, "
            "sum(CASE WHEN s.outcome = 'failed' THEN 1 ELSE 0 END) AS failed, "
            "sum(CASE WHEN s.capped = 1 THEN 1 ELSE 0 END) AS capped, "
            f"sum({DURATION}) AS time_ms, "
            f"sum(CASE WHEN {productive} THEN 1 ELSE 0 END) AS roi_sessions, "
            f"sum(CASE WHEN {productive} THEN {DURATION} ELSE 0 END) AS roi_time_ms, "
            f"sum(CASE WHEN {productive} THEN {ESTIMATE} ELSE 0 END) AS roi_estimate_minutes, "
            "sum(s.interaction_count) AS interactions, sum(s.rating_sum) AS rating_sum, "
            + "".join(f"sum(s.rating_{n}) AS rating_{n}, " for n in range(1, 6))
            + "sum(s.gap_count) AS gaps, sum(s.gap_sum_ms) AS gap_sum_ms, "
            "max(s.gap_max_ms) AS max_gap_ms, sum(s.long_gap_count) AS long_gaps, "
            "sum(s.issue_count) AS issues "
            f"FROM sessions s{where}",
            params,
        )
        assert row is not None
        return {k: (v or 0) for k, v in row.items()}

    def api_totals(self, filters: dict[str, Any] | None = None, roi_only: bool = False) -> Row:
        """Calls, tokens by kind and cost of the api_calls of the filtered sessions (from the
        per-session rollup that triggers keep exact; calls outside sessions count unfiltered)."""
        where, params = self._where(filters)
        join = ""
        if where or roi_only:
            join = " JOIN sessions s ON s.id = a.session_id"
            if roi_only:
                extra = f"s.status = 'completed' AND s.task_type NOT IN ({_EXCLUDED})"
                where = f"{where} AND {extra}" if where else f" WHERE {extra}"
        row = self.db.query_one(
            "SELECT sum(a.calls) AS calls, sum(a.input_tokens) AS input_tokens, "
            "sum(a.output_tokens) AS output_tokens, sum(a.cache_read_tokens) AS cache_read_tokens, "
            "sum(a.cache_write_5m_tokens + a.cache_write_1h_tokens) AS cache_write_tokens, "
            "sum(a.reasoning_tokens) AS reasoning_tokens, "
            f"sum({TOKEN_SUM.format(p='a.')}) AS tokens, "
            "CASE WHEN sum(a.priced_calls) > 0 THEN sum(a.cost_usd) END AS cost_usd, "
            "sum(a.calls - a.priced_calls) AS unpriced_calls "
            f"FROM api_usage_by_session a{join}{where}",
            params,
        )
        assert row is not None
        return {k: (v or 0) for k, v in row.items()}

    def issue_summary(self, filters: dict[str, Any] | None = None) -> Row:
        where, params = self._where(filters)
        rows = self.db.query(
            "SELECT i.issue_type, i.severity, count(*) AS n, "
            "sum(CASE WHEN i.resolved = 1 THEN 1 ELSE 0 END) AS resolved "
            f"FROM issues i JOIN sessions s ON s.id = i.session_id{where} "
            "GROUP BY i.issue_type, i.severity",
            params,
        )
        by_type: dict[str, int] = {}
        by_severity: dict[str, int] = {}
        resolved = 0
        for r in rows:
            by_type[r["issue_type"]] = by_type.get(r["issue_type"], 0) + int(r["n"])
            by_severity[r["severity"]] = by_severity.get(r["severity"], 0) + int(r["n"])
            resolved += int(r["resolved"] or 0)
        return {
            "total": sum(by_type.values()),
            "resolved": resolved,
            "by_type": dict(sorted(by_type.items(), key=lambda kv: -kv[1])),
            "by_severity": by_severity,
        }

    def grouped(self, dimension: str, filters: dict[str, Any] | None = None) -> list[Row]:
        """Sessions, time, estimates, interactions and ratings grouped by task_type, model,
        repo_path, agent, branch, outcome or developer."""
        columns = {
            "task_type": "s.task_type",
            "model": "s.model",
            "repo": "s.repo_path",
            "agent": "s.agent",
            "branch": "s.branch",
            "outcome": "s.outcome",
            "developer": "s.developer",
        }
        column = columns[dimension]
        where, params = self._where(filters)
        return self.db.query(
            f"SELECT {column} AS key, count(*) AS sessions, sum({DURATION}) AS time_ms, "
            f"sum({ESTIMATE}) AS estimate_minutes, sum(s.interaction_count) AS interactions, "
            "sum(s.rating_sum) AS rating_sum, sum(s.issue_count) AS issues, "
            "sum(CASE WHEN s.outcome = 'success' THEN 1 ELSE 0 END) AS succeeded "
            f"FROM sessions s{where} GROUP BY {column} ORDER BY count(*) DESC",
            params,
        )

    def api_by_model(self, filters: dict[str, Any] | None = None) -> list[Row]:
        where, params = self._where(filters)
        join = " JOIN sessions s ON s.id = a.session_id" if where else ""
        return self.db.query(
            "SELECT NULLIF(a.provider, '') AS provider, a.model, sum(a.calls) AS calls, "
            "sum(a.input_tokens) AS input_tokens, "
            "sum(a.output_tokens) AS output_tokens, sum(a.cache_read_tokens) AS cache_read_tokens, "
            "sum(a.cache_write_5m_tokens + a.cache_write_1h_tokens) AS cache_write_tokens, "
            "CASE WHEN sum(a.priced_calls) > 0 THEN sum(a.cost_usd) END AS cost_usd, "
            "sum(a.calls - a.priced_calls) AS unpriced_calls "
            f"FROM api_usage_by_session a{join}{where} GROUP BY a.provider, a.model "
            "ORDER BY 8 DESC",
            params,
        )

    def sessions_by_bucket(
        self, filters: dict[str, Any] | None = None, bucket_ms: int = 900_000
    ) -> list[Row]:
        """Sessions per 15-minute UTC bucket of their start, for local-day grouping in any
        time zone (including half- and quarter-hour offsets)."""
        where, params = self._where(filters)
        return self.db.query(
            f"SELECT (s.start_time / {bucket_ms}) AS bucket, count(*) AS sessions, "
            f"sum({DURATION}) AS time_ms, sum({ESTIMATE}) AS estimate_minutes, "
            "sum(s.interaction_count) AS interactions, sum(s.rating_sum) AS rating_sum, "
            "sum(s.issue_count) AS issues, "
            "sum(CASE WHEN s.outcome = 'success' THEN 1 ELSE 0 END) AS succeeded, "
            "sum(CASE WHEN s.outcome = 'partial' THEN 1 ELSE 0 END) AS partial, "
            "sum(CASE WHEN s.outcome = 'failed' THEN 1 ELSE 0 END) AS failed "
            f"FROM sessions s{where} GROUP BY s.start_time / {bucket_ms}",
            params,
        )

    def api_by_bucket(
        self, since_ms: int | None = None, until_ms: int | None = None, bucket_ms: int = 900_000
    ) -> list[Row]:
        """API tokens and cost per 15-minute UTC bucket and model."""
        clauses, params = [], []
        if since_ms is not None:
            clauses.append("ts >= ?")
            params.append(since_ms)
        if until_ms is not None:
            clauses.append("ts < ?")
            params.append(until_ms)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        return self.db.query(
            f"SELECT (ts / {bucket_ms}) AS bucket, model, count(*) AS calls, "
            f"sum({TOKEN_SUM.format(p='')}) AS tokens, sum(cost_usd) AS cost_usd "
            f"FROM api_calls{where} GROUP BY ts / {bucket_ms}, model",
            params,
        )

    def code_metrics_summary(self, filters: dict[str, Any] | None = None) -> Row:
        where, params = self._where(filters)
        row = self.db.query_one(
            "SELECT count(*) AS functions, sum(c.lines_added) AS lines_added, "
            "sum(c.lines_modified) AS lines_modified, avg(c.complexity) AS avg_complexity, "
            "avg(c.doc_score) AS avg_doc_score, sum(c.effort_score) AS effort_score "
            f"FROM code_metrics c JOIN sessions s ON s.id = c.session_id{where}",
            params,
        )
        assert row is not None
        return {k: (v or 0) for k, v in row.items()}

    def change_totals(self, filters: dict[str, Any] | None = None) -> Row:
        where, params = self._where(filters)
        files = self.db.query_one(
            "SELECT count(*) AS files, sum(c.lines_added) AS lines_added, "
            "sum(c.lines_removed) AS lines_removed "
            f"FROM changes c JOIN sessions s ON s.id = c.session_id{where}",
            params,
        )
        commits = self.db.scalar(
            f"SELECT count(*) FROM commits c JOIN sessions s ON s.id = c.session_id{where}",
            params,
        )
        assert files is not None
        return {**{k: (v or 0) for k, v in files.items()}, "commits": commits or 0}
