"""Pushing a local store into a shared one (team mode on PostgreSQL), idempotently.

Ids are global ULIDs, so rows from many machines merge without collisions. Rows that only
ever get added (interactions, api calls, tool calls, commits, …) are copied once, by a
per-target watermark on the local insertion order; sessions, runs, issues, tags and file
changes can still change, so those of sessions active or touched since the last sync are
copied again (upserted). Running a sync twice adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aitrack.clock import now_ms
from aitrack.errors import StoreError
from aitrack.store.agents import IDS_IN_OWN_INDEX
from aitrack.store.database import Database

# table -> how a row already in the target is treated
MUTABLE = ("sessions", "runs", "issues")
APPEND_ONLY = (
    "interactions",
    "notes",
    "tool_calls",
    "api_calls",
    "commits",
    "code_metrics",
)
BATCH = 2000


def _columns(db: Database, table: str) -> list[str]:
    row = db.query_one(f"SELECT * FROM {table} LIMIT 1")
    if row is not None:
        return list(row)
    if db.dialect == "sqlite":
        return [r["name"] for r in db.query(f"PRAGMA table_info({table})")]
    return [
        r["column_name"]
        for r in db.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "AND table_schema = current_schema() ORDER BY ordinal_position",
            (table,),
        )
    ]


def _batches(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def _write(target: Database, table: str, rows: list[dict[str, Any]], mutable: bool) -> int:
    if not rows:
        return 0
    cols = list(rows[0])
    marks = ", ".join("?" for _ in cols)
    if mutable:
        sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "id")
        conflict = f"ON CONFLICT (id) DO UPDATE SET {sets}"
    else:
        conflict = "ON CONFLICT DO NOTHING"
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks}) {conflict}"
    for batch in _batches(rows):
        with target.transaction():
            target.executemany(sql, [[r[c] for c in cols] for r in batch])
    return len(rows)


def sync(source: Database, target: Database) -> dict[str, int]:
    """Copy what the target lacks from source; returns rows written per table.

    The source must be SQLite (its rowid is the watermark); the target any backend.
    """
    started = now_ms()
    if source.dialect != "sqlite":
        raise StoreError(
            "sync copies a local SQLite store into a shared one; the source here is "
            f"{source.location}"
        )
    key = target.location
    state = {
        r["name"]: r["value"]
        for r in source.query("SELECT name, value FROM sync_state WHERE target = ?", (key,))
    }
    since = state.get("last_sync_ms", 0)
    counts: dict[str, int] = {}

    changed = source.query(
        "SELECT * FROM sessions WHERE status = 'active' OR last_activity >= ? "
        "OR COALESCE(end_time, 0) >= ? ORDER BY id",
        (since - 60_000, since - 60_000),
    )
    counts["sessions"] = _write(target, "sessions", changed, mutable=True)
    ids = [r["id"] for r in changed]
    for table in ("runs", "issues"):
        rows = _rows_of_sessions(source, table, ids)
        counts[table] = _write(target, table, rows, mutable=True)
    counts["changes"] = _replace_changes(source, target, ids)
    tags = _rows_of_entities(source, ids)
    counts["tags"] = _write_tags(target, tags)

    if target.dialect == "sqlite":  # its calls' ids kept unique: a second push adds nothing
        with target.transaction():
            for table in IDS_IN_OWN_INDEX:
                target.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_by_id ON {table} (id)")
    for table in APPEND_ONLY:
        mark = state.get(table, 0)
        cols = ", ".join(_columns(source, table))
        rows = source.query(
            f"SELECT rowid AS _rowid, {cols} FROM {table} WHERE rowid > ? ORDER BY rowid", (mark,)
        )
        new_mark = rows[-1]["_rowid"] if rows else mark
        for r in rows:
            del r["_rowid"]
        counts[table] = _write(target, table, rows, mutable=False)
        state[table] = new_mark
    state["last_sync_ms"] = started
    with source.transaction():
        for name, value in state.items():
            source.execute(
                "INSERT INTO sync_state (target, name, value) VALUES (?, ?, ?) "
                "ON CONFLICT (target, name) DO UPDATE SET value = excluded.value",
                (key, name, value),
            )
    return counts


def _rows_of_sessions(db: Database, table: str, ids: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        out += db.query(f"SELECT * FROM {table} WHERE session_id IN ({marks})", chunk)
    return out


def _rows_of_entities(db: Database, session_ids: list[str]) -> list[dict[str, Any]]:
    runs = [r["id"] for r in _rows_of_sessions(db, "runs", session_ids)]
    out: list[dict[str, Any]] = []
    for entity_type, ids in (("session", session_ids), ("run", runs)):
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            out += db.query(
                f"SELECT * FROM tags WHERE entity_type = ? AND entity_id IN ({marks})",
                [entity_type, *chunk],
            )
    return out


def _write_tags(target: Database, rows: list[dict[str, Any]]) -> int:
    sql = (
        "INSERT INTO tags (entity_type, entity_id, key, value) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (entity_type, entity_id, key) DO UPDATE SET value = excluded.value"
    )
    for batch in _batches(rows):
        with target.transaction():
            target.executemany(
                sql, [[r["entity_type"], r["entity_id"], r["key"], r["value"]] for r in batch]
            )
    return len(rows)


def _replace_changes(source: Database, target: Database, session_ids: list[str]) -> int:
    rows = _rows_of_sessions(source, "changes", session_ids)
    with target.transaction():
        for start in range(0, len(session_ids), 500):
            chunk = session_ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            target.execute(f"DELETE FROM changes WHERE session_id IN ({marks})", chunk)
    return _write(target, "changes", rows, mutable=False)
