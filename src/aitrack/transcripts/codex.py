"""Codex CLI rollouts (``<CODEX_HOME>/sessions/YYYY/MM/DD/rollout-*.jsonl``) to records.

Rules (shared/formats/agent-transcripts.md §2):

* Per file, in order: ``turn_context`` sets the model; a ``token_count`` with null ``info``
  is ignored; one whose ``total_token_usage`` equals the previous total is a re-emit and is
  skipped; usage = ``last_token_usage``, else the saturating per-field difference of totals.
  Totals run across the file, so :class:`CodexFileState` must be passed between chunks.
* ``input_tokens`` of a record is the NON-cached input (input − cached, cached clamped to
  ≤ input), ``cache_read_tokens`` the cached part, ``output_tokens`` includes reasoning.
* ``dedup_key`` = ``"openai-codex:<ts ms>:<model>:<input>:<cached>:<output>:<reasoning>:<total>"``
  (input including cached): ccusage's global key, so history copied into another rollout
  (resume, fork) with its timestamps counts once.
* Sub-agent threads (``thread_spawn``) and forks (``forked_from_id``) begin by replaying the
  parent's history, rewritten to the fork instant. Usage events up to 1 s after the
  ``session_meta`` timestamp, chained while each follows the previous within 1 s, are that
  replay and are skipped (the child's own first model call takes longer than that).
  A sub-agent's records belong to its parent's session (``is_sidechain`` True).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from aitrack.transcripts.records import (
    ApiCallRecord,
    CodexFileState,
    FileParse,
    ParseStats,
    RunRecord,
    SessionRecord,
    ToolCallRecord,
    as_int,
    iter_lines,
    loads,
    looks_like_object,
    open_transcript,
    ts_ms,
    walk_jsonl,
)

AGENT: Final = "codex"
FALLBACK_MODEL = "gpt-5"
PROMPT_CHARS = 500
REPLAY_GAP_MS = 1000
SUBAGENT_PROBE_BYTES = 16 * 1024
MAX_OPEN_TOOLS = 2000
_TOOL_CALLS = {b"function_call", b"custom_tool_call", b"local_shell_call"}
_TOOL_OUTPUTS = {b"function_call_output", b"custom_tool_call_output"}


def default_codex_roots() -> list[Path]:
    """``CODEX_HOME`` (comma list) when set, else ``~/.codex``."""
    env = os.environ.get("CODEX_HOME", "").strip()
    if env:
        return [Path(p.strip()).expanduser() for p in env.split(",") if p.strip()]
    return [Path.home() / ".codex"]


def discover_codex_files(roots: Sequence[Path]) -> list[Path]:
    """``*.jsonl`` under each root's ``sessions/`` and ``archived_sessions/`` (``sessions/``
    wins on the same relative path), or under the root itself when it has neither (saved
    ``codex exec --json`` output); sorted, symlinks skipped."""
    return [Path(p) for p in codex_file_paths(roots)]


def codex_file_paths(roots: Sequence[Path | str]) -> list[str]:
    """`discover_codex_files` as absolute, normalised path strings (what the importer keys
    its files by), without a Path object per file."""
    found: set[str] = set()
    for root in roots:
        root = Path(os.path.abspath(os.path.expanduser(root)))
        subdirs = [root / "sessions", root / "archived_sessions"]
        if not any(d.is_dir() for d in subdirs):
            if root.is_dir():
                walk_jsonl(str(root), found)
            continue
        seen: dict[str, str] = {}
        for d in subdirs:
            if d.is_dir() and not d.is_symlink():
                walk_jsonl(str(d), found, str(d), seen)
    return sorted(found)


def parse_codex_file(
    path: Path, start_offset: int = 0, state: CodexFileState | None = None
) -> FileParse:
    """Records of the complete lines of ``path`` from ``start_offset``.

    To continue a file that grew, pass the previous ``end_offset`` and ``state`` (store
    ``state.to_dict()`` as JSON between runs): without it, the running totals restart and
    a re-emitted snapshot right after the cut would be counted again.

    Raises:
        TranscriptError: the file vanished or cannot be read (FileShrank: shorter than
            start_offset, re-read it from 0).
    """
    path = Path(path)
    parser = _CodexFile(
        path, CodexFileState.from_dict(state.to_dict()) if state else CodexFileState()
    )
    stats = ParseStats()
    with open_transcript(path, start_offset) as f:
        if start_offset == 0:
            parser.spawn_probe = b"thread_spawn" in f.read(SUBAGENT_PROBE_BYTES)
            f.seek(0)
        for offset, line in iter_lines(f, path, start_offset, stats):
            parser.line(offset, line, stats)
    return parser.finish(start_offset + stats.bytes, stats)


def _usage(value: object) -> list[int] | None:
    if type(value) is not dict:
        return None
    get = value.get
    u: list[Any] = [get("input_tokens"), get("cached_input_tokens"), get("output_tokens"),
         get("reasoning_output_tokens"), get("total_tokens")]  # fmt: skip
    for i in range(5):
        if type(u[i]) is not int or u[i] < 0:
            u[i] = as_int(u[i])
    if u[1] == 0 and "cache_read_input_tokens" in value:
        u[1] = as_int(value.get("cache_read_input_tokens"))
    if u[4] == 0:
        u[4] = u[0] + u[2]
    return u


def _exit_ok(line: bytes) -> bool | None:
    """Success of a tool output from its exit code, when the output reports one."""
    for pattern in (b'exit_code\\":', b'"exit_code":', b"Exit code: "):
        i = line.rfind(pattern)
        if i >= 0:
            j = i + len(pattern)
            while j < len(line) and line[j] == 32:
                j += 1
            k = j
            while k < len(line) and (48 <= line[k] <= 57 or (k == j and line[k] == 45)):
                k += 1
            return line[j:k] == b"0" if k > j else None
    return None


class _CodexFile:
    def __init__(self, path: Path, state: CodexFileState) -> None:
        self.path = path
        self.state = state
        self.spawn_probe = False
        self.api: dict[str, ApiCallRecord] = {}
        self.tools: dict[str, list[Any]] = {}  # call id -> [name, started, run, ended, ok]
        self.runs: dict[str, list[Any]] = {}  # run id -> [started, ended, prompt]
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        # raw bytes of the last token_count info that carried a total (see line())
        self.last_info: bytes | None = None
        self.pending_info: bytes | None = None

    # -- dispatch ------------------------------------------------------------------------
    def line(self, offset: int, line: bytes, stats: ParseStats) -> None:
        if not looks_like_object(line):
            stats.skipped_malformed += 1
            return
        top = ptype = self.pending_info = None
        if line.startswith(b'{"timestamp":"'):
            q = line.find(b'"', 14)
            if line.startswith(b',"type":"', q + 1):
                e = line.find(b'"', q + 10)
                top = line[q + 10 : e]
                if line.startswith(b',"payload":{"type":"', e + 1):
                    p = line.find(b'"', e + 21)
                    ptype = line[e + 21 : p]
        if top == b"event_msg":
            if ptype == b"token_count" and line.startswith(b',"info":{', p + 1):
                # A re-emit repeats the info bytes of the previous snapshot (rate limits
                # differ): same total, skipped by the rule below, so skip it unparsed.
                r = line.rfind(b',"rate_limits":')
                info = line[p:r] if r > p else line[p:]
                if info == self.last_info:
                    stats.skipped_other += 1
                    return
                self.pending_info = info
            elif ptype is not None and ptype != b"token_count" and ptype != b"user_message":
                stats.skipped_other += 1
                return
        elif top == b"response_item":
            if ptype in _TOOL_OUTPUTS:
                self.tool_output_fast(line, p, stats)
                return
            if ptype is not None and ptype not in _TOOL_CALLS:
                stats.skipped_other += 1
                return
        elif top is not None and top not in (b"session_meta", b"turn_context"):
            stats.skipped_other += 1
            return
        try:
            obj = loads(line)
        except ValueError:
            stats.skipped_malformed += 1
            return
        if type(obj) is not dict:
            stats.skipped_malformed += 1
        elif type(obj.get("payload")) is not dict:
            stats.skipped_other += 1  # valid, but not a rollout entry (e.g. exec --json events)
        else:
            self.entry(obj, offset, line, stats)

    def entry(self, obj: dict[str, Any], offset: int, line: bytes, stats: ParseStats) -> None:
        kind, payload = obj.get("type"), obj["payload"]
        ts = ts_ms(obj.get("timestamp"))
        if kind == "session_meta":
            self.session_meta(payload, ts)
            return
        if ts is None:
            stats.skipped_malformed += 1
            return
        self.touch(ts)
        ptype = payload.get("type")
        if kind == "turn_context":
            model = payload.get("model")
            if type(model) is str and model.strip():
                self.state.model, self.state.model_is_fallback = model.strip(), False
            turn = payload.get("turn_id")
            self.state.turn_id = turn if type(turn) is str and turn else None
            cwd = payload.get("cwd")
            if type(cwd) is str and cwd:
                self.state.cwd = cwd
        elif kind == "event_msg" and ptype == "token_count":
            self.token_count(payload, ts, stats)
        elif kind == "event_msg" and ptype == "user_message":
            self.user_message(payload, ts, offset)
        elif kind == "response_item" and ptype in (
            "function_call",
            "custom_tool_call",
            "local_shell_call",
        ):
            call = payload.get("call_id") or payload.get("id")
            if type(call) is str and call and call not in self.tools:
                name = payload.get("name")
                name = (
                    name
                    if type(name) is str and name
                    else ("local_shell" if ptype == "local_shell_call" else ptype)
                )
                self.tools[call] = [name, ts, self.run_touch(ts), None, None]
        elif kind == "response_item" and ptype in (
            "function_call_output",
            "custom_tool_call_output",
        ):
            self.tool_output(payload.get("call_id"), ts, _exit_ok(line))
        else:
            stats.skipped_other += 1

    # -- line kinds ----------------------------------------------------------------------
    def session_meta(self, payload: dict[str, Any], ts: int | None) -> None:
        st = self.state
        if st.session_id is not None:
            return  # a resumed rollout repeats it; the first one names the file's session
        sid = payload.get("id")
        st.session_id = sid if type(sid) is str and sid else self.fallback_id()
        source = payload.get("source")
        spawn = source.get("subagent") if type(source) is dict else None
        spawn = spawn.get("thread_spawn") if type(spawn) is dict else None
        parent = spawn.get("parent_thread_id") if type(spawn) is dict else None
        forked = payload.get("forked_from_id")
        st.is_subagent = spawn is not None
        if type(parent) is str and parent and parent != st.session_id:
            st.parent_session_id = parent
        elif type(forked) is str and forked and forked != st.session_id:
            st.parent_session_id = forked
        st.owner_session_id = (
            st.parent_session_id if st.is_subagent and st.parent_session_id else st.session_id
        )
        if (st.is_subagent or st.parent_session_id or self.spawn_probe) and ts is not None:
            st.replay_until_ms = ts + REPLAY_GAP_MS
        cwd, version = payload.get("cwd"), payload.get("cli_version")
        git = payload.get("git")
        branch = git.get("branch") if type(git) is dict else None
        st.cwd = cwd if type(cwd) is str and cwd else st.cwd
        st.version = version if type(version) is str and version else st.version
        st.git_branch = branch if type(branch) is str and branch else st.git_branch
        if ts is not None:
            self.touch(ts)

    def fallback_id(self) -> str:
        """The rollout's uuid from its file name (``rollout-<time>-<uuid>.jsonl``), else the stem."""
        stem = self.path.name[:-6] if self.path.name.endswith(".jsonl") else self.path.stem
        return stem[-36:] if len(stem) > 36 and stem[-37] == "-" else stem

    def owner(self) -> str:
        st = self.state
        if st.owner_session_id is None:
            st.session_id = st.session_id or self.fallback_id()
            st.owner_session_id = st.session_id
        return st.owner_session_id

    def token_count(self, payload: dict[str, Any], ts: int, stats: ParseStats) -> None:
        info = payload.get("info")
        if type(info) is not dict:
            stats.skipped_other += 1
            return
        st = self.state
        total, last = _usage(info.get("total_token_usage")), _usage(info.get("last_token_usage"))
        prev = st.prev_total
        if total is not None and total == prev:
            self.last_info = self.pending_info
            stats.skipped_other += 1  # re-emitted snapshot
            return
        if last is not None:
            raw = last
        elif total is not None:
            raw = [max(a - b, 0) for a, b in zip(total, prev or [0] * 5, strict=True)]
        else:
            stats.skipped_other += 1
            return
        if total is not None:
            st.prev_total = total
            self.last_info = self.pending_info
        inp, cached, out, reasoning, tot = raw
        cached = min(cached, inp)
        if inp == 0 and cached == 0 and out == 0 and reasoning == 0:
            stats.skipped_other += 1
            return
        if st.replay_until_ms is not None:
            if ts <= st.replay_until_ms:
                st.replay_until_ms = max(st.replay_until_ms, ts + REPLAY_GAP_MS)
                stats.skipped_other += 1  # replayed parent history
                return
            st.replay_until_ms = None
        model = None
        for src in (info, payload):
            for k in ("model", "model_name"):
                v = src.get(k)
                if type(v) is str and v.strip():
                    model = v.strip()
                    break
            if model:
                break
        if model:
            st.model, st.model_is_fallback = model, False
        elif st.model:
            model = st.model
        else:
            model = st.model = FALLBACK_MODEL
            st.model_is_fallback = True
        key = f"openai-codex:{ts}:{model}:{inp}:{cached}:{out}:{reasoning}:{tot}"
        stats.api_lines += 1
        if key in self.api:
            return
        self.api[key] = ApiCallRecord(
            AGENT, "openai", key, self.owner(), self.run_touch(ts), ts, model, inp - cached, out,
            cached, 0, 0, reasoning, None, None, st.is_subagent, False, None,
        )  # fmt: skip

    def user_message(self, payload: dict[str, Any], ts: int, offset: int) -> None:
        st = self.state
        text = payload.get("message")
        run_id = st.turn_id or f"{self.owner()}:{offset}"
        st.turn_id = None
        st.run_id, st.run_started_ms = run_id, ts
        self.runs[run_id] = [ts, ts, text[:PROMPT_CHARS] if type(text) is str else None]

    def run_touch(self, ts: int) -> str | None:
        st = self.state
        if st.run_id is None:
            return None
        run = self.runs.get(st.run_id)
        if run is None:  # continues from an earlier chunk
            run = self.runs[st.run_id] = [st.run_started_ms or ts, ts, None]
        elif ts > run[1]:
            run[1] = ts
        return st.run_id

    def tool_output_fast(self, line: bytes, p: int, stats: ParseStats) -> None:
        """``function_call_output``: only call_id and exit code matter; skip the output text."""
        if line.startswith(b',"call_id":"', p + 1):
            e = line.find(b'"', p + 13)
            call = line[p + 13 : e]
            ts = ts_ms(line[14 : line.find(b'"', 14)].decode("ascii", "replace"))
            if ts is not None and b"\\" not in call:
                self.touch(ts)
                self.tool_output(call.decode("utf-8", "replace"), ts, _exit_ok(line))
                return
        try:
            obj = loads(line)
        except ValueError:
            stats.skipped_malformed += 1
            return
        if type(obj) is not dict or type(obj.get("payload")) is not dict:
            stats.skipped_malformed += 1
            return
        self.entry(obj, 0, line, stats)

    def tool_output(self, call: object, ts: int, ok: bool | None) -> None:
        if type(call) is not str:
            return
        rec = self.tools.get(call)
        if rec is None:
            pending = self.state.open_tools.get(call)
            if pending is None:
                return
            rec = self.tools[call] = [pending[0], pending[1], pending[2], None, None]
        if rec[3] is None:
            rec[3], rec[4] = ts, ok
        self.run_touch(ts)

    def touch(self, ts: int) -> None:
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts

    # -- output --------------------------------------------------------------------------
    def finish(self, end_offset: int, stats: ParseStats) -> FileParse:
        st = self.state
        owner = self.owner() if (self.first_ts is not None or self.api or self.tools) else None
        tools = []
        for call, (name, started, run, ended, ok) in self.tools.items():
            tools.append(ToolCallRecord(AGENT, owner or "", run, call, name, started, ended, ok))
            if ended is None:
                st.open_tools[call] = [name, started, run]
            else:
                st.open_tools.pop(call, None)
        if len(st.open_tools) > MAX_OPEN_TOOLS:
            for call in list(st.open_tools)[: len(st.open_tools) - MAX_OPEN_TOOLS]:
                del st.open_tools[call]
        side = st.is_subagent
        runs = [
            RunRecord(AGENT, owner or "", run_id, started, ended, prompt, side)
            for run_id, (started, ended, prompt) in self.runs.items()
        ]
        sessions = []
        if owner is not None and self.first_ts is not None and self.last_ts is not None:
            common: dict[str, Any] = dict(
                agent=AGENT, cwd=st.cwd, git_branch=st.git_branch, version=st.version,
                project=st.cwd or "", first_ts_ms=self.first_ts, last_ts_ms=self.last_ts,
                source_file=str(self.path), title=None,
            )  # fmt: skip
            if owner != st.session_id:  # a sub-agent thread: its work counts in the parent
                sessions.append(SessionRecord(external_id=owner, model=None, **common))
            sessions.append(
                SessionRecord(
                    external_id=st.session_id or owner, model=st.model,
                    parent_external_id=st.parent_session_id, **common,
                )
            )  # fmt: skip
        return FileParse(sessions, runs, tools, list(self.api.values()), end_offset, stats, st)
