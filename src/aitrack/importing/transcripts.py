"""Incremental import of Claude Code and Codex transcripts into sessions, runs, tool calls and
api_calls. The hooks import the tail of one transcript with this same code, so hooks and
`aitrack import` never double count.

Each file's byte offset (and the parser's carry-over state) is kept in ``import_files``: a
second run reads only what was appended or added, and skips unchanged files on size and
mtime alone. Records are upserted (sessions by agent + external id, runs and tool calls by
external id, api_calls by dedup_key keeping the copy with the most tokens), so re-reading a
file, or two processes importing it at once, changes nothing. Files the agent deletes later
stay imported. Large imports parse files in worker processes while this one writes.
"""

from __future__ import annotations

import gc
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

from aitrack.agent_sessions import (
    close_idle,
    default_name,
    lane_for,
    name_from_prompt,
    prompt_text,
    redact_prompts,
    repo_facts,
)
from aitrack.clock import now_ms
from aitrack.store.agents import AgentStore, BulkLoad

AGENTS = ("claude-code", "codex")
ADOPT_MS = 120_000  # a hook-made run and the transcript's prompt line this close are one run
POOL_MIN_BYTES = 48 * 1024 * 1024  # parse in worker processes above this much new data
TASK_BYTES = 16 * 1024 * 1024  # a worker task; each is one write transaction in the store
BATCH_API_ROWS = 25_000
BATCH_FILES = 600
BULK_MIN_BYTES = POOL_MIN_BYTES  # above this much new data (and a small store): a bulk load
BYTES_PER_CALL = 2048  # less than transcripts hold per API call

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass
class ImportSummary:
    """What one import did; `as_dict()` is the `--json` summary."""

    agent: str
    files: int = 0  # transcript files considered
    files_read: int = 0  # files with new bytes
    files_missing: int = 0  # vanished or unreadable (named in errors)
    bytes: int = 0
    lines: int = 0
    api_calls: int = 0  # API responses read (a response copied in several files counts per file)
    sessions_created: int = 0
    runs: int = 0
    tool_calls: int = 0
    skipped_malformed: int = 0
    skipped_huge: int = 0
    skipped_other: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def skipped(self) -> int:
        return self.skipped_malformed + self.skipped_huge

    def as_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "files": self.files,
            "files_read": self.files_read,
            "files_missing": self.files_missing,
            "bytes": self.bytes,
            "lines": self.lines,
            "api_calls": self.api_calls,
            "sessions_created": self.sessions_created,
            "runs": self.runs,
            "tool_calls": self.tool_calls,
            "skipped": self.skipped,
            "skipped_malformed": self.skipped_malformed,
            "skipped_huge": self.skipped_huge,
            "skipped_no_usage": self.skipped_other,
            "errors": self.errors[:50],
            "seconds": round(self.seconds, 3),
        }


# -- parsing (in this process or a worker) ------------------------------------------------------
@dataclass
class FileResult:
    path: str
    size: int
    mtime_ms: int
    end_offset: int
    state: str | None
    reset: bool
    stats: tuple[int, int, int, int, int, int]  # lines, bytes, malformed, other, api, huge
    sessions: list[Any]
    runs: list[tuple[Any, ...]]  # (session ext, run ext, started, ended, prompt, sidechain, id)
    # (session ext, run ext, ext, name, started, ended, ok, run id, id); run id: of the run
    # with that ext in runs (the store may keep another: see store/import_staging.py)
    tools: list[tuple[Any, ...]]
    apis: list[tuple[Any, ...]]  # see _api_rows
    error: str | None = None
    api_count: int = 0  # len(apis) before a batch packed them


_pricer: Any = None


def _init_worker(user_prices: dict[str, Any]) -> None:
    global _pricer
    from aitrack.pricing import BulkPricer

    _reuse_freed_memory(True)
    _pricer = BulkPricer(user_prices)
    gc.freeze()  # what the fork inherited (the price data) is never garbage: skip it


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
# A file read, a stage image (about 2 MB for a task of 16 MB of transcripts), a batch as
# received: buffers up to this size come from the heap, and are reused ...
HEAP_BUFFERS_UNDER = 4 << 20
HEAP_FREE_KEPT = 8 << 20  # ... as up to this much free memory at the top of the heap is kept
_GLIBC_THRESHOLDS = 128 << 10  # both thresholds' initial values


def _reuse_freed_memory(on: bool) -> None:
    """Let glibc reuse the memory freed after one file, stage image or batch for the next
    (on), or go back to its initial thresholds (off). By default it maps each buffer over
    128 KB afresh and gives freed memory back at once, so every page of every file read and
    image packed or loaded is faulted in and zeroed again: per GB, 100,000 page faults and
    about 0.2 s of kernel time in the workers, 25,000 more in the importing process. Workers
    live for one import and keep it on; the importing process turns it off when its pool
    ends. The peak grows by about 5 MB. Without glibc's mallopt (macOS, Windows): nothing."""
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (ImportError, OSError, AttributeError, TypeError):  # no ctypes, libc or mallopt
        return
    mallopt(_M_MMAP_THRESHOLD, HEAP_BUFFERS_UNDER if on else _GLIBC_THRESHOLDS)
    mallopt(_M_TRIM_THRESHOLD, HEAP_FREE_KEPT if on else _GLIBC_THRESHOLDS)


@dataclass
class Batch:
    """Parsed files ready to store. ``image`` holds their runs, tool calls and api_calls
    packed for the embedded store (store/import_staging.py); the results then carry none."""

    results: list[FileResult]
    first_prompt: dict[str, tuple[int, str]]  # session ext -> (time, text) of its first prompt
    referenced: set[str]  # session exts the rows refer to
    image: bytes | None = None
    call_keys: list[str] = field(default_factory=list)  # dedup keys of the packed api_calls


def _parse_task(
    agent: str, items: list[tuple[str, int, str | None, int, int]], packed: bool
) -> Batch:
    # A task makes hundreds of thousands of row tuples and no reference cycles to speak of:
    # the collector's passes over them cost about 3% of an import. One pass at the end, over
    # the young generation, where everything the task made and kept still is.
    gc.disable()
    try:
        results = [_parse_file(agent, *item, _pricer) for item in items]
        return _batch(results, packed)
    finally:
        gc.enable()
        gc.collect(0)


def _batch(results: list[FileResult], packed: bool) -> Batch:
    """The batch of these results; packed: rows moved into a stage image."""
    first_prompt: dict[str, tuple[int, str]] = {}
    referenced: set[str] = set()
    for r in results:
        for run in r.runs:
            referenced.add(run[0])
            if run[4] and not run[5]:
                seen = first_prompt.get(run[0])
                if seen is None or run[2] < seen[0]:
                    first_prompt[run[0]] = (run[2], run[4])
        referenced.update(map(_first, r.tools))
        referenced.update(map(_second, r.apis))
    referenced.discard("")
    batch = Batch(results, first_prompt, referenced)
    if packed:
        from aitrack.store import import_staging

        redacted = redact_prompts()
        runs = [
            (*run[:4], prompt_text(run[4], redacted), *run[5:]) for r in results for run in r.runs
        ]
        tools = [t for r in results for t in r.tools]
        apis = sorted(_best_calls(results).values(), key=_last)  # in id order, as staged
        batch.image = import_staging.pack(runs, tools, apis)
        batch.call_keys = [a[0] for a in apis]
        for r in results:
            r.runs, r.tools, r.apis = [], [], []
    return batch


def _best_calls(results: list[FileResult]) -> dict[str, tuple[Any, ...]]:
    """One api row per response in these results: the copy with most tokens (tie: main
    chain, then the first read)."""
    best: dict[str, tuple[Any, ...]] = {}
    for r in results:
        for a in r.apis:
            prev = best.get(a[0])
            if prev is None or a[17] > prev[17] or (a[17] == prev[17] and prev[16] and not a[16]):
                best[a[0]] = a
    return best


def _api_rows(
    calls: list[tuple[Any, ...]],
    call_ids: list[str],
    run_of: dict[tuple[str, str], str],
    pricer: Any,
) -> list[tuple[Any, ...]]:
    """FileResult.apis from ApiCallRecord field tuples, priced: (dedup_key, session ext,
    run ext, ts, provider, model, input, output, cache_read, 5m, 1h, reasoning, cost,
    cost_source, request_id, request_type, sidechain, total, run id, id). run_of: (session
    ext, run ext) -> run id. In C (_api_rows.c) where it was built, else `_api_rows_python`,
    its specification."""
    if _api_rows_c is not None:
        return _api_rows_c(calls, call_ids, run_of, pricer, _api_rows_python)  # type: ignore[no-any-return]
    return _api_rows_python(calls, call_ids, run_of, pricer)


def _api_rows_python(
    calls: Sequence[tuple[Any, ...]],
    call_ids: Sequence[str],
    run_of: dict[tuple[str, str], str],
    pricer: Any,
) -> list[tuple[Any, ...]]:
    priced = pricer.costs([(a[1], a[6], a[5], *a[7:13], a[17] == "fast") for a in calls])
    out = []
    run_id = run_of.get
    for (_, provider, key, sess, run, ts, model, i, o, cr, w5, w1, rs, request, _, side, _,
         speed), call_id, (cost, source) in zip(calls, call_ids, priced, strict=True):  # fmt: skip
        total = i + o + cr + w5 + w1
        if total == 0:  # an API error or empty response costs nothing at any price
            cost, source = 0.0, "no-usage"
        out.append((key, sess, run, ts, provider, model, i, o, cr, w5, w1, rs, cost, source,
                    request, "fast" if speed == "fast" else None, side, total,
                    run_id((sess, run)), call_id))  # fmt: skip
    return out


def _parse_file(
    agent: str, path: str, offset: int, state: str | None, size: int, mtime_ms: int, pricer: Any
) -> FileResult:
    from aitrack.transcripts import (
        ClaudeFileState,
        CodexFileState,
        FileRows,
        FileShrank,
        TranscriptError,
        parse_claude_rows,
        parse_codex_file,
    )

    claude = agent == "claude-code"
    parse_fn: Any = parse_claude_rows if claude else (lambda *a: FileRows.of(parse_codex_file(*a)))
    state_cls: Any = ClaudeFileState if claude else CodexFileState
    reset = False
    try:
        try:
            parsed = parse_fn(
                Path(path), offset, state_cls.from_dict(json.loads(state)) if state else None
            )
        except FileShrank:
            reset = True
            parsed = parse_fn(Path(path), 0, None)
    except (TranscriptError, ValueError) as exc:
        return FileResult(
            path, size, mtime_ms, offset, state, False, (0,) * 6, [], [], [], [], str(exc)
        )
    st = parsed.state
    subagent_file = claude or bool(getattr(st, "is_subagent", False))
    # A sub-agent's own record only names it: its work is attributed to the parent session.
    sessions = [s for s in parsed.sessions if not (s.parent_external_id and subagent_file)]
    s = parsed.stats
    runs, tools, apis = parsed.runs, parsed.tool_calls, parsed.api_calls
    run_ids = _ulids([r[2] for r in runs])
    tool_ids = _ulids([t[4] for t in tools])
    # each row names its run's id: the store then looks up by name only the runs it knew
    run_of = {(r[0], r[1]): rid for r, rid in zip(runs, run_ids, strict=True)}
    run_id = run_of.get
    return FileResult(
        path=path,
        size=size,
        mtime_ms=mtime_ms,
        end_offset=parsed.end_offset,
        state=st.to_json(),
        reset=reset,
        stats=(s.lines, s.bytes, s.skipped_malformed, s.skipped_other, s.api_lines, s.skipped_huge),
        sessions=sessions,
        runs=[(*r, rid) for r, rid in zip(runs, run_ids, strict=True)],
        tools=[(*t, run_id((t[0], t[1])), tid) for t, tid in zip(tools, tool_ids, strict=True)],
        apis=_api_rows(apis, _ulids([a[5] for a in apis]), run_of, pricer),
        api_count=len(apis),
    )


# -- the importer -------------------------------------------------------------------------------
class TranscriptImporter:
    """Imports transcript files for one tracker (its store and settings)."""

    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker
        self.db = tracker.db
        self.agents = AgentStore(tracker.db)
        self._bulk: BulkLoad = BulkLoad(False)  # the bulk load _run is in, if any
        self._idle_before: int | None = None  # idle rule applied: sessions idle before this

    def discover(self, agent: str, roots: Sequence[Path] | None = None) -> list[str]:
        from aitrack import transcripts

        if agent == "claude-code":
            return transcripts.claude_file_paths(roots or transcripts.default_claude_roots())
        return transcripts.codex_file_paths(roots or transcripts.default_codex_roots())

    def import_agent(
        self,
        agent: str,
        roots: Sequence[Path] | None = None,
        progress: Progress | None = None,
        workers: int | None = None,
    ) -> ImportSummary:
        """Import every transcript of agent under roots (default: the agent's own dirs)."""
        paths = self.discover(agent, roots)
        return self.import_files(agent, paths, progress, workers, normalised=True)

    def import_files(
        self,
        agent: str,
        paths: Iterable[str | Path],
        progress: Progress | None = None,
        workers: int | None = None,
        apply_idle_rule: bool = True,
        normalised: bool = False,
    ) -> ImportSummary:
        """Import what is new in these files: each one from its stored offset. normalised:
        the paths are already absolute, normalised strings (as `discover` gives them)."""
        if agent not in AGENTS:
            raise ValueError(f"unknown agent {agent!r}")
        started = time.perf_counter()
        summary = ImportSummary(agent)
        known = self.agents.import_files(agent)
        pending: list[tuple[str, int, str | None, int, int]] = []
        total = 0
        for raw in paths:
            path = str(raw) if normalised else _norm(raw)
            summary.files += 1
            try:
                st = os.stat(path)
            except OSError as exc:
                summary.files_missing += 1
                summary.errors.append(f"{path}: {exc.strerror or exc}")
                continue
            size, mtime = st.st_size, int(st.st_mtime * 1000)
            row = known.get(path)
            if row is not None and row["size"] == size and row["mtime_ms"] == mtime:
                continue
            offset = row["byte_offset"] if row is not None else 0
            if size == offset and row is not None:
                continue
            pending.append((path, offset, row["state"] if row is not None else None, size, mtime))
            total += max(size - offset, 0) if size >= offset else size
        self._idle_before = self.tracker.idle_cutoff() if apply_idle_rule else None
        try:
            if pending:
                self._run(agent, pending, total, summary, progress, workers)
        finally:
            self._idle_before = None
        if apply_idle_rule:
            close_idle(self.tracker)
        summary.seconds = time.perf_counter() - started
        return summary

    def _run(
        self,
        agent: str,
        pending: list[tuple[str, int, str | None, int, int]],
        total: int,
        summary: ImportSummary,
        progress: Progress | None,
        workers: int | None,
    ) -> None:
        from aitrack.usage import user_prices

        prices = user_prices(self.tracker)
        packed = _packs(self.db)
        batch: list[FileResult] = []
        done = rows = 0
        pending_offsets = {p[0]: p[1] for p in pending}

        def progressed(results: list[FileResult]) -> None:
            nonlocal done
            done += sum(max(r.size - pending_offsets.get(r.path, 0), 0) for r in results)
            if progress:
                progress(min(done, total), total)

        def take(result: FileResult) -> None:
            nonlocal rows
            batch.append(result)
            rows += len(result.apis) + len(result.tools)
            progressed([result])
            if len(batch) >= BATCH_FILES or rows >= BATCH_API_ROWS:
                self._flush(agent, _batch(batch, packed), summary)
                batch.clear()
                rows = 0

        def take_batch(parsed: Batch) -> None:  # a worker's task, packed there
            progressed(parsed.results)
            self._flush(agent, parsed, summary)

        # worker processes pay off on large imports; an explicit count always uses them
        n_workers = workers if workers is not None else (os.cpu_count() or 1)
        pool = (
            n_workers > 1 and len(pending) > 1 and (workers is not None or total >= POOL_MIN_BYTES)
        )
        with self.agents.bulk_writes(total >= POOL_MIN_BYTES), ExitStack() as bulk:
            if packed and self._bulk_load(total):  # a bulk load appends packed stages
                self.db.close_temp_schema()  # type: ignore[attr-defined]  # sorts in threads
                # one transaction: the triggers and indexes come back, or nothing happened
                bulk.enter_context(self.db.transaction())
                self._bulk = bulk.enter_context(self.agents.bulk_load())
                bulk.callback(setattr, self, "_bulk", BulkLoad(False))
            if pool:
                self._run_pool(agent, pending, prices, n_workers, packed, take_batch)
            else:
                from aitrack.pricing import BulkPricer

                pricer = BulkPricer(prices)
                for item in pending:
                    take(_parse_file(agent, *item, pricer))
            if batch:
                self._flush(agent, _batch(batch, packed), summary)

    def _bulk_load(self, total: int) -> bool:
        """Whether to bulk load (AgentStore.bulk_load): a large import into an embedded store
        holding fewer calls than it brings (the load's end reads every stored call)."""
        return (
            self.db.dialect == "sqlite"
            and total >= BULK_MIN_BYTES
            and self.agents.api_call_count() * BYTES_PER_CALL < total
        )

    def _run_pool(
        self,
        agent: str,
        pending: list[Any],
        prices: dict[str, Any],
        n: int,
        packed: bool,
        take: Callable[[Batch], None],
    ) -> None:
        import multiprocessing
        from collections import deque
        from concurrent.futures import ProcessPoolExecutor

        tasks = _tasks(pending)
        ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
        if ctx.get_start_method() == "fork":  # loaded once here, the workers inherit it
            from aitrack.pricing import load_price_data

            load_price_data()
        _reuse_freed_memory(True)  # for the batches loaded here; the workers set it too
        with ExitStack() as stack:
            stack.callback(_reuse_freed_memory, False)
            pool = stack.enter_context(
                ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker, initargs=(prices,))
            )
            # Batches are stored in the order of their files (by path), whichever worker ends
            # first: of the copies of a response that tie, the one stored first stays, as
            # ccusage keeps the first in path order. Tasks in flight keep the workers busy.
            queue = iter(tasks)
            running = deque(pool.submit(_parse_task, agent, t, packed) for t in _take(queue, 3 * n))
            while running:
                oldest = running.popleft()
                for task in _take(queue, 1):
                    running.append(pool.submit(_parse_task, agent, task, packed))
                take(oldest.result())

    # -- storing ---------------------------------------------------------------------------------
    def _flush(self, agent: str, batch: Batch, summary: ImportSummary) -> None:
        for r in batch.results:
            if r.error:
                summary.files_missing += 1
                summary.errors.append(f"{r.path}: {r.error}")
                continue
            summary.files_read += 1
            lines, nbytes, malformed, other, api, huge = r.stats
            summary.lines += lines
            summary.bytes += nbytes
            summary.skipped_malformed += malformed
            summary.skipped_other += other
            summary.skipped_huge += huge
            summary.api_calls += r.api_count
        good = [r for r in batch.results if not r.error]
        if not good:
            return
        with self.db.transaction():
            smap, existing = self._store_sessions(agent, good, batch, summary)
            if batch.image is not None:
                self._store_packed(agent, batch, smap, existing, summary)
            else:
                self._store_rows(agent, good, smap, existing, summary)
            store = self.agents
            for r in good:
                if r.reset:
                    store.reset_import_file(agent, r.path)
            now = now_ms()
            store.save_import_files(
                agent, [(r.path, r.end_offset, r.size, r.mtime_ms, r.state, now) for r in good]
            )

    def _store_sessions(
        self, agent: str, results: list[FileResult], batch: Batch, summary: ImportSummary
    ) -> tuple[dict[str, str], dict[str, Any]]:
        """Merge this batch's session records, create the new ones, widen the known ones.
        Returns (agent session id -> our id, the known sessions' rows by agent session id)."""
        store = self.agents
        sid: str | None
        merged: dict[str, Any] = {}
        for r in results:
            for s in r.sessions:
                prev = merged.get(s.external_id)
                merged[s.external_id] = prev.merged(s) if prev else s
        first_prompt = batch.first_prompt
        idle_before = self._idle_before
        existing = store.sessions_by_external_ids(agent, sorted(batch.referenced | set(merged)))
        smap = {ext: row["id"] for ext, row in existing.items()}
        new_rows, extend_rows, reopen, renames = [], [], [], []
        # ids of the new sessions, at once (as ids.new_id(first_ts) would make each)
        new_ids = iter(_ulids([s.first_ts_ms for ext, s in merged.items() if ext not in existing]))
        for ext, s in merged.items():
            facts = repo_facts(s.cwd)
            prompt = first_prompt.get(ext, (0, None))[1]
            row = existing.get(ext)
            if row is None:
                sid = next(new_ids)
                smap[ext] = sid
                meta = {"version": s.version, "parent": s.parent_external_id, "title": s.title}
                new_rows.append({
                    "id": sid,
                    "name": name_from_prompt(prompt) or name_from_prompt(s.title)
                    or default_name(agent, facts["repo_path"] or s.project),
                    "task_type": "general", "model": s.model, "estimate_source": "default",
                    "lane": lane_for(agent, ext), "agent": agent, "source": "import",
                    "external_id": ext, "project": facts["project"] or s.project or None,
                    "repo_path": facts["repo_path"], "branch": s.git_branch, "cwd": s.cwd,
                    "start_time": s.first_ts_ms, "last_activity": s.last_ts_ms,
                    "status": "active",
                    "metadata": json.dumps({k: v for k, v in meta.items() if v}) or None,
                })  # fmt: skip
                if idle_before is not None and s.last_ts_ms < idle_before:
                    # the idle rule would close it at the end: create it closed
                    new_rows[-1].update(self.tracker.idle_closing_values(new_rows[-1]))
                continue
            extend_rows.append(
                (
                    s.first_ts_ms,
                    s.last_ts_ms,
                    s.model,
                    s.git_branch,
                    s.cwd,
                    facts["repo_path"],
                    facts["project"],
                    row["id"],
                )
            )
            if row["status"] != "active" and s.last_ts_ms > row["last_activity"]:
                reopen.append(row["id"])
            named = name_from_prompt(prompt)
            if named and row["name"] == default_name(agent, row["repo_path"]):
                renames.append((row["id"], named))
        if new_rows:
            store.insert_sessions(new_rows)
            summary.sessions_created += len(new_rows)
        if extend_rows:
            store.extend_sessions(extend_rows)
        if reopen:
            store.reopen_sessions(reopen)
        for sid, name in renames:
            store.rename_session(sid, name)
        return smap, existing

    def _store_packed(
        self,
        agent: str,
        batch: Batch,
        smap: dict[str, str],
        existing: dict[str, Any],
        summary: ImportSummary,
    ) -> None:
        """Runs, tool calls and api_calls from a packed stage, merged in SQL (SQLite)."""
        from aitrack.store import import_staging

        assert batch.image is not None
        import_staging.load(self.db, batch.image, smap)
        hook_made = _hook_made(existing)
        if hook_made:  # name the hook's runs first: the merge then updates them
            known: dict[tuple[str, str], str | None] = dict(
                self.agents.runs_by_external_ids(list(hook_made.values()))
            )
            self._adopt_hook_runs(
                hook_made, import_staging.staged_runs(self.db, list(hook_made)), known
            )
        appending = self._bulk.appending
        runs, tools, first_call = import_staging.merge(self.db, f"import:{agent}", not appending)
        if appending:  # the rollup triggers are off: the load's end counts the batch in
            self.agents.gather_usage(
                import_staging.STAGED_USAGE, import_staging.STAGED_SESSION_USAGE
            )
            self._bulk.appended(batch.call_keys, first_call)
        summary.runs += runs
        summary.tool_calls += tools

    def _adopt_hook_runs(
        self,
        hook_made: dict[str, str],
        runs: Iterable[tuple[str, str, int]],
        run_map: dict[tuple[str, str], str | None],
    ) -> None:
        """Name the runs a hook opened before their prompt line existed. Each main-chain run
        (session ext, run ext, started) of a hook-made session (ext -> id) that run_map
        ((session id, run ext) -> run id) does not know takes the nearest unnamed run within
        ADOPT_MS; run_map gets every run tried (None: none adopted)."""
        if not hook_made:
            return
        unnamed = self.agents.unnamed_runs(list(hook_made.values()))
        adopted = []
        for sess_ext, run_ext, started in runs:
            sid = hook_made.get(sess_ext)
            if sid is None or (sid, run_ext) in run_map:
                continue
            rid = run_map[(sid, run_ext)] = _adopt(unnamed.get(sid), started)
            if rid is not None:
                adopted.append((run_ext, rid))
        if adopted:
            self.agents.name_runs(adopted)

    def _store_rows(
        self,
        agent: str,
        results: list[FileResult],
        smap: dict[str, str],
        existing: dict[str, Any],
        summary: ImportSummary,
    ) -> None:
        """Runs, tool calls and api_calls bound row by row (stores that do not pack)."""
        store = self.agents
        sid: str | None
        # runs: reuse known ids, adopt runs a hook opened before the prompt line existed
        before = [row["id"] for row in existing.values()]
        run_map: dict[tuple[str, str], str | None] = dict(
            store.runs_by_external_ids(before) if before else {}
        )
        main_chain = (run[:3] for r in results for run in r.runs if not run[5])
        self._adopt_hook_runs(_hook_made(existing), main_chain, run_map)
        run_rows = []
        for r in results:
            for sess_ext, run_ext, started, ended, prompt, side, new_id in r.runs:
                sid = smap.get(sess_ext)
                if sid is None:
                    continue
                key = (sid, run_ext)
                rid = run_map.get(key)
                if rid is None:
                    rid = run_map[key] = new_id
                run_rows.append(
                    (
                        rid,
                        sid,
                        run_ext,
                        started,
                        ended,
                        prompt_text(prompt),
                        "completed",
                        '{"sidechain":true}' if side else None,
                    )
                )
        if run_rows:
            run_rows.sort(key=_first)  # by id, i.e. by time: index pages fill in order
            store.upsert_runs(run_rows)
            summary.runs += len(run_rows)

        tool_rows = []
        for r in results:
            for sess_ext, run_ext, ext, name, started, ended, ok, _, tool_id in r.tools:
                sid = smap.get(sess_ext)
                if sid is None:
                    continue
                tool_rows.append((
                    tool_id, sid, run_map.get((sid, run_ext)) if run_ext else None,
                    ext, started, name or "unknown",
                    ended - started if ended is not None and ended >= started else None,
                    None if ok is None else int(ok),
                ))  # fmt: skip
        if tool_rows:
            tool_rows.sort(key=_first)
            store.upsert_tool_calls(tool_rows)
            summary.tool_calls += len(tool_rows)

        # api_calls: one row per response in the batch, then the same rule against the store
        best = _best_calls(results)
        source = f"import:{agent}"
        api_rows = []
        for a in best.values():
            sid = smap.get(a[1])
            if sid is None:
                continue
            api_rows.append((
                a[19], sid, run_map.get((sid, a[2])) if a[2] else None, a[3], a[4],
                a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], None, None, a[14],
                source, a[15], a[0], 1 if a[16] else 0,
            ))  # fmt: skip
        if api_rows:
            api_rows.sort(key=_first)
            store.upsert_api_calls(api_rows)


_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32, as aitrack.ids
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> 2 characters
_RANDOM_CHARS = bytes(ord(_ALPHABET[b & 31]) for b in range(256))  # a byte -> 5 random bits


def _ulids(times: Sequence[int]) -> list[str]:
    """ULIDs (as aitrack.ids.new_id(at_ms) makes them) for many times at once: in C
    (_ulids.c) where it was built, else `_ulids_python`, its specification."""
    if not times:
        return []
    rand = os.urandom(16 * len(times))
    return _ulids_c(times, rand) if _ulids_c is not None else _ulids_python(times, rand)


def _ulids_python(times: Sequence[int], rand_bytes: bytes) -> list[str]:
    """The time in two-character steps from a table, then 16 random characters: one from
    each of the id's 16 bytes of rand_bytes, cut to 5 bits (in one translate for all)."""
    rand = rand_bytes.translate(_RANDOM_CHARS).decode()
    p = _PAIRS
    return [
        p[(t >> 40) & 1023] + p[(t >> 30) & 1023] + p[(t >> 20) & 1023] + p[(t >> 10) & 1023]
        + p[t & 1023] + rand[16 * k : 16 * k + 16]
        for k, t in enumerate(times)
    ]  # fmt: skip


try:
    from aitrack.importing._ulids import ulids as _ulids_c  # type: ignore[import-not-found]
except ImportError:  # built without a compiler
    _ulids_c = None
try:
    from aitrack.importing._api_rows import api_rows as _api_rows_c  # type: ignore[import-not-found]
except ImportError:  # built without a compiler
    _api_rows_c = None


def _hook_made(existing: dict[str, Any]) -> dict[str, str]:
    """Agent session id -> our id, of the known sessions a hook created."""
    return {ext: row["id"] for ext, row in existing.items() if row["source"] == "hook"}


def _adopt(candidates: list[dict[str, Any]] | None, started: int) -> str | None:
    """The hook-made run nearest to a prompt's time (within ADOPT_MS), taken off the list."""
    if not candidates:
        return None
    best = min(candidates, key=lambda c: abs(c["started_at"] - started))
    if abs(best["started_at"] - started) > ADOPT_MS:
        return None
    candidates.remove(best)
    return best["id"]


def _tasks(pending: list[Any]) -> list[list[Any]]:
    """Files grouped into tasks of about TASK_BYTES of new data each."""
    tasks: list[list[Any]] = [[]]
    size = 0
    for item in pending:
        if size >= TASK_BYTES:
            tasks.append([])
            size = 0
        tasks[-1].append(item)
        size += max(item[3] - item[1], 0)
    return tasks


def _packs(db: Any) -> bool:
    """Whether a store merges packed stages: SQLite, when Python's module can (de)serialize
    databases (SQLite 3.36+); PostgreSQL and older builds take the rows one by one."""
    return db.dialect == "sqlite" and hasattr(sqlite3.Connection, "deserialize")


_first, _second, _last = itemgetter(0), itemgetter(1), itemgetter(-1)


def _take(queue: Any, n: int) -> list[Any]:
    out = []
    for _ in range(n):
        item = next(queue, None)
        if item is None:
            break
        out.append(item)
    return out


def _norm(path: str | Path) -> str:
    return os.path.abspath(os.path.expanduser(str(path)))
