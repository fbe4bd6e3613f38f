"""Reading and writing the recorded entities: sessions, runs, interactions, issues, notes, tags,
tool calls, api calls, git changes and code metrics. All SQL of aitrack lives in this package."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from aitrack.store.database import Database, Row, like_pattern

# api_calls' token columns; the first five are billable (reasoning is part of output)
TOKEN_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
)
BILLABLE_TOKEN_COLUMNS = TOKEN_COLUMNS[:5]
TOKEN_SUM = (
    "{p}input_tokens + {p}output_tokens + {p}cache_read_tokens + {p}cache_write_5m_tokens "
    "+ {p}cache_write_1h_tokens"
)
LONG_GAP_MS = 15 * 60_000  # an idle gap between interactions longer than this counts as long
# the tables whose rows belong to one session (session_id), in a sensible reading order
SESSION_CHILD_TABLES = (
    "interactions",
    "issues",
    "notes",
    "runs",
    "tool_calls",
    "api_calls",
    "changes",
    "commits",
    "code_metrics",
)
SESSION_FILTERS = ("repo", "agent", "task_type", "outcome", "status", "model", "branch", "lane")


def insert(db: Database, table: str, row: dict[str, Any]) -> None:
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    db.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(row.values()))


def insert_ignore(db: Database, table: str, row: dict[str, Any]) -> int:
    """Insert unless a unique key already holds the row; returns rows inserted (0 or 1)."""
    cols = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    return db.execute(
        f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING",
        list(row.values()),
    )


def update(db: Database, table: str, key: str, key_value: Any, values: dict[str, Any]) -> int:
    sets = ", ".join(f"{c} = ?" for c in values)
    return db.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?", [*values.values(), key_value])


class Records:
    """Entity reads and writes over one Database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- sessions ----------------------------------------------------------------------------
    def insert_session(self, row: dict[str, Any]) -> None:
        insert(self.db, "sessions", row)

    def update_session(self, session_id: str, values: dict[str, Any]) -> int:
        return update(self.db, "sessions", "id", session_id, values)

    def get_session(self, session_id: str) -> Row | None:
        return self.db.query_one("SELECT * FROM sessions WHERE id = ?", (session_id,))

    def session_by_external_id(self, agent: str, external_id: str) -> Row | None:
        return self.db.query_one(
            "SELECT * FROM sessions WHERE agent = ? AND external_id = ?", (agent, external_id)
        )

    def sessions_with_prefix(self, prefix: str, limit: int = 5) -> list[Row]:
        return self.db.query(
            "SELECT * FROM sessions WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
            (prefix, prefix + "\uffff", limit),
        )

    def active_sessions(self, lane: str | None = None) -> list[Row]:
        if lane is None:
            return self.db.query(
                "SELECT * FROM sessions WHERE status = 'active' ORDER BY start_time"
            )
        return self.db.query(
            "SELECT * FROM sessions WHERE status = 'active' AND lane = ? ORDER BY start_time",
            (lane,),
        )

    def idle_active_sessions(self, before_ms: int) -> list[Row]:
        return self.db.query(
            "SELECT * FROM sessions WHERE status = 'active' AND last_activity < ?", (before_ms,)
        )

    def latest_session(self) -> Row | None:
        return self.db.query_one("SELECT * FROM sessions ORDER BY start_time DESC, id DESC LIMIT 1")

    def touch_session(self, session_id: str, at_ms: int) -> None:
        self.db.execute(
            f"UPDATE sessions SET last_activity = {self.db.greatest('last_activity', '?')} "
            "WHERE id = ?",
            (at_ms, session_id),
        )

    def session_where(
        self,
        filters: dict[str, Any],
    ) -> tuple[str, list[Any]]:
        """WHERE clause and params for session list filters (see SESSION_FILTERS, plus
        since/until in ms, tag 'k=v' or 'k', and text search q)."""
        clauses: list[str] = []
        params: list[Any] = []
        columns = {
            "repo": "s.repo_path",
            "agent": "s.agent",
            "task_type": "s.task_type",
            "outcome": "s.outcome",
            "status": "s.status",
            "model": "s.model",
            "branch": "s.branch",
            "lane": "s.lane",
            "id": "s.id",
            "developer": "s.developer",
        }
        for key, column in columns.items():
            value = filters.get(key)
            if value not in (None, ""):
                clauses.append(f"{column} = ?")
                params.append(value)
        if filters.get("since") is not None:
            clauses.append("s.start_time >= ?")
            params.append(filters["since"])
        if filters.get("until") is not None:
            clauses.append("s.start_time < ?")
            params.append(filters["until"])
        tag = filters.get("tag")
        if tag:
            key, _, value = str(tag).partition("=")
            if value:
                clauses.append(
                    "EXISTS (SELECT 1 FROM tags t WHERE t.entity_type = 'session' "
                    "AND t.entity_id = s.id AND t.key = ? AND t.value = ?)"
                )
                params += [key, value]
            else:
                clauses.append(
                    "EXISTS (SELECT 1 FROM tags t WHERE t.entity_type = 'session' "
                    "AND t.entity_id = s.id AND t.key = ?)"
                )
                params.append(key)
        q = filters.get("q")
        if q:
            pattern = like_pattern(str(q))
            clauses.append(
                "("
                + " OR ".join(self.db.ilike(c) for c in ("s.name", "s.notes", "s.context"))
                + ")"
            )
            params += [pattern, pattern, pattern]
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        return where, params

    def list_sessions(
        self,
        filters: dict[str, Any] | None = None,
        limit: int = 20,
        offset: int = 0,
        order: str = "start_time",
        descending: bool = True,
    ) -> list[Row]:
        where, params = self.session_where(filters or {})
        allowed = {
            "start_time",
            "name",
            "task_type",
            "outcome",
            "status",
            "model",
            "repo_path",
            "duration",
            "interaction_count",
        }
        if order not in allowed:
            order = "start_time"
        order_sql = (
            "(COALESCE(s.end_time, s.last_activity) - s.start_time)"
            if order == "duration"
            else f"s.{order}"
        )
        direction = "DESC" if descending else "ASC"
        return self.db.query(
            f"SELECT s.* FROM sessions s{where} ORDER BY {order_sql} {direction}, s.id {direction} "
            "LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )

    def count_sessions(self, filters: dict[str, Any] | None = None) -> int:
        where, params = self.session_where(filters or {})
        return int(self.db.scalar(f"SELECT count(*) FROM sessions s{where}", params) or 0)

    def session_api_totals(self, session_ids: Sequence[str]) -> dict[str, Row]:
        """Tokens and cost per session for a page of sessions (cost None when any call unpriced
        and nothing priced)."""
        if not session_ids:
            return {}
        marks = ", ".join("?" for _ in session_ids)
        rows = self.db.query(
            "SELECT session_id, count(*) AS calls, "
            "sum(input_tokens + output_tokens + cache_read_tokens + cache_write_5m_tokens "
            "+ cache_write_1h_tokens) AS tokens, sum(cost_usd) AS cost_usd, "
            "sum(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_calls "
            f"FROM api_calls WHERE session_id IN ({marks}) GROUP BY session_id",
            list(session_ids),
        )
        return {r["session_id"]: r for r in rows}

    def session_change_totals(self, session_ids: Sequence[str]) -> dict[str, Row]:
        if not session_ids:
            return {}
        marks = ", ".join("?" for _ in session_ids)
        rows = self.db.query(
            "SELECT session_id, count(*) AS files, sum(lines_added) AS lines_added, "
            f"sum(lines_removed) AS lines_removed FROM changes WHERE session_id IN ({marks}) "
            "GROUP BY session_id",
            list(session_ids),
        )
        out = {r["session_id"]: r for r in rows}
        commits = self.db.query(
            "SELECT session_id, count(*) AS commits FROM commits "
            f"WHERE session_id IN ({marks}) GROUP BY session_id",
            list(session_ids),
        )
        for r in commits:
            out.setdefault(r["session_id"], {"files": 0, "lines_added": 0, "lines_removed": 0})
            out[r["session_id"]]["commits"] = r["commits"]
        return out

    # -- interactions, issues, notes ---------------------------------------------------------
    def insert_interaction(self, row: dict[str, Any]) -> None:
        """Insert an interaction and keep the session's exact counters (count, rating histogram,
        idle gaps) so reports never scan every interaction."""
        previous = self.db.scalar(
            "SELECT max(ts) FROM interactions WHERE session_id = ?", (row["session_id"],)
        )
        gap = None if previous is None else max(0, row["ts"] - previous)
        insert(self.db, "interactions", {**row, "gap_ms": gap})
        rating = int(row["rating"])
        gap_sets = ""
        params: list[Any] = [rating]
        if gap is not None:
            gap_sets = (
                ", gap_count = gap_count + 1, gap_sum_ms = gap_sum_ms + ?, "
                f"gap_max_ms = {self.db.greatest('gap_max_ms', '?')}, "
                "long_gap_count = long_gap_count + ?"
            )
            params += [gap, gap, 1 if gap > LONG_GAP_MS else 0]
        self.db.execute(
            "UPDATE sessions SET interaction_count = interaction_count + 1, "
            f"rating_sum = rating_sum + ?, rating_{rating} = rating_{rating} + 1{gap_sets}, "
            f"last_activity = {self.db.greatest('last_activity', '?')} WHERE id = ?",
            [*params, row["ts"], row["session_id"]],
        )

    def insert_issue(self, row: dict[str, Any]) -> None:
        insert(self.db, "issues", row)
        self.db.execute(
            "UPDATE sessions SET issue_count = issue_count + 1, "
            f"last_activity = {self.db.greatest('last_activity', '?')} WHERE id = ?",
            (row["ts"], row["session_id"]),
        )

    def insert_note(self, row: dict[str, Any]) -> None:
        insert(self.db, "notes", row)

    def rows_for_session(self, table: str, session_id: str, order: str = "ts") -> list[Row]:
        assert table in SESSION_CHILD_TABLES
        return self.db.query(
            f"SELECT * FROM {table} WHERE session_id = ? ORDER BY {order}", (session_id,)
        )

    # -- tags --------------------------------------------------------------------------------
    def set_tags(self, entity_type: str, entity_id: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.db.execute(
                "INSERT INTO tags (entity_type, entity_id, key, value) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (entity_type, entity_id, key) DO UPDATE SET value = excluded.value",
                (entity_type, entity_id, key, value),
            )

    def tags_for(self, entity_type: str, entity_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        ids = list(entity_ids)
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        rows = self.db.query(
            "SELECT entity_id, key, value FROM tags WHERE entity_type = ? "
            f"AND entity_id IN ({marks}) ORDER BY key",
            [entity_type, *ids],
        )
        out: dict[str, dict[str, str]] = {}
        for r in rows:
            out.setdefault(r["entity_id"], {})[r["key"]] = r["value"]
        return out

    # -- runs and tool calls -----------------------------------------------------------------
    def insert_run(self, row: dict[str, Any]) -> None:
        insert(self.db, "runs", row)

    def update_run(self, run_id: str, values: dict[str, Any]) -> int:
        return update(self.db, "runs", "id", run_id, values)

    def get_run(self, run_id: str) -> Row | None:
        return self.db.query_one("SELECT * FROM runs WHERE id = ?", (run_id,))

    def runs_with_prefix(self, prefix: str, limit: int = 5) -> list[Row]:
        return self.db.query(
            "SELECT * FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
            (prefix, prefix + "\uffff", limit),
        )

    def run_by_external_id(self, session_id: str, external_id: str) -> Row | None:
        return self.db.query_one(
            "SELECT * FROM runs WHERE session_id = ? AND external_id = ?",
            (session_id, external_id),
        )

    def open_run(self, session_id: str) -> Row | None:
        return self.db.query_one(
            "SELECT * FROM runs WHERE session_id = ? AND status = 'active' "
            "ORDER BY started_at DESC LIMIT 1",
            (session_id,),
        )

    def list_runs(
        self,
        session_id: str | None = None,
        repo: str | None = None,
        tags: dict[str, str] | None = None,
        limit: int = 100,
    ) -> list[Row]:
        clauses, params = [], []
        if session_id:
            clauses.append("r.session_id = ?")
            params.append(session_id)
        if repo:
            clauses.append("s.repo_path = ?")
            params.append(repo)
        for key, value in (tags or {}).items():
            clauses.append(
                "EXISTS (SELECT 1 FROM tags t WHERE t.entity_type = 'run' AND t.entity_id = r.id "
                "AND t.key = ?" + (" AND t.value = ?)" if value else ")")
            )
            params += [key, value] if value else [key]
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        return self.db.query(
            "SELECT r.*, s.repo_path, s.name AS session_name, "
            "(SELECT count(*) FROM tool_calls tc WHERE tc.run_id = r.id) AS tool_call_count "
            f"FROM runs r JOIN sessions s ON s.id = r.session_id{where} "
            "ORDER BY r.started_at DESC LIMIT ?",
            [*params, limit],
        )

    def insert_tool_call(self, row: dict[str, Any]) -> int:
        return insert_ignore(self.db, "tool_calls", row)

    # -- api calls ---------------------------------------------------------------------------
    def upsert_api_call(self, row: dict[str, Any]) -> int:
        """Insert a call; with a dedup_key already stored, keep the copy with more tokens
        (a later streaming snapshot of the same response). Returns rows written."""
        if not row.get("dedup_key"):
            insert(self.db, "api_calls", row)
            return 1
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        sets = ", ".join(f"{c} = excluded.{c}" for c in row if c not in ("id", "dedup_key"))
        new, old = TOKEN_SUM.format(p="excluded."), TOKEN_SUM.format(p="api_calls.")
        return self.db.execute(
            f"INSERT INTO api_calls ({cols}) VALUES ({marks}) ON CONFLICT (dedup_key) DO UPDATE "
            f"SET {sets} WHERE ({new}) > ({old}) OR "
            f"(({new}) = ({old}) AND excluded.is_sidechain < api_calls.is_sidechain)",
            list(row.values()),
        )

    # -- git and code metrics ----------------------------------------------------------------
    def replace_changes(self, session_id: str, rows: list[dict[str, Any]]) -> None:
        self.db.execute("DELETE FROM changes WHERE session_id = ?", (session_id,))
        for row in rows:
            insert(self.db, "changes", row)

    def insert_commit(self, row: dict[str, Any]) -> int:
        return insert_ignore(self.db, "commits", row)

    def insert_code_metric(self, row: dict[str, Any]) -> None:
        insert(self.db, "code_metrics", row)

    def delete_code_metrics(self, session_id: str, source: str) -> None:
        self.db.execute(
            "DELETE FROM code_metrics WHERE session_id = ? AND source = ?", (session_id, source)
        )


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
