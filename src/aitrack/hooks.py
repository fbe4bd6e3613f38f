"""The agent hook: `aitrack-hook` (and `aitrack hook`) records one Claude Code or Codex event.

Claude Code runs it as a new process per event with the event JSON on stdin (Codex hooks
too, with ``--agent codex``); Codex's ``notify`` program gets ``codex-notify JSON``. The agent
waits for it, so the hook itself only appends the event, stamped with its arrival time, to a
spool file in the data dir and starts a detached processor; it imports nothing of aitrack's
store, prints nothing and exits 0 whatever happens (errors go to errors.log in the data dir).
The processor (one at a time, under a lock) applies the queued events in order with the
tracker and imports the transcript tails with the same importer as `aitrack import`.
Commands that read what hooks write drain the spool first (`process_spool(wait=True)`), so
they never show stale data. AITRACK_HOOK_SYNC=1 processes each event inside the hook.

Events: SessionStart opens the session of that agent session id (lane ``<agent>:<id>``) and
closes sessions idle for AITRACK_IDLE_MINUTES; UserPromptSubmit opens a run;
PreToolUse/PostToolUse/PostToolUseFailure record a tool call (with its duration when Pre was
seen); Stop closes the run and imports the transcript tail (exact tokens and cost);
SubagentStop imports the sub-agent's transcript; PreCompact notes the compaction; SessionEnd
ends the session (SessionEnd does not always come: the idle rule closes the rest).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC

TYPE_CHECKING = False  # typing costs a hook milliseconds; annotations are strings here
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

CLAUDE, CODEX = "claude-code", "codex"
SPOOL, OFFSET, LOCK = "hook-events.spool", "hook-events.offset", "hook-events.lock"


# -- the hook process: append and leave ---------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> None:
    """Console script `aitrack-hook`: queue one event, exit 0 with no output."""
    try:
        receive(list(sys.argv[1:] if argv is None else argv), sys.stdin.buffer)
    except Exception as exc:  # noqa: BLE001 - a hook must never break the agent
        _log(f"hook {sys.argv[1:]}", exc)
    sys.exit(0)


def receive(argv: list[str], stdin: Any) -> None:
    """Append the event to the spool (one line: arrival ms, agent, kind, JSON) and make
    sure a processor runs."""
    now = int(time.time() * 1000)
    agent, kind = CLAUDE, "event"
    if argv[:1] == ["codex-notify"]:
        agent, kind = CODEX, "codex-notify"
        if len(argv) < 2:
            return
        payload = argv[-1].encode("utf-8", "replace")
        if argv[1] == "--then" and len(argv) > 3:
            _chain(argv[2:-1], argv[-1])
    else:
        if argv[:1] == ["--agent"] and len(argv) > 1 and argv[1] in (CLAUDE, CODEX):
            agent = argv[1]
        payload = stdin.read()
    if not payload.strip():
        return
    if os.environ.get("AITRACK_REDACT_PROMPTS", "").strip().lower() in ("1", "true", "yes", "on"):
        payload = _redacted(payload)
    # JSON has no raw newlines inside strings: the ones between tokens can become spaces.
    line = b"%d\t%s\t%s\t%s\n" % (
        now,
        agent.encode(),
        kind.encode(),
        payload.replace(b"\r", b" ").replace(b"\n", b" "),
    )
    folder = spool_dir()
    os.makedirs(folder, exist_ok=True)
    fd = os.open(os.path.join(folder, SPOOL), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        _flock(fd, exclusive=True)
        os.write(fd, line)
    finally:
        os.close(fd)
    if os.environ.get("AITRACK_HOOK_SYNC", "").strip() not in ("", "0") or not hasattr(os, "fork"):
        process_spool(wait=True)
    else:
        _spawn_processor()


def _redacted(payload: bytes) -> bytes:
    """The event without prompt text (AITRACK_REDACT_PROMPTS=1): it never reaches the disk."""
    import json

    try:
        data = json.loads(payload)
    except ValueError:
        return payload
    if isinstance(data, dict):
        for key in ("prompt", "input-messages", "last-assistant-message", "last_assistant_message"):
            data.pop(key, None)
    return json.dumps(data).encode()


def spool_dir() -> str:
    """The data dir, as aitrack.settings.data_dir() finds it, without importing settings (and
    dataclasses, pathlib, re: a third of a hook's time). A test pins the two together."""
    for var in ("AITRACK_HOME", "AI_OUTPUT_DIR"):
        value = os.environ.get(var)
        if value:
            return os.path.expanduser(value)
    home = os.path.expanduser("~")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Application Support", "aitrack")
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        return os.path.join(base, "aitrack")
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
    return os.path.join(base, "aitrack")


def _flock(fd: int, exclusive: bool = True, block: bool = True) -> bool:
    try:
        import fcntl
    except ImportError:  # no advisory locks (Windows): events are processed in the hook
        return True
    flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    try:
        fcntl.flock(fd, flags if block else flags | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _spawn_processor() -> None:
    """Fork a processor in its own session with no stdio: the agent stops waiting when this
    process exits, and the child goes on (or leaves at once if another one is running)."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() != 0:
        return
    try:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        process_spool(wait=False)
    except Exception as exc:  # noqa: BLE001
        _log("hook processor", exc)
    finally:
        os._exit(0)


def _chain(program: list[str], payload: str) -> None:
    """Run the notify program the user had before aitrack (kept after --then)."""
    import subprocess

    try:
        subprocess.Popen(
            [*program, payload], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        _log(f"chained notify program {program[:1]}", exc)


def _log(context: str, exc: BaseException) -> None:
    try:
        from aitrack.tracker import log_internal_error

        log_internal_error(context, exc)
    except Exception:  # noqa: BLE001, S110 - nothing else may escape a hook
        pass


# -- the processor ------------------------------------------------------------------------------
def process_spool(wait: bool = True) -> int:
    """Apply every queued hook event, in arrival order; returns how many were applied.

    One processor runs at a time. wait=False returns at once when another one holds the
    lock (it will see our event); wait=True waits for it, then drains what is left, so a
    command run after a hook sees its event.
    """
    folder = spool_dir()
    if not os.path.exists(os.path.join(folder, SPOOL)):
        return 0
    lock = os.open(os.path.join(folder, LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    done = 0
    try:
        while True:
            if not _flock(lock, block=wait):
                return done
            try:
                done += _drain(folder)
            finally:
                _unlock(lock)
            if not _pending(folder):
                return done
    finally:
        os.close(lock)


def _unlock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:
        return
    fcntl.flock(fd, fcntl.LOCK_UN)


def _read_offset(folder: str) -> int:
    try:
        with open(os.path.join(folder, OFFSET), encoding="ascii") as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _write_offset(folder: str, offset: int) -> None:
    with open(os.path.join(folder, OFFSET), "w", encoding="ascii") as f:
        f.write(str(offset))


def _pending(folder: str) -> bool:
    try:
        size = os.path.getsize(os.path.join(folder, SPOOL))
    except OSError:
        return False
    return size > _read_offset(folder)


def _drain(folder: str) -> int:
    path = os.path.join(folder, SPOOL)
    offset = _read_offset(folder)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if offset > size:  # the spool was removed or cut: start over
                offset = 0
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return 0
    end = data.rfind(b"\n")
    done = 0
    if end >= 0:
        tracker = _open()
        try:
            for line in data[: end + 1].splitlines():
                offset += len(line) + 1
                try:
                    _apply(tracker, line)
                    done += 1
                except Exception as exc:  # noqa: BLE001 - one bad event must not block the rest
                    _log(f"hook event {line[:200]!r}", exc)
                _write_offset(folder, offset)
        finally:
            tracker.store.close()
    _truncate_if_consumed(path, folder, offset)
    return done


def _truncate_if_consumed(path: str, folder: str, offset: int) -> None:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return
    try:
        _flock(fd, exclusive=True)  # no hook appends meanwhile
        if os.fstat(fd).st_size == offset and offset > 0:
            os.ftruncate(fd, 0)
            _write_offset(folder, 0)
    finally:
        os.close(fd)


def _open() -> Any:
    from aitrack.settings import Settings
    from aitrack.store import open_store
    from aitrack.tracker import Tracker

    return Tracker(open_store(), Settings.from_env())


def _apply(tracker: Any, line: bytes) -> None:
    import json

    stamp, agent, kind, payload = line.split(b"\t", 3)
    now, agent_name = int(stamp), agent.decode()
    data = json.loads(payload)
    if not isinstance(data, dict):
        return
    if kind == b"codex-notify":
        _codex_notify(tracker, data, now)
    else:
        handle(tracker, data, agent_name, now)


def handle(tracker: Any, event: dict[str, Any], agent: str, now: int) -> None:
    """Apply one hook event that arrived at `now` (ms)."""
    from aitrack.agent_sessions import close_idle, ensure_session

    name = event.get("hook_event_name")
    external_id = event.get("session_id")
    if not isinstance(name, str) or not isinstance(external_id, str) or not external_id:
        return
    cwd = event.get("cwd") if isinstance(event.get("cwd"), str) else None
    if name == "SessionStart":
        closed = close_idle(tracker)
        _end_captures(tracker, [c.id for c in closed])
    if name == "SessionEnd":
        session = tracker.records.session_by_external_id(agent, external_id)
        if session is None:
            return
    else:
        model = event.get("model") if isinstance(event.get("model"), str) else None
        session = ensure_session(tracker, agent, external_id, cwd=cwd, at_ms=now, model=model)
    handler = _HANDLERS.get(name)
    if handler is not None:
        handler(tracker, session, event, agent, now)


# -- one function per event ---------------------------------------------------------------------
def _session_start(tracker: Any, session: dict, event: dict, agent: str, now: int) -> None:
    from aitrack.store.agents import AgentStore

    model = event.get("model")
    if isinstance(model, str) and model and model != session.get("model"):
        with tracker.db.transaction():
            AgentStore(tracker.db).set_session_model(session["id"], model)


def _prompt(tracker: Any, session: dict, event: dict, agent: str, now: int) -> None:
    from aitrack.agent_sessions import default_name, name_from_prompt, prompt_text
    from aitrack.store.agents import AgentStore

    prompt = event.get("prompt") if isinstance(event.get("prompt"), str) else None
    # No external id yet: the transcript's import names the run (its prompt line's id, or
    # Codex's turn id) by matching its start time, whichever comes first.
    tracker.open_run(session["id"], prompt=prompt_text(prompt), at_ms=now)
    named = name_from_prompt(prompt)
    if named and session["name"] == default_name(agent, session.get("repo_path")):
        with tracker.db.transaction():
            AgentStore(tracker.db).rename_session(session["id"], named)


def _pre_tool(tracker: Any, session: dict, event: dict, agent: str, now: int) -> None:
    tool_id = event.get("tool_use_id") if isinstance(event.get("tool_use_id"), str) else None
    tracker.record_tool_call(session["id"], _tool_name(event), external_id=tool_id, at_ms=now)


def _post_tool(tracker: Any, session: dict, event: dict, agent: str, now: int) -> None:
    from aitrack.store.agents import AgentStore

    ok = event.get("hook_event_name") != "PostToolUseFailure"
    tool_id = event.get("tool_use_id") if isinstance(event.get("tool_use_id"), str) else None
    reported = event.get("duration_ms")
    duration = int(reported) if isinstance(reported, int | float) and reported >= 0 else None
    store = AgentStore(tracker.db)
    seen = store.tool_call(session["id"], tool_id) if tool_id else None
    if seen is None:
        tracker.record_tool_call(
            session["id"],
            _tool_name(event),
            external_id=tool_id,
            ok=ok,
            duration_ms=duration,
            at_ms=now,
        )
        return
    with tracker.db.transaction():
        store.finish_tool_call(
            session["id"], seen["external_id"], ok,
            duration if duration is not None else max(now - seen["ts"], 0),
        )  # fmt: skip
        tracker.records.touch_session(session["id"], now)


def _stop(tracker: Any, session: dict, event: dict, agent: str, now: int) -> None:
    open_run = tracker.records.open_run(session["id"])
    if open_run is not None:
        tracker.close_run(open_run["id"], at_ms=now)
    _import_transcripts(tracker, agent, [event.get("transcript_path")])


def _subagent_stop(tracker: Any, session: dict, event: dict, agent: str, now: int) -> None:
    _import_transcripts(
        tracker, agent, [event.get("agent_transcript_path"), event.get("transcript_path")]
    )


def _pre_compact(tracker: Any, session: dict, event: dict, agent: str, now: int) -> None:
    trigger = event.get("trigger") if isinstance(event.get("trigger"), str) else "auto"
    tracker.add_note(f"context compacted ({trigger})", session_id=session["id"])


def _session_end(tracker: Any, session: dict, event: dict, agent: str, now: int) -> None:
    """Import the last of the transcript, close a run still open (the turn was cut: the
    outcome is then partial, else success) and end the session at the event's time."""
    _import_transcripts(tracker, agent, [event.get("transcript_path")])
    sid = session["id"]
    current = tracker.records.get_session(sid)
    if current is None or current["status"] != "active":
        return
    run = tracker.records.open_run(sid)
    if run is not None:
        tracker.close_run(run["id"], at_ms=now)
    reason = event.get("reason") if isinstance(event.get("reason"), str) else "other"
    label = "Claude Code" if agent == CLAUDE else "Codex"
    tracker.end_session(
        sid,
        "partial" if run is not None else "success",
        f"{label} session ended ({reason})",
        at_ms=now,
    )


_HANDLERS: dict[str, Callable[..., None]] = {
    "SessionStart": _session_start,
    "UserPromptSubmit": _prompt,
    "PreToolUse": _pre_tool,
    "PostToolUse": _post_tool,
    "PostToolUseFailure": _post_tool,
    "Stop": _stop,
    "SubagentStop": _subagent_stop,
    "PreCompact": _pre_compact,
    "SessionEnd": _session_end,
}


def _tool_name(event: dict[str, Any]) -> str:
    name = event.get("tool_name")
    return name[:500] if isinstance(name, str) and name.strip() else "unknown"


def _import_transcripts(tracker: Any, agent: str, paths: list[Any]) -> None:
    from aitrack.importing.transcripts import TranscriptImporter

    files = [p for p in paths if isinstance(p, str) and p and os.path.isfile(p)]
    if files:
        TranscriptImporter(tracker).import_files(agent, files, apply_idle_rule=False)


def _end_captures(tracker: Any, session_ids: list[str]) -> None:
    """Git and code-metric captures of hook sessions the idle rule just closed."""
    for sid in session_ids:
        session = tracker.records.get_session(sid)
        if session is not None and session.get("source") == "hook":
            tracker.run_end_captures(session)


# -- Codex notify -------------------------------------------------------------------------------
def _codex_notify(tracker: Any, payload: dict[str, Any], now: int) -> None:
    """``agent-turn-complete``: the turn ends. The run a hook opened closes; the rollout's new
    tail brings the turn (as a run: the one the hook opened, adopted by its start time) with
    its tool calls and tokens. Without a rollout the turn is recorded from the payload."""
    from aitrack.agent_sessions import ensure_session, prompt_text

    thread = payload.get("thread-id")
    if payload.get("type") != "agent-turn-complete" or not isinstance(thread, str) or not thread:
        return
    cwd = payload.get("cwd") if isinstance(payload.get("cwd"), str) else None
    turn = payload.get("turn-id") if isinstance(payload.get("turn-id"), str) else None
    messages = payload.get("input-messages")
    prompt = (
        "\n".join(m for m in messages if isinstance(m, str)) if isinstance(messages, list) else None
    )
    session = ensure_session(tracker, CODEX, thread, cwd=cwd, at_ms=now)
    opened = tracker.records.open_run(session["id"])
    if opened is not None:
        tracker.close_run(opened["id"], at_ms=now)
    path = _rollout_path(tracker, thread)
    if path is not None:
        _import_transcripts(tracker, CODEX, [path])
    elif opened is None:
        run = tracker.open_run(
            session["id"], prompt=prompt_text(prompt), external_id=turn, at_ms=now
        )
        tracker.close_run(run["id"], at_ms=now)


def _rollout_path(tracker: Any, thread: str) -> str | None:
    """The rollout file of a Codex thread: known to the importer, else in the day folders of
    the last days, else anywhere under CODEX_HOME."""
    from datetime import datetime, timedelta
    from pathlib import Path

    from aitrack.store.agents import AgentStore
    from aitrack.transcripts import default_codex_roots, discover_codex_files

    suffix = f"-{thread}.jsonl"
    known = AgentStore(tracker.db).import_file_ending(CODEX, suffix)
    if known is not None and os.path.isfile(known):
        return known
    roots = default_codex_roots()
    today = datetime.now(UTC)
    for root in roots:
        for days in (0, 1, -1):
            folder = Path(root) / "sessions" / (today - timedelta(days=days)).strftime("%Y/%m/%d")
            if folder.is_dir():
                for entry in folder.iterdir():
                    if entry.name.endswith(suffix):
                        return str(entry)
    for path in discover_codex_files(roots):
        if path.name.endswith(suffix):
            return str(path)
    return None


if __name__ == "__main__":
    main()
