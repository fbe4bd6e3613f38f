"""SQL behind the web dashboard: period series, breakdowns, session lists and filter values.

Every query reads a period's sessions through the covering index `sessions_by_start_covering`
and joins the rollups of migration 0009 (`session_rollup`, `api_usage_by_session`) instead of
the raw api_calls, commits and changes, so a page answers in tens of milliseconds with a
million rows. Series are one UNION ALL of index range scans, one per bucket (a local day, week
or month computed by the caller), which avoids sorting the whole period to group it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aitrack.store.aggregates import DURATION, ESTIMATE
from aitrack.store.database import Database, Row
from aitrack.store.records import SESSION_CHILD_TABLES, Records
from aitrack.store.usage_rollup import BUCKET_MS, TOKENS
from aitrack.vocab import EXCLUDED_FROM_ROI

_EXCLUDED = ", ".join(f"'{t}'" for t in EXCLUDED_FROM_ROI)
PRODUCTIVE = f"s.status = 'completed' AND s.task_type NOT IN ({_EXCLUDED})"


def _count_if(condition: str) -> str:
    return f"sum(CASE WHEN {condition} THEN 1 ELSE 0 END)"


SESSION_MEASURES: dict[str, str] = {
    "sessions": "count(*)",
    "active": _count_if("s.status = 'active'"),
    "completed": _count_if("s.status = 'completed'"),
    "succeeded": _count_if("s.outcome = 'success'"),
    "partial": _count_if("s.outcome = 'partial'"),
    "failed": _count_if("s.outcome = 'failed'"),
    "capped": _count_if("s.capped = 1"),
    "time_ms": f"sum({DURATION})",
    "estimate_minutes": f"sum({ESTIMATE})",
    "roi_sessions": _count_if(PRODUCTIVE),
    "roi_time_ms": f"sum(CASE WHEN {PRODUCTIVE} THEN {DURATION} ELSE 0 END)",
    "roi_estimate_minutes": f"sum(CASE WHEN {PRODUCTIVE} THEN {ESTIMATE} ELSE 0 END)",
    "interactions": "sum(s.interaction_count)",
    "rating_sum": "sum(s.rating_sum)",
    **{f"rating_{n}": f"sum(s.rating_{n})" for n in range(1, 6)},
    "gaps": "sum(s.gap_count)",
    "gap_sum_ms": "sum(s.gap_sum_ms)",
    "max_gap_ms": "max(s.gap_max_ms)",
    "long_gaps": "sum(s.long_gap_count)",
    "issues": "sum(s.issue_count)",
}
ROLLUP_MEASURES: dict[str, str] = {
    "api_calls": "sum(r.api_calls)",
    "priced_calls": "sum(r.priced_calls)",
    "cost_usd": "sum(r.cost_usd)",
    "roi_cost_usd": f"sum(CASE WHEN {PRODUCTIVE} THEN r.cost_usd ELSE 0 END)",
    "tokens": "sum(r.tokens)",
    "commits": "sum(r.commits)",
    "files_changed": "sum(r.files_changed)",
    "lines_added": "sum(r.lines_added)",
    "lines_removed": "sum(r.lines_removed)",
}
USAGE_MEASURES: dict[str, str] = {
    "calls": "sum(u.calls)",
    **{t: f"sum(u.{t})" for t in TOKENS},
    "tokens": "sum(u.tokens)",
    "cost_usd": "sum(u.cost_usd)",
    "priced_calls": "sum(u.priced_calls)",
    "roi_cost_usd": "sum(u.cost_usd * u.productive)",
}
DIMENSIONS = {
    "repo": "s.repo_path",
    "branch": "s.branch",
    "agent": "s.agent",
    "task_type": "s.task_type",
    "model": "s.model",
    "developer": "s.developer",
    "outcome": "s.outcome",
    "status": "s.status",
}
SORTS = {
    "start": "s.start_time",
    "name": "s.name",
    "repo": "s.repo_path",
    "branch": "s.branch",
    "agent": "s.agent",
    "task_type": "s.task_type",
    "model": "s.model",
    "outcome": "s.outcome",
    "status": "s.status",
    "duration": DURATION,
    "cost": "COALESCE(r.cost_usd, 0)",
    "tokens": "COALESCE(r.tokens, 0)",
    "interactions": "s.interaction_count",
    "rating": "(CASE WHEN s.interaction_count > 0 "
    "THEN s.rating_sum * 1.0 / s.interaction_count END)",
    "issues": "s.issue_count",
}
_ROLLUP_COLUMNS = (
    "r.api_calls, r.priced_calls, r.cost_usd, r.tokens, r.commits, r.files_changed, "
    "r.lines_added, r.lines_removed"
)
_MAX_UNION = 400  # SQLite allows 500 terms in one compound SELECT


def _select(measures: dict[str, str], names: Sequence[str] | None = None) -> str:
    chosen = measures if names is None else {n: measures[n] for n in names}
    return ", ".join(f"{sql} AS {name}" for name, sql in chosen.items())


class DashboardQueries:
    """Read-only queries of the dashboard over one Database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.records = Records(db)

    def tune_for_reads(self) -> None:
        """Per-connection SQLite settings for a long-lived reader: sorts in memory, a larger
        page cache and memory-mapped reads (no effect on other connections or on PostgreSQL)."""
        if self.db.dialect == "sqlite":
            for pragma in ("temp_store = MEMORY", "cache_size = -131072", "mmap_size = 1073741824"):
                self.db.execute(f"PRAGMA {pragma}")

    # -- helpers -----------------------------------------------------------------------------
    def _sessions(
        self, filters: dict[str, Any], covering: bool = True
    ) -> tuple[str, str, list[Any]]:
        """FROM and WHERE for the filtered sessions, scanning the covering index on SQLite
        (unless covering is False: then SQLite picks, e.g. the task-type index)."""
        where, params = self.records.session_where(filters)
        table = "sessions s"
        if covering and self.db.dialect == "sqlite" and not filters.get("id"):
            table = "sessions s INDEXED BY sessions_by_start_covering"
        return table, where, params

    @staticmethod
    def _and(where: str, condition: str) -> str:
        return f"{where} AND {condition}" if where else f" WHERE {condition}"

    def _union(
        self, template: str, filters: dict[str, Any], edges: Sequence[tuple[int, int]]
    ) -> list[Row]:
        """Run template (with {bucket}, {table}, {where}) once per [lo, hi) edge, as UNION ALL."""
        untimed = {k: v for k, v in filters.items() if k not in ("since", "until")}
        table, where, params = self._sessions(untimed)
        where = self._and(where, "s.start_time >= ? AND s.start_time < ?")
        rows: list[Row] = []
        for start in range(0, len(edges), _MAX_UNION):
            chunk = edges[start : start + _MAX_UNION]
            parts, args = [], []
            for i, (lo, hi) in enumerate(chunk, start):
                parts.append(template.format(bucket=i, table=table, where=where))
                args += [*params, lo, hi]
            if parts:
                rows += self.db.query(" UNION ALL ".join(parts), args)
        return rows

    # -- period series -----------------------------------------------------------------------
    def session_series(
        self,
        filters: dict[str, Any],
        edges: Sequence[tuple[int, int]],
        measures: Sequence[str] | None = None,
    ) -> list[Row]:
        """Session measures (counts, outcomes, time, ROI inputs, ratings, gaps, issues; all of
        SESSION_MEASURES or the named ones) per bucket of start time; empty buckets left out."""
        names = ["sessions", *(m for m in measures or SESSION_MEASURES if m != "sessions")]
        rows = self._union(
            f"SELECT {{bucket}} AS bucket, {_select(SESSION_MEASURES, names)} "
            "FROM {table}{where}",
            filters,
            edges,
        )
        return [r for r in rows if r["sessions"]]

    def usage_series(
        self,
        filters: dict[str, Any],
        edges: Sequence[tuple[int, int]],
        measures: Sequence[str] | None = None,
    ) -> list[Row]:
        """API calls, tokens and cost (all USAGE_MEASURES or the named ones) per bucket of
        session start and model, from the per-session usage rollup. With no filter but the
        period, it reads only the rollup's (model, session start) index: one range per bucket
        and model, nothing to sort."""
        untimed = {k: v for k, v in filters.items() if k not in ("since", "until")}
        select = _select(USAGE_MEASURES, measures)
        if untimed:
            return self._union(
                "SELECT {bucket} AS bucket, u.model AS model, "
                f"max(NULLIF(u.provider, '')) AS provider, {select} FROM {{table}} "
                "JOIN api_usage_by_session u ON u.session_id = s.id{where} GROUP BY u.model",
                filters,
                edges,
            )
        index = " INDEXED BY api_usage_by_model_start" if self.db.dialect == "sqlite" else ""
        branch = (
            "SELECT {bucket} AS bucket, max(u.model) AS model, "
            f"max(NULLIF(u.provider, '')) AS provider, {select} "
            f"FROM api_usage_by_session u{index} "
            "WHERE u.model = ? AND u.session_start >= ? AND u.session_start < ?"
        )
        pairs = [(i, m, lo, hi) for m in self.usage_models() for i, (lo, hi) in enumerate(edges)]
        rows: list[Row] = []
        for start in range(0, len(pairs), _MAX_UNION):
            chunk = pairs[start : start + _MAX_UNION]
            sql = " UNION ALL ".join(branch.format(bucket=i) for i, _, _, _ in chunk)
            rows += self.db.query(sql, [x for _, m, lo, hi in chunk for x in (m, lo, hi)])
        return [r for r in rows if r["model"] is not None]

    def usage_models(self) -> list[str]:
        """Every model with API calls, in a session or not (the rollup keeps those under
        session ''), by seeks on the rollup's (model, …) index."""
        rows = self.db.query(
            "WITH RECURSIVE m(model) AS (SELECT min(model) FROM api_usage_by_session UNION ALL "
            "SELECT (SELECT min(u.model) FROM api_usage_by_session u WHERE u.model > m.model) "
            "FROM m WHERE m.model IS NOT NULL) SELECT model FROM m WHERE model IS NOT NULL"
        )
        return [r["model"] for r in rows]

    def unattached_usage(self, since: int | None, until: int | None) -> list[Row]:
        """API calls recorded outside any session, by model, with their time in [since, until)."""
        clauses, params = ["session_id IS NULL"], []
        if since is not None:
            clauses.append("ts >= ?")
            params.append(since)
        if until is not None:
            clauses.append("ts < ?")
            params.append(until)
        tokens = " + ".join(TOKENS[:5])
        return self.db.query(
            "SELECT model, provider, count(*) AS calls, "
            + ", ".join(f"sum({t}) AS {t}" for t in TOKENS)
            + f", sum({tokens}) AS tokens, COALESCE(sum(cost_usd), 0) AS cost_usd, "
            "count(cost_usd) AS priced_calls FROM api_calls WHERE "
            + " AND ".join(clauses)
            + " GROUP BY model, provider",
            params,
        )

    # -- breakdowns --------------------------------------------------------------------------
    def grouped(
        self,
        dimensions: Sequence[str],
        filters: dict[str, Any],
        measures: Sequence[str] | None = None,
    ) -> list[Row]:
        """Session measures, and any named ROLLUP_MEASURES (API, commits, lines), grouped by
        dimensions (keys of DIMENSIONS)."""
        columns = [DIMENSIONS[d] for d in dimensions]
        every = {**SESSION_MEASURES, **ROLLUP_MEASURES}
        names = list(measures or SESSION_MEASURES)
        rollup = any(n in ROLLUP_MEASURES for n in names)
        table, where, params = self._sessions(filters, covering=rollup)
        join = " LEFT JOIN session_rollup r ON r.session_id = s.id" if rollup else ""
        keys = ", ".join(f"{c} AS {d}" for c, d in zip(columns, dimensions, strict=True))
        return self.db.query(
            f"SELECT {keys}, {_select(every, names)} FROM {table}{join}{where} "
            f"GROUP BY {', '.join(columns)}",
            params,
        )

    def totals(self, filters: dict[str, Any]) -> Row:
        """Session and rollup measures of all filtered sessions together."""
        table, where, params = self._sessions(filters)
        row = self.db.query_one(
            f"SELECT {_select({**SESSION_MEASURES, **ROLLUP_MEASURES})} FROM {table} "
            f"LEFT JOIN session_rollup r ON r.session_id = s.id{where}",
            params,
        )
        return {k: (v or 0) for k, v in (row or {}).items()}

    def issues(self, filters: dict[str, Any]) -> list[Row]:
        """Issues of the filtered sessions by type and severity, with how many are resolved."""
        table, where, params = self._sessions(filters)
        return self.db.query(
            "SELECT i.issue_type AS issue_type, i.severity AS severity, count(*) AS issues, "
            f"sum(i.resolved) AS resolved FROM {table} JOIN issues i ON i.session_id = s.id"
            f"{where} GROUP BY i.issue_type, i.severity",
            params,
        )

    def worst_sessions(self, filters: dict[str, Any], limit: int = 10) -> list[Row]:
        """Sessions with the lowest average rating (over 3 interactions or more), then the most
        issues."""
        table, where, params = self._sessions(filters)
        where = self._and(where, "(s.interaction_count >= 3 OR s.issue_count > 0)")
        ids = self.db.query(
            f"SELECT s.id AS id FROM {table}{where} ORDER BY CASE WHEN s.interaction_count >= 3 "
            "THEN s.rating_sum * 1.0 / s.interaction_count ELSE 3 END, s.issue_count DESC, "
            "s.start_time DESC LIMIT ?",
            [*params, limit],
        )
        return self.sessions_by_id([r["id"] for r in ids])

    def sessions_by_id(self, ids: Sequence[str]) -> list[Row]:
        """Full session rows with their rollup, in the order of ids."""
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        rows = self.db.query(
            f"SELECT s.*, {_ROLLUP_COLUMNS} FROM sessions s "
            f"LEFT JOIN session_rollup r ON r.session_id = s.id WHERE s.id IN ({marks})",
            list(ids),
        )
        order = {sid: n for n, sid in enumerate(ids)}
        return sorted(rows, key=lambda r: order[r["id"]])

    # -- session list ------------------------------------------------------------------------
    def list_sessions(
        self,
        filters: dict[str, Any],
        limit: int,
        offset: int,
        sort: str = "start",
        descending: bool = True,
    ) -> list[Row]:
        """A page of sessions with their rollup (cost, tokens, commits, lines)."""
        where, params = self.records.session_where(filters)
        direction = "DESC" if descending else "ASC"
        order = SORTS.get(sort, SORTS["start"])
        return self.db.query(
            f"SELECT s.*, {_ROLLUP_COLUMNS} FROM sessions s "
            f"LEFT JOIN session_rollup r ON r.session_id = s.id{where} "
            f"ORDER BY {order} {direction}, s.id {direction} LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )

    def count_sessions(self, filters: dict[str, Any]) -> int:
        return self.records.count_sessions(filters)

    def active_sessions(self) -> list[Row]:
        ids = [r["id"] for r in self.records.active_sessions()]
        return self.sessions_by_id(ids)

    def usage_of_session(self, session_id: str) -> list[Row]:
        """API usage of one session by model and provider."""
        return self.db.query(
            "SELECT model, NULLIF(provider, '') AS provider, "
            + _select({k: v for k, v in USAGE_MEASURES.items() if k != "roi_cost_usd"})
            + " FROM api_usage_by_session u WHERE session_id = ? GROUP BY model, provider",
            (session_id,),
        )

    def session_children(self, session_id: str, table: str, limit: int) -> tuple[list[Row], int]:
        """The latest `limit` rows of one of a session's child tables (oldest first) and how
        many there are."""
        order = {"runs": "started_at"}.get(table, "ts")
        if table not in SESSION_CHILD_TABLES:
            raise ValueError(table)
        rows = self.db.query(
            f"SELECT * FROM {table} WHERE session_id = ? ORDER BY {order} DESC, id DESC LIMIT ?",
            (session_id, limit),
        )
        count = len(rows)
        if count >= limit:
            count = int(
                self.db.scalar(f"SELECT count(*) FROM {table} WHERE session_id = ?", (session_id,))
                or 0
            )
        return rows[::-1], count

    # -- filter values, spend, changes --------------------------------------------------------
    def distinct(self, dimension: str) -> list[str]:
        """Values a session filter can take (what is recorded), sorted."""
        column = DIMENSIONS[dimension].removeprefix("s.")
        rows = self.db.query(
            f"SELECT DISTINCT {column} AS v FROM sessions WHERE {column} IS NOT NULL"
        )
        return sorted(str(r["v"]) for r in rows)

    def session_tags(self, limit: int = 200) -> list[str]:
        rows = self.db.query(
            "SELECT key, value, count(*) AS n FROM tags WHERE entity_type = 'session' "
            "GROUP BY key, value ORDER BY count(*) DESC LIMIT ?",
            (limit,),
        )
        return sorted(f"{r['key']}={r['value']}" if r["value"] else r["key"] for r in rows)

    def spend_since(self, since_ms: int, until_ms: int | None = None) -> float:
        """Priced API cost of calls made in [since, until), all sessions and none."""
        edge = (since_ms, until_ms if until_ms is not None else (2**62 // BUCKET_MS) * BUCKET_MS)
        return self.spend_series([edge])[0]

    def spend_series(self, edges: Sequence[tuple[int, int]]) -> list[float]:
        """Priced API cost of calls made in each [lo, hi) edge (all sessions and none): from
        the 15-minute spend rollup when the edges fall on its buckets (local days and months
        always do), else from the calls' (ts, cost) index."""
        out: list[float] = []
        for start in range(0, len(edges), _MAX_UNION):
            chunk = edges[start : start + _MAX_UNION]
            parts, args = [], []
            for i, (lo, hi) in enumerate(chunk):
                if lo % BUCKET_MS == 0 and hi % BUCKET_MS == 0:
                    parts.append(
                        f"SELECT {i} AS bucket, sum(cost_usd) AS cost FROM "
                        "api_spend_by_bucket WHERE bucket >= ? AND bucket < ?"
                    )
                    args += [lo // BUCKET_MS, hi // BUCKET_MS]
                else:
                    parts.append(
                        f"SELECT {i} AS bucket, sum(cost_usd) AS cost FROM api_calls "
                        "WHERE ts >= ? AND ts < ?"
                    )
                    args += [lo, hi]
            rows = self.db.query(" UNION ALL ".join(parts), args)
            by = {r["bucket"]: float(r["cost"] or 0.0) for r in rows}
            out += [by.get(i, 0.0) for i in range(len(chunk))]
        return out

    def first_session_start(self) -> int | None:
        return self.db.scalar("SELECT min(start_time) FROM sessions")

    def budgets(self) -> list[Row]:
        return self.db.query("SELECT * FROM budgets ORDER BY scope, repo_path")

    def user_prices(self) -> list[Row]:
        return self.db.query("SELECT * FROM user_prices ORDER BY model")

    def change_marker(self) -> str:
        """A value that changes when another process commits to the store: SQLite's
        data_version, or on PostgreSQL the newest start, activity, end count and API call."""
        if self.db.dialect == "sqlite":
            return str(self.db.scalar("PRAGMA data_version"))
        row = self.db.query_one(
            "SELECT (SELECT max(start_time) FROM sessions) AS a, "
            "(SELECT count(*) FROM sessions WHERE status = 'active') AS b, "
            "(SELECT max(last_activity) FROM sessions WHERE status = 'active') AS c, "
            "(SELECT max(ts) FROM api_calls) AS d, (SELECT max(ts) FROM issues) AS e"
        )
        return ":".join(str(v) for v in (row or {}).values())
