"""One connection to SQLite or PostgreSQL behind a small shim for their few differences.

SQL in aitrack is written once, with `?` placeholders, and runs on both. The shim covers
placeholders, transactions (SQLite `BEGIN IMMEDIATE`, PostgreSQL advisory locks), numeric
types coming back from PostgreSQL, and case-insensitive matching.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

from aitrack.errors import StoreError

Row = dict[str, Any]


class Database:
    """A thread-safe connection; every write runs in `transaction()`."""

    dialect: str = ""
    location: str = ""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0

    # -- reading -----------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.query_one(sql, params)
        return None if row is None else next(iter(row.values()))

    # -- writing -----------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        raise NotImplementedError

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[Database]:
        """A write transaction. `lock` names a resource (e.g. a lane) serialised across processes."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._begin(lock)
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._depth = 0
                self._rollback()
                raise
            self._depth = 0
            self._commit()

    def _begin(self, lock: str | None) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _rollback(self) -> None:
        raise NotImplementedError

    # -- dialect pieces ----------------------------------------------------------------------
    def ilike(self, column: str) -> str:
        """A case-insensitive LIKE on column with one `?` pattern parameter."""
        return f"{column} LIKE ? ESCAPE '\\'"

    def greatest(self, a: str, b: str) -> str:
        return f"max({a}, {b})"

    def close(self) -> None:
        raise NotImplementedError

    def table_names(self) -> set[str]:
        raise NotImplementedError


def like_pattern(text: str, *, prefix: bool = False) -> str:
    """Escape LIKE wildcards in user text; contains-match unless prefix."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%" if prefix else f"%{escaped}%"


BUSY_MS = 60_000  # how long a write waits for another process's transaction
SYNC_PAUSE_S = 0.02  # between two syncs of `syncing_in_background`


class SqliteDatabase(Database):
    """The embedded default: one file, WAL, busy timeout, `BEGIN IMMEDIATE` per write."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.location = str(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the data directory {path.parent}: {exc}") from None
        try:
            self._conn = sqlite3.connect(
                str(path), timeout=BUSY_MS / 1000, isolation_level=None, check_same_thread=False
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout={BUSY_MS}")
            tables = {
                r[0]
                for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if tables - {"sqlite_sequence"} and "aitrack_migrations" not in tables:
                self._conn.close()
                raise StoreError(
                    f"{path} holds tables that are not aitrack's "
                    f"({', '.join(sorted(tables)[:5])}); it was left untouched. "
                    "Point AITRACK_DATABASE_URL at another file."
                )
            self._use_wal()
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{path} is not a usable SQLite database ({exc}); it was left untouched. "
                "Move it aside or point AITRACK_DATABASE_URL at another file."
            ) from None

    def _use_wal(self) -> None:
        """Put the file in WAL mode (it stays so). The switch upgrades a read lock to a write
        lock, which SQLite does not wait for (busy_timeout does not apply) while another
        connection writes, as when two commands create the store at once: try again until
        the busy timeout, or until that other one has switched the file."""
        deadline = time.monotonic() + BUSY_MS / 1000
        while self._conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            try:
                cur = self._conn.execute(sql, tuple(params))
                return [dict(r) for r in cur.fetchall()]
            except sqlite3.DatabaseError as exc:
                raise _sqlite_error(self.path, exc) from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._lock:
            try:
                return self._conn.execute(sql, tuple(params)).rowcount
            except sqlite3.IntegrityError:
                raise
            except sqlite3.DatabaseError as exc:
                raise _sqlite_error(self.path, exc) from exc

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._lock:
            self._conn.executemany(sql, rows)

    def try_journal_mode(self, mode: str) -> None:
        """Switch the journal mode if no other connection has the file open; with one open,
        leave it as it is at once rather than wait for it."""
        with self._lock:
            self._conn.execute("PRAGMA busy_timeout=0")
            try:
                self._conn.execute(f"PRAGMA journal_mode={mode}").fetchall()
            except sqlite3.OperationalError:
                pass  # busy: another connection has the store open
            finally:
                self._conn.execute(f"PRAGMA busy_timeout={BUSY_MS}")

    def load_stage(self, image: bytes) -> None:
        """Make the serialized SQLite database `image` readable as schema ``stage`` on this
        connection (an in-memory copy; it replaces the previous stage). Allowed inside a
        transaction: the stage is not part of it."""
        with self._lock:
            self._attach_memory("stage")
            self._conn.deserialize(image, name="stage")

    def use_scratch(self) -> None:
        """Attach the in-memory schema ``scratch`` for an import's working tables (session
        maps, gathered usage), if not attached yet. Imports keep them out of SQLite's temp
        schema: once a transaction has used that, `parallel_sorts` cannot switch temp_store."""
        with self._lock:
            self._attach_memory("scratch")

    def _attach_memory(self, schema: str) -> None:
        attached = {r[1] for r in self._conn.execute("PRAGMA database_list")}
        if schema not in attached:
            self._conn.execute(f"ATTACH DATABASE ':memory:' AS {schema}")

    def close_temp_schema(self) -> None:
        """Close this connection's temp schema if SQLite opened it (its temp tables go with
        it; ALTER TABLE … RENAME opens it, as migration 0014 does), so that `parallel_sorts`
        can switch temp_store inside the next transaction. Inside a transaction: no-op."""
        with self._lock:
            if self._conn.in_transaction:
                return
            current = self._conn.execute("PRAGMA temp_store").fetchone()[0]
            # a change of the setting closes the temp schema; changing it back keeps it closed
            self._conn.execute(f"PRAGMA temp_store={1 if current != 1 else 2}")
            self._conn.execute(f"PRAGMA temp_store={current}")

    @contextmanager
    def parallel_sorts(self, threads: int = 2, cache_kb: int = 1024) -> Iterator[bool]:
        """Let SQLite sort in up to `threads` helper threads for the statements run inside
        (CREATE INDEX builds on a 1 GB import: a quarter less wall time). SQLite only does so
        with sort runs in temp files (temp_store FILE) and a page cache small enough that a
        sort spills into several runs; both are restored after. Inside a transaction,
        temp_store cannot change once the temp schema is open (see `close_temp_schema`):
        then the sorts stay on one thread. Yields whether they run in threads."""
        with self._lock:
            saved = {
                p: self._conn.execute(f"PRAGMA {p}").fetchone()[0]
                for p in ("temp_store", "threads", "cache_size")
            }
            try:
                self._conn.execute("PRAGMA temp_store=FILE")
            except sqlite3.OperationalError:  # the temp schema is in this transaction
                threaded = False
            else:
                threaded = self._conn.execute(f"PRAGMA threads={threads}").fetchone()[0] > 0
                self._conn.execute(f"PRAGMA cache_size=-{cache_kb}")
        try:
            yield threaded
        finally:  # setting a value it already has changes nothing (temp_store included)
            with self._lock:
                for pragma, value in saved.items():
                    self._conn.execute(f"PRAGMA {pragma}={value}")

    @contextmanager
    def syncing_in_background(self) -> Iterator[bool]:
        """Sync this store's file over and over in a helper thread while the body runs (each
        pass writes what the body wrote since the last), and wait for it at the end. The
        next sync then finds the file on disk: after a bulk load's end (rollups, index
        builds) the switch back to the WAL took 0.10–0.15 s per GB of transcripts, synced
        alone with both CPUs idle; with this its sync takes a few ms, the writes having gone
        to disk while the index builds used the CPU. Nothing is synced that the next sync
        would not sync anyway. Yields whether the thread runs: not where the platform has no
        fdatasync (macOS, Windows)."""
        try:
            fd = os.open(self.path, os.O_RDONLY) if hasattr(os, "fdatasync") else None
        except OSError:
            fd = None
        if fd is None:
            yield False
            return
        stop = threading.Event()

        def run() -> None:
            with suppress(OSError):  # the next sync still makes the data durable
                while True:
                    os.fdatasync(fd)
                    if stop.wait(SYNC_PAUSE_S):
                        break

        thread = threading.Thread(target=run, name="aitrack-sync", daemon=True)
        thread.start()
        try:
            yield True
        finally:
            stop.set()
            thread.join()
            os.close(fd)

    def executescript(self, sql: str) -> None:
        with self._lock:
            for statement in sql.split(";"):
                if statement.strip():
                    self._conn.execute(statement)

    def _begin(self, lock: str | None) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise _sqlite_error(self.path, exc) from exc

    def _commit(self) -> None:
        self._conn.execute("COMMIT")

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        self._conn.close()

    def table_names(self) -> set[str]:
        rows = self.query("SELECT name FROM sqlite_master WHERE type='table'")
        return {r["name"] for r in rows}


def _sqlite_error(path: Path, exc: sqlite3.DatabaseError) -> Exception:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StoreError(f"the database {path} stayed locked by another process; try again")
    if isinstance(exc, sqlite3.OperationalError) and "no such" not in text:
        return StoreError(f"the database {path} failed: {text}")
    if "malformed" in text or "not a database" in text:
        return StoreError(
            f"{path} is corrupt ({text}); it was left untouched. Restore a backup or move it aside."
        )
    return exc


class PostgresDatabase(Database):
    """Team mode. Same SQL, `%s` placeholders, advisory locks for serialised writes."""

    dialect = "postgres"

    def __init__(self, url: str) -> None:
        super().__init__()
        import psycopg
        from psycopg.rows import dict_row

        self._psycopg = psycopg
        self.location = _redact(url)
        try:
            self._conn = psycopg.connect(url, autocommit=True, row_factory=dict_row)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {self.location}: {exc}") from None

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock, self._conn.cursor() as cur:
            cur.execute(self._sql(sql), tuple(params))
            rows = cur.fetchall() if cur.description else []
        return [{k: _plain(v) for k, v in r.items()} for r in rows]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._lock, self._conn.cursor() as cur:
            cur.execute(self._sql(sql), tuple(params))
            return cur.rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._lock, self._conn.cursor() as cur:
            cur.executemany(self._sql(sql), rows)

    def executescript(self, sql: str) -> None:
        with self._lock, self._conn.cursor() as cur:
            for statement in sql.split(";"):
                if statement.strip():
                    cur.execute(statement.replace("%", "%%"))

    def _begin(self, lock: str | None) -> None:
        self._conn.execute("BEGIN")
        if lock is not None:
            self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))

    def _commit(self) -> None:
        self._conn.execute("COMMIT")

    def _rollback(self) -> None:
        self._conn.execute("ROLLBACK")

    def ilike(self, column: str) -> str:
        return f"{column} ILIKE ? ESCAPE '\\'"

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})"

    def close(self) -> None:
        self._conn.close()

    def table_names(self) -> set[str]:
        rows = self.query(
            "SELECT table_name AS name FROM information_schema.tables "
            "WHERE table_schema = current_schema()"
        )
        return {r["name"] for r in rows}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}@{host}"
    return url


def connect(url: str) -> Database:
    """A Database for a URL: postgresql://… or postgres://…, sqlite:///path, or a file path."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url)
    if url.startswith("sqlite:///"):
        return SqliteDatabase(Path(url[len("sqlite:///") - 1 :]).expanduser())
    if "://" in url:
        raise StoreError(
            f"unsupported database URL {_redact(url)}: use a file path, sqlite:///path "
            "or postgresql://user@host/db"
        )
    return SqliteDatabase(Path(url).expanduser())
