"""The schema, as an ordered list of small named migrations applied when a store opens.

Each migration runs in its own transaction and is recorded in `aitrack_migrations`; SQLite
also mirrors the count in `PRAGMA user_version` so an up-to-date store opens with one pragma.
Never edit a released migration: append a new one.
"""

from __future__ import annotations

from collections.abc import Callable

from aitrack.errors import StoreError
from aitrack.store.agents import IDS_IN_OWN_INDEX, create_usage_by_bucket
from aitrack.store.database import Database
from aitrack.store.usage_rollup import create_usage_rollup_and_indexes

Migration = tuple[str, Callable[[Database], None]]


def _ddl(db: Database, sql: str) -> None:
    db.executescript(sql)  # type: ignore[attr-defined]


def create_sessions(db: Database) -> None:
    _ddl(
        db,
        """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            task_type TEXT NOT NULL,
            model TEXT,
            estimate_minutes DOUBLE PRECISION,
            estimate_source TEXT,
            final_estimate_minutes DOUBLE PRECISION,
            context TEXT,
            lane TEXT NOT NULL,
            agent TEXT,
            source TEXT NOT NULL,
            external_id TEXT,
            developer TEXT,
            project TEXT,
            repo_path TEXT,
            branch TEXT,
            cwd TEXT,
            start_time BIGINT NOT NULL,
            end_time BIGINT,
            last_activity BIGINT NOT NULL,
            status TEXT NOT NULL,
            outcome TEXT,
            notes TEXT,
            capped INTEGER NOT NULL DEFAULT 0,
            git_head_start TEXT,
            git_head_end TEXT,
            interaction_count INTEGER NOT NULL DEFAULT 0,
            rating_sum INTEGER NOT NULL DEFAULT 0,
            rating_1 INTEGER NOT NULL DEFAULT 0,
            rating_2 INTEGER NOT NULL DEFAULT 0,
            rating_3 INTEGER NOT NULL DEFAULT 0,
            rating_4 INTEGER NOT NULL DEFAULT 0,
            rating_5 INTEGER NOT NULL DEFAULT 0,
            gap_count INTEGER NOT NULL DEFAULT 0,
            gap_sum_ms BIGINT NOT NULL DEFAULT 0,
            gap_max_ms BIGINT NOT NULL DEFAULT 0,
            long_gap_count INTEGER NOT NULL DEFAULT 0,
            issue_count INTEGER NOT NULL DEFAULT 0,
            metadata TEXT
        );
        CREATE INDEX sessions_by_lane ON sessions (lane, status);
        CREATE UNIQUE INDEX sessions_by_agent_external_id ON sessions (agent, external_id)
            WHERE external_id IS NOT NULL;
        CREATE INDEX sessions_by_start ON sessions (start_time);
        CREATE INDEX sessions_by_status ON sessions (status, start_time);
        CREATE INDEX sessions_by_repo ON sessions (repo_path, start_time);
        CREATE INDEX sessions_by_task_type ON sessions (task_type, status, start_time, end_time,
            last_activity, estimate_minutes, final_estimate_minutes, interaction_count,
            rating_sum, issue_count, outcome);
        """,
    )


def create_interactions_and_issues(db: Database) -> None:
    _ddl(
        db,
        """
        CREATE TABLE interactions (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            ts BIGINT NOT NULL,
            prompt TEXT NOT NULL,
            response_summary TEXT NOT NULL,
            rating INTEGER NOT NULL,
            iteration_count INTEGER NOT NULL DEFAULT 1,
            tools_used TEXT NOT NULL DEFAULT '[]',
            tokens_in BIGINT,
            tokens_out BIGINT,
            cached_tokens BIGINT,
            new_tokens BIGINT,
            cache_hit_rate DOUBLE PRECISION,
            context_pct DOUBLE PRECISION,
            gap_ms BIGINT
        );
        CREATE INDEX interactions_by_session ON interactions (session_id, ts);
        CREATE INDEX interactions_by_ts ON interactions (ts, rating);
        CREATE INDEX interactions_by_rating ON interactions (rating);
        CREATE TABLE issues (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            ts BIGINT NOT NULL,
            issue_type TEXT NOT NULL,
            description TEXT NOT NULL,
            severity TEXT NOT NULL,
            resolved INTEGER NOT NULL DEFAULT 0,
            resolution_notes TEXT
        );
        CREATE INDEX issues_by_session ON issues (session_id, ts);
        CREATE INDEX issues_by_ts ON issues (ts);
        CREATE TABLE notes (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            ts BIGINT NOT NULL,
            message TEXT NOT NULL
        );
        CREATE INDEX notes_by_session ON notes (session_id, ts);
        CREATE TABLE tags (
            entity_type TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (entity_type, entity_id, key)
        );
        CREATE INDEX tags_by_key ON tags (key, value, entity_type);
        """,
    )


def create_runs_and_tool_calls(db: Database) -> None:
    _ddl(
        db,
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            external_id TEXT,
            started_at BIGINT NOT NULL,
            ended_at BIGINT,
            prompt TEXT,
            command TEXT,
            exit_code INTEGER,
            status TEXT NOT NULL DEFAULT 'active',
            metadata TEXT
        );
        CREATE INDEX runs_by_session ON runs (session_id, started_at);
        CREATE UNIQUE INDEX runs_by_external_id ON runs (session_id, external_id)
            WHERE external_id IS NOT NULL;
        CREATE TABLE tool_calls (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            run_id TEXT REFERENCES runs (id) ON DELETE SET NULL,
            external_id TEXT,
            ts BIGINT NOT NULL,
            name TEXT NOT NULL,
            duration_ms BIGINT,
            ok INTEGER
        );
        CREATE INDEX tool_calls_by_session ON tool_calls (session_id, ts);
        CREATE INDEX tool_calls_by_run ON tool_calls (run_id);
        CREATE UNIQUE INDEX tool_calls_by_external_id ON tool_calls (session_id, external_id)
            WHERE external_id IS NOT NULL;
        """,
    )


def create_api_calls(db: Database) -> None:
    _ddl(
        db,
        """
        CREATE TABLE api_calls (
            id TEXT PRIMARY KEY,
            session_id TEXT REFERENCES sessions (id) ON DELETE CASCADE,
            run_id TEXT REFERENCES runs (id) ON DELETE SET NULL,
            ts BIGINT NOT NULL,
            provider TEXT,
            model TEXT NOT NULL,
            input_tokens BIGINT NOT NULL DEFAULT 0,
            output_tokens BIGINT NOT NULL DEFAULT 0,
            cache_read_tokens BIGINT NOT NULL DEFAULT 0,
            cache_write_5m_tokens BIGINT NOT NULL DEFAULT 0,
            cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0,
            reasoning_tokens BIGINT NOT NULL DEFAULT 0,
            cost_usd DOUBLE PRECISION,
            cost_source TEXT,
            latency_ms BIGINT,
            status INTEGER,
            request_id TEXT,
            source TEXT NOT NULL,
            request_type TEXT,
            dedup_key TEXT,
            is_sidechain INTEGER NOT NULL DEFAULT 0
        );
        CREATE UNIQUE INDEX api_calls_by_dedup_key ON api_calls (dedup_key);
        CREATE INDEX api_calls_by_session ON api_calls (session_id, ts);
        CREATE INDEX api_calls_by_ts ON api_calls (ts);
        CREATE INDEX api_calls_by_model ON api_calls (model, ts);
        """,
    )


def create_git_and_code_tables(db: Database) -> None:
    _ddl(
        db,
        """
        CREATE TABLE changes (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            change_type TEXT NOT NULL,
            lines_added BIGINT NOT NULL DEFAULT 0,
            lines_removed BIGINT NOT NULL DEFAULT 0,
            ts BIGINT NOT NULL
        );
        CREATE UNIQUE INDEX changes_by_session_path ON changes (session_id, path);
        CREATE TABLE commits (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            sha TEXT NOT NULL,
            message TEXT NOT NULL,
            author TEXT,
            ts BIGINT NOT NULL,
            lines_added BIGINT,
            lines_removed BIGINT
        );
        CREATE UNIQUE INDEX commits_by_session_sha ON commits (session_id, sha);
        CREATE INDEX commits_by_ts ON commits (ts);
        CREATE TABLE code_metrics (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            ts BIGINT NOT NULL,
            file_path TEXT NOT NULL,
            language TEXT,
            function_name TEXT NOT NULL,
            modification_type TEXT NOT NULL,
            lines_added BIGINT NOT NULL DEFAULT 0,
            lines_modified BIGINT NOT NULL DEFAULT 0,
            lines_deleted BIGINT NOT NULL DEFAULT 0,
            complexity INTEGER,
            length INTEGER,
            parameters INTEGER,
            documented INTEGER NOT NULL DEFAULT 0,
            doc_score INTEGER NOT NULL DEFAULT 0,
            effort_score DOUBLE PRECISION NOT NULL DEFAULT 0,
            found INTEGER NOT NULL DEFAULT 1,
            source TEXT NOT NULL
        );
        CREATE INDEX code_metrics_by_session ON code_metrics (session_id, file_path);
        """,
    )


def create_settings_tables(db: Database) -> None:
    _ddl(
        db,
        """
        CREATE TABLE budgets (
            scope TEXT NOT NULL,
            repo_path TEXT NOT NULL DEFAULT '',
            amount_usd DOUBLE PRECISION NOT NULL,
            enforce INTEGER NOT NULL DEFAULT 0,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (scope, repo_path)
        );
        CREATE TABLE user_prices (
            model TEXT PRIMARY KEY,
            provider TEXT,
            input_mtok DOUBLE PRECISION NOT NULL,
            output_mtok DOUBLE PRECISION NOT NULL,
            cache_read_mtok DOUBLE PRECISION,
            cache_write_mtok DOUBLE PRECISION,
            updated_at BIGINT NOT NULL
        );
        """,
    )


def create_import_tables(db: Database) -> None:
    _ddl(
        db,
        """
        CREATE TABLE import_files (
            agent TEXT NOT NULL,
            path TEXT NOT NULL,
            byte_offset BIGINT NOT NULL DEFAULT 0,
            size BIGINT NOT NULL DEFAULT 0,
            mtime_ms BIGINT NOT NULL DEFAULT 0,
            state TEXT,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (agent, path)
        );
        CREATE TABLE import_keys (
            source TEXT NOT NULL,
            source_key TEXT NOT NULL,
            entity_type TEXT NOT NULL,
            entity_id TEXT NOT NULL,
            PRIMARY KEY (source, source_key)
        );
        """,
    )


def create_sync_state(db: Database) -> None:
    _ddl(
        db,
        """
        CREATE TABLE sync_state (
            target TEXT NOT NULL,
            name TEXT NOT NULL,
            value BIGINT NOT NULL,
            PRIMARY KEY (target, name)
        );
        """,
    )


def drop_api_calls_by_ts(db: Database) -> None:
    """api_calls (ts, cost_usd) of 0009 serves every query by time: (ts) alone only cost
    writes and space (an import builds every index of api_calls)."""
    db.execute("DROP INDEX IF EXISTS api_calls_by_ts")


def add_user_price_cache_write_1h(db: Database) -> None:
    """A user price for 1-hour cache writes (until now always 2x input)."""
    db.execute("ALTER TABLE user_prices ADD COLUMN cache_write_1h_mtok DOUBLE PRECISION")


def drop_api_calls_by_model(db: Database) -> None:
    """Its one reader, the list of models in use, reads the usage rollup's (model, …) index
    instead: (model, ts) only cost every write, and an import builds it again (0.2 s per GB)."""
    db.execute("DROP INDEX IF EXISTS api_calls_by_model")


def sqlite_call_ids_in_own_index(db: Database) -> None:
    """SQLite: api_calls and tool_calls keep their ids unique by a plain unique index
    (`<table>_by_id`) instead of the PRIMARY KEY's built-in one, which cannot be dropped:
    a bulk import drops it and builds it once at its end rather than putting each new id
    at a random place in it (0.5 s of the writer per GB imported). No table refers to these
    ids. Each table is rebuilt with its rowids (sync watermarks), indexes and triggers; the
    rollups are untouched. PostgreSQL keeps its primary keys."""
    if db.dialect != "sqlite":
        return
    for table in IDS_IN_OWN_INDEX:
        create = str(
            db.scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        )
        rebuilt = create.replace("id TEXT PRIMARY KEY", "id TEXT NOT NULL", 1)
        if rebuilt == create:
            raise RuntimeError(f"migration 0014: {table} has no 'id TEXT PRIMARY KEY' column")
        extras = db.query(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
            "AND sql IS NOT NULL",
            (table,),
        )
        columns = ", ".join(r["name"] for r in db.query(f"PRAGMA table_info({table})"))
        db.execute(rebuilt.replace(f"CREATE TABLE {table} (", f"CREATE TABLE {table}_0014 (", 1))
        db.execute(
            f"INSERT INTO {table}_0014 (rowid, {columns}) SELECT rowid, {columns} FROM {table}"
        )
        db.execute(f"DROP TABLE {table}")  # its indexes and triggers go with it, unfired
        db.execute(f"ALTER TABLE {table}_0014 RENAME TO {table}")
        for r in extras:
            db.execute(r["sql"])
        db.execute(f"CREATE UNIQUE INDEX {table}_by_id ON {table} (id)")


def sqlite_drop_call_id_indexes(db: Database) -> None:
    """SQLite: no index on the ids of api_calls and tool_calls. Nothing looks a call up by
    id (a hook finishes its tool call by session and external id), the ids are ULIDs with
    80 random bits, and a response or tool call stored twice is kept out by the dedup key
    and the (session, external id) unique indexes. The id indexes only cost: every insert,
    a sort at the end of each bulk import (0.17 s per GB) and 13 MB per GB. A store a sync
    pushes into gets them back (store/sync.py): there they keep a second push idempotent.
    PostgreSQL keeps its primary keys."""
    if db.dialect != "sqlite":
        return
    for table in IDS_IN_OWN_INDEX:
        db.execute(f"DROP INDEX IF EXISTS {table}_by_id")


MIGRATIONS: list[Migration] = [
    ("0001_create_sessions", create_sessions),
    ("0002_create_interactions_and_issues", create_interactions_and_issues),
    ("0003_create_runs_and_tool_calls", create_runs_and_tool_calls),
    ("0004_create_api_calls", create_api_calls),
    ("0005_create_git_and_code_tables", create_git_and_code_tables),
    ("0006_create_settings_tables", create_settings_tables),
    ("0007_create_import_tables", create_import_tables),
    ("0008_create_sync_state", create_sync_state),
    ("0009_create_usage_rollup_and_report_indexes", create_usage_rollup_and_indexes),
    ("0010_create_usage_by_bucket", create_usage_by_bucket),
    ("0011_drop_api_calls_by_ts", drop_api_calls_by_ts),
    ("0012_user_price_cache_write_1h", add_user_price_cache_write_1h),
    ("0013_drop_api_calls_by_model", drop_api_calls_by_model),
    ("0014_sqlite_call_ids_in_own_index", sqlite_call_ids_in_own_index),
    ("0015_sqlite_drop_call_id_indexes", sqlite_drop_call_id_indexes),
]

_LEDGER = "aitrack_migrations"


def migrate(db: Database, migrations: list[Migration] | None = None) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied now.

    Raises:
        StoreError: the database belongs to something else, or to a newer aitrack.
    """
    steps = MIGRATIONS if migrations is None else migrations
    if db.dialect == "sqlite" and db.scalar("PRAGMA user_version") == len(steps):
        return []
    if _LEDGER not in db.table_names():  # (a foreign SQLite file was refused on connect)
        with db.transaction(lock=_LEDGER):
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {_LEDGER} "
                "(name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)"
            )
    applied_now: list[str] = []
    known = {name for name, _ in steps}
    for name, step in steps:
        with db.transaction(lock=_LEDGER):
            done = {r["name"] for r in db.query(f"SELECT name FROM {_LEDGER}")}
            if name in done:
                continue
            step(db)
            db.execute(
                f"INSERT INTO {_LEDGER} (name, applied_at) VALUES (?, ?)",
                (name, _now_ms()),
            )
            applied_now.append(name)
    done = {r["name"] for r in db.query(f"SELECT name FROM {_LEDGER}")}
    newer = done - known
    if newer:
        raise StoreError(
            f"{db.location} was written by a newer aitrack (migrations {', '.join(sorted(newer))}); "
            "upgrade aitrack to use it."
        )
    if db.dialect == "sqlite":
        db.execute(f"PRAGMA user_version = {len(steps)}")
    return applied_now


def _now_ms() -> int:
    from aitrack.clock import now_ms

    return now_ms()
