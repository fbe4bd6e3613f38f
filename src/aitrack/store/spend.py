"""SQL of the spend area: budgets, the user's own prices, spend sums, proxy attribution
lookups and git captures (commits and changed files of a session)."""

from __future__ import annotations

from typing import Any

from aitrack.store.database import Database, Row
from aitrack.store.records import insert


class SpendRecords:
    """Reads and writes of budgets, user prices, spend and git data over one Database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- budgets -----------------------------------------------------------------------------
    def budgets(self) -> list[Row]:
        return self.db.query("SELECT * FROM budgets ORDER BY repo_path, scope")

    def has_budgets(self) -> bool:
        return bool(self.db.scalar("SELECT count(*) FROM budgets"))

    def set_budget(
        self, scope: str, repo_path: str, amount_usd: float, enforce: bool, at_ms: int
    ) -> None:
        self.db.execute(
            "INSERT INTO budgets (scope, repo_path, amount_usd, enforce, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, repo_path) DO UPDATE SET "
            "amount_usd = excluded.amount_usd, enforce = excluded.enforce, "
            "updated_at = excluded.updated_at",
            (scope, repo_path, amount_usd, 1 if enforce else 0, at_ms),
        )

    def set_budget_enforce(self, repo_path: str, enforce: bool, at_ms: int) -> int:
        return self.db.execute(
            "UPDATE budgets SET enforce = ?, updated_at = ? WHERE repo_path = ?",
            (1 if enforce else 0, at_ms, repo_path),
        )

    def delete_budgets(self, repo_path: str, scopes: tuple[str, ...] | None = None) -> int:
        if scopes is None:
            return self.db.execute("DELETE FROM budgets WHERE repo_path = ?", (repo_path,))
        marks = ", ".join("?" for _ in scopes)
        return self.db.execute(
            f"DELETE FROM budgets WHERE repo_path = ? AND scope IN ({marks})",
            (repo_path, *scopes),
        )

    # -- spend -------------------------------------------------------------------------------
    def session_spend(self, session_id: str) -> Row:
        """Priced cost and unpriced call count of one session."""
        return self.db.query_one(
            "SELECT COALESCE(sum(cost_usd), 0) AS cost_usd, "
            "sum(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_calls, "
            "count(*) AS calls FROM api_calls WHERE session_id = ?",
            (session_id,),
        ) or {"cost_usd": 0.0, "unpriced_calls": 0, "calls": 0}

    def spend_between(self, start_ms: int, end_ms: int, repo_path: str | None = None) -> Row:
        """Priced cost of every call in [start, end), or of the sessions of one repository."""
        if repo_path:
            # a day: walk the day's calls; longer: walk the repository's sessions' calls
            sessions = (
                "a.session_id IN (SELECT id FROM sessions WHERE repo_path = ?)"
                if end_ms - start_ms > 2 * 86_400_000
                else "EXISTS (SELECT 1 FROM sessions s WHERE s.id = a.session_id "
                "AND s.repo_path = ?)"
            )
            return self.db.query_one(
                "SELECT COALESCE(sum(a.cost_usd), 0) AS cost_usd, "
                "sum(CASE WHEN a.cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_calls, "
                f"count(*) AS calls FROM api_calls a WHERE a.ts >= ? AND a.ts < ? AND {sessions}",
                (start_ms, end_ms, repo_path),
            ) or {"cost_usd": 0.0, "unpriced_calls": 0, "calls": 0}
        if start_ms % 900_000 == 0 and end_ms % 900_000 == 0:
            # local days and months fall on the 15-minute spend rollup (store/usage_rollup.py)
            return self.db.query_one(
                "SELECT COALESCE(sum(cost_usd), 0) AS cost_usd, "
                "COALESCE(sum(calls - priced_calls), 0) AS unpriced_calls, "
                "COALESCE(sum(calls), 0) AS calls FROM api_spend_by_bucket "
                "WHERE bucket >= ? AND bucket < ?",
                (start_ms // 900_000, end_ms // 900_000),
            ) or {"cost_usd": 0.0, "unpriced_calls": 0, "calls": 0}
        return self.db.query_one(
            "SELECT COALESCE(sum(cost_usd), 0) AS cost_usd, "
            "sum(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS unpriced_calls, "
            "count(*) AS calls FROM api_calls WHERE ts >= ? AND ts < ?",
            (start_ms, end_ms),
        ) or {"cost_usd": 0.0, "unpriced_calls": 0, "calls": 0}

    # -- user prices -------------------------------------------------------------------------
    def user_prices(self) -> list[Row]:
        return self.db.query("SELECT * FROM user_prices ORDER BY model")

    def set_user_price(self, row: dict[str, Any]) -> None:
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        sets = ", ".join(f"{c} = excluded.{c}" for c in row if c != "model")
        self.db.execute(
            f"INSERT INTO user_prices ({cols}) VALUES ({marks}) "
            f"ON CONFLICT (model) DO UPDATE SET {sets}",
            list(row.values()),
        )

    def delete_user_price(self, model: str) -> int:
        return self.db.execute("DELETE FROM user_prices WHERE model = ?", (model,))

    # -- attribution of proxied calls --------------------------------------------------------
    def session_by_external_id(self, external_id: str) -> Row | None:
        """The session an agent knows by its own id (Claude Code, Codex), active first."""
        return self.db.query_one(
            "SELECT id, repo_path, status FROM sessions WHERE external_id = ? "
            "ORDER BY CASE WHEN status = 'active' THEN 0 ELSE 1 END, start_time DESC LIMIT 1",
            (external_id,),
        )

    def session_brief(self, session_id: str) -> Row | None:
        return self.db.query_one(
            "SELECT id, repo_path, status, lane, name FROM sessions WHERE id = ?", (session_id,)
        )

    def session_in_lane_at(self, lane: str, at_ms: int) -> Row | None:
        """The session of a lane that was open at a time (the latest started, if several)."""
        return self.db.query_one(
            "SELECT id, repo_path, status FROM sessions WHERE lane = ? AND start_time <= ? "
            "AND (end_time IS NULL OR end_time >= ?) ORDER BY start_time DESC LIMIT 1",
            (lane, at_ms, at_ms),
        )

    def active_session_briefs(self, limit: int = 2) -> list[Row]:
        return self.db.query(
            "SELECT id, repo_path, status FROM sessions WHERE status = 'active' "
            "ORDER BY start_time LIMIT ?",
            (limit,),
        )

    # -- git ---------------------------------------------------------------------------------
    def replace_git_capture(
        self,
        session_id: str,
        commits: list[dict[str, Any]],
        changes: list[dict[str, Any]] | None,
        head_end: str | None,
    ) -> None:
        """Store a session's commits (and changed files, unless None) in place of earlier
        captures; sets git_head_end when given. Call inside a transaction."""
        self.db.execute("DELETE FROM commits WHERE session_id = ?", (session_id,))
        for row in commits:
            insert(self.db, "commits", row)
        if changes is not None:
            self.db.execute("DELETE FROM changes WHERE session_id = ?", (session_id,))
            for row in changes:
                insert(self.db, "changes", row)
        if head_end:
            self.db.execute(
                "UPDATE sessions SET git_head_end = ? WHERE id = ?", (head_end, session_id)
            )

    def change_count(self, session_id: str) -> int:
        return int(
            self.db.scalar("SELECT count(*) FROM changes WHERE session_id = ?", (session_id,)) or 0
        )
