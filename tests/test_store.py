"""The store: migrations from blank and from an older schema, and refusing files that are
not ours without touching them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from aitrack.errors import StoreError
from aitrack.store import open_store
from aitrack.store.database import connect
from aitrack.store.migrations import MIGRATIONS, migrate

EXPECTED_TABLES = {
    "aitrack_migrations",
    "sessions",
    "interactions",
    "issues",
    "notes",
    "tags",
    "runs",
    "tool_calls",
    "api_calls",
    "changes",
    "commits",
    "code_metrics",
    "budgets",
    "user_prices",
    "import_files",
    "import_keys",
}


def test_a_blank_database_gets_every_table_and_records_every_migration(store_url):
    store = open_store(store_url)
    assert store.db.table_names() >= EXPECTED_TABLES
    names = [r["name"] for r in store.db.query("SELECT name FROM aitrack_migrations ORDER BY name")]
    assert names == [name for name, _ in MIGRATIONS]
    store.close()


def test_opening_an_up_to_date_store_applies_nothing(store_url):
    open_store(store_url).close()
    db = connect(store_url)
    assert migrate(db) == []
    db.close()


def test_an_older_schema_with_rows_is_upgraded_and_keeps_its_rows(store_url):
    db = connect(store_url)
    migrate(db, MIGRATIONS[:2])  # a store written by an aitrack with only the first two steps
    with db.transaction():
        db.execute(
            "INSERT INTO sessions (id, name, task_type, lane, source, start_time, last_activity, "
            "status) VALUES ('01OLD', 'old work', 'testing', 'background', 'cli', 1, 1, 'active')"
        )
        db.execute(
            "INSERT INTO interactions (id, session_id, ts, prompt, response_summary, rating) "
            "VALUES ('01I', '01OLD', 2, 'p', 'r', 4)"
        )
    db.close()
    store = open_store(store_url)
    assert store.db.table_names() >= EXPECTED_TABLES
    assert store.records.get_session("01OLD")["name"] == "old work"
    assert store.db.scalar("SELECT rating FROM interactions WHERE id = '01I'") == 4
    store.close()


def test_time_range_reads_of_api_calls_use_the_covering_index_after_the_upgrade(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = connect(url)
    migrate(db, MIGRATIONS[:10])  # a store from before 0011, with its (ts) index
    db.close()
    store = open_store(url)
    indexes = {
        r["name"] for r in store.db.query("SELECT name FROM sqlite_master WHERE type = 'index'")
    }
    assert "api_calls_by_ts" not in indexes
    plan = " ".join(
        str(r["detail"])
        for r in store.db.query(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM api_calls WHERE ts >= 1 AND ts < 2"
        )
    )
    assert "api_calls_by_ts_cost" in plan
    store.close()


def test_call_ids_lose_their_indexes_keeping_rows_rowids_and_rollups(tmp_path: Path):
    """0014 (SQLite): api_calls and tool_calls are rebuilt without the PRIMARY KEY's index
    (into a plain unique index, which 0015 drops: nothing reads a call by id); rows keep
    their rowids (sync watermarks), the rollups stay exact and the triggers keep them so
    afterwards."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = connect(url)
    migrate(db, MIGRATIONS[:13])
    with db.transaction():
        db.execute(
            "INSERT INTO sessions (id, name, task_type, lane, source, start_time, last_activity, "
            "status) VALUES ('01S', 's', 'testing', 'background', 'cli', 1, 1, 'active')"
        )
        for i in (1, 2, 3):
            db.execute(
                "INSERT INTO api_calls (id, session_id, ts, model, source, input_tokens, "
                "dedup_key) VALUES (?, '01S', ?, 'claude-sonnet-4-5', 'test', ?, ?)",
                (f"01A{i}", 1_760_000_000_000 + i, 10 * i, f"k{i}"),
            )
            db.execute(
                "INSERT INTO tool_calls (id, session_id, external_id, ts, name) "
                "VALUES (?, '01S', ?, ?, 'Bash')",
                (f"01T{i}", f"toolu_{i}", i),
            )
        db.execute("DELETE FROM api_calls WHERE id = '01A2'")  # a gap in the rowids
    calls = db.query("SELECT rowid AS r, * FROM api_calls ORDER BY rowid")
    tools = db.query("SELECT rowid AS r, * FROM tool_calls ORDER BY rowid")
    rollup = db.query("SELECT * FROM api_usage_by_bucket ORDER BY bucket")
    db.close()

    store = open_store(url)
    db = store.db
    assert db.query("SELECT rowid AS r, * FROM api_calls ORDER BY rowid") == calls
    assert db.query("SELECT rowid AS r, * FROM tool_calls ORDER BY rowid") == tools
    assert db.query("SELECT * FROM api_usage_by_bucket ORDER BY bucket") == rollup
    indexes = {
        r["name"]
        for r in db.query("SELECT name FROM sqlite_master WHERE type = 'index'")
        if r["name"].startswith(("api_calls", "tool_calls", "sqlite_autoindex_api_calls",
                                 "sqlite_autoindex_tool_calls"))
    }  # fmt: skip
    assert indexes == {
        "api_calls_by_dedup_key", "api_calls_by_session", "api_calls_by_ts_cost",
        "tool_calls_by_external_id", "tool_calls_by_session", "tool_calls_by_run",
    }  # fmt: skip
    with db.transaction():  # the rollup triggers are back
        db.execute(
            "INSERT INTO api_calls (id, session_id, ts, model, source, input_tokens, dedup_key) "
            "VALUES ('01A4', '01S', 1760000000004, 'claude-sonnet-4-5', 'test', 40, 'k4')"
        )
    assert db.scalar("SELECT sum(input_tokens) FROM api_usage_by_bucket") == 10 + 30 + 40
    with pytest.raises(sqlite3.IntegrityError), db.transaction():  # a tool call stays one
        db.execute(
            "INSERT INTO tool_calls (id, session_id, external_id, ts, name) "
            "VALUES ('01T9', '01S', 'toolu_1', 9, 'Bash')"
        )
    plan = " ".join(
        str(r["detail"])
        for r in db.query(
            "EXPLAIN QUERY PLAN UPDATE tool_calls SET ok = 1 "
            "WHERE session_id = '01S' AND external_id = 'toolu_1'"
        )
    )
    assert "tool_calls_by_external_id" in plan  # a hook's PostToolUse finds its call by key
    store.close()


def test_each_migration_runs_in_its_own_transaction(tmp_path: Path):
    def broken(db):
        db.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("boom")

    db = connect(str(tmp_path / "m.db"))
    with pytest.raises(RuntimeError):
        migrate(db, [*MIGRATIONS[:1], ("0002_broken", broken)])
    assert "half_done" not in db.table_names()
    assert "sessions" in db.table_names()
    assert db.scalar("SELECT count(*) FROM aitrack_migrations") == 1


def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path: Path):
    path = tmp_path / "aitrack.db"
    content = b"this is my thesis, not a database\n" * 200
    path.write_bytes(content)
    with pytest.raises(StoreError, match=str(path)):
        open_store(str(path))
    assert path.read_bytes() == content


def test_a_foreign_sqlite_database_is_refused_and_left_untouched(tmp_path: Path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.execute("INSERT INTO invoices (total) VALUES (12.5)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not aitrack's"):
        open_store(str(path))
    assert path.read_bytes() == before


def test_a_corrupt_store_gives_a_clear_error_naming_the_file(tmp_path: Path):
    path = tmp_path / "aitrack.db"
    store = open_store(str(path))
    store.close()
    data = bytearray(path.read_bytes())
    data[100:4000] = b"\xff" * 3900  # wreck the schema page
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=str(path)):
        open_store(str(path))
    assert path.read_bytes() == bytes(data)


def test_a_store_from_a_newer_aitrack_is_refused(store_url):
    store = open_store(store_url)
    with store.db.transaction():
        store.db.execute(
            "INSERT INTO aitrack_migrations (name, applied_at) VALUES ('9999_from_the_future', 0)"
        )
        if store.db.dialect == "sqlite":
            store.db.execute("PRAGMA user_version = 0")
    store.close()
    with pytest.raises(StoreError, match="newer aitrack"):
        open_store(store_url)


def test_an_unsupported_database_url_is_refused():
    with pytest.raises(StoreError, match="unsupported database URL"):
        open_store("mysql://user:secret@db/x")


def test_sqlite_store_uses_wal(tmp_path: Path):
    open_store(str(tmp_path / "w.db")).close()
    conn = sqlite3.connect(tmp_path / "w.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
