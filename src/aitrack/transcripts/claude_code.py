"""Claude Code transcripts (``<config>/projects/<encoded-cwd>/<session>.jsonl``) to records.

Rules (see shared/formats/agent-transcripts.md §1; where ccusage 20.0.24 is wrong we differ):

* One API response is written as N lines (one per content block) sharing ``message.id``,
  with a growing ``output_tokens`` snapshot; resumed sessions and ``/btw`` asides copy it to
  other files. ``dedup_key`` is ``"anthropic:" + message.id`` in every file, so the importer's
  :func:`~aitrack.transcripts.records.supersedes` rule (largest total; tie: main chain
  wins) counts each response once with its final usage. Lines without ``message.id`` get
  ``"anthropic-line:<path under projects/>:<byte offset>"``: stable across re-reads.
  Within one file the copies of a response are already collapsed by that same rule.
* Cache creation = ephemeral 5m + 1h when ``usage.cache_creation`` exists, else
  ``cache_creation_input_tokens`` counted as 5m. Unlike ccusage, ``"usage": {`` with a space,
  ``"requestId":null`` and other nulls do not drop a line.
* The session comes from the path: ``<proj>/<sid>.jsonl`` is ``sid``;
  ``<proj>/<sid>/subagents/*.jsonl`` belongs to the parent ``sid``.
* Only the top-level ``assistant`` lines (and sub-agent replies mirrored in ``progress``
  lines, as sidechain copies) carry usage; usage-like JSON inside tool results is never read.

How a line is read: a typed msgspec decoder takes only the fields used here and skips the
rest (content text, tool output: most of the bytes) without building Python objects. A line
it rejects (a null, bool or float where a count belongs, a list where an object belongs,
NaN, a lone surrogate escape, …) is parsed as plain JSON and its values are normalised into
the same structs (:func:`_generic`), so each rule is applied by one piece of code whatever
the path. One difference from plain JSON: bytes that are not UTF-8 inside a string value
the decoder skips are not noticed (only the values it reads are checked).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from types import GenericAlias
from typing import Annotated, Any, BinaryIO, Final, TypeVar

import msgspec

from aitrack.transcripts.records import (
    MAX_LINE_BYTES,
    READ_CHUNK_BYTES,
    ApiCallRecord,
    ClaudeFileState,
    FileParse,
    FileRows,
    ParseStats,
    RunRecord,
    SessionRecord,
    ToolCallRecord,
    TranscriptError,
    as_int,
    iter_lines_buffered,
    loads,
    looks_like_object,
    open_transcript,
    walk_jsonl,
)

try:  # the C reader (_claude_read.c); the Python loop below is its specification
    from aitrack.transcripts import _claude_read as _c  # type: ignore[attr-defined]
except ImportError:  # built without a compiler
    _c = None

AGENT: Final = "claude-code"
PROMPT_CHARS = 500
MAX_OPEN_TOOLS = 2000  # tool uses kept in state waiting for a result in a later chunk
_NOT_PROMPTS = ("<local-command-stdout>", "<local-command-stderr>", "<local-command-caveat>",
                "<bash-stdout>", "<bash-stderr>", "Caveat: ", "[Request interrupted by user")  # fmt: skip
_NO_TS_FIRST, _NO_TS_LAST = 1 << 62, -(1 << 62)
_R = TypeVar("_R")
_Row = tuple[Any, ...]


def default_claude_roots() -> list[Path]:
    """``CLAUDE_CONFIG_DIR`` (comma list) when set, else ``$XDG_CONFIG_HOME/claude`` and ``~/.claude``."""
    env = os.environ.get("CLAUDE_CONFIG_DIR", "").strip()
    if env:
        return [Path(p.strip()).expanduser() for p in env.split(",") if p.strip()]
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [Path(xdg).expanduser() / "claude", Path.home() / ".claude"]


def discover_claude_files(roots: Sequence[Path]) -> list[Path]:
    """Every ``*.jsonl`` under each root's ``projects/`` (a root may be ``projects/`` itself),
    sorted by path string; symlinked files and dirs are skipped, roots without one ignored."""
    return [Path(p) for p in claude_file_paths(roots)]


def claude_file_paths(roots: Sequence[Path | str]) -> list[str]:
    """`discover_claude_files` as absolute, normalised path strings (what the importer keys
    its files by), without a Path object per file."""
    found: set[str] = set()
    for root in roots:
        root = Path(os.path.abspath(os.path.expanduser(root)))
        if (root / "projects").is_dir():
            base = root / "projects"
        elif root.name == "projects" and root.is_dir():
            base = root
        else:
            continue
        walk_jsonl(str(base), found)
    return sorted(found)


def parse_claude_file(
    path: Path, start_offset: int = 0, state: ClaudeFileState | None = None
) -> FileParse:
    """Records of the complete lines of ``path`` from ``start_offset``.

    Pass the previous ``end_offset`` and ``state`` to continue a file that grew: the runs
    and unanswered tool uses open at the cut carry over. A half-written last line is left
    for the next read. Malformed, junk and huge lines are counted in ``stats``, never fatal.

    Raises:
        TranscriptError: the file vanished or cannot be read (FileShrank: shorter than
            start_offset, re-read it from 0).
    """
    parser, stats = _read_file(Path(path), start_offset, state)
    return parser.finish(start_offset + stats.bytes, stats)


def parse_claude_rows(
    path: Path, start_offset: int = 0, state: ClaudeFileState | None = None
) -> FileRows:
    """:func:`parse_claude_file`, the records as tuples (no record objects built)."""
    parser, stats = _read_file(Path(path), start_offset, state)
    return FileRows(*parser.rows(), start_offset + stats.bytes, stats, parser.state)


def _read_file(
    path: Path, start_offset: int, state: ClaudeFileState | None
) -> tuple[_ClaudeFile, ParseStats]:
    parser = _ClaudeFile(
        path, ClaudeFileState.from_dict(state.to_dict()) if state else ClaudeFileState()
    )
    stats = ParseStats()
    with open_transcript(path, start_offset) as f:
        parser.read_file(f, start_offset, stats)
    return parser, stats


def _locate(path: Path) -> tuple[str, str, str | None, str]:
    """(project dir, owning session id, sub-agent id or None, path under projects/)."""
    parts = path.parts
    rel: tuple[str, ...] = ()
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "projects":
            rel = parts[i + 1 :]
            break
    if not rel:
        rel = parts[-4:] if len(parts) >= 4 and parts[-2] == "subagents" else parts[-2:]
    stem = path.name[:-6] if path.name.endswith(".jsonl") else path.stem
    project = rel[0] if len(rel) >= 2 else ""
    if len(rel) <= 2:
        return project, stem, None, "/".join(rel)
    if rel[-2] == "subagents" and len(rel) >= 4:
        return project, rel[-3], stem, "/".join(rel)
    return project, rel[-2], None, "/".join(rel)


# -- the fields read ---------------------------------------------------------------------------
# A value of another JSON type fails the typed decode and sends the line to the generic path.
# Token counts must be ints in [0, 2**63) there: values both paths read alike. The generic path
# stores normalised values in the same structs (counts per as_int, strings or None, ...), so
# the handlers see one shape.

_Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
_ABSENT = -1  # input/output_tokens default: the key is missing


class _CacheCreation(msgspec.Struct, gc=False):
    ephemeral_5m_input_tokens: _Count = 0
    ephemeral_1h_input_tokens: _Count = 0


class _Usage(msgspec.Struct, gc=False):
    input_tokens: _Count = _ABSENT
    output_tokens: _Count = _ABSENT
    cache_read_input_tokens: _Count = 0
    cache_creation_input_tokens: _Count = 0
    cache_creation: _CacheCreation | None = None
    speed: str | None = None


class _ReplyBlock(msgspec.Struct, gc=False):
    type: str | None = None
    id: str | None = None
    name: str | None = None


class _Reply(msgspec.Struct, gc=False):
    id: str | None = None
    model: str | None = None
    content: list[_ReplyBlock] | str | None = None
    usage: _Usage | None = None


class _PromptBlock(msgspec.Struct, gc=False):
    type: str | None = None
    tool_use_id: str | None = None
    is_error: Any = None
    text: str | None = None


class _Prompt(msgspec.Struct, gc=False):
    content: list[_PromptBlock] | str | None = None


class _Progress(msgspec.Struct, gc=False):
    message: _AssistantLine | None = None


class _Line(msgspec.Struct, gc=False):
    type: str | None = None
    timestamp: str | None = None
    isSidechain: Any = None  # only `is True` counts
    agentId: str | None = None
    cwd: str | None = None
    gitBranch: str | None = None
    version: str | None = None
    data: _Progress | None = None
    summary: str | None = None


class _AssistantLine(_Line, gc=False):
    requestId: str | None = None
    message: _Reply | None = None


class _UserLine(_Line, gc=False):
    uuid: str | None = None
    isMeta: Any = None  # these three: truthiness
    isCompactSummary: Any = None
    isVisibleInTranscriptOnly: Any = None
    message: _Prompt | None = None


# User lines: prompt text and tool results; assistant lines: usage and tool uses. Each also
# reads progress, summary and other lines; a line of the other's kind goes the generic path.
_decode_assistant = msgspec.json.Decoder(_AssistantLine).decode
_decode_user = msgspec.json.Decoder(_UserLine).decode
# RecursionError: nested too deep for msgspec; the generic path decides (as it always did).
_REJECTED = (msgspec.DecodeError, RecursionError)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ts(value: object) -> int | None:
    """:func:`~aitrack.transcripts.records.ts_ms` (the same value for every input), the ms
    summed from the timedelta's fields: cheaper than its floor division, for every line."""
    if type(value) is not str:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH  # normalised: 0 <= seconds < 86400, 0 <= microseconds < 10**6
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def _prompt_text(content: object) -> str | None:
    """A user message's text: the string, or its text blocks joined; None when empty."""
    if type(content) is not list:
        return content or None  # type: ignore[return-value]
    return "\n".join([b.text for b in content if b.type == "text" and b.text is not None]) or None


_NOT_READ: Final = _Line()  # _decode_line's answer for a line that is not parsed


def _decode_line(line: bytes) -> _Line | None:
    """How a line is read: its struct (typed decode, else the generic path), None when it
    is malformed, :data:`_NOT_READ` when no route matches (then it is not parsed at all).
    The Python loop calls it for every line, the C reader for the lines it leaves to it."""
    if (not line or line[0] != 0x7B or line[-1] != 0x7D) and not looks_like_object(line):
        return None
    # Routed by what follows "message":{, else by substrings anywhere in the line; a line
    # matching none is not parsed. The decoder picked only saves work: each reads every
    # kind but the other's, and a line the decoder does not take is parsed as plain JSON,
    # its values normalised into the same structs (_generic).
    decode: Callable[[bytes], Any]
    m = line.find(b'"message":{')
    if m > 0 and line.startswith(b'"role":"user"', m + 11):
        decode, other = _decode_user, "assistant"
    elif (m > 0 and line.find(b'"role":"assistant"', m + 11, m + 160) > 0) or (
        b'"usage"' in line and b'"assistant"' in line
    ):
        decode, other = _decode_assistant, "user"
    elif b'"user"' in line or b'"summary"' in line:
        decode, other = _decode_user, "assistant"
    else:
        return _NOT_READ
    try:
        obj: _Line = decode(line)
        kind = obj.type
    except _REJECTED:
        kind = other
    if kind == other:
        return _generic(line)
    return obj


# What the C reader takes from here: the decode of the lines it leaves to Python, the
# timestamp rule for the forms it does not parse itself, and the constants of the rules.
_C_CONFIG: Final = (
    _decode_line, _ts, _NOT_READ, _NOT_PROMPTS, PROMPT_CHARS, AGENT, MAX_LINE_BYTES,
    READ_CHUNK_BYTES,
)  # fmt: skip


class _ClaudeFile:
    """Parse state of one chunk of one file."""

    def __init__(self, path: Path, state: ClaudeFileState) -> None:
        self.path = path
        self.project, self.session_id, self.subagent, self.relpath = _locate(path)
        self.state = state
        # key -> (total, is_sidechain, ApiCallRecord fields)
        self.api: dict[str, tuple[int, bool, tuple[Any, ...]]] = {}
        # tool_use id -> [name, started_ms, run id, ended_ms, ok]
        self.tools: dict[str, list[Any]] = {}
        # run id -> (state list [id, started, ended, is_sidechain], prompt)
        self.runs: dict[str, tuple[list[Any], str | None]] = {}
        self.first_ts = _NO_TS_FIRST  # sentinels: min/max without None checks
        self.last_ts = _NO_TS_LAST
        self.model: str | None = None
        self.side_model: str | None = None
        self.title: str | None = None

    # -- lines ---------------------------------------------------------------------------
    def read_file(self, f: BinaryIO, start_offset: int, stats: ParseStats) -> None:
        """:meth:`read` of ``iter_lines_buffered(f, self.path, start_offset, stats)``: the
        C reader takes the same lines (offsets, stats) from its own buffer of ``f``."""
        if _c is None:
            self.read(iter_lines_buffered(f, self.path, start_offset, stats), stats)
            return
        path, readinto = self.path, f.readinto  # type: ignore[attr-defined]

        def read_chunk(buf: memoryview) -> int:
            try:
                return readinto(buf)  # type: ignore[no-any-return]
            except OSError as e:
                raise TranscriptError(f"cannot read transcript {path}: {e.strerror or e}") from e

        _c.read_file(self, read_chunk, start_offset, stats, _C_CONFIG)

    def read(self, lines: Iterable[tuple[int, bytes]], stats: ParseStats) -> None:
        """Every rule, line by line: in C when the extension is built, else :meth:`_read_python`."""
        if _c is None:
            self._read_python(lines, stats)
        else:
            _c.read_lines(self, lines, stats, _C_CONFIG)

    def _read_python(self, lines: Iterable[tuple[int, bytes]], stats: ParseStats) -> None:
        """Every rule, line by line: one loop with the running values in locals, as this is
        the hot path of an import and a Python call or attribute costs more than a rule.
        The specification of the C reader (_claude_read.c), which must give the same."""
        st = self.state
        open_tools, tools, api = st.open_tools, self.tools, self.api
        relpath, sid, run_for = self.relpath, self.session_id, self.run_for
        first, last, model, side_model = self.first_ts, self.last_ts, self.model, self.side_model
        cwd, branch, version = st.cwd, st.git_branch, st.version
        decode_line, not_read = _decode_line, _NOT_READ
        obj: Any
        for offset, line in lines:
            obj = decode_line(line)
            if obj is None:
                stats.skipped_malformed += 1
                continue
            if obj is not_read:
                stats.skipped_other += 1
                continue
            kind = obj.type
            cwd = obj.cwd or cwd
            branch = obj.gitBranch or branch
            version = obj.version or version

            if kind == "user":
                msg = obj.message
                ts = _ts(obj.timestamp)
                if msg is None or ts is None:
                    stats.skipped_malformed += 1
                    continue
                if ts < first:
                    first = ts
                if ts > last:
                    last = ts
                side = obj.isSidechain is True
                content = msg.content
                if type(content) is list:
                    answered = False
                    for block in content:
                        if block.type == "tool_result":
                            answered = True
                            tid = block.tool_use_id
                            rec = tools.get(tid) if tid is not None else None
                            if rec is None and tid is not None:
                                pending = open_tools.get(tid)  # its tool_use was in a past chunk
                                if pending is not None:
                                    rec = tools[tid] = [
                                        pending[0],
                                        pending[1],
                                        pending[2],
                                        None,
                                        None,
                                    ]
                            if rec is not None and rec[3] is None:
                                rec[3] = ts
                                rec[4] = block.is_error is not True
                    if answered:
                        run_for(obj.agentId, side, ts)
                        continue
                if not (obj.isMeta or obj.isCompactSummary or obj.isVisibleInTranscriptOnly):
                    text = _prompt_text(content)
                    if text and not text.lstrip().startswith(_NOT_PROMPTS):
                        self.open_run(
                            text, obj.uuid or f"{relpath}:{offset}", obj.agentId, side, ts
                        )
                        continue
                run_for(obj.agentId, side, ts)  # meta lines, command output, caveats, ...
                stats.skipped_other += 1
                continue
            if kind == "assistant":
                mirrored = False
            elif kind == "progress":  # newer CLIs mirror sub-agent replies: a sidechain copy
                ts = _ts(obj.timestamp)
                if ts is not None:
                    if ts < first:
                        first = ts
                    if ts > last:
                        last = ts
                obj = obj.data.message if obj.data is not None else None
                if obj is None or obj.type != "assistant":
                    stats.skipped_other += 1
                    continue
                mirrored = True
            else:
                if kind == "summary" and obj.summary is not None:
                    self.title = self.title or obj.summary
                stats.skipped_other += 1
                continue

            # An assistant reply: its usage, its tool uses.
            msg = obj.message
            usage = msg.usage if msg is not None else None
            if usage is None:
                stats.skipped_other += 1
                continue
            inp, out = usage.input_tokens, usage.output_tokens
            if inp < 0 or out < 0:
                if inp == _ABSENT and out == _ABSENT:
                    stats.skipped_other += 1
                    continue
                inp, out = max(inp, 0), max(out, 0)
            ts = _ts(obj.timestamp)
            if ts is None:
                stats.skipped_malformed += 1
                continue
            if ts < first:
                first = ts
            if ts > last:
                last = ts
            if mirrored:
                side = True
                run = run_for(None, False, ts)
            else:
                side = obj.isSidechain is True
                run = run_for(obj.agentId, side, ts)
                content = msg.content
                if type(content) is list:
                    for block in content:
                        if block.type == "tool_use":
                            tid = block.id
                            if tid and tid not in tools:
                                tools[tid] = [block.name or "", ts, run, None, None]
            name = msg.model or "unknown"
            synthetic = name == "<synthetic>"
            if not synthetic:
                if side:
                    side_model = name
                else:
                    model = name
            cache = usage.cache_creation
            if cache is None:
                w5, w1 = usage.cache_creation_input_tokens, 0
            else:
                w5, w1 = cache.ephemeral_5m_input_tokens, cache.ephemeral_1h_input_tokens
            read = usage.cache_read_input_tokens
            mid = msg.id or None
            key = "anthropic:" + mid if mid else f"anthropic-line:{relpath}:{offset}"
            total = inp + out + read + w5 + w1
            stats.api_lines += 1
            prev = api.get(key)  # of this file's copies, the one supersedes() prefers stays
            if prev is None or total > prev[0] or (total == prev[0] and prev[1] and not side):
                api[key] = (
                    total,
                    side,
                    (AGENT, "anthropic", key, sid, run, ts, name, inp, out, read, w5, w1, 0,
                     obj.requestId or None, mid, side, synthetic, usage.speed),
                )  # fmt: skip
        self.first_ts, self.last_ts, self.model, self.side_model = first, last, model, side_model
        st.cwd, st.git_branch, st.version = cwd, branch, version

    def run_for(self, agent: object, side: bool, ts: int) -> str | None:
        """The run a line belongs to (its chain's open run; a sidechain without one falls back
        to the main chain's), extended to ts."""
        runs = self.state.runs
        info = runs.get("side:" + str(agent or "")) if side else None
        if info is None:
            info = runs.get("")
            if info is None:
                return None
        if ts > info[2]:
            info[2] = ts
        run = info[0]
        if run not in self.runs:
            self.runs[run] = (info, None)
        return run

    def open_run(self, text: str, run_id: str, agent: object, side: bool, ts: int) -> None:
        """A real prompt opens a run on its chain."""
        runs = self.state.runs
        if side:
            key = "side:" + str(agent or "")
        else:
            key = ""
            for k in [k for k in runs if k]:  # a new main turn: earlier sub-agents are done
                del runs[k]
        info = [run_id, ts, ts, side]
        runs[key] = info
        self.runs[run_id] = (info, text[:PROMPT_CHARS])

    # -- output --------------------------------------------------------------------------
    def finish(self, end_offset: int, stats: ParseStats) -> FileParse:
        sessions, runs, tools, api = self.rows()
        return FileParse(
            sessions,
            _records(RunRecord, [(AGENT, *r) for r in runs]),
            _records(ToolCallRecord, [(AGENT, *t) for t in tools]),
            _records(ApiCallRecord, api),
            end_offset,
            stats,
            self.state,
        )

    def rows(self) -> tuple[list[SessionRecord], list[_Row], list[_Row], list[_Row]]:
        """The chunk's sessions, and its runs, tool calls and api_calls as tuples of their
        records' fields (runs and tool calls without the agent), for `finish` and for the
        importer, which needs no record objects. Carries the unanswered tool uses over."""
        st, sid = self.state, self.session_id
        tool_rows = []
        open_tools = st.open_tools
        for tid, (name, started, run, ended, ok) in self.tools.items():
            tool_rows.append((sid, run, tid, name, started, ended, ok))
            if ended is None:
                open_tools[tid] = [name, started, run]
            else:
                open_tools.pop(tid, None)
        if len(open_tools) > MAX_OPEN_TOOLS:
            for tid in list(open_tools)[: len(open_tools) - MAX_OPEN_TOOLS]:
                del open_tools[tid]
        runs = [
            (sid, run_id, info[1], info[2], prompt, bool(info[3]))
            for run_id, (info, prompt) in self.runs.items()
        ]
        sessions = []
        if self.first_ts <= self.last_ts:
            common: dict[str, Any] = dict(
                agent=AGENT, cwd=st.cwd, git_branch=st.git_branch, version=st.version,
                project=self.project, first_ts_ms=self.first_ts, last_ts_ms=self.last_ts,
                source_file=str(self.path),
            )  # fmt: skip
            if self.subagent is None:
                model = self.model or self.side_model
                sessions.append(
                    SessionRecord(external_id=sid, model=model, title=self.title, **common)
                )
            else:  # the parent's span, then the sub-agent itself
                sessions.append(SessionRecord(external_id=sid, model=None, **common))
                sessions.append(
                    SessionRecord(
                        external_id=f"{sid}/{self.subagent}", model=self.side_model or self.model,
                        parent_external_id=sid, title=self.title, **common,
                    )
                )  # fmt: skip
        return sessions, runs, tool_rows, [fields for _, _, fields in self.api.values()]


_ROWS: dict[type[Any], tuple[type[msgspec.Struct], GenericAlias]] = {
    cls: (
        msgspec.defstruct(f"_{cls.__name__}Row", [f.name for f in fields(cls)], gc=False),
        GenericAlias(list, cls),
    )
    for cls in (ApiCallRecord, ToolCallRecord, RunRecord)
}


def _records(cls: type[_R], rows: list[tuple[Any, ...]]) -> list[_R]:
    """``[cls(*row) for row in rows]``, with the (frozen, slotted) dataclass instances built
    by msgspec in C: about twice as fast as the generated ``__init__``."""
    row, many = _ROWS[cls]
    try:
        return msgspec.convert([row(*r) for r in rows], many, from_attributes=True)  # type: ignore[no-any-return]
    except msgspec.ValidationError:  # a value off its annotation: the constructor takes it
        return [cls(*r) for r in rows]


# -- the generic path: plain JSON, normalised ------------------------------------------------


def _generic(line: bytes) -> _Line | None:
    """A line the typed decoders did not take, as the struct they would give for it: JSON
    values of any type normalised by the rules (None: not a JSON object)."""
    try:
        obj = loads(line)
    except ValueError:
        return None
    if type(obj) is not dict:
        return None
    kind = obj.get("type")
    out: _Line
    if kind == "assistant":
        out = _reply_line(obj)
    elif kind == "user":
        out = _user_line(obj)
    elif kind == "progress":
        data = obj.get("data")
        inner = data.get("message") if type(data) is dict else None
        mirrored = (
            _reply_line(inner) if type(inner) is dict and inner.get("type") == "assistant" else None
        )
        out = _Line(timestamp=_str(obj.get("timestamp")), data=_Progress(mirrored))
    else:
        out = _Line(summary=_str(obj.get("summary")))
    out.type = kind
    out.cwd, out.gitBranch, out.version = (
        _str(obj.get("cwd")),
        _str(obj.get("gitBranch")),
        _str(obj.get("version")),
    )
    return out


def _str(value: object) -> str | None:
    return value if type(value) is str else None


def _count(value: object) -> int:
    """input/output/cache_read tokens: as_int (an int no BIGINT holds counts 0), a common int
    without the call."""
    return value if type(value) is int and 0 <= value < 2**63 else as_int(value)


def _reply_line(obj: dict[str, Any]) -> _AssistantLine:
    msg = obj.get("message")
    usage = msg.get("usage") if type(msg) is dict else None
    if type(usage) is not dict or ("input_tokens" not in usage and "output_tokens" not in usage):
        return _AssistantLine(type="assistant")  # no usage: nothing else is read
    get = usage.get
    cache = get("cache_creation")
    blocks = msg.get("content")  # type: ignore[union-attr]
    speed = get("speed")
    return _AssistantLine(
        type="assistant",
        timestamp=_str(obj.get("timestamp")),
        isSidechain=obj.get("isSidechain") is True,
        agentId=obj.get("agentId"),
        requestId=_str(obj.get("requestId")),
        message=_Reply(
            id=_str(msg.get("id")),  # type: ignore[union-attr]
            model=_str(msg.get("model")),  # type: ignore[union-attr]
            content=[
                _ReplyBlock("tool_use", b.get("id"), _str(b.get("name")))
                for b in (blocks if type(blocks) is list else [])
                if type(b) is dict and b.get("type") == "tool_use" and _str(b.get("id"))
            ],
            usage=_Usage(
                _count(get("input_tokens")),
                _count(get("output_tokens")),
                _count(get("cache_read_input_tokens")),
                as_int(get("cache_creation_input_tokens")),
                _CacheCreation(
                    as_int(cache.get("ephemeral_5m_input_tokens")),
                    as_int(cache.get("ephemeral_1h_input_tokens")),
                )
                if type(cache) is dict
                else None,
                speed if type(speed) is str else None,
            ),
        ),
    )


def _user_line(obj: dict[str, Any]) -> _UserLine:
    msg = obj.get("message")
    content = msg.get("content") if type(msg) is dict else None
    if type(content) is list:
        content = [
            _PromptBlock(
                b.get("type"), _str(b.get("tool_use_id")), b.get("is_error"), _str(b.get("text"))
            )
            for b in content
            if type(b) is dict
        ]
    elif type(content) is not str:
        content = None
    return _UserLine(
        type="user",
        timestamp=_str(obj.get("timestamp")),
        isSidechain=obj.get("isSidechain") is True,
        agentId=obj.get("agentId"),
        uuid=_str(obj.get("uuid")),
        isMeta=obj.get("isMeta"),
        isCompactSummary=obj.get("isCompactSummary"),
        isVisibleInTranscriptOnly=obj.get("isVisibleInTranscriptOnly"),
        message=_Prompt(content) if type(msg) is dict else None,
    )
