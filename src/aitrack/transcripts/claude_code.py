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
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from aitrack.transcripts.records import (
    ApiCallRecord,
    ClaudeFileState,
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
    string_end,
    ts_ms,
    walk_jsonl,
)

AGENT: Final = "claude-code"
PROMPT_CHARS = 500
MAX_OPEN_TOOLS = 2000  # tool uses kept in state waiting for a result in a later chunk
_NOT_PROMPTS = ("<local-command-stdout>", "<local-command-stderr>", "<local-command-caveat>",
                "<bash-stdout>", "<bash-stderr>", "Caveat: ", "[Request interrupted by user")  # fmt: skip
# String values worth blanking before json.loads of a user line (tool output, pasted text).
_BIG_STRING = re.compile(rb'"(?:content|text|data)":"')
_BLANK_MIN = 256
_NO_AGENT: dict[str, Any] = {}
_ASSISTANT, _USER, _OTHER = "assistant", "user", "other"
_NO_TS_FIRST, _NO_TS_LAST = 1 << 62, -(1 << 62)


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
    found: set[str] = set()
    for root in roots:
        root = Path(root).expanduser()
        if (root / "projects").is_dir():
            base = root / "projects"
        elif root.name == "projects" and root.is_dir():
            base = root
        else:
            continue
        walk_jsonl(str(base), found)
    return [Path(p) for p in sorted(found)]


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
    path = Path(path)
    parser = _ClaudeFile(
        path, ClaudeFileState.from_dict(state.to_dict()) if state else ClaudeFileState()
    )
    stats = ParseStats()
    with open_transcript(path, start_offset) as f:
        for offset, line in iter_lines(f, path, start_offset, stats):
            parser.line(offset, line, stats)
    return parser.finish(start_offset + stats.bytes, stats)


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


def _assistant_fast(line: bytes, m: int, split: bool) -> tuple[Any, bytes] | None:
    """Parse an assistant line without its content blocks (the bulk of it).

    ``message.content`` is cut from ``"content":[`` (the first after ``"message":{`` at m) to
    the last ``,"stop_reason":``. Those byte patterns cannot occur inside a JSON string (the
    quote after the key would be escaped), and the cut line is parsed by json, so a wrong
    cut gives invalid JSON or a message without the expected keys: then the caller parses
    the whole line. With ``split`` the envelope before m is left out (the caller has it).
    Returns (object, raw content items) or None.
    """
    c = line.find(b'"content":[', m)
    s = line.rfind(b',"stop_reason":')
    if c < 0 or s < c or line[s - 1] != 0x5D:
        return None
    try:
        if split:
            obj = loads(b"{" + line[m : c + 11] + line[s - 1 :])
        else:
            obj = loads(line[: c + 11] + line[s - 1 :])
    except ValueError:
        return None
    msg = obj.get("message") if type(obj) is dict else None
    if (
        type(msg) is not dict
        or msg.get("content") != []
        or "usage" not in msg
        or "id" not in msg
        or "model" not in msg
    ):
        return None
    return obj, line[c + 11 : s - 1]


def _tool_heads(items: bytes) -> list[tuple[str, str]] | None:
    """(id, name) of the single tool_use block in raw content items, None if unsure.

    Reads ``{"type":"tool_use","id":"…","name":"…","input":`` at the start of the items
    (the API's key order) when the values hold no escapes.
    """
    if not items.startswith(b'{"type":"tool_use","id":"') or items.count(b'"tool_use"') != 1:
        return None
    e = items.find(b'"', 25)
    if e < 0 or not items.startswith(b',"name":"', e + 1):
        return None
    n = items.find(b'"', e + 10)
    if n < 0 or not items.startswith(b',"input":', n + 1):
        return None
    tid, name = items[25:e], items[e + 10 : n]
    if not tid or b"\\" in tid or b"\\" in name:
        return None
    return [(tid.decode(), name.decode())]


def _user_reduced(line: bytes, m: int, split: bool) -> tuple[Any, bool] | None:
    """Parse a user line with ``toolUseResult`` cut (when it is the last key) and long
    ``content``/``text``/``data`` strings blanked: tool output is most of the bytes and we
    need none of it. Blanking uses an exact string scanner, so only string values change;
    returns (object, whether anything was blanked) or None to parse the whole line.
    With ``split`` the envelope before m (``"message":{``) is left out."""
    start = m if split else 0
    t = line.find(b',"toolUseResult":', start)
    core = line[start:t] + b"}" if t > 0 else line[start:]
    parts = []
    pos = 0
    search = _BIG_STRING.search
    found = search(core)
    while found is not None:
        begin = found.end()
        end = string_end(core, begin)
        if end < 0:
            return None
        if end - begin > _BLANK_MIN:
            parts.append(core[pos:begin])
            pos = end
        found = search(core, end + 1)
    if parts:
        parts.append(core[pos:])
        core = b"".join(parts)
    try:
        obj = loads(b"{" + core if split else core)
    except ValueError:
        return None
    if type(obj) is not dict:
        return None
    return obj, bool(parts)


def _prompt_text(content: object) -> str | None:
    if isinstance(content, str) or type(content) is not list:
        return content if isinstance(content, str) else None
    texts = [b.get("text") for b in content if type(b) is dict and b.get("type") == "text"]
    return "\n".join(t for t in texts if isinstance(t, str)) or None


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
        self.heads: dict[bytes, dict[str, Any]] = {}
        self.last_env: dict[str, Any] | None = None

    # -- dispatch ------------------------------------------------------------------------
    def line(self, offset: int, line: bytes, stats: ParseStats) -> None:
        if (not line or line[0] != 0x7B or line[-1] != 0x7D) and not looks_like_object(line):
            stats.skipped_malformed += 1
            return
        items = None
        blanked = False
        env = None
        # Route by what follows "message":{ (cheap; the parse below checks the type), else
        # by substrings anywhere in the line.
        m = line.find(b'"message":{')
        if m > 0 and line.startswith(b'"role":"user"', m + 11):
            kind = _USER
        elif (m > 0 and line.find(b'"role":"assistant"', m + 11, m + 160) > 0) or (
            b'"usage"' in line and b'"assistant"' in line
        ):
            kind = _ASSISTANT
        elif b'"user"' in line:
            kind = _USER
        elif b'"summary"' in line:
            kind = _OTHER
        else:
            stats.skipped_other += 1
            return
        if kind is _ASSISTANT:
            env = self.envelope(line, m) if m > 0 else None
            fast = _assistant_fast(line, m, env is not None) if m > 0 else None
            if fast is not None:
                obj, items = fast
                if env is not None:
                    obj.update(env)
            else:
                obj = self.loads(line, stats)
        elif kind is _USER:
            env = self.envelope(line, m) if m > 0 else None
            reduced = _user_reduced(line, m, env is not None)
            if reduced is not None:
                obj, blanked = reduced
                if env is not None:
                    obj.update(env)
                if "timestamp" not in obj or "message" not in obj:
                    obj = self.loads(line, stats)
                    blanked = False
            else:
                obj = self.loads(line, stats)
        else:
            obj = self.loads(line, stats)
        if obj is None:
            return
        if env is None or env is not self.last_env:
            self.touch_envelope(obj)
            self.last_env = env
        kind = obj.get("type")
        if kind == "assistant":
            self.assistant(obj, offset, line, items, stats, False)
        elif kind == "user":
            self.user(obj, offset, line, blanked, stats)
        elif kind == "progress":
            self.progress(obj, offset, stats)
        elif kind == "summary" and isinstance(obj.get("summary"), str):
            self.title = self.title or obj["summary"]
            stats.skipped_other += 1
        else:
            stats.skipped_other += 1

    def envelope(self, line: bytes, m: int) -> dict[str, Any] | None:
        """The top-level keys before ``"message":{`` (at m), parsed once per distinct value.

        Consecutive lines repeat them except ``parentUuid`` (first, skipped: we do not use
        it). Parsing ``{`` + head + a closing key proves m is at the top level. None when
        the line does not start that way.
        """
        if line.startswith(b'{"parentUuid":"'):
            e = line.find(b'"', 15) + 1
            if e <= 0 or line.find(b"\\", 15, e) >= 0:
                return None
        elif line.startswith(b'{"parentUuid":null'):
            e = 18
        else:
            return None
        head = line[e:m]
        env = self.heads.get(head)
        if env is None:
            try:
                env = loads(b'{"parentUuid":null' + head + b'"_":0}')
            except ValueError:
                return None
            if type(env) is not dict:
                return None
            del env["parentUuid"], env["_"]
            if len(self.heads) >= 16:
                self.heads.clear()
            self.heads[head] = env
        return env

    @staticmethod
    def loads(line: bytes, stats: ParseStats) -> dict[str, Any] | None:
        try:
            obj = loads(line)
        except ValueError:
            stats.skipped_malformed += 1
            return None
        if type(obj) is not dict:
            stats.skipped_malformed += 1
            return None
        return obj

    # -- envelope, runs ------------------------------------------------------------------
    def touch(self, ts: int) -> None:
        if ts < self.first_ts:
            self.first_ts = ts
        if ts > self.last_ts:
            self.last_ts = ts

    def touch_envelope(self, obj: dict[str, Any]) -> None:
        st = self.state
        cwd, branch, version = obj.get("cwd"), obj.get("gitBranch"), obj.get("version")
        if type(cwd) is str and cwd:
            st.cwd = cwd
        if type(branch) is str and branch:
            st.git_branch = branch
        if type(version) is str and version:
            st.version = version

    def run_for(self, obj: dict[str, Any], side: bool, ts: int) -> str | None:
        """The run a line belongs to (its chain's open run; a sidechain without one falls back
        to the main chain's), extended to ts."""
        runs = self.state.runs
        info = runs.get("side:" + str(obj.get("agentId") or "")) if side else None
        if info is None:
            info = runs.get("")
        if info is None:
            return None
        if ts > info[2]:
            info[2] = ts
        if info[0] not in self.runs:
            self.runs[info[0]] = (info, None)
        return info[0]

    # -- line kinds ----------------------------------------------------------------------
    def assistant(
        self,
        obj: dict[str, Any],
        offset: int,
        line: bytes,
        items: bytes | None,
        stats: ParseStats,
        mirrored: bool,
    ) -> None:
        msg: Any = obj.get("message")
        usage = msg.get("usage") if type(msg) is dict else None
        if type(usage) is not dict or (
            "input_tokens" not in usage and "output_tokens" not in usage
        ):
            stats.skipped_other += 1
            return
        ts = ts_ms(obj.get("timestamp"))
        if ts is None:
            stats.skipped_malformed += 1
            return
        if ts > self.last_ts:
            self.last_ts = ts
        if ts < self.first_ts:
            self.first_ts = ts
        if mirrored:
            side = True
            run = self.run_for(_NO_AGENT, False, ts)
        else:
            side = obj.get("isSidechain") is True
            run = self.run_for(obj, side, ts)
            if items is None or b'"tool_use"' in items:
                self.tool_uses(msg, line, items, ts, run)
        model = msg.get("model")
        if type(model) is not str or not model:
            model = "unknown"
        synthetic = model == "<synthetic>"
        if not synthetic:
            if side:
                self.side_model = model
            else:
                self.model = model
        get = usage.get
        inp, out, read = get("input_tokens"), get("output_tokens"), get("cache_read_input_tokens")
        if type(inp) is not int or inp < 0:
            inp = as_int(inp)
        if type(out) is not int or out < 0:
            out = as_int(out)
        if type(read) is not int or read < 0:
            read = as_int(read)
        cache = get("cache_creation")
        if type(cache) is dict:
            w5 = as_int(cache.get("ephemeral_5m_input_tokens"))
            w1 = as_int(cache.get("ephemeral_1h_input_tokens"))
        else:
            w5, w1 = as_int(get("cache_creation_input_tokens")), 0
        mid = msg.get("id")
        if type(mid) is str and mid:
            key = "anthropic:" + mid
        else:
            mid = None
            key = f"anthropic-line:{self.relpath}:{offset}"
        total = inp + out + read + w5 + w1
        stats.api_lines += 1
        prev = self.api.get(key)
        if prev is not None and (total < prev[0] or (total == prev[0] and (side or not prev[1]))):
            return
        req = obj.get("requestId")
        speed = get("speed")
        self.api[key] = (
            total,
            side,
            (AGENT, "anthropic", key, self.session_id, run, ts, model, inp, out, read, w5, w1, 0,
             req if type(req) is str and req else None, mid, side, synthetic,
             speed if type(speed) is str else None),
        )  # fmt: skip

    def tool_uses(
        self, msg: dict[str, Any], line: bytes, items: bytes | None, ts: int, run: str | None
    ) -> None:
        heads: list[tuple[str, str]] | None
        if items is None:
            heads = _blocks_tool_uses(msg.get("content"))
        else:
            heads = _tool_heads(items)
            if heads is None:  # unusual layout: read the blocks properly
                try:
                    heads = _blocks_tool_uses(loads(line)["message"]["content"])
                except (ValueError, KeyError, TypeError):
                    heads = []
        for tid, name in heads:
            if tid not in self.tools:
                self.tools[tid] = [name, ts, run, None, None]

    def user(
        self, obj: dict[str, Any], offset: int, line: bytes, blanked: bool, stats: ParseStats
    ) -> None:
        msg: Any = obj.get("message")
        ts = ts_ms(obj.get("timestamp"))
        if type(msg) is not dict or ts is None:
            stats.skipped_malformed += 1
            return
        self.touch(ts)
        side = obj.get("isSidechain") is True
        content = msg.get("content")
        results = (
            [b for b in content if type(b) is dict and b.get("type") == "tool_result"]
            if type(content) is list
            else None
        )
        if results:
            self.run_for(obj, side, ts)
            for block in results:
                self.tool_result(block, ts)
            return
        if obj.get("isMeta") or obj.get("isCompactSummary") or obj.get("isVisibleInTranscriptOnly"):
            self.run_for(obj, side, ts)
            stats.skipped_other += 1
            return
        if blanked:  # the prompt text was blanked for speed: read it
            try:
                content = loads(line)["message"]["content"]
            except (ValueError, KeyError, TypeError):
                stats.skipped_malformed += 1
                return
        text = _prompt_text(content)
        if not text or text.lstrip().startswith(_NOT_PROMPTS):
            self.run_for(obj, side, ts)
            stats.skipped_other += 1
            return
        uuid = obj.get("uuid")
        run_id = uuid if type(uuid) is str and uuid else f"{self.relpath}:{offset}"
        runs = self.state.runs
        if side:
            key = "side:" + str(obj.get("agentId") or "")
        else:
            key = ""
            for k in [k for k in runs if k]:  # a new main turn: earlier sub-agents are done
                del runs[k]
        info = [run_id, ts, ts, side]
        runs[key] = info
        self.runs[run_id] = (info, text[:PROMPT_CHARS])

    def tool_result(self, block: dict[str, Any], ts: int) -> None:
        tid = block.get("tool_use_id")
        if type(tid) is not str:
            return
        rec = self.tools.get(tid)
        if rec is None:
            pending = self.state.open_tools.get(tid)
            if pending is None:
                return  # its tool_use is in another file or was never written
            rec = self.tools[tid] = [pending[0], pending[1], pending[2], None, None]
        if rec[3] is None:
            rec[3] = ts
            rec[4] = block.get("is_error") is not True

    def progress(self, obj: dict[str, Any], offset: int, stats: ParseStats) -> None:
        """Newer CLIs mirror sub-agent replies into the main file: a sidechain copy."""
        data = obj.get("data")
        inner = data.get("message") if type(data) is dict else None
        ts = ts_ms(obj.get("timestamp"))
        if ts is not None:
            self.touch(ts)
        if type(inner) is dict and inner.get("type") == "assistant":
            self.assistant(inner, offset, b"", None, stats, True)
        else:
            stats.skipped_other += 1

    # -- output --------------------------------------------------------------------------
    def finish(self, end_offset: int, stats: ParseStats) -> FileParse:
        st, sid = self.state, self.session_id
        api = [ApiCallRecord(*fields) for _, _, fields in self.api.values()]
        tools = []
        for tid, (name, started, run, ended, ok) in self.tools.items():
            tools.append(ToolCallRecord(AGENT, sid, run, tid, name, started, ended, ok))
            if ended is None:
                st.open_tools[tid] = [name, started, run]
            else:
                st.open_tools.pop(tid, None)
        if len(st.open_tools) > MAX_OPEN_TOOLS:
            for tid in list(st.open_tools)[: len(st.open_tools) - MAX_OPEN_TOOLS]:
                del st.open_tools[tid]
        runs = [
            RunRecord(AGENT, sid, run_id, info[1], info[2], prompt, bool(info[3]))
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
        return FileParse(sessions, runs, tools, api, end_offset, stats, st)


def _blocks_tool_uses(content: object) -> list[tuple[str, str]]:
    blocks = content if type(content) is list else []
    uses = [
        (b.get("id"), b.get("name"))
        for b in blocks
        if type(b) is dict and b.get("type") == "tool_use"
    ]
    return [(i, n if type(n) is str else "") for i, n in uses if type(i) is str and i]
