"""What the transcript parsers return, and the plumbing they share (line reading, timestamps).

The parsers are pure: they read one file from a byte offset and return records. The importer
stores them; the rules it must apply are here, next to the records they apply to:

* api_calls: upsert by ``dedup_key``; a new copy replaces the stored one when
  :func:`supersedes` says so (larger token total; on a tie a main-chain copy replaces a
  sidechain one). That counts every API response once whatever order files are read in.
  On a full tie the stored copy stays: history copied into a resumed session stays with
  the session imported first (ccusage: first in path order).
* sessions by (agent, external_id); runs and tool_calls by (agent, external_id): Claude
  uuids and tool ids are global, so copies in a resumed session fall on the same row. A
  later chunk of the same file may repeat a record to extend it; merge with the
  ``merged`` methods (earliest start, latest end, known values kept).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Literal, Self

import orjson

from aitrack.errors import AitrackError

Agent = Literal["claude-code", "codex"]

MAX_LINE_BYTES = 16 * 1024 * 1024  # longer lines are skipped (counted in ParseStats.skipped_huge)
READ_CHUNK_BYTES = 1024 * 1024


class TranscriptError(AitrackError):
    """A transcript file cannot be read (vanished, unreadable); count it and go on."""


class FileShrank(TranscriptError):
    """The file is now shorter than the offset already consumed: it was rewritten; re-read it from 0."""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One agent session as seen in one chunk of one file; merge chunks with :meth:`merged`.

    Claude sub-agent files (``<sid>/subagents/*.jsonl``) and Codex ``thread_spawn`` threads
    yield two records: the parent (``external_id`` = parent id, the span of the sub-agent
    work, ``model``/``title`` None) and the sub-agent itself (``parent_external_id`` set).
    Every other record of such a file is attributed to the parent session.
    """

    agent: Agent
    external_id: str
    cwd: str | None
    git_branch: str | None
    version: str | None
    project: str  # Claude: the encoded dir under projects/; Codex: the cwd
    first_ts_ms: int
    last_ts_ms: int
    model: str | None
    source_file: str
    parent_external_id: str | None = None
    title: str | None = None

    def merged(self, newer: SessionRecord) -> SessionRecord:
        """This record extended by a later chunk: widest span, newer values where known."""
        return SessionRecord(
            agent=self.agent,
            external_id=self.external_id,
            cwd=newer.cwd or self.cwd,
            git_branch=newer.git_branch or self.git_branch,
            version=newer.version or self.version,
            project=self.project or newer.project,
            first_ts_ms=min(self.first_ts_ms, newer.first_ts_ms),
            last_ts_ms=max(self.last_ts_ms, newer.last_ts_ms),
            model=newer.model or self.model,
            source_file=self.source_file,
            parent_external_id=self.parent_external_id or newer.parent_external_id,
            title=self.title or newer.title,
        )


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One agent turn: a real user prompt and everything done for it until the next prompt."""

    agent: Agent
    session_external_id: str
    external_id: str  # Claude: the prompt line's uuid; Codex: turn id, else "<session>:<offset>"
    started_ms: int
    ended_ms: int | None
    prompt: str | None  # first 500 characters; None when the run continues from an earlier chunk
    is_sidechain: bool

    def merged(self, newer: RunRecord) -> RunRecord:
        ends = [t for t in (self.ended_ms, newer.ended_ms) if t is not None]
        return RunRecord(
            agent=self.agent,
            session_external_id=self.session_external_id,
            external_id=self.external_id,
            started_ms=min(self.started_ms, newer.started_ms),
            ended_ms=max(ends) if ends else None,
            prompt=self.prompt if self.prompt is not None else newer.prompt,
            is_sidechain=self.is_sidechain and newer.is_sidechain,
        )


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    """One tool use; ``ended_ms``/``ok`` come from its result line (None until it arrives)."""

    agent: Agent
    session_external_id: str
    run_external_id: str | None
    external_id: str  # Claude tool_use id / Codex call_id
    name: str
    started_ms: int
    ended_ms: int | None
    ok: bool | None

    def merged(self, newer: ToolCallRecord) -> ToolCallRecord:
        return ToolCallRecord(
            agent=self.agent,
            session_external_id=self.session_external_id,
            run_external_id=self.run_external_id or newer.run_external_id,
            external_id=self.external_id,
            name=self.name or newer.name,
            started_ms=min(self.started_ms, newer.started_ms),
            ended_ms=newer.ended_ms if newer.ended_ms is not None else self.ended_ms,
            ok=newer.ok if newer.ok is not None else self.ok,
        )


@dataclass(frozen=True, slots=True)
class ApiCallRecord:
    """One model API response with its final usage; ``input_tokens`` is the NON-cached input."""

    agent: Agent
    provider: Literal["anthropic", "openai"]
    dedup_key: str
    session_external_id: str
    run_external_id: str | None
    ts_ms: int
    model: str
    input_tokens: int
    output_tokens: int  # Codex: includes reasoning_tokens
    cache_read_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    reasoning_tokens: int
    request_id: str | None
    message_id: str | None
    is_sidechain: bool
    synthetic: bool  # Claude "<synthetic>" API-error line (zero usage)
    speed: str | None  # Claude usage.speed ("fast", "standard") when present

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_5m_tokens
            + self.cache_write_1h_tokens
        )


def supersedes(new: ApiCallRecord, old: ApiCallRecord) -> bool:
    """The importer's dedup rule: does ``new`` replace ``old`` (same dedup_key) in the store?

    Keep the copy with the largest token total, so the final streaming snapshot wins in any
    read order; on a tie a main-chain copy replaces a sidechain one (``/btw`` replays and
    sub-agent mirrors), otherwise the stored copy stays. In SQL::

        ON CONFLICT (dedup_key) DO UPDATE SET ... WHERE excluded.total > api_calls.total
           OR (excluded.total = api_calls.total AND api_calls.is_sidechain AND NOT excluded.is_sidechain)
    """
    new_total, old_total = new.total_tokens, old.total_tokens
    if new_total != old_total:
        return new_total > old_total
    return old.is_sidechain and not new.is_sidechain


@dataclass(slots=True)
class ParseStats:
    lines: int = 0  # complete lines consumed
    bytes: int = 0  # bytes consumed (end_offset - start_offset)
    skipped_malformed: int = 0  # not JSON, truncated, junk, or missing required fields
    skipped_other: int = 0  # valid lines that carry nothing we record
    api_lines: int = 0  # lines that produced an API-call record (before collapsing copies)
    skipped_huge: int = 0  # lines over MAX_LINE_BYTES, skipped unread


class _FileState:
    """What both parsers' carry-over states share: a copy as a dict, JSON, and back."""

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        """`to_dict` as compact JSON, without its deep copy."""
        return orjson.dumps({k: getattr(self, k) for k in self.__dataclass_fields__}).decode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(slots=True)
class ClaudeFileState(_FileState):
    """What a Claude parse carries to the next chunk of the same file (JSON-serialisable).

    ``runs`` maps a chain (``""`` main chain, ``"side:<agentId>"`` a sub-agent) to
    ``[run id, started_ms, ended_ms, is_sidechain]``; ``open_tools`` maps a tool_use id without a result
    yet to ``[name, started_ms, run id]``.
    """

    runs: dict[str, list[Any]] = field(default_factory=dict)
    open_tools: dict[str, list[Any]] = field(default_factory=dict)
    cwd: str | None = None
    git_branch: str | None = None
    version: str | None = None


@dataclass(slots=True)
class CodexFileState(_FileState):
    """What a Codex parse carries to the next chunk of the same file (JSON-serialisable).

    Codex writes running totals, so the importer must store this per file beside the offset
    and pass it back: ``prev_total`` is the last cumulative usage
    ``[input, cached, output, reasoning, total]``, ``model`` the current turn_context model.
    ``replay_until_ms`` is set while a sub-agent/fork file is still inside its replayed burst.
    """

    session_id: str | None = None
    owner_session_id: str | None = None  # the session records are attributed to
    parent_session_id: str | None = None
    is_subagent: bool = False
    prev_total: list[int] | None = None
    model: str | None = None
    model_is_fallback: bool = False
    turn_id: str | None = None
    run_id: str | None = None
    run_started_ms: int | None = None
    replay_until_ms: int | None = None
    open_tools: dict[str, list[Any]] = field(default_factory=dict)
    cwd: str | None = None
    git_branch: str | None = None
    version: str | None = None


@dataclass(slots=True)
class FileParse:
    """The records of one chunk of one file; resume with ``start_offset=end_offset, state=state``."""

    sessions: list[SessionRecord]
    runs: list[RunRecord]
    tool_calls: list[ToolCallRecord]
    api_calls: list[ApiCallRecord]
    end_offset: int  # just after the last complete line consumed
    stats: ParseStats
    state: ClaudeFileState | CodexFileState


@dataclass(slots=True)
class FileRows:
    """:class:`FileParse` with each record as a tuple of its fields (what the importer
    stores; the Claude parser makes these without building records)."""

    sessions: list[SessionRecord]
    runs: list[tuple[Any, ...]]  # (session, run, started_ms, ended_ms, prompt, is_sidechain)
    tool_calls: list[tuple[Any, ...]]  # (session, run, tool id, name, started, ended, ok)
    api_calls: list[tuple[Any, ...]]  # ApiCallRecord's fields, in order
    end_offset: int
    stats: ParseStats
    state: ClaudeFileState | CodexFileState

    @classmethod
    def of(cls, parse: FileParse) -> FileRows:
        return cls(
            parse.sessions,
            [(r.session_external_id, r.external_id, r.started_ms, r.ended_ms, r.prompt,
              r.is_sidechain) for r in parse.runs],
            [(t.session_external_id, t.run_external_id, t.external_id, t.name, t.started_ms,
              t.ended_ms, t.ok) for t in parse.tool_calls],
            [tuple(getattr(a, f) for f in _API_FIELDS) for a in parse.api_calls],
            parse.end_offset,
            parse.stats,
            parse.state,
        )  # fmt: skip


_API_FIELDS = tuple(ApiCallRecord.__dataclass_fields__)


# -- shared plumbing ---------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def ts_ms(value: object) -> int | None:
    """Milliseconds since the epoch of an ISO-8601 timestamp (naive means UTC), else None."""
    if type(value) is not str:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // _MS


_scan_once = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_orjson_loads = orjson.loads


def loads(data: bytes) -> Any:
    """json.loads for one UTF-8 line: orjson, and the standard library for what orjson
    refuses but json accepts (NaN, Infinity, lone surrogates). One difference: orjson reads
    integers beyond 64 bits as floats; as_int counts both spellings as 0.

    Raises:
        ValueError: not exactly one JSON value (UnicodeDecodeError and JSONDecodeError are ValueErrors).
    """
    try:
        return _orjson_loads(data)
    except ValueError:  # orjson.JSONDecodeError is a ValueError
        return _json_loads(data)


def _json_loads(data: bytes) -> Any:
    text = data.decode()
    try:
        obj, end = _scan_once(text, 0)
    except StopIteration:
        text = text.strip()
        try:
            obj, end = _scan_once(text, 0)
        except StopIteration:
            raise ValueError("not JSON") from None
    if end != len(text) and text[end:].strip():
        raise ValueError("extra data after JSON")
    return obj


_INT_LIMIT = 2**63  # SQLite's and PostgreSQL's BIGINT; orjson reads longer integers as floats


def as_int(value: object) -> int:
    """A token count: non-negative int below 2**63, else 0 (bools, floats with fractions,
    counts no database column holds, junk)."""
    if type(value) is int:
        return value if 0 < value < _INT_LIMIT else 0
    if isinstance(value, float) and value.is_integer() and 0 < value < _INT_LIMIT:
        return int(value)
    return 0


def open_transcript(path: Path, start_offset: int) -> BinaryIO:
    """The file opened for binary reading at start_offset.

    Raises:
        TranscriptError: it vanished or cannot be read.
        FileShrank: it is shorter than start_offset.
    """
    try:
        f = open(path, "rb", buffering=0)  # noqa: SIM115 - the caller closes it
        size = os.fstat(f.fileno()).st_size
    except OSError as e:
        raise TranscriptError(f"cannot read transcript {path}: {e.strerror or e}") from e
    if size < start_offset:
        f.close()
        raise FileShrank(f"{path} is {size} bytes, shorter than offset {start_offset}: re-read it")
    if start_offset:
        f.seek(start_offset)
    return f  # type: ignore[return-value]


def iter_lines(
    f: BinaryIO, path: Path, start_offset: int, stats: ParseStats
) -> Iterator[tuple[int, bytes]]:
    """Yield (byte offset, line without newline) for each complete line; lines over
    MAX_LINE_BYTES are skipped without holding them. A final line without newline is not
    yielded (it may still be being written). Sets ``stats.lines``/``bytes``/``skipped_huge``;
    the consumed end offset is ``start_offset + stats.bytes``.

    Raises:
        TranscriptError: a read fails.
    """
    pos = start_offset  # offset of the first byte of `buf`
    buf = b""
    huge_from = -1  # while skipping a huge line: its start offset
    while True:
        try:
            chunk = f.read(READ_CHUNK_BYTES)
        except OSError as e:
            raise TranscriptError(f"cannot read transcript {path}: {e.strerror or e}") from e
        if not chunk:
            break
        if huge_from >= 0:
            nl = chunk.find(b"\n")
            if nl < 0:
                pos += len(chunk)
                continue
            pos += nl + 1
            chunk = chunk[nl + 1 :]
            huge_from = -1
            stats.skipped_huge += 1
            stats.lines += 1
            stats.bytes = pos - start_offset
        data = buf + chunk if buf else chunk
        lines = data.split(b"\n")
        buf = lines.pop()
        for line in lines:
            n = len(line)
            stats.lines += 1
            if n > MAX_LINE_BYTES:
                stats.skipped_huge += 1
            else:
                yield pos, line
            pos += n + 1
        stats.bytes = pos - start_offset
        if len(buf) > MAX_LINE_BYTES:
            huge_from = pos
            pos += len(buf)
            buf = b""
    if huge_from >= 0:  # the huge line never ended: leave it for a later read
        pos = huge_from
    stats.bytes = pos - start_offset


def iter_lines_buffered(
    f: BinaryIO, path: Path, start_offset: int, stats: ParseStats
) -> Iterator[tuple[int, bytes]]:
    """:func:`iter_lines` (the same lines, offsets and stats) at about twice the speed: a
    buffered reader finds each newline with memchr where ``bytes.split`` compares byte by
    byte. ``f`` is an unbuffered file (:func:`open_transcript`), read to its end.

    Raises:
        TranscriptError: a read fails.
    """
    reader = io.BufferedReader(f, READ_CHUNK_BYTES)  # type: ignore[arg-type, type-var]
    readline = reader.readline
    longest = MAX_LINE_BYTES + 1  # with its newline
    limit = longest + 1  # a piece that long without newline belongs to a huge line
    pos = start_offset
    lines = huge = 0
    try:
        while True:
            try:
                line = readline(limit)
                n = len(line)
                if n and line[-1] == 0x0A:
                    lines += 1
                    if n <= longest:
                        yield pos, line[:-1]
                    else:
                        huge += 1
                    pos += n
                elif n < limit:  # the end: nothing more, or a last line without newline
                    return
                else:  # a huge line: skip to its newline without holding it
                    while line and line[-1] != 0x0A:
                        line = readline(limit)
                        n += len(line)
                    if not line:  # it never ended: leave it for a later read
                        return
                    lines += 1
                    huge += 1
                    pos += n
            except OSError as e:
                raise TranscriptError(f"cannot read transcript {path}: {e.strerror or e}") from e
    finally:
        stats.lines += lines
        stats.skipped_huge += huge
        stats.bytes = pos - start_offset
        reader.detach()  # the caller closes f


def looks_like_object(line: bytes) -> bool:
    """Cheap shape test: starts with '{' and ends with '}' (ignoring surrounding whitespace)."""
    if not line:
        return False
    if line[0] != 0x7B or line[-1] != 0x7D:
        line = line.strip()
        return bool(line) and line[0] == 0x7B and line[-1] == 0x7D
    return True


def string_end(data: bytes, i: int) -> int:
    """Index of the quote closing the JSON string whose content starts at i, or -1."""
    find = data.find
    while True:
        q = find(b'"', i)
        if q < 0:
            return -1
        if data[q - 1] != 0x5C:
            return q
        k = q - 2
        while data[k] == 0x5C:
            k -= 1
        if (q - 1 - k) % 2 == 0:  # an even run of backslashes escapes itself, not the quote
            return q
        i = q + 1


def walk_jsonl(
    top: str, found: set[str], base: str = "", seen: dict[str, str] | None = None
) -> None:
    """Add every ``*.jsonl`` under top to found, skipping symlinks; with ``seen``, a path
    relative to base already seen (from an earlier tree) is left out."""
    try:
        entries = list(os.scandir(top))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                walk_jsonl(entry.path, found, base, seen)
            elif entry.name.endswith(".jsonl") and entry.is_file(follow_symlinks=False):
                if seen is not None:
                    rel = os.path.relpath(entry.path, base)
                    if rel in seen:
                        continue
                    seen[rel] = entry.path
                found.add(entry.path)
        except OSError:
            continue
