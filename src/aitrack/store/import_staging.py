"""Staged transcript rows for the embedded SQLite store.

A transcript import writes hundreds of thousands of runs, tool calls and api_calls. Binding
them row by row in the importing process was most of a cold import. Instead the process that
parsed them (a worker, or the importer itself) packs them into a small in-memory SQLite
database, hands it over as bytes (`pack`), and the store merges each table with one
``INSERT … SELECT`` (`merge`): the rows never become Python objects in the writing process.

The merge applies the same upserts as the row-by-row path (the ``*_CONFLICT`` clauses of
store/agents.py), so re-imports, concurrent imports and hook-made runs behave alike.
PostgreSQL stores keep the row-by-row path.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

from aitrack.store.agents import (
    API_COLUMNS,
    API_CONFLICT,
    RUN_COLUMNS,
    RUN_CONFLICT,
    TOOL_COLUMNS,
    TOOL_CONFLICT,
)
from aitrack.store.database import Database
from aitrack.store.usage_rollup import BUCKET_MS, TOKENS, USAGE_SUMS

_LAST = itemgetter(-1)  # a row's id

# Column order = the importer's row tuples (importing/transcripts.py FileResult).
STAGE_TABLES = {
    "stage_runs": ("session_ext", "run_ext", "started", "ended", "prompt", "side", "id"),
    "stage_tools": (
        "session_ext", "run_ext", "ext", "name", "started", "ended", "ok", "run_id", "id",
    ),
    "stage_apis": (
        "dedup_key", "session_ext", "run_ext", "ts", "provider", "model", "input_tokens",
        "output_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
        "reasoning_tokens", "cost_usd", "cost_source", "request_id", "request_type",
        "is_sidechain", "total", "run_id", "id",
    ),
}  # fmt: skip
# run_id: the id the packing process gave the row's run (in stage_runs of the same image);
# NULL when that run was not in the image (a file continued from an earlier import).

# The batch's api_calls summed per bucket, session, model and provider, in the worker: with
# the rollup triggers off (a bulk load), the store adds these few rows (see STAGED_USAGE).
# As SQL: SELECT ts / BUCKET_MS, session_ext, model, provider, count(*), sum(<each token
# column>), sum(COALESCE(cost_usd, 0)), count(cost_usd) FROM stage_apis GROUP BY 1, 2, 3, 4.
_USAGE_COLUMNS = ("bucket", "session_ext", "model", "provider", *USAGE_SUMS)
_API = STAGE_TABLES["stage_apis"].index
_USAGE_KEY = tuple(_API(c) for c in ("ts", "session_ext", "model", "provider"))
_USAGE_SUMMED = tuple(_API(c) for c in (*TOKENS, "cost_usd"))
# The same summed per session, model and provider: the session rollups read these (a
# fraction of the rows) at a bulk load's end.
_SESSION_USAGE_COLUMNS = ("session_ext", "model", "provider", *USAGE_SUMS)
# The loaded stage as usage sources (usage_rollup.USAGE_SUMS) for AgentStore.gather_usage.
STAGED_USAGE = (
    "SELECT su.bucket, m.sid AS session_id, su.model, su.provider, "
    + ", ".join(f"su.{c}" for c in USAGE_SUMS)
    + " FROM stage.stage_usage su JOIN scratch.stage_smap m ON m.ext = su.session_ext"
)
STAGED_SESSION_USAGE = (
    "SELECT m.sid AS session_id, su.model, su.provider, "
    + ", ".join(f"su.{c}" for c in USAGE_SUMS)
    + " FROM stage.stage_session_usage su JOIN scratch.stage_smap m ON m.ext = su.session_ext"
)

_RUNS = (
    f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) "
    "SELECT r.id, m.sid, r.run_ext, r.started, r.ended, r.prompt, 'completed', "
    "CASE WHEN r.side THEN '{\"sidechain\":true}' END "
    "FROM stage.stage_runs r JOIN scratch.stage_smap m ON m.ext = r.session_ext "
    f"WHERE true {RUN_CONFLICT}"
)
# A row's run: the staged run's id, moved to the stored run's where the store already had that
# run (see _MOVED_RUNS; with none moved, the staged id as it is); else, for a run of an
# earlier import, the stored run of that name.
_RUN_OF = (
    "CASE WHEN {t}.run_id IS NOT NULL THEN {staged} WHEN {t}.run_ext IS NOT NULL THEN (SELECT "
    "r.id FROM runs r WHERE r.session_id = m.sid AND r.external_id = {t}.run_ext) END"
)
_MOVED = (
    "COALESCE((SELECT stored FROM scratch.stage_moved_runs WHERE staged = {t}.run_id), {t}.run_id)"
)
# Staged runs the store had under another id (an earlier import, a hook, a copy in the same
# image): only those are looked up by name.
_MOVED_RUNS = (
    "INSERT INTO scratch.stage_moved_runs SELECT s.id, r.id FROM stage.stage_runs s "
    "JOIN scratch.stage_smap m ON m.ext = s.session_ext "
    "JOIN runs r ON r.session_id = m.sid AND r.external_id = s.run_ext "
    "WHERE NOT EXISTS (SELECT 1 FROM runs x WHERE x.id = s.id)"
)


def _run_of(t: str, moved: bool) -> str:
    return _RUN_OF.format(t=t, staged=_MOVED.format(t=t) if moved else f"{t}.run_id")


# [statement with no staged run moved, statement with some]
_TOOLS = [
    f"INSERT INTO tool_calls ({', '.join(TOOL_COLUMNS)}) "
    f"SELECT t.id, m.sid, {_run_of('t', moved)}, t.ext, t.started, "
    "COALESCE(NULLIF(t.name, ''), 'unknown'), "
    "CASE WHEN t.ended >= t.started THEN t.ended - t.started END, t.ok "
    "FROM stage.stage_tools t JOIN scratch.stage_smap m ON m.ext = t.session_ext WHERE true "
    for moved in (False, True)
]
_API_VALUES = {
    "id": "a.id", "session_id": "m.sid", "latency_ms": "NULL", "status": "NULL", "source": "?",
    "is_sidechain": "CASE WHEN a.is_sidechain THEN 1 ELSE 0 END",
}  # fmt: skip
_APIS = [
    f"INSERT INTO api_calls ({', '.join(API_COLUMNS)}) SELECT "
    + ", ".join(
        _run_of("a", moved) if c == "run_id" else _API_VALUES.get(c, f"a.{c}") for c in API_COLUMNS
    )
    + " FROM stage.stage_apis a JOIN scratch.stage_smap m ON m.ext = a.session_ext WHERE true "
    for moved in (False, True)
]


def pack(
    runs: Iterable[Sequence[Any]], tools: Iterable[Sequence[Any]], apis: Iterable[Sequence[Any]]
) -> bytes:
    """The rows as a serialized SQLite database (STAGE_TABLES layout), each table in id order
    (the merge writes them in that order: the store's id indexes fill page by page).

    Every image has the same schema, tables created before any row: the same root pages
    and schema cookie, so statements the store compiled against an earlier stage stay valid.
    Where _stage_pack.c was built, its `build` writes the pages directly (a fifth of the
    time); a table with a row larger than a page is bound into SQLite instead, by its `pack`
    where it finds Python's SQLite library, else in Python. `_pack_python` is the
    specification of all three: the same tables from the same rows.
    """
    rows = stage_rows(runs, tools, apis)
    if _c is not None:  # the pages written directly; None: a row needs more than a page
        image = _c.build(
            [
                (create, name, len(columns), table_rows)
                for (name, columns), create, table_rows in zip(
                    _STAGE_SCHEMA, _CREATES, rows, strict=True
                )
            ]
        )
        if image is not None:
            return image  # type: ignore[no-any-return]
    inserts = _inserts(rows)
    library = _c_library()
    if library is not None:
        return _c.pack(library, [*_SETUP, "BEGIN"], inserts, ["COMMIT"])
    return _pack_python(inserts)


def stage_rows(
    runs: Iterable[Sequence[Any]], tools: Iterable[Sequence[Any]], apis: Iterable[Sequence[Any]]
) -> list[list[Sequence[Any]]]:
    """The rows of each stage table (_STAGE_SCHEMA's order), in id order, with the
    api_calls' usage."""
    apis = list(apis)
    staged: list[list[Sequence[Any]]] = [sorted(rows, key=_LAST) for rows in (runs, tools, apis)]
    usage = usage_sums(apis)
    return [*staged, usage, session_sums(usage)]


def _inserts(rows: list[list[Sequence[Any]]]) -> list[tuple[str, list[Sequence[Any]]]]:
    """(INSERT statement, rows) of each stage table: what SQLite is given to make the image."""
    return [
        (f"INSERT INTO {name} VALUES ({', '.join('?' for _ in columns)})", table_rows)
        for (name, columns), table_rows in zip(_STAGE_SCHEMA, rows, strict=True)
    ]


def usage_sums(apis: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    """The stage_usage rows of these stage_apis rows (see _USAGE_COLUMNS)."""
    n = len(TOKENS)
    sums = _sum_groups(apis, _USAGE_KEY, BUCKET_MS, _USAGE_SUMMED)
    # key (4), count, token sums, cost sum, then the non-null counts: cost's is the last
    return [(*g[: 5 + n], 0 if g[5 + n] is None else g[5 + n], g[-1]) for g in sums]


def session_sums(usage: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    """The stage_session_usage rows of these stage_usage rows (see _SESSION_USAGE_COLUMNS)."""
    n = len(USAGE_SUMS)
    sums = _sum_groups(usage, (1, 2, 3), 0, range(4, 4 + n))
    return [(*g[:3], *g[4 : 4 + n]) for g in sums]  # the key and the sums


def _sum_groups(
    rows: Sequence[Sequence[Any]],
    key_columns: Sequence[int],
    bucket_ms: int,
    sum_columns: Sequence[int],
) -> list[tuple[Any, ...]]:
    """_stage_pack.sum_groups where it was built, else its specification."""
    return (_c.sum_groups if _c is not None else _sum_groups_python)(
        rows, key_columns, bucket_ms, sum_columns
    )


def _sum_groups_python(
    rows: Sequence[Sequence[Any]],
    key_columns: Sequence[int],
    bucket_ms: int,
    sum_columns: Sequence[int],
) -> list[tuple[Any, ...]]:
    """The specification of _stage_pack.sum_groups: rows grouped by their values in
    key_columns, the first an int cut into buckets where bucket_ms is not 0 (divided by
    bucket_ms, truncated toward zero as SQLite divides); per group, in the order groups first
    appear, the key, the number of rows, each of sum_columns' sums as SQLite's sum() gives it
    (None where every value is None; a float once a float took part) and each one's number
    of values that are not None."""
    if bucket_ms < 0:
        raise ValueError("bucket_ms must not be negative")
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        first = row[key_columns[0]]
        if bucket_ms:
            if not isinstance(first, int):
                raise TypeError(f"a bucketed value must be an int, not {type(first).__name__}")
            first = abs(first) // bucket_ms * (1 if first >= 0 else -1)
        key = (first, *(row[c] for c in key_columns[1:]))
        g = groups.get(key)
        if g is None:
            g = groups[key] = [0, *([None, 0.0, False, 0] for _ in sum_columns)]
        g[0] += 1
        for acc, c in zip(g[1:], sum_columns, strict=True):
            v = row[c]
            if v is None:
                continue
            if isinstance(v, int):
                acc[0] = (acc[0] or 0) + v
                if not -(2**63) <= acc[0] < 2**63:
                    raise OverflowError("integer overflow in a sum")
            elif isinstance(v, float):
                acc[2] = True
            else:
                raise TypeError(f"cannot sum a value of type {type(v).__name__}")
            acc[1] += float(v)
            acc[3] += 1
    out = []
    for key, (count, *accs) in groups.items():
        sums = [None if a[3] == 0 else a[1] if a[2] else a[0] for a in accs]
        out.append((*key, count, *sums, *(a[3] for a in accs)))
    return out


_STAGE_SCHEMA: list[tuple[str, tuple[str, ...]]] = [
    *STAGE_TABLES.items(),
    ("stage_usage", _USAGE_COLUMNS),
    ("stage_session_usage", _SESSION_USAGE_COLUMNS),
]
_CREATES = [f"CREATE TABLE {name} ({', '.join(columns)})" for name, columns in _STAGE_SCHEMA]
_SETUP = ["PRAGMA journal_mode=OFF", *_CREATES]  # a scratch copy: no rollback, a third faster


def _pack_python(inserts: list[tuple[str, list[Sequence[Any]]]]) -> bytes:
    conn = sqlite3.connect(":memory:")
    try:
        for statement in _SETUP:
            conn.execute(statement)
        for sql, rows in inserts:
            conn.executemany(sql, rows)
        conn.commit()
        return conn.serialize()
    finally:
        conn.close()


try:  # the C row binder (_stage_pack.c); _pack_python is its specification
    from aitrack.store import _stage_pack as _c  # type: ignore[attr-defined]
except ImportError:  # built without a compiler
    _c = None


@functools.cache
def _c_library() -> str | None:
    """The file of the SQLite library Python's sqlite3 module runs on, for the C binder (the
    same library writes the same images); None where the C binder is missing or the library
    is not a shared one this process maps (then the rows are bound in Python)."""
    if _c is None or not hasattr(sqlite3.Connection, "serialize"):
        return None
    try:
        with open("/proc/self/maps") as maps:  # Linux; elsewhere the Python path
            for line in maps:
                path = line.rstrip("\n").partition("/")[2]
                if "libsqlite3" in path.rpartition("/")[2]:
                    _c.pack("/" + path, ["CREATE TABLE t (x)"], [], [])  # loads it, or OSError
                    return "/" + path
    except OSError:
        pass
    return None


def staged_runs(db: Any, session_exts: Sequence[str]) -> list[tuple[str, str, int]]:
    """(session ext, run ext, started) of the staged main-chain runs of these sessions, in
    the order they were read (for adopting hook-made runs)."""
    if not session_exts:
        return []
    marks = ", ".join("?" for _ in session_exts)
    rows = db.query(
        "SELECT session_ext, run_ext, started FROM stage.stage_runs "
        f"WHERE NOT side AND session_ext IN ({marks}) ORDER BY rowid",
        list(session_exts),
    )
    return [(r["session_ext"], r["run_ext"], r["started"]) for r in rows]


def load(db: Database, image: bytes, smap: dict[str, str]) -> None:
    """Make a packed image and the session map (agent session id -> our id) readable."""
    db.load_stage(image)  # type: ignore[attr-defined]
    db.use_scratch()  # type: ignore[attr-defined]
    db.execute(
        "CREATE TABLE IF NOT EXISTS scratch.stage_smap (ext TEXT PRIMARY KEY, sid TEXT NOT NULL)"
    )
    db.execute("DELETE FROM scratch.stage_smap")
    db.executemany("INSERT INTO scratch.stage_smap VALUES (?, ?)", list(smap.items()))


def merge(db: Database, source: str, upsert: bool = True) -> tuple[int, int, int | None]:
    """Upsert the loaded stage into runs, tool_calls and api_calls (runs first: the others
    find theirs). Returns (runs, tool calls) written, rows of unknown sessions left out,
    and the rowid of the first api_call appended (see below; else None).

    ``upsert=False`` (inside `AgentStore.bulk_load`, which dropped the dedup_key index and
    the tool calls' key index): tool calls and api_calls are appended, and the load's end
    reduces their copies to what the upserts would have kept. Where every staged api_call
    was appended, in stage order, as the rowids after the store's last one, the first of
    those rowids: the load's end then finds the copies of a response by rowid.
    """
    runs = db.execute(_RUNS)  # every staged row of a known session: inserted or updated
    db.execute(
        "CREATE TABLE IF NOT EXISTS scratch.stage_moved_runs (staged TEXT PRIMARY KEY, stored TEXT)"
    )
    db.execute("DELETE FROM scratch.stage_moved_runs")
    moved = db.execute(_MOVED_RUNS) > 0
    tools = db.execute(_TOOLS[moved] + TOOL_CONFLICT if upsert else _TOOLS[moved])
    if upsert:
        db.execute(_APIS[moved] + API_CONFLICT, (source,))
        return runs, tools, None
    last = db.scalar("SELECT max(rowid) FROM api_calls") or 0
    appended = db.execute(_APIS[moved] + "ORDER BY a.rowid", (source,))  # in stage order
    staged = db.scalar("SELECT count(*) FROM stage.stage_apis")
    end = db.scalar("SELECT max(rowid) FROM api_calls") or 0
    in_sequence = appended == staged and end == last + appended
    return runs, tools, last + 1 if in_sequence else None
