"""The bulk load of a large cold import (rollup triggers and plain indexes dropped, each
batch's usage gathered and counted into the rollups at the end, all in one transaction) gives
the store a row-by-row import gives, and orjson reads transcript lines exactly as json does."""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import resource
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.test_import_transcripts import generate, per_model, truth

import aitrack.importing.transcripts as importing
from aitrack.agent_sessions import PROMPT_CHARS, prompt_text
from aitrack.importing.transcripts import TranscriptImporter
from aitrack.store import open_store
from aitrack.store.agents import AgentStore, BulkLoad
from aitrack.store.usage_rollup import calls_usage
from aitrack.tracker import Tracker
from aitrack.transcripts.records import as_int, loads
from aitrack.usage import record_api_call

ROLLUPS = ("api_usage_by_bucket", "api_usage_by_session", "session_rollup", "api_spend_by_bucket")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("gen") / "claude", "claude-code", sessions=10)


def rollups(tracker: Tracker) -> dict[str, list[tuple]]:
    """Each rollup's rows, sorted, costs rounded (sums in another order differ in the last
    bits), rows that hold nothing left out (row-by-row upkeep may leave zeroed rows)."""
    names = {
        r["id"]: r["external_id"] for r in tracker.db.query("SELECT id, external_id FROM sessions")
    }
    out = {}
    for table in ROLLUPS:
        rows = []
        for r in tracker.db.query(f"SELECT * FROM {table}"):
            if "session_id" in r:  # ids differ between stores: compare the agents' session ids
                r["session_id"] = names.get(r["session_id"], r["session_id"])
            values = tuple(round(v, 9) if isinstance(v, float) else v for k, v in sorted(r.items()))
            measures = [v for k, v in r.items() if isinstance(v, int | float) and k not in (
                "bucket", "session_start", "productive")]  # fmt: skip
            if any(measures):
                rows.append(values)
        out[table] = sorted(rows, key=repr)
    return out


def schema(tracker: Tracker) -> list[tuple]:
    return sorted(
        (r["type"], r["name"], r["sql"])
        for r in tracker.db.query("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL")
    )


def calls_and_tools(tracker: Tracker) -> tuple[list[tuple], list[tuple]]:
    """Every api_call and tool call as the agent's ids name them (our ids differ by store)."""
    calls = tracker.db.query(
        "SELECT a.dedup_key, s.external_id AS session, r.external_id AS run, a.ts, a.model, "
        "a.input_tokens, a.output_tokens, a.cache_read_tokens, a.cache_write_5m_tokens, "
        "a.cache_write_1h_tokens, a.is_sidechain, a.request_id, round(a.cost_usd, 9) AS cost "
        "FROM api_calls a LEFT JOIN sessions s ON s.id = a.session_id "
        "LEFT JOIN runs r ON r.id = a.run_id"
    )
    tools = tracker.db.query(
        "SELECT s.external_id AS session, t.external_id, r.external_id AS run, t.ts, t.name, "
        "t.duration_ms, t.ok FROM tool_calls t JOIN sessions s ON s.id = t.session_id "
        "LEFT JOIN runs r ON r.id = t.run_id"
    )
    return (
        sorted((tuple(r.values()) for r in calls), key=repr),
        sorted((tuple(r.values()) for r in tools), key=repr),
    )


def loaded(tmp_path: Path, name: str, corpus: Path, bulk: bool, monkeypatch) -> Tracker:
    tracker = Tracker(open_store(str(tmp_path / f"{name}.db")))
    # a call outside any session and one in a hook-made session, stored before the import
    record_api_call(tracker, model="claude-sonnet-4-5", source="proxy", ts=1_760_000_000_000,
                    input_tokens=10, output_tokens=5, dedup_key="outside")  # fmt: skip
    monkeypatch.setattr(importing, "BULK_MIN_BYTES", 0 if bulk else 10**15)
    TranscriptImporter(tracker).import_agent("claude-code", [corpus], workers=1)
    return tracker


def test_a_bulk_load_gives_the_rollups_of_a_row_by_row_import(tmp_path, corpus, monkeypatch):
    rowwise = loaded(tmp_path, "rowwise", corpus, False, monkeypatch)
    bulk = loaded(tmp_path, "bulk", corpus, True, monkeypatch)
    assert per_model(bulk, "claude-code") == truth(corpus, "claude-code")
    assert rollups(bulk) == rollups(rowwise)
    assert all(rollups(bulk)[t] for t in ROLLUPS)
    assert schema(bulk) == schema(rowwise)  # triggers and indexes are back, as they were


def test_a_bulk_load_in_many_batches_keeps_the_best_copy_of_each_response(
    tmp_path, corpus, monkeypatch
):
    """Copies of one response in files of different batches (resumed sessions, /btw asides)
    meet only at the load's end, where the copy the upsert would keep must remain."""
    rowwise = loaded(tmp_path, "rowwise", corpus, False, monkeypatch)
    monkeypatch.setattr(importing, "BATCH_FILES", 1)
    bulk = loaded(tmp_path, "bulk", corpus, True, monkeypatch)
    monkeypatch.setattr(importing, "BATCH_FILES", 1)
    batched = loaded(tmp_path, "batched", corpus, False, monkeypatch)
    assert per_model(bulk, "claude-code") == truth(corpus, "claude-code")
    assert calls_and_tools(bulk) == calls_and_tools(rowwise) == calls_and_tools(batched)
    assert rollups(bulk) == rollups(rowwise)
    assert schema(bulk) == schema(rowwise)


def watched_loads(monkeypatch) -> list[BulkLoad]:
    """The BulkLoad of every bulk load from now on, as its body saw it."""
    loads: list[BulkLoad] = []
    real = AgentStore.bulk_load

    @contextmanager
    def watched(self: AgentStore) -> Iterator[BulkLoad]:
        with real(self) as load:
            loads.append(load)
            yield load

    monkeypatch.setattr(AgentStore, "bulk_load", watched)
    return loads


def test_the_copies_of_a_response_in_several_batches_are_found_by_rowid_not_by_a_scan(
    tmp_path, corpus, monkeypatch
):
    """Each batch's api_calls take the rowids after the store's last one in the order of
    their keys, so the end looks up only the copies' rows; the result is the upserts'."""
    with_prompt_only = tmp_path / "corpus"  # and a file with no API response: a batch of none
    shutil.copytree(corpus, with_prompt_only)
    first = next(with_prompt_only.rglob("*.jsonl"))
    prompt = next(ln for ln in first.read_text().splitlines() if '"type":"user"' in ln)
    (first.parent / "0-prompt-only.jsonl").write_text(prompt + "\n")
    corpus = with_prompt_only
    rowwise = loaded(tmp_path, "rowwise", corpus, False, monkeypatch)
    monkeypatch.setattr(importing, "BATCH_FILES", 1)
    loads = watched_loads(monkeypatch)
    reductions: list[str] = []
    real = AgentStore._drop_worse_copies
    monkeypatch.setattr(
        AgentStore, "_drop_worse_copies", lambda self, c: (reductions.append(c), real(self, c))
    )
    bulk = loaded(tmp_path, "bulk", corpus, True, monkeypatch)
    [load] = loads
    assert load.seen is not None and len(load.copies) >= 2  # no batch fell back to the scan
    assert reductions == ["rowid IN (SELECT r FROM scratch.bulk_copies)"]  # and it found all
    stored = {
        r["dedup_key"]: r["r"] for r in bulk.db.query("SELECT dedup_key, rowid AS r FROM api_calls")
    }
    assert len(load.seen) == len(stored) and not load.copies.isdisjoint(stored.values())
    assert calls_and_tools(bulk) == calls_and_tools(rowwise)
    assert rollups(bulk) == rollups(rowwise)


def test_a_bulk_load_through_worker_processes_gives_the_rollups_of_a_row_by_row_import(
    tmp_path, corpus, monkeypatch
):
    """With workers (many small tasks), the batches are stored in the order of their files
    whichever ends first: of two copies of a response that tie, the first by path stays."""
    rowwise = loaded(tmp_path, "rowwise", corpus, False, monkeypatch)
    monkeypatch.setattr(importing, "TASK_BYTES", 64 * 1024)
    monkeypatch.setattr(importing, "BULK_MIN_BYTES", 0)
    pooled = Tracker(open_store(str(tmp_path / "pooled.db")))
    record_api_call(pooled, model="claude-sonnet-4-5", source="proxy", ts=1_760_000_000_000,
                    input_tokens=10, output_tokens=5, dedup_key="outside")  # fmt: skip
    TranscriptImporter(pooled).import_agent("claude-code", [corpus], workers=2)
    assert per_model(pooled, "claude-code") == truth(corpus, "claude-code")
    assert calls_and_tools(pooled) == calls_and_tools(rowwise)
    assert rollups(pooled) == rollups(rowwise)
    assert schema(pooled) == schema(rowwise)


def test_sqlite_without_serialize_imports_row_by_row_with_the_same_result(
    tmp_path, corpus, monkeypatch
):
    staged = loaded(tmp_path, "staged", corpus, True, monkeypatch)
    monkeypatch.setattr(importing, "_packs", lambda db: False)
    rows = loaded(tmp_path, "rows", corpus, True, monkeypatch)
    assert per_model(rows, "claude-code") == truth(corpus, "claude-code")
    assert calls_and_tools(rows) == calls_and_tools(staged)
    assert rollups(rows) == rollups(staged)
    assert schema(rows) == schema(staged)


def grown_twice(tmp_path: Path, name: str, corpus: Path, monkeypatch) -> Tracker:
    """Every file of corpus cut inside a run and imported, then completed and imported again."""
    growing = tmp_path / f"{name}-files"
    full = {}
    for path in sorted(corpus.rglob("*.jsonl")):
        copy = growing / path.relative_to(corpus)
        copy.parent.mkdir(parents=True, exist_ok=True)
        data = full[copy] = path.read_bytes()
        cut = data.rfind(b'"type":"tool_result"', 0, len(data) // 2)  # inside a run
        copy.write_bytes(data[: data.rfind(b"\n", 0, cut if cut > 0 else len(data) // 2) + 1])
    tracker = loaded(tmp_path, name, growing, False, monkeypatch)
    runs = "SELECT id, session_id, external_id FROM runs"
    before = tracker.db.query(runs)
    for copy, data in full.items():
        copy.write_bytes(data)
    TranscriptImporter(tracker).import_agent("claude-code", [growing], workers=1)
    kept = {(r["session_id"], r["external_id"]): r["id"] for r in tracker.db.query(runs)}
    assert all(kept[(r["session_id"], r["external_id"])] == r["id"] for r in before)
    return tracker


def test_rows_read_on_in_a_later_import_join_the_runs_an_earlier_import_stored(
    tmp_path, corpus, monkeypatch
):
    """The staged runs' new ids give way to the stored ones, as the row-by-row path, which
    looks every run up by name, has it."""
    staged = grown_twice(tmp_path, "staged", corpus, monkeypatch)
    monkeypatch.setattr(importing, "_packs", lambda db: False)
    rows = grown_twice(tmp_path, "rows", corpus, monkeypatch)
    assert calls_and_tools(staged) == calls_and_tools(rows)
    linked = "SELECT count(*) FROM {} WHERE run_id IS NOT NULL"
    assert staged.db.scalar(linked.format("tool_calls")) > 0
    for table in ("api_calls", "tool_calls"):
        assert staged.db.scalar(linked.format(table)) == rows.db.scalar(linked.format(table))


def test_after_a_bulk_load_the_triggers_keep_the_rollups_again(tmp_path, corpus, monkeypatch):
    rowwise = loaded(tmp_path, "rowwise", corpus, False, monkeypatch)
    bulk = loaded(tmp_path, "bulk", corpus, True, monkeypatch)
    for tracker in (rowwise, bulk):
        record_api_call(tracker, model="claude-opus-4-1", source="proxy", ts=1_760_000_900_000,
                        input_tokens=7, output_tokens=3, dedup_key="later")  # fmt: skip
        tracker.db.execute("DELETE FROM api_calls WHERE dedup_key = 'outside'")
    assert rollups(bulk) == rollups(rowwise)


def test_a_bulk_load_that_fails_leaves_triggers_indexes_and_rows_as_they_were(tmp_path):
    tracker = Tracker(open_store(str(tmp_path / "a.db")))
    record_api_call(tracker, model="m", source="proxy", ts=1_760_000_000_000, input_tokens=1,
                    dedup_key="k1")  # fmt: skip
    before, sums = schema(tracker), rollups(tracker)
    with pytest.raises(RuntimeError), tracker.db.transaction(), AgentStore(tracker.db).bulk_load():
        tracker.db.execute("DELETE FROM api_calls")
        raise RuntimeError("crash mid-load")
    assert schema(tracker) == before
    assert rollups(tracker) == sums
    assert tracker.db.scalar("SELECT count(*) FROM api_calls") == 1


def test_copies_a_bulk_load_body_did_not_name_are_still_reduced_to_the_best(tmp_path):
    tracker = Tracker(open_store(str(tmp_path / "a.db")))
    insert = (
        "INSERT INTO api_calls (id, ts, model, source, input_tokens, output_tokens, dedup_key) "
        "VALUES (?, 1760000000000, 'm', 'test', ?, 1, ?)"
    )
    with tracker.db.transaction(), AgentStore(tracker.db).bulk_load() as load:
        assert load.appending
        tracker.db.execute(insert, ("A1", 5, "k1"))
        tracker.db.execute(insert, ("A2", 9, "k1"))  # the better copy
        tracker.db.execute(insert, ("B1", 3, "k2"))
        load.appended(["k2"], 3)  # k1 was never named
        AgentStore(tracker.db).add_to_rollups(calls_usage("true"))
    rows = tracker.db.query("SELECT id FROM api_calls ORDER BY id")
    assert [r["id"] for r in rows] == ["A2", "B1"]
    assert tracker.db.scalar("SELECT sum(calls) FROM api_spend_by_bucket") == 2
    assert tracker.db.scalar("SELECT sum(input_tokens) FROM api_usage_by_session") == 12


def test_a_tool_call_a_bulk_load_appends_twice_keeps_its_first_copy_filled_from_the_later(
    tmp_path,
):
    """Tool calls are appended without their upsert; the end merges the copies of one (the
    same session and external id) as the upsert would have: the first copy's id, time and
    name, each empty field from the first later copy that has it."""
    tracker = Tracker(open_store(str(tmp_path / "a.db")))
    sid = tracker.start_session("s")[0]["id"]
    tracker.db.execute(f"INSERT INTO runs (id, session_id, started_at) VALUES ('R9', '{sid}', 1)")
    insert = (
        "INSERT INTO tool_calls (id, session_id, run_id, external_id, ts, name, duration_ms, ok) "
        f"VALUES (?, '{sid}', ?, ?, ?, ?, ?, ?)"
    )
    with tracker.db.transaction(), AgentStore(tracker.db).bulk_load() as load:
        assert load.appending
        tracker.db.execute(insert, ("T1", None, "toolu_a", 10, "Bash", None, None))
        tracker.db.execute(insert, ("T2", None, "toolu_b", 20, "Read", 5, 1))
        tracker.db.execute(insert, ("T3", None, "toolu_a", 11, "Edit", 40, None))
        tracker.db.execute(insert, ("T4", "R9", "toolu_a", 12, "Grep", 50, 0))
        tracker.db.execute(insert, ("T5", None, None, 30, "Task", None, None))
        tracker.db.execute(insert, ("T6", None, None, 31, "Task", None, None))
    rows = tracker.db.query(
        "SELECT id, run_id, external_id, ts, name, duration_ms, ok FROM tool_calls ORDER BY id"
    )
    assert [tuple(r.values()) for r in rows] == [
        ("T1", "R9", "toolu_a", 10, "Bash", 40, 0),
        ("T2", None, "toolu_b", 20, "Read", 5, 1),
        ("T5", None, None, 30, "Task", None, None),  # no external id: never one tool call
        ("T6", None, None, 31, "Task", None, None),
    ]
    with pytest.raises(sqlite3.IntegrityError):  # the key index is back
        tracker.db.execute(insert, ("T7", None, "toolu_b", 21, "Read", None, None))


def test_a_transcript_copied_under_another_project_imports_in_bulk_as_row_by_row(
    tmp_path, corpus, monkeypatch
):
    """A session's file copied elsewhere (the same session, its tool calls stored twice in
    one bulk load) gives the store the row-by-row upserts give."""
    copied = tmp_path / "copied"
    shutil.copytree(corpus, copied)
    original = sorted(copied.rglob("*.jsonl"), key=lambda p: p.stat().st_size)[-1]
    elsewhere = copied / "projects" / "-copied-elsewhere" / original.name
    elsewhere.parent.mkdir(parents=True)
    shutil.copy(original, elsewhere)
    rowwise = loaded(tmp_path, "rowwise", copied, False, monkeypatch)
    bulk = loaded(tmp_path, "bulk", copied, True, monkeypatch)
    calls, tools = calls_and_tools(bulk)
    assert (calls, tools) == calls_and_tools(rowwise)
    assert len(tools) == len({(t[0], t[1]) for t in tools}) > 0
    assert per_model(bulk, "claude-code") == truth(corpus, "claude-code")
    assert schema(bulk) == schema(rowwise)


def test_a_bulk_import_builds_its_indexes_with_sorts_in_threads_while_its_file_syncs(
    tmp_path, corpus, monkeypatch
):
    """The import keeps its working tables out of SQLite's temp schema, so the load's end
    can switch the index builds to threaded sorts (a temp table in the transaction would
    silently keep them on one CPU)."""
    loads = watched_loads(monkeypatch)
    bulk = loaded(tmp_path, "bulk", corpus, True, monkeypatch)
    assert [load.sorted_in_threads for load in loads] == [True]
    assert [load.synced_in_background for load in loads] == [hasattr(os, "fdatasync")]
    assert per_model(bulk, "claude-code") == truth(corpus, "claude-code")


@pytest.mark.skipif(not hasattr(os, "fdatasync"), reason="the platform has no fdatasync")
def test_a_store_syncs_its_file_in_a_helper_thread_while_the_body_runs(tmp_path, monkeypatch):
    db = open_store(str(tmp_path / "a.db")).db
    synced: list[tuple[str, int]] = []
    real = os.fdatasync

    def recorded(fd: int) -> None:
        synced.append((threading.current_thread().name, os.fstat(fd).st_ino))
        real(fd)

    monkeypatch.setattr(os, "fdatasync", recorded)
    with db.syncing_in_background() as syncing:
        db.execute("CREATE TABLE t (x)")
    assert syncing
    assert synced and set(synced) == {("aitrack-sync", (tmp_path / "a.db").stat().st_ino)}
    monkeypatch.delattr(os, "fdatasync")  # macOS, Windows: the body runs, nothing syncs
    with db.syncing_in_background() as syncing:
        db.execute("INSERT INTO t VALUES (1)")
    assert not syncing
    assert db.scalar("SELECT count(*) FROM t") == 1


def _page_faults_of_a_second_buffer(size: int) -> int:
    """Page faults taken filling a buffer of `size` bytes after one as large was freed."""
    first = b"x" * size
    del first
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    second = b"x" * size
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del second
    return faults


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting is glibc's mallopt")
def test_an_import_worker_reuses_freed_memory_instead_of_faulting_it_in_again():
    """A worker reads file after file and packs image after image: each buffer must reuse
    the memory of the last one. With glibc's defaults a fresh process faults all 768 pages
    of a second 3 MB buffer in again (spawned: no malloc state inherited)."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        1, mp_context=ctx, initializer=importing._init_worker, initargs=({},)
    ) as pool:
        faults = pool.submit(_page_faults_of_a_second_buffer, 3 << 20).result()
    assert faults < 50


def _page_faults_after_a_pooled_import(db: str, corpus: Path) -> int:
    TranscriptImporter(Tracker(open_store(db))).import_agent("claude-code", [corpus], workers=2)
    return _page_faults_of_a_second_buffer(3 << 20)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting is glibc's mallopt")
def test_the_importing_process_gives_freed_memory_back_again_once_its_pool_ends(tmp_path, corpus):
    """The importing process may live on (a server that imported at start): after the
    import it maps large buffers afresh and returns them, as glibc does by default."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx) as process:
        faults = process.submit(
            _page_faults_after_a_pooled_import, str(tmp_path / "a.db"), corpus
        ).result()
    assert faults > 700  # of 768 pages


def test_parallel_sorts_restore_the_settings_and_stay_on_one_thread_after_a_temp_table(tmp_path):
    db = open_store(str(tmp_path / "a.db")).db
    db.close_temp_schema()  # the migrations' ALTER TABLE opened it
    before = [db.scalar(f"PRAGMA {p}") for p in ("temp_store", "threads", "cache_size")]
    with db.transaction():
        db.use_scratch()
        db.execute("CREATE TABLE scratch.t (k TEXT)")
        with db.parallel_sorts(threads=2, cache_kb=512) as threaded:
            assert threaded
            assert db.scalar("PRAGMA threads") == 2
            assert db.scalar("PRAGMA temp_store") == 1  # sort runs in files: threads allowed
            assert db.scalar("PRAGMA cache_size") == -512
            db.execute("CREATE INDEX sessions_by_name ON sessions (name)")
    assert [db.scalar(f"PRAGMA {p}") for p in ("temp_store", "threads", "cache_size")] == before
    with db.transaction():
        db.execute("CREATE TEMP TABLE t (k TEXT)")
        db.execute("INSERT INTO temp.t VALUES ('x')")
        with db.parallel_sorts() as threaded:
            assert not threaded
            db.execute("CREATE INDEX sessions_by_agent ON sessions (agent)")
    assert [db.scalar(f"PRAGMA {p}") for p in ("temp_store", "threads", "cache_size")] == before
    names = db.query("SELECT name FROM sqlite_master WHERE name LIKE 'sessions_by_%'")
    assert {"sessions_by_name", "sessions_by_agent"} <= {r["name"] for r in names}


def test_bulk_writes_bypass_the_wal_only_while_nobody_else_has_the_store_open(tmp_path):
    path = str(tmp_path / "a.db")
    tracker = Tracker(open_store(path))
    store = AgentStore(tracker.db)
    with store.bulk_writes():
        assert tracker.db.scalar("PRAGMA journal_mode") == "truncate"
        assert tracker.db.scalar("PRAGMA temp_store") == 2  # statement journals in memory
    assert tracker.db.scalar("PRAGMA journal_mode") == "wal"
    assert tracker.db.scalar("PRAGMA temp_store") == 0

    other = open_store(path)  # e.g. the dashboard, reading
    assert other.db.scalar("SELECT count(*) FROM sessions") == 0
    started = time.monotonic()
    with store.bulk_writes():
        assert tracker.db.scalar("PRAGMA journal_mode") == "wal"
        record_api_call(tracker, model="m", source="proxy", ts=1_760_000_000_000,
                        input_tokens=1, dedup_key="k")  # fmt: skip
    assert time.monotonic() - started < 5  # no wait for the other connection
    assert other.db.scalar("SELECT count(*) FROM api_calls") == 1


def test_a_bulk_load_on_postgres_or_sqlite_keeps_the_store_exact(store_url, tmp_path, monkeypatch):
    small = generate(tmp_path / "claude", "claude-code", sessions=3, turns=3)
    tracker = Tracker(open_store(store_url))
    monkeypatch.setattr(importing, "BULK_MIN_BYTES", 0)
    TranscriptImporter(tracker).import_agent("claude-code", [small], workers=1)
    assert per_model(tracker, "claude-code") == truth(small, "claude-code")
    got = tracker.db.query_one("SELECT sum(calls) AS c FROM api_usage_by_bucket")
    assert got["c"] == tracker.db.scalar("SELECT count(*) FROM api_calls")


@pytest.mark.parametrize(
    "line",
    [b'{"a":NaN,"b":-Infinity}', b'"\\ud800"',
     b' {"a":[1.5,-0.0,1e400]} ', b'{"a":1,"a":2}', b'{"t":"\xc3\xa9"}'],
)  # fmt: skip
def test_lines_read_as_json_reads_them(line):
    got, want = loads(line), json.loads(line)
    assert json.dumps(got) == json.dumps(want)  # NaN, inf, -0.0 and big ints spelled alike


@pytest.mark.parametrize("line", [b'{"a":1}x', b"\xff", b"", b'{"a":'])
def test_lines_json_refuses_are_refused(line):
    with pytest.raises(ValueError):
        loads(line)


def test_token_counts_no_bigint_holds_count_as_zero_whichever_parser():
    assert as_int(2**63 - 1) == 2**63 - 1
    assert as_int(2**63) == as_int(float(2**70)) == as_int(loads(b"123456789012345678901")) == 0


def test_an_import_with_prompts_redacted_stores_no_prompt(tmp_path, corpus, monkeypatch):
    monkeypatch.setenv("AITRACK_REDACT_PROMPTS", "1")
    bulk = loaded(tmp_path, "bulk", corpus, True, monkeypatch)
    assert bulk.db.scalar("SELECT count(*) FROM runs") > 0
    assert bulk.db.scalar("SELECT count(*) FROM runs WHERE prompt IS NOT NULL") == 0
    monkeypatch.delenv("AITRACK_REDACT_PROMPTS")
    kept = loaded(tmp_path, "kept", corpus, True, monkeypatch)
    assert kept.db.scalar("SELECT count(*) FROM runs WHERE prompt IS NOT NULL") > 0
    assert kept.db.scalar("SELECT max(length(prompt)) FROM runs") <= PROMPT_CHARS


@pytest.mark.parametrize(
    "prompt, stored",
    [("fix the build", "fix the build"), (" \n\t", None), ("", None), (None, None),
     ("é" * 600, "é" * PROMPT_CHARS)],
    ids=["text", "blank", "empty", "none", "long"],
)  # fmt: skip
def test_a_prompt_is_stored_as_its_first_characters_and_blank_as_none(prompt, stored):
    assert prompt_text(prompt) == prompt_text(prompt, False) == stored
    assert prompt_text(prompt, True) is None
