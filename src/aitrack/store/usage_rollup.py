"""Rollups and covering indexes that let reports read a large store without scanning it.

Three tables, kept exact by database triggers on every insert, update and delete, whoever
writes (tracker, proxy, importers, sync):

- `api_usage_by_session`: per session, model and provider, the sums of api_calls (calls,
  tokens of every kind, billable tokens, priced cost, priced calls), with the session's start
  and whether it counts for ROI (completed, not human review) copied from the session. Calls
  outside any session are kept under session_id ''.
- `session_rollup`: per session, API calls, priced calls, cost and billable tokens, plus
  commits, files changed and lines added/removed (from the commits and changes tables).
- `api_spend_by_bucket`: per 15 minutes of call time, calls, priced calls and cost: the
  spend of any local day or month in a few hundred rows.

Reports read these instead of a million api_calls.
"""

from __future__ import annotations

from aitrack.store.database import Database
from aitrack.store.records import TOKEN_COLUMNS
from aitrack.vocab import EXCLUDED_FROM_ROI

TOKENS = TOKEN_COLUMNS
BUCKET_MS = 900_000
_BILLABLE = TOKENS[:5]
_USAGE_MEASURES = ("calls", *TOKENS, "tokens", "cost_usd", "priced_calls")
_ROLLUP = (
    "api_calls",
    "priced_calls",
    "cost_usd",
    "tokens",
    "commits",
    "files_changed",
    "lines_added",
    "lines_removed",
)
_API_WATCHED = ("session_id", "model", "provider", "ts", *TOKENS, "cost_usd")
_EXCLUDED = ", ".join(f"'{t}'" for t in EXCLUDED_FROM_ROI)
PRODUCTIVE_SQL = f"(status = 'completed' AND task_type NOT IN ({_EXCLUDED}))"

# Sessions by start with every column the period aggregates read (totals, ROI, ratings, gaps,
# grouping and filter columns): a period scan never touches the wide session rows.
SESSION_COLUMNS = (
    "status, task_type, outcome, capped, end_time, last_activity, estimate_minutes, "
    "final_estimate_minutes, interaction_count, rating_sum, rating_1, rating_2, rating_3, "
    "rating_4, rating_5, gap_count, gap_sum_ms, gap_max_ms, long_gap_count, issue_count, "
    "repo_path, branch, agent, model, developer, id"
)
# usage by model over a period of session starts, without touching sessions
_USAGE_BY_MODEL = (
    "session_start, productive, cost_usd, tokens, calls, priced_calls, "
    + ", ".join(TOKENS)
    + ", provider"
)


def _tables(sqlite: bool) -> list[str]:
    suffix = " WITHOUT ROWID" if sqlite else ""
    big = "BIGINT NOT NULL DEFAULT 0"
    money = "DOUBLE PRECISION NOT NULL DEFAULT 0"
    tokens = ", ".join(f"{t} {big}" for t in TOKENS)
    return [
        "CREATE TABLE api_usage_by_session (session_id TEXT NOT NULL, model TEXT NOT NULL, "
        "provider TEXT NOT NULL, session_start BIGINT, productive INTEGER NOT NULL DEFAULT 0, "
        f"calls {big}, {tokens}, tokens {big}, cost_usd {money}, priced_calls {big}, "
        f"PRIMARY KEY (session_id, model, provider)){suffix}",
        f"CREATE TABLE session_rollup (session_id TEXT PRIMARY KEY, api_calls {big}, "
        f"priced_calls {big}, cost_usd {money}, tokens {big}, commits {big}, "
        f"files_changed {big}, lines_added {big}, lines_removed {big}){suffix}",
        f"CREATE TABLE api_spend_by_bucket (bucket BIGINT PRIMARY KEY, calls {big}, "
        f"priced_calls {big}, cost_usd {money}){suffix}",
    ]


def _upsert(
    table: str,
    keys: tuple[str, ...],
    measures: tuple[str, ...],
    values: str,
    extra: tuple[str, ...] = (),
) -> str:
    sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in measures)
    return (
        f"INSERT INTO {table} ({', '.join((*keys, *extra, *measures))}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    )


def _api_deltas(row: str) -> dict[str, str]:
    return {
        "calls": "1",
        **{t: f"{row}.{t}" for t in TOKENS},
        "tokens": " + ".join(f"{row}.{t}" for t in _BILLABLE),
        "cost_usd": f"COALESCE({row}.cost_usd, 0)",
        "priced_calls": f"CASE WHEN {row}.cost_usd IS NULL THEN 0 ELSE 1 END",
    }


def _usage_key(row: str) -> str:
    return (
        f"session_id = COALESCE({row}.session_id, '') AND model = {row}.model "
        f"AND provider = COALESCE({row}.provider, '')"
    )


def _usage_add(row: str) -> str:
    d = _api_deltas(row)
    session = f"FROM sessions WHERE id = {row}.session_id"
    values = ", ".join(
        (
            f"COALESCE({row}.session_id, '')",
            f"{row}.model",
            f"COALESCE({row}.provider, '')",
            f"(SELECT start_time {session})",
            f"COALESCE((SELECT CASE WHEN {PRODUCTIVE_SQL} THEN 1 ELSE 0 END {session}), 0)",
            *(d[m] for m in _USAGE_MEASURES),
        )
    )
    return _upsert(
        "api_usage_by_session",
        ("session_id", "model", "provider"),
        _USAGE_MEASURES,
        values,
        extra=("session_start", "productive"),
    )


def _usage_remove(row: str) -> list[str]:
    d = _api_deltas(row)
    sets = ", ".join(f"{m} = {m} - ({d[m]})" for m in _USAGE_MEASURES)
    return [
        f"UPDATE api_usage_by_session SET {sets} WHERE {_usage_key(row)}",
        f"DELETE FROM api_usage_by_session WHERE {_usage_key(row)} AND calls <= 0",
    ]


def _rollup_deltas(row: str, kind: str) -> dict[str, str]:
    if kind == "api":
        d = _api_deltas(row)
        return {
            "api_calls": "1",
            "priced_calls": d["priced_calls"],
            "cost_usd": d["cost_usd"],
            "tokens": d["tokens"],
        }
    if kind == "commit":
        return {"commits": "1"}
    return {
        "files_changed": "1",
        "lines_added": f"{row}.lines_added",
        "lines_removed": f"{row}.lines_removed",
    }


def _rollup_add(row: str, kind: str) -> str:
    d = _rollup_deltas(row, kind)
    return _upsert(
        "session_rollup", ("session_id",), tuple(d), ", ".join((f"{row}.session_id", *d.values()))
    )


def _rollup_remove(row: str, kind: str) -> str:
    sets = ", ".join(f"{c} = {c} - ({v})" for c, v in _rollup_deltas(row, kind).items())
    return f"UPDATE session_rollup SET {sets} WHERE session_id = {row}.session_id"


def _spend_add(row: str) -> str:
    d = _api_deltas(row)
    return _upsert(
        "api_spend_by_bucket",
        ("bucket",),
        ("calls", "priced_calls", "cost_usd"),
        f"{row}.ts / {BUCKET_MS}, 1, {d['priced_calls']}, {d['cost_usd']}",
    )


def _spend_remove(row: str) -> str:
    d = _api_deltas(row)
    return (
        f"UPDATE api_spend_by_bucket SET calls = calls - 1, priced_calls = priced_calls - "
        f"({d['priced_calls']}), cost_usd = cost_usd - ({d['cost_usd']}) "
        f"WHERE bucket = {row}.ts / {BUCKET_MS}"
    )


# table: (kind, columns whose update moves the row's contribution)
_TRIGGERED = {
    "api_calls": ("api", _API_WATCHED),
    "commits": ("commit", ("session_id",)),
    "changes": ("change", ("session_id", "lines_added", "lines_removed")),
}


def _steps(kind: str, removing: bool, guard: str) -> list[str]:
    """Statements for one removed (OLD) or added (NEW) row; `guard` wraps the session_rollup
    statement of an api call so calls outside sessions skip it."""
    row = "OLD" if removing else "NEW"
    if kind != "api":
        return [_rollup_remove(row, kind) if removing else _rollup_add(row, kind)]
    if removing:
        return [*_usage_remove(row), _rollup_remove(row, kind), _spend_remove(row)]
    return [_usage_add(row), guard.format(sql=_rollup_add(row, kind), row=row), _spend_add(row)]


def _sqlite_only_with_session(sql: str) -> str:
    """INSERT ... VALUES (...) ON CONFLICT -> INSERT ... SELECT ... WHERE NEW.session_id IS NOT
    NULL ON CONFLICT, for the session_rollup statement of an api call."""
    if not sql.startswith("INSERT INTO session_rollup"):
        return sql
    head, rest = sql.split(" VALUES (", 1)
    values, tail = rest.rsplit(") ON CONFLICT", 1)
    return f"{head} SELECT {values} WHERE NEW.session_id IS NOT NULL ON CONFLICT{tail}"


def _session_sync(row: str = "NEW") -> str:
    return (
        f"UPDATE api_usage_by_session SET session_start = {row}.start_time, productive = "
        f"CASE WHEN {PRODUCTIVE_SQL.replace('status', row + '.status').replace('task_type', row + '.task_type')} "
        f"THEN 1 ELSE 0 END WHERE session_id = {row}.id"
    )


def _session_cleanup(row: str = "OLD") -> list[str]:
    return [
        f"DELETE FROM session_rollup WHERE session_id = {row}.id",
        f"DELETE FROM api_usage_by_session WHERE session_id = {row}.id",
    ]


def _sqlite_triggers(db: Database) -> None:
    for table, (kind, watched) in _TRIGGERED.items():
        for op in ("INSERT", "DELETE", "UPDATE"):
            steps = []
            if op in ("DELETE", "UPDATE"):
                steps += _steps(kind, True, "{sql}")
            if op in ("INSERT", "UPDATE"):
                steps += [
                    _sqlite_only_with_session(s) if kind == "api" else s
                    for s in _steps(kind, False, "{sql}")
                ]
            event = f"UPDATE OF {', '.join(watched)}" if op == "UPDATE" else op
            db.execute(
                f"CREATE TRIGGER {table}_rollup_on_{op.lower()} AFTER {event} ON {table} "
                f"BEGIN {'; '.join(steps)}; END"
            )
    db.execute(
        "CREATE TRIGGER sessions_rollup_on_update AFTER UPDATE OF start_time, status, "
        f"task_type ON sessions BEGIN {_session_sync()}; END"
    )
    db.execute(
        "CREATE TRIGGER sessions_rollup_on_delete AFTER DELETE ON sessions BEGIN "
        f"{'; '.join(_session_cleanup())}; END"
    )


def _postgres_triggers(db: Database) -> None:
    guard = "IF {row}.session_id IS NOT NULL THEN {sql}; END IF"
    for table, (kind, watched) in _TRIGGERED.items():
        removed = "; ".join(_steps(kind, True, guard))
        added = "; ".join(_steps(kind, False, guard))
        db.execute(
            f"CREATE FUNCTION aitrack_{table}_rollup() RETURNS trigger LANGUAGE plpgsql AS "
            f"$body$ BEGIN IF TG_OP IN ('UPDATE', 'DELETE') THEN {removed}; END IF; "
            f"IF TG_OP IN ('INSERT', 'UPDATE') THEN {added}; END IF; RETURN NULL; END $body$"
        )
        db.execute(
            f"CREATE TRIGGER {table}_rollup AFTER INSERT OR DELETE OR UPDATE OF "
            f"{', '.join(watched)} ON {table} FOR EACH ROW EXECUTE FUNCTION "
            f"aitrack_{table}_rollup()"
        )
    db.execute(
        "CREATE FUNCTION aitrack_sessions_rollup() RETURNS trigger LANGUAGE plpgsql AS $body$ "
        f"BEGIN IF TG_OP = 'DELETE' THEN {'; '.join(_session_cleanup())}; "
        f"ELSE {_session_sync()}; END IF; RETURN NULL; END $body$"
    )
    db.execute(
        "CREATE TRIGGER sessions_rollup AFTER DELETE OR UPDATE OF start_time, status, task_type "
        "ON sessions FOR EACH ROW EXECUTE FUNCTION aitrack_sessions_rollup()"
    )


def _backfill(db: Database) -> None:
    add_usage(db, calls_usage("true"))
    sets = ", ".join(f"{c} = session_rollup.{c} + excluded.{c}" for c in _ROLLUP[4:])
    db.execute(
        "INSERT INTO session_rollup (session_id, commits) SELECT session_id, count(*) "
        "FROM commits GROUP BY session_id "
        f"ON CONFLICT (session_id) DO UPDATE SET {sets}"
    )
    db.execute(
        "INSERT INTO session_rollup (session_id, files_changed, lines_added, lines_removed) "
        "SELECT session_id, count(*), sum(lines_added), sum(lines_removed) FROM changes "
        f"GROUP BY session_id ON CONFLICT (session_id) DO UPDATE SET {sets}"
    )


# A usage source: rows of (bucket, session_id, model, provider, then USAGE_SUMS), one per call
# or already summed per bucket, session, model and provider (a staged import batch).
USAGE_SUMS = ("calls", *TOKENS, "cost_usd", "priced_calls")


def calls_usage(where: str) -> str:
    """The usage source of the api_calls rows matching `where` (SQL over alias ``a``)."""
    return (
        f"SELECT a.ts / {BUCKET_MS} AS bucket, a.session_id, a.model, a.provider, 1 AS calls, "
        + ", ".join(f"a.{t}" for t in TOKENS)
        + ", COALESCE(a.cost_usd, 0) AS cost_usd, "
        f"CASE WHEN a.cost_usd IS NULL THEN 0 ELSE 1 END AS priced_calls FROM api_calls a "
        f"WHERE {where}"
    )


def add_usage(db: Database, source: str, sign: int = 1, per_session: str | None = None) -> None:
    """Add a usage source (see USAGE_SUMS) to the three rollups, or with sign -1 take it
    away, as the row triggers would call by call: the upkeep of a bulk load that dropped
    them. Rows left without calls go, as the triggers remove them. per_session: the same
    usage summed per session, model and provider (without its bucket), which the two
    session rollups then read: far fewer rows to group."""
    sessions = per_session or source
    m = "-" if sign < 0 else ""
    billable = " + ".join(f"u.{t}" for t in _BILLABLE)
    productive = PRODUCTIVE_SQL.replace("status", "s.status").replace("task_type", "s.task_type")

    def adding(table: str, columns: tuple[str, ...]) -> str:
        return ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns)

    db.execute(
        "INSERT INTO api_usage_by_session (session_id, model, provider, session_start, "
        f"productive, {', '.join(_USAGE_MEASURES)}) SELECT COALESCE(u.session_id, ''), u.model, "
        f"COALESCE(u.provider, ''), max(s.start_time), max(CASE WHEN {productive} "
        f"THEN 1 ELSE 0 END), {m}sum(u.calls), "
        + ", ".join(f"{m}sum(u.{t})" for t in TOKENS)
        + f", {m}sum({billable}), {m}sum(u.cost_usd), {m}sum(u.priced_calls) "
        f"FROM ({sessions}) u LEFT JOIN sessions s ON s.id = u.session_id "
        "GROUP BY COALESCE(u.session_id, ''), u.model, COALESCE(u.provider, '') "
        "ON CONFLICT (session_id, model, provider) DO UPDATE SET "
        + adding("api_usage_by_session", _USAGE_MEASURES)
    )
    db.execute(
        f"INSERT INTO session_rollup (session_id, {', '.join(_ROLLUP[:4])}) "
        f"SELECT u.session_id, {m}sum(u.calls), {m}sum(u.priced_calls), {m}sum(u.cost_usd), "
        f"{m}sum({billable}) FROM ({sessions}) u WHERE u.session_id IS NOT NULL "
        f"GROUP BY u.session_id ON CONFLICT (session_id) DO UPDATE SET "
        + adding("session_rollup", _ROLLUP[:4])
    )
    db.execute(
        "INSERT INTO api_spend_by_bucket (bucket, calls, priced_calls, cost_usd) "
        f"SELECT u.bucket, {m}sum(u.calls), {m}sum(u.priced_calls), {m}sum(u.cost_usd) "
        f"FROM ({source}) u GROUP BY u.bucket ON CONFLICT (bucket) DO UPDATE SET "
        + adding("api_spend_by_bucket", ("calls", "priced_calls", "cost_usd"))
    )
    if sign < 0:
        db.execute("DELETE FROM api_usage_by_session WHERE calls <= 0")


def create_usage_rollup_and_indexes(db: Database) -> None:
    """Migration: the rollup tables, their triggers and backfill, and covering indexes."""
    sqlite = db.dialect == "sqlite"
    for sql in _tables(sqlite):
        db.execute(sql)
    if sqlite:
        db.execute(
            f"CREATE INDEX sessions_by_start_covering ON sessions (start_time, {SESSION_COLUMNS})"
        )
        db.execute(
            f"CREATE INDEX api_usage_by_model_start ON api_usage_by_session (model, "
            f"{_USAGE_BY_MODEL})"
        )
        _sqlite_triggers(db)
    else:
        db.execute(
            "CREATE INDEX sessions_by_start_covering ON sessions (start_time) "
            f"INCLUDE ({SESSION_COLUMNS})"
        )
        db.execute(
            "CREATE INDEX api_usage_by_model_start ON api_usage_by_session (model, "
            f"session_start) INCLUDE ({_USAGE_BY_MODEL.split(', ', 1)[1]})"
        )
        _postgres_triggers(db)
    db.execute("CREATE INDEX api_calls_by_ts_cost ON api_calls (ts, cost_usd)")
    db.execute(
        "CREATE INDEX issues_by_session_kind ON issues (session_id, issue_type, severity, resolved)"
    )
    _backfill(db)


# -- bulk loads ----------------------------------------------------------------------------------
# What a bulk load may switch off on api_calls, keeping the rollups with add_api_calls.
API_CALL_TRIGGERS = tuple(f"api_calls_rollup_on_{op}" for op in ("insert", "delete", "update"))
