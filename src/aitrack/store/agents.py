"""SQL of the coding-agent capture: import bookkeeping (import_files, import_keys), bulk writes
of transcript records, the hooks' small writes, and the usage-report aggregates.

Bulk writes use executemany inside the caller's transaction. Every upsert here is idempotent,
so two processes importing the same file (a hook's background import and `aitrack import`)
never double count: sessions by (agent, external_id), runs and tool calls by
(session_id, external_id), api_calls by dedup_key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from aitrack.store import usage_rollup
from aitrack.store.database import Database, Row
from aitrack.store.records import TOKEN_SUM

CHUNK = 500  # ids per IN (...) list

SESSION_COLUMNS = (
    "id", "name", "task_type", "model", "estimate_source", "lane", "agent", "source",
    "external_id", "project", "repo_path", "branch", "cwd", "start_time", "last_activity",
    "status", "metadata", "end_time", "outcome", "notes", "capped",
)  # fmt: skip
_SESSION_DEFAULTS = {"capped": 0}
RUN_COLUMNS = (
    "id", "session_id", "external_id", "started_at", "ended_at", "prompt", "status", "metadata",
)  # fmt: skip
TOOL_COLUMNS = ("id", "session_id", "run_id", "external_id", "ts", "name", "duration_ms", "ok")
API_COLUMNS = (
    "id", "session_id", "run_id", "ts", "provider", "model", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "reasoning_tokens",
    "cost_usd", "cost_source", "latency_ms", "status", "request_id", "source", "request_type",
    "dedup_key", "is_sidechain",
)  # fmt: skip

_NEW_TOTAL = TOKEN_SUM.format(p="excluded.")
_OLD_TOTAL = TOKEN_SUM.format(p="api_calls.")
# The ON CONFLICT clauses are shared with the staged merge (store/import_staging.py).
API_CONFLICT = (
    "ON CONFLICT (dedup_key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in API_COLUMNS if c not in ("id", "dedup_key"))
    + f" WHERE ({_NEW_TOTAL}) > ({_OLD_TOTAL}) OR "
    f"(({_NEW_TOTAL}) = ({_OLD_TOTAL}) AND excluded.is_sidechain < api_calls.is_sidechain)"
)
UPSERT_API_CALL = (
    f"INSERT INTO api_calls ({', '.join(API_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in API_COLUMNS)}) {API_CONFLICT}"
)
# A run seen again keeps its earliest start, latest end and first known prompt; a run a hook
# still has open stays open (its Stop closes it).
RUN_CONFLICT = (
    "ON CONFLICT (session_id, external_id) WHERE external_id IS NOT NULL DO UPDATE SET "
    "started_at = CASE WHEN excluded.started_at < runs.started_at "
    "THEN excluded.started_at ELSE runs.started_at END, "
    "ended_at = CASE WHEN runs.status = 'active' THEN runs.ended_at "
    "WHEN runs.ended_at IS NULL OR excluded.ended_at > runs.ended_at "
    "THEN excluded.ended_at ELSE runs.ended_at END, "
    "prompt = COALESCE(runs.prompt, excluded.prompt), "
    "metadata = COALESCE(runs.metadata, excluded.metadata)"
)
UPSERT_RUN = (
    f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' for _ in RUN_COLUMNS)}) "
    + RUN_CONFLICT
)
TOOL_FILLED = ("duration_ms", "ok", "run_id")  # a later copy of a tool call fills these if empty
TOOL_CONFLICT = (
    "ON CONFLICT (session_id, external_id) WHERE external_id IS NOT NULL DO UPDATE SET "
    + ", ".join(f"{c} = COALESCE(tool_calls.{c}, excluded.{c})" for c in TOOL_FILLED)
)
UPSERT_TOOL_CALL = (
    f"INSERT INTO tool_calls ({', '.join(TOOL_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in TOOL_COLUMNS)}) {TOOL_CONFLICT}"
)


# -- the usage rollup: sums per 15-minute UTC bucket, session and model ------------------------
BUCKET_MS = 900_000  # every real time zone offset is a multiple of 15 minutes
_ROLLUP_SUMS = ("calls", "input_tokens", "output_tokens", "cache_write_tokens",
                "cache_read_tokens", "reasoning_tokens", "cost_usd", "priced_calls")  # fmt: skip


def _rollup_values(row: str) -> tuple[str, ...]:
    return (
        f"{row}.ts / {BUCKET_MS}", f"COALESCE({row}.session_id, '')", f"{row}.model", "1",
        f"{row}.input_tokens", f"{row}.output_tokens",
        f"{row}.cache_write_5m_tokens + {row}.cache_write_1h_tokens", f"{row}.cache_read_tokens",
        f"{row}.reasoning_tokens", f"COALESCE({row}.cost_usd, 0)",
        f"CASE WHEN {row}.cost_usd IS NULL THEN 0 ELSE 1 END",
    )  # fmt: skip


def _rollup_add(row: str) -> str:
    sets = ", ".join(f"{c} = api_usage_by_bucket.{c} + excluded.{c}" for c in _ROLLUP_SUMS)
    return (
        f"INSERT INTO api_usage_by_bucket (bucket, session_id, model, {', '.join(_ROLLUP_SUMS)}) "
        f"VALUES ({', '.join(_rollup_values(row))}) "
        f"ON CONFLICT (bucket, session_id, model) DO UPDATE SET {sets}"
    )


def _rollup_remove(row: str) -> list[str]:
    values = _rollup_values(row)
    key = f"bucket = {values[0]} AND session_id = {values[1]} AND model = {values[2]}"
    sets = ", ".join(f"{c} = {c} - ({v})" for c, v in zip(_ROLLUP_SUMS, values[3:], strict=True))
    return [f"UPDATE api_usage_by_bucket SET {sets} WHERE {key}",
            f"DELETE FROM api_usage_by_bucket WHERE {key} AND calls <= 0"]  # fmt: skip


def create_usage_by_bucket(db: Database) -> None:
    """Migration: `api_usage_by_bucket`, kept exact by triggers on every write of api_calls
    (whoever writes), so usage reports read thousands of rollup rows, not every call."""
    db.execute(
        "CREATE TABLE api_usage_by_bucket (bucket BIGINT NOT NULL, session_id TEXT NOT NULL, "
        "model TEXT NOT NULL, calls BIGINT NOT NULL DEFAULT 0, "
        + ", ".join(f"{c} BIGINT NOT NULL DEFAULT 0" for c in _ROLLUP_SUMS[1:6])
        + ", cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0, priced_calls BIGINT NOT NULL DEFAULT 0, "
        "PRIMARY KEY (bucket, session_id, model))"
    )
    watched = ("ts", "session_id", "model", "input_tokens", "output_tokens", "cache_read_tokens",
               "cache_write_5m_tokens", "cache_write_1h_tokens", "reasoning_tokens", "cost_usd")  # fmt: skip
    if db.dialect == "postgres":
        body = (
            "BEGIN\nIF TG_OP IN ('UPDATE', 'DELETE') THEN\n"
            + ";\n".join(_rollup_remove("OLD"))
            + ";\nEND IF;\nIF TG_OP IN ('INSERT', 'UPDATE') THEN\n"
            + _rollup_add("NEW")
            + ";\nEND IF;\nRETURN NULL;\nEND"
        )
        db.execute("CREATE FUNCTION aitrack_api_usage_by_bucket() RETURNS trigger "
                   f"LANGUAGE plpgsql AS $body$ {body} $body$")  # fmt: skip
        db.execute(f"CREATE TRIGGER api_usage_by_bucket AFTER INSERT OR DELETE OR UPDATE OF "
                   f"{', '.join(watched)} ON api_calls FOR EACH ROW "
                   "EXECUTE FUNCTION aitrack_api_usage_by_bucket()")  # fmt: skip
    else:
        db.execute(f"CREATE TRIGGER api_usage_by_bucket_insert AFTER INSERT ON api_calls "
                   f"BEGIN {_rollup_add('NEW')}; END")  # fmt: skip
        db.execute(
            "CREATE TRIGGER api_usage_by_bucket_delete AFTER DELETE ON api_calls BEGIN "
            + "; ".join(_rollup_remove("OLD"))
            + "; END"
        )
        db.execute(f"CREATE TRIGGER api_usage_by_bucket_update AFTER UPDATE OF {', '.join(watched)} "
                   "ON api_calls BEGIN " + "; ".join([*_rollup_remove("OLD"), _rollup_add("NEW")])
                   + "; END")  # fmt: skip
    add_usage_by_bucket(db, usage_rollup.calls_usage("true"))


def add_usage_by_bucket(db: Database, source: str, sign: int = 1, summed: bool = False) -> None:
    """Add a usage source (see usage_rollup.USAGE_SUMS) to `api_usage_by_bucket`, or with
    sign -1 take it away, as its triggers would call by call. summed: the source's rows are
    already summed per bucket, session and model but for a few (a bulk load's batches), so
    each row goes straight into the upsert, which adds up the few; a GROUP BY would sort
    them all first, which took twice as long."""
    m = "-" if sign < 0 else ""
    sets = ", ".join(f"{c} = api_usage_by_bucket.{c} + excluded.{c}" for c in _ROLLUP_SUMS)
    sums = (
        "u.calls", "u.input_tokens", "u.output_tokens",
        "u.cache_write_5m_tokens + u.cache_write_1h_tokens", "u.cache_read_tokens",
        "u.reasoning_tokens", "u.cost_usd", "u.priced_calls",
    )  # fmt: skip
    values = (f"{m}COALESCE({x}, 0)" if summed else f"{m}sum({x})" for x in sums)
    db.execute(
        f"INSERT INTO api_usage_by_bucket (bucket, session_id, model, {', '.join(_ROLLUP_SUMS)}) "
        f"SELECT u.bucket, COALESCE(u.session_id, ''), u.model, {', '.join(values)} "
        f"FROM ({source}) u "
        + ("WHERE true " if summed else "GROUP BY u.bucket, COALESCE(u.session_id, ''), u.model ")
        + f"ON CONFLICT (bucket, session_id, model) DO UPDATE SET {sets}"
    )
    if sign < 0:
        db.execute("DELETE FROM api_usage_by_bucket WHERE calls <= 0")


# Row-by-row upkeep a bulk load drops: the rollup triggers of api_calls (the body adds each
# batch's summed usage instead), the plain indexes of the tables it fills, the dedup_key index
# the id indexes of api_calls and tool_calls (built again by one sort each at the end; rows
# arrive in time order per batch only, so keeping them meant random page writes) and the
# tool calls' (session, external id) index, whose upkeep was half the cost of merging them.
# The runs' unique indexes stay: each batch looks its runs up in the store.
BULK_TRIGGERS = (
    "api_usage_by_bucket_insert", "api_usage_by_bucket_delete", "api_usage_by_bucket_update",
    *usage_rollup.API_CALL_TRIGGERS,
)  # fmt: skip
BULK_INDEXED_TABLES = ("api_calls", "tool_calls", "runs")
_GATHERED = ("bucket", "session_id", "model", "provider", *usage_rollup.USAGE_SUMS)
_GATHERED_PER_SESSION = _GATHERED[1:]
# A bulk load's gathered usage: per bucket, session, model and provider; per session, model
# and provider (the session rollups read these: a tenth of the rows).
_GATHERED_TABLES = {"bulk_usage": _GATHERED, "bulk_session_usage": _GATHERED_PER_SESSION}
_GATHERED_SOURCE, _GATHERED_PER_SESSION_SOURCE = (
    f"SELECT {', '.join(columns)} FROM scratch.{table}"
    for table, columns in _GATHERED_TABLES.items()
)
DEDUP_INDEX = "api_calls_by_dedup_key"
TOOL_KEY_INDEX = "tool_calls_by_external_id"
# Tables whose ids SQLite indexes apart from the table (migration 0014), <table>_by_id: only in
# a store a sync pushes into (migration 0015, store/sync.py).
IDS_IN_OWN_INDEX = ("api_calls", "tool_calls")
ID_INDEXES = tuple(f"{table}_by_id" for table in IDS_IN_OWN_INDEX)
# After appending without the dedup upsert: of the copies of one response, the ones the upsert
# would not have kept (it keeps most tokens; tie: main chain; tie: the one stored first).
_WORSE_COPIES = (
    "SELECT rowid AS rid FROM (SELECT rowid, row_number() OVER (PARTITION BY dedup_key "
    f"ORDER BY {TOKEN_SUM.format(p='')} DESC, is_sidechain, rowid) AS n FROM api_calls "
    "WHERE dedup_key IS NOT NULL AND {copies}) WHERE n > 1"
)
# The copies of every response stored more than once, found by a scan of every key.
_EVERY_REPEATED_COPY = (
    "dedup_key IN (SELECT dedup_key FROM api_calls WHERE dedup_key IS NOT NULL "
    "GROUP BY dedup_key HAVING count(*) > 1)"
)
# After appending tool calls without their upsert: the copies of each tool call stored more
# than once (one session, one external id), numbered in the order they were stored.
_TOOL_COPIES = (
    "SELECT rowid AS rid, session_id AS s, external_id AS e, row_number() OVER (PARTITION BY "
    "session_id, external_id ORDER BY rowid) AS n FROM tool_calls WHERE external_id IS NOT NULL "
    "AND (session_id, external_id) IN (SELECT session_id, external_id FROM tool_calls WHERE "
    "external_id IS NOT NULL GROUP BY session_id, external_id HAVING count(*) > 1)"
)
# The upsert keeps the first copy and fills its empty fields from the later ones in turn:
# each field is the first non-null one in the order stored.
_FIRST_OF_COPIES = (
    "(SELECT t.{c} FROM scratch.bulk_tool_copies c JOIN tool_calls t ON t.rowid = c.rid "
    "WHERE c.s = tool_calls.session_id AND c.e = tool_calls.external_id AND t.{c} IS NOT NULL "
    "ORDER BY c.rid LIMIT 1)"
)


class BulkLoad:
    """A bulk load as its body sees it. ``appending``: api_calls and tool calls must be
    appended without their upserts. The body names the dedup keys of every batch it appends
    and the rowid of the first (`appended`), so the end looks only at the rows of responses
    stored more than once; a body that does not gets the same result from a scan of every
    key."""

    def __init__(self, appending: bool, stored: Iterable[tuple[str, int]] = ()) -> None:
        self.appending = appending
        # dedup key -> rowid of its first copy (stored: those the store held before the load)
        self.seen: dict[str, int] | None = dict(stored) if appending else None
        self.copies: set[int] = set()  # rowids of every copy of a response stored twice
        self.sorted_in_threads = False  # whether the end built its indexes with sort threads
        self.synced_in_background = False  # whether the file synced in a thread meanwhile

    def appended(self, keys: Sequence[str], first_rowid: int | None) -> None:
        """A batch's api_calls were appended with these dedup keys, in this order, as the
        rowids first_rowid, first_rowid + 1, ... (None: not so: the end scans every key)."""
        if self.seen is None:
            return
        seen = self.seen
        if first_rowid is None:
            self.seen = None
            return
        repeated = {key: seen[key] for key in seen.keys() & keys}  # key -> first copy's rowid
        size = len(seen)
        seen.update(zip(keys, range(first_rowid, first_rowid + len(keys)), strict=True))
        if len(seen) - size + len(repeated) != len(keys):  # not one row per key
            self.seen = None
            return
        for key, first in repeated.items():
            self.copies.update((first, seen[key]))
            seen[key] = first


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


class AgentStore:
    """Reads and writes of hooks, transcript import, seed importers and usage reports."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @contextmanager
    def bulk_writes(self, on: bool = True) -> Iterator[None]:
        """For a large import into the embedded SQLite file: see set_bulk."""
        if not on or self.db.dialect != "sqlite":
            yield
            return
        self.set_bulk(True)
        try:
            yield
        finally:
            self.set_bulk(False)

    def set_bulk(self, on: bool, cache_mb: int = 64) -> None:
        """SQLite bulk-load settings of this connection: no fsync, a bigger page cache, no
        foreign-key lookups per row (the importer writes each session and run before what
        refers to it, in the same transaction), statement journals in memory (each merge
        statement saves the pages it changes there; on disk that was 230 MB of writes per GB
        imported) and, when no other connection has the store open, a rollback journal
        instead of the WAL. A crash loses at most the import; run it again. Off restores the
        defaults and syncs what was written."""
        if self.db.dialect != "sqlite":
            return
        pragmas = (
            (
                "synchronous=OFF",
                f"cache_size=-{cache_mb * 1024}",
                "foreign_keys=OFF",
                "temp_store=MEMORY",
            )
            if on
            else ("synchronous=NORMAL", "cache_size=-2000", "foreign_keys=ON", "temp_store=DEFAULT")
        )
        for pragma in pragmas:
            self.db.execute(f"PRAGMA {pragma}")
        # a bulk write then goes straight into the file, not through a WAL copied back after;
        # back in the WAL with synchronous=NORMAL the file is synced once (0.7 s per 200 MB)
        self.db.try_journal_mode("truncate" if on else "wal")  # type: ignore[attr-defined]

    @contextmanager
    def bulk_load(self) -> Iterator[BulkLoad]:
        """Inside the caller's transaction on SQLite: drop the api_calls rollup triggers, the
        plain indexes of the tables an import fills, the dedup_key index, the tool calls' key
        index and the id indexes of api_calls and tool_calls; the body appends api_calls and
        tool calls and hands each batch's usage to `gather_usage` (or `add_to_rollups`). At the
        end count the gathered usage into the rollups in one pass, keep the best copy of each
        response and one of each tool call (as the upserts would have), build the indexes
        (their sorts in threads) and recreate the triggers from their stored SQL, the file
        syncing in the background meanwhile. All in one transaction: a crash or error rolls
        the whole load back with the drops.

        Yields a `BulkLoad`; elsewhere, or on a schema this code does not know, a no-op
        (``appending`` False: the body upserts as usual).
        """
        if self.db.dialect != "sqlite":
            yield BulkLoad(False)
            return
        saved = self.db.query(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND "
            f"tbl_name = 'api_calls' AND name IN ({_marks(len(BULK_TRIGGERS))})",
            list(BULK_TRIGGERS),
        )
        unique = {
            r["name"]: r
            for r in self.db.query(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name IN (?, ?)",
                (DEDUP_INDEX, TOOL_KEY_INDEX),
            )
        }
        if {r["name"] for r in saved} != set(BULK_TRIGGERS) or len(unique) != 2:
            yield BulkLoad(False)
            return
        indexes = self.db.query(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND "
            f"(tbl_name IN ({_marks(len(BULK_INDEXED_TABLES))}) AND sql NOT LIKE 'CREATE UNIQUE%' "
            f"OR name IN ({_marks(len(ID_INDEXES))}))",
            [*BULK_INDEXED_TABLES, *ID_INDEXES],
        )
        stored = self.db.query(
            "SELECT dedup_key, rowid AS r FROM api_calls WHERE dedup_key IS NOT NULL"
        )
        load = BulkLoad(True, ((r["dedup_key"], r["r"]) for r in stored))
        for r in saved:
            self.db.execute(f"DROP TRIGGER {r['name']}")
        for r in [*indexes, *unique.values()]:
            self.db.execute(f"DROP INDEX {r['name']}")
        self.db.use_scratch()  # type: ignore[attr-defined]
        for table, columns in _GATHERED_TABLES.items():
            self.db.execute(f"DROP TABLE IF EXISTS scratch.{table}")
            self.db.execute(f"CREATE TABLE scratch.{table} ({', '.join(columns)})")
        yield load
        # what the load and its end write goes to disk while the end computes: the import's
        # last sync (back to the WAL) has next to nothing left
        with self.db.syncing_in_background() as syncing:  # type: ignore[attr-defined]
            load.synced_in_background = syncing
            self._end_bulk_load(load, saved, unique, indexes)

    def _end_bulk_load(
        self, load: BulkLoad, saved: list[Row], unique: dict[str, Row], indexes: list[Row]
    ) -> None:
        # one pass over every batch's sums: a third of the time of four upserts per batch
        self.add_to_rollups(_GATHERED_SOURCE, _GATHERED_PER_SESSION_SOURCE, summed=True)
        for table in _GATHERED_TABLES:
            self.db.execute(f"DROP TABLE scratch.{table}")
        if load.seen is None:
            self._drop_worse_copies(_EVERY_REPEATED_COPY)
        elif load.copies:  # rowid lookups, not a scan of every row
            self.db.execute("CREATE TABLE scratch.bulk_copies (r INTEGER PRIMARY KEY)")
            self.db.executemany(
                "INSERT INTO scratch.bulk_copies VALUES (?)", [(r,) for r in load.copies]
            )
            self._drop_worse_copies("rowid IN (SELECT r FROM scratch.bulk_copies)")
            self.db.execute("DROP TABLE scratch.bulk_copies")
        # the index builds are the end's largest part; the workers are done, so the sorts
        # can take the other CPUs
        with self.db.parallel_sorts() as threaded:  # type: ignore[attr-defined]
            load.sorted_in_threads = threaded
            try:
                self.db.execute(unique[DEDUP_INDEX]["sql"])
            except sqlite3.IntegrityError:  # a copy the body did not name: scan every key
                self._drop_worse_copies(_EVERY_REPEATED_COPY)
                self.db.execute(unique[DEDUP_INDEX]["sql"])
            try:
                self.db.execute(unique[TOOL_KEY_INDEX]["sql"])
            except sqlite3.IntegrityError:  # a tool call stored twice (a copied transcript)
                self._merge_tool_copies()
                self.db.execute(unique[TOOL_KEY_INDEX]["sql"])
            for r in indexes:
                self.db.execute(r["sql"])
        for r in saved:
            self.db.execute(r["sql"])

    def _drop_worse_copies(self, copies: str) -> None:
        """Take the worse copies of responses out of the rollups and the store, among the
        api_calls rows matching `copies` (SQL; every copy of each of their responses)."""
        self.db.execute(
            f"CREATE TABLE scratch.bulk_worse_copies AS {_WORSE_COPIES.format(copies=copies)}"
        )
        worse = "a.rowid IN (SELECT rid FROM scratch.bulk_worse_copies)"
        self.add_to_rollups(usage_rollup.calls_usage(worse), sign=-1)
        self.db.execute(
            "DELETE FROM api_calls WHERE rowid IN (SELECT rid FROM scratch.bulk_worse_copies)"
        )
        self.db.execute("DROP TABLE scratch.bulk_worse_copies")

    def _merge_tool_copies(self) -> None:
        """Reduce each tool call appended more than once to what its upsert would have
        stored: the first copy, its empty fields filled from the later ones."""
        self.db.execute(f"CREATE TABLE scratch.bulk_tool_copies AS {_TOOL_COPIES}")
        self.db.execute(
            "CREATE INDEX scratch.bulk_tool_copies_by_key ON bulk_tool_copies (s, e, rid)"
        )
        self.db.execute(
            "UPDATE tool_calls SET "
            + ", ".join(f"{c} = {_FIRST_OF_COPIES.format(c=c)}" for c in TOOL_FILLED)
            + " WHERE rowid IN (SELECT rid FROM scratch.bulk_tool_copies WHERE n = 1)"
        )
        self.db.execute(
            "DELETE FROM tool_calls WHERE rowid IN (SELECT rid FROM scratch.bulk_tool_copies "
            "WHERE n > 1)"
        )
        self.db.execute("DROP TABLE scratch.bulk_tool_copies")

    def gather_usage(self, source: str, per_session: str) -> None:
        """In a bulk load: keep a usage source (see usage_rollup.USAGE_SUMS), summed per
        bucket, session, model and provider, and the same per session, model and provider
        (no bucket), for the load's end, which counts all of them into the rollups at once."""
        for (table, columns), rows in zip(
            _GATHERED_TABLES.items(), (source, per_session), strict=True
        ):
            self.db.execute(f"INSERT INTO scratch.{table} ({', '.join(columns)}) {rows}")

    def add_to_rollups(
        self, source: str, per_session: str | None = None, sign: int = 1, summed: bool = False
    ) -> None:
        """Count a usage source (see usage_rollup.USAGE_SUMS) into every rollup (sign -1:
        take it out): what the dropped triggers would have done, per batch. per_session: the
        same usage summed per session, model and provider, which the session rollups then
        read instead; summed: the source's rows are already summed per bucket, session, model
        and provider but for a few (see add_usage_by_bucket)."""
        usage_rollup.add_usage(self.db, source, sign, per_session)
        add_usage_by_bucket(self.db, source, sign, summed)

    def api_call_count(self) -> int:
        return int(self.db.scalar("SELECT count(*) FROM api_calls") or 0)

    # -- import bookkeeping ------------------------------------------------------------------
    def import_files(self, agent: str) -> dict[str, Row]:
        rows = self.db.query(
            "SELECT path, byte_offset, size, mtime_ms, state FROM import_files WHERE agent = ?",
            (agent,),
        )
        return {r["path"]: r for r in rows}

    def import_file(self, agent: str, path: str) -> Row | None:
        return self.db.query_one(
            "SELECT path, byte_offset, size, mtime_ms, state FROM import_files "
            "WHERE agent = ? AND path = ?",
            (agent, path),
        )

    def import_file_ending(self, agent: str, suffix: str) -> str | None:
        """A known transcript path ending with suffix (e.g. a Codex thread id + .jsonl)."""
        from aitrack.store.database import like_pattern

        return self.db.scalar(
            "SELECT path FROM import_files WHERE agent = ? AND path LIKE ? ESCAPE '\\' "
            "ORDER BY updated_at DESC LIMIT 1",
            (agent, "%" + like_pattern(suffix, prefix=True)[:-1]),
        )

    def save_import_files(
        self, agent: str, rows: Sequence[tuple[str, int, int, int, str | None, int]]
    ) -> None:
        """(path, offset, size, mtime_ms, state, now) per file. A stored offset never moves
        back (another process got further); a rewritten file is reset first."""
        self.db.executemany(
            "INSERT INTO import_files (agent, path, byte_offset, size, mtime_ms, state, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agent, path) DO UPDATE SET "
            "byte_offset = excluded.byte_offset, size = excluded.size, "
            "mtime_ms = excluded.mtime_ms, state = excluded.state, updated_at = excluded.updated_at "
            "WHERE excluded.byte_offset >= import_files.byte_offset",
            [(agent, *r) for r in rows],
        )

    def reset_import_file(self, agent: str, path: str) -> None:
        """Forget the offset of a file that was rewritten shorter (it is read again from 0)."""
        self.db.execute("DELETE FROM import_files WHERE agent = ? AND path = ?", (agent, path))

    def import_keys(self, source: str) -> dict[str, str]:
        rows = self.db.query(
            "SELECT source_key, entity_id FROM import_keys WHERE source = ?", (source,)
        )
        return {r["source_key"]: r["entity_id"] for r in rows}

    def add_import_keys(self, source: str, rows: Sequence[tuple[str, str, str]]) -> None:
        """(source_key, entity_type, entity_id) rows; keys already recorded are kept."""
        self.db.executemany(
            "INSERT INTO import_keys (source, source_key, entity_type, entity_id) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (source, source_key) DO NOTHING",
            [(source, *r) for r in rows],
        )

    # -- sessions ----------------------------------------------------------------------------
    def sessions_by_external_ids(self, agent: str, external_ids: Sequence[str]) -> dict[str, Row]:
        out: dict[str, Row] = {}
        for part in _chunks(list(external_ids)):
            for r in self.db.query(
                "SELECT id, external_id, source, status, start_time, last_activity, model, "
                "branch, cwd, repo_path, name FROM sessions "
                f"WHERE agent = ? AND external_id IN ({_marks(len(part))})",
                [agent, *part],
            ):
                out[r["external_id"]] = r
        return out

    def insert_sessions(self, rows: Sequence[dict[str, Any]]) -> None:
        self.db.executemany(
            f"INSERT INTO sessions ({', '.join(SESSION_COLUMNS)}) "
            f"VALUES ({_marks(len(SESSION_COLUMNS))})",
            [tuple(r.get(c, _SESSION_DEFAULTS.get(c)) for c in SESSION_COLUMNS) for r in rows],
        )

    def extend_sessions(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """(first_ms, last_ms, model, branch, cwd, repo_path, project, id): widen the span
        and fill what is still unknown."""
        self.db.executemany(
            "UPDATE sessions SET "
            "start_time = CASE WHEN ? < start_time THEN ? ELSE start_time END, "
            "last_activity = CASE WHEN ? > last_activity THEN ? ELSE last_activity END, "
            "model = COALESCE(model, ?), branch = COALESCE(branch, ?), cwd = COALESCE(cwd, ?), "
            "repo_path = COALESCE(repo_path, ?), project = COALESCE(project, ?) WHERE id = ?",
            [(f, f, last, last, *rest) for f, last, *rest in rows],
        )

    def reopen_sessions(self, session_ids: Sequence[str]) -> None:
        """Make ended sessions active again (their agent session went on after they closed)."""
        self.db.executemany(
            "UPDATE sessions SET status = 'active', end_time = NULL, outcome = NULL, capped = 0 "
            "WHERE id = ? AND status <> 'active'",
            [(sid,) for sid in session_ids],
        )

    def rename_session(self, session_id: str, name: str) -> None:
        self.db.execute("UPDATE sessions SET name = ? WHERE id = ?", (name, session_id))

    def set_session_model(self, session_id: str, model: str) -> None:
        self.db.execute("UPDATE sessions SET model = ? WHERE id = ?", (model, session_id))

    # -- runs and tool calls -----------------------------------------------------------------
    def runs_by_external_ids(self, session_ids: Sequence[str]) -> dict[tuple[str, str], str]:
        """(session id, run external id) -> run id, for the runs of these sessions."""
        out: dict[tuple[str, str], str] = {}
        for part in _chunks(list(session_ids)):
            for r in self.db.query(
                "SELECT id, session_id, external_id FROM runs WHERE external_id IS NOT NULL "
                f"AND session_id IN ({_marks(len(part))})",
                list(part),
            ):
                out[(r["session_id"], r["external_id"])] = r["id"]
        return out

    def unnamed_runs(self, session_ids: Sequence[str]) -> dict[str, list[Row]]:
        """Runs a hook opened before the transcript named them, per session."""
        out: dict[str, list[Row]] = {}
        for part in _chunks(list(session_ids)):
            for r in self.db.query(
                "SELECT id, session_id, started_at FROM runs WHERE external_id IS NULL "
                f"AND session_id IN ({_marks(len(part))}) ORDER BY started_at",
                list(part),
            ):
                out.setdefault(r["session_id"], []).append(r)
        return out

    def name_runs(self, rows: Sequence[tuple[str, str]]) -> None:
        """(external id, run id): give hook-made runs the transcript's id."""
        self.db.executemany(
            "UPDATE runs SET external_id = ? WHERE id = ? AND external_id IS NULL", rows
        )

    def upsert_runs(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self.db.executemany(UPSERT_RUN, rows)

    def upsert_tool_calls(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self.db.executemany(UPSERT_TOOL_CALL, rows)

    def tool_call(self, session_id: str, external_id: str) -> Row | None:
        return self.db.query_one(
            "SELECT * FROM tool_calls WHERE session_id = ? AND external_id = ?",
            (session_id, external_id),
        )

    def finish_tool_call(
        self, session_id: str, external_id: str, ok: bool, duration_ms: int | None
    ) -> None:
        """A tool call's result (PostToolUse), found by its unique (session, external id)."""
        self.db.execute(
            "UPDATE tool_calls SET ok = ?, duration_ms = COALESCE(duration_ms, ?) "
            "WHERE session_id = ? AND external_id = ?",
            (int(ok), duration_ms, session_id, external_id),
        )

    # -- api calls ---------------------------------------------------------------------------
    def upsert_api_calls(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows in API_COLUMNS order; a stored copy with more tokens wins (see records)."""
        self.db.executemany(UPSERT_API_CALL, rows)

    # -- usage reports -----------------------------------------------------------------------
    @staticmethod
    def use_rollup(filters: dict[str, Any]) -> bool:
        """Whether the 15-minute rollup answers exactly: the time bounds fall on its buckets
        (days and dates always do; "12h ago" may not, then calls are read one by one)."""
        return all(
            filters.get(k) is None or filters[k] % BUCKET_MS == 0 for k in ("since", "until")
        )

    def usage_where(self, filters: dict[str, Any], rollup: bool) -> tuple[str, str, list[Any]]:
        """(join, where, params) over api_calls `a`, or the rollup `r`, and sessions `s` when
        filtered by them: since/until (ms), project, branch, agent, repo."""
        clauses, params = [], []
        time_col, div = ("r.bucket", BUCKET_MS) if rollup else ("a.ts", 1)
        if filters.get("since") is not None:
            clauses.append(f"{time_col} >= ?")
            params.append(filters["since"] // div)
        if filters.get("until") is not None:
            clauses.append(f"{time_col} < ?")
            params.append(filters["until"] // div)
        if filters.get("project"):
            clauses.append("(s.project = ? OR s.repo_path = ? OR s.cwd = ?)")
            params += [filters["project"]] * 3
        for key, column in (("branch", "s.branch"), ("agent", "s.agent"), ("repo", "s.repo_path")):
            if filters.get(key):
                clauses.append(f"{column} = ?")
                params.append(filters[key])
        join = ""
        if any(filters.get(k) for k in ("project", "branch", "agent", "repo")):
            join = f" JOIN sessions s ON s.id = {'r' if rollup else 'a'}.session_id"
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        return join, where, params

    _CALL_SUMS = (
        "count(*) AS calls, sum(a.input_tokens) AS input_tokens, "
        "sum(a.output_tokens) AS output_tokens, "
        "sum(a.cache_write_5m_tokens + a.cache_write_1h_tokens) AS cache_write_tokens, "
        "sum(a.cache_read_tokens) AS cache_read_tokens, sum(a.reasoning_tokens) AS reasoning_tokens, "
        "sum(a.cost_usd) AS cost_usd, count(a.cost_usd) AS priced_calls"
    )
    _BUCKET_SUMS = (
        "sum(r.calls) AS calls, sum(r.input_tokens) AS input_tokens, "
        "sum(r.output_tokens) AS output_tokens, sum(r.cache_write_tokens) AS cache_write_tokens, "
        "sum(r.cache_read_tokens) AS cache_read_tokens, sum(r.reasoning_tokens) AS reasoning_tokens, "
        "sum(r.cost_usd) AS cost_usd, sum(r.priced_calls) AS priced_calls"
    )

    def usage_by_period(
        self, filters: dict[str, Any], period_ms: int, offset_ms: int = 0
    ) -> list[Row]:
        """Token and cost sums per (period number, model): period = (ts + offset) // period_ms,
        for period_ms a multiple of 15 minutes. With a fixed UTC offset and a day period this is
        the local day; with 15-minute periods callers fold any time zone into local days."""
        if self.use_rollup(filters):
            join, where, params = self.usage_where(filters, rollup=True)
            return self.db.query(
                f"SELECT (r.bucket * {BUCKET_MS} + ?) / ? AS bucket, r.model AS model, "
                f"{self._BUCKET_SUMS} FROM api_usage_by_bucket r{join}{where} GROUP BY 1, 2",
                [offset_ms, period_ms, *params],
            )
        join, where, params = self.usage_where(filters, rollup=False)
        return self.db.query(
            f"SELECT (a.ts + ?) / ? AS bucket, a.model AS model, {self._CALL_SUMS} "
            f"FROM api_calls a{join}{where} GROUP BY 1, 2",
            [offset_ms, period_ms, *params],
        )

    def usage_span(self, filters: dict[str, Any]) -> Row:
        """First and last call time (ms; to the 15-minute bucket when read from the rollup)."""
        if self.use_rollup(filters):
            join, where, params = self.usage_where(filters, rollup=True)
            row = self.db.query_one(
                f"SELECT min(r.bucket) * {BUCKET_MS} AS first, max(r.bucket) * {BUCKET_MS} AS last "
                f"FROM api_usage_by_bucket r{join}{where}",
                params,
            )
        else:
            join, where, params = self.usage_where(filters, rollup=False)
            row = self.db.query_one(
                f"SELECT min(a.ts) AS first, max(a.ts) AS last FROM api_calls a{join}{where}",
                params,
            )
        return row or {"first": None, "last": None}

    def usage_by_session(self, filters: dict[str, Any]) -> list[Row]:
        """Sums per (session, model), with each session's first and last call time."""
        join, where, params = self.usage_where(filters, rollup=False)
        spans = {
            r["session_id"]: r
            for r in self.db.query(
                "SELECT a.session_id AS session_id, min(a.ts) AS first_ts, max(a.ts) AS last_ts "
                f"FROM api_calls a{join}{where} GROUP BY a.session_id",
                params,
            )
        }
        if self.use_rollup(filters):
            join, where, params = self.usage_where(filters, rollup=True)
            rows = self.db.query(
                "SELECT NULLIF(r.session_id, '') AS session_id, r.model AS model, "
                f"{self._BUCKET_SUMS} FROM api_usage_by_bucket r{join}{where} GROUP BY 1, 2",
                params,
            )
        else:
            rows = self.db.query(
                f"SELECT a.session_id AS session_id, a.model AS model, {self._CALL_SUMS} "
                f"FROM api_calls a{join}{where} GROUP BY 1, 2",
                params,
            )
        for r in rows:
            span = spans.get(r["session_id"]) or {}
            r["first_ts"], r["last_ts"] = span.get("first_ts"), span.get("last_ts")
        return rows

    def sessions_by_ids(self, session_ids: Sequence[str]) -> dict[str, Row]:
        out: dict[str, Row] = {}
        for part in _chunks(list(session_ids)):
            for r in self.db.query(
                "SELECT id, name, agent, external_id, project, repo_path, branch, status, "
                f"start_time, end_time, last_activity FROM sessions WHERE id IN ({_marks(len(part))})",
                list(part),
            ):
                out[r["id"]] = r
        return out

    # -- seed imports ------------------------------------------------------------------------
    def insert_change_ignore(self, row: dict[str, Any]) -> int:
        from aitrack.store.records import insert_ignore

        return insert_ignore(self.db, "changes", row)
