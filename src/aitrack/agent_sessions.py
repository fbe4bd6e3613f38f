"""One aitrack session per coding-agent session (Claude Code session id, Codex thread id),
shared by the hooks and the transcript importer so both land on the same row.

The session lives in the lane ``<agent>:<external id>``, so concurrent agent sessions in one
repository are concurrent aitrack sessions. An agent session that goes on after aitrack closed
it (idle close, ``claude --resume``) is reopened: the unique (agent, external_id) key allows
one row per agent session, and its span then covers the whole conversation.
"""

from __future__ import annotations

import os
from typing import Any

from aitrack.store.database import Row

PROMPT_CHARS = 500
NAME_CHARS = 80


def lane_for(agent: str, external_id: str) -> str:
    return f"{agent}:{external_id}"


def redact_prompts() -> bool:
    """AITRACK_REDACT_PROMPTS=1: store no prompt text (runs keep their times and counts)."""
    return os.environ.get("AITRACK_REDACT_PROMPTS", "").strip().lower() in (
        "1",
        "true",
        "yes",
        "on",
    )


def prompt_text(prompt: object, redacted: bool | None = None) -> str | None:
    """The prompt as stored: its first PROMPT_CHARS characters, or None when redacted
    (None: as `redact_prompts` says now; an import of many asks once)."""
    if redacted is None:
        redacted = redact_prompts()
    if redacted or not isinstance(prompt, str) or not prompt or prompt.isspace():
        return None
    return prompt[:PROMPT_CHARS]


def default_name(agent: str, place: str | None) -> str:
    """The name of a session before its first prompt is known."""
    return (
        f"{agent} in {os.path.basename(place.rstrip('/')) or place}"
        if place
        else f"{agent} session"
    )


def name_from_prompt(prompt: str | None) -> str | None:
    """A session name from its first prompt: the first non-empty line, shortened."""
    if not prompt or redact_prompts():
        return None
    for line in prompt.splitlines():
        line = " ".join(line.split())
        if line:
            return line if len(line) <= NAME_CHARS else line[: NAME_CHARS - 1] + "…"
    return None


_repo_cache: dict[str, Any] = {}


def repo_facts(cwd: str | None, with_head: bool = False) -> dict[str, str | None]:
    """repo_path (the git root of cwd, else cwd itself), project (its base name), branch and
    HEAD read from .git (no subprocess); cached per cwd for bulk imports."""
    if not cwd:
        return {"repo_path": None, "project": None, "branch": None, "head": None}
    key = f"{cwd}\0{with_head}"
    hit = _repo_cache.get(key)
    if hit is not None:
        return hit
    from aitrack import gitinfo

    root = gitinfo.repo_root(cwd)
    repo = str(root) if root else cwd.rstrip("/") or cwd
    facts = {
        "repo_path": repo,
        "project": os.path.basename(repo) or repo,
        "branch": gitinfo.branch(root) if root else None,
        "head": gitinfo.head_sha(root) if root and with_head else None,
    }
    if len(_repo_cache) < 10_000:
        _repo_cache[key] = facts
    return facts


def ensure_session(
    tracker: Any,
    agent: str,
    external_id: str,
    *,
    cwd: str | None,
    at_ms: int,
    model: str | None = None,
    reopen: bool = True,
) -> Row:
    """The aitrack session of an agent session, created (source 'hook') when missing and
    reopened when it had been closed; two hooks racing to create it end with one row."""
    from aitrack.errors import Conflict

    records = tracker.records
    session = records.session_by_external_id(agent, external_id)
    if session is None:
        facts = repo_facts(cwd, with_head=True)
        try:
            session, _ = tracker.start_session(
                default_name(agent, facts["repo_path"]),
                model=model,
                lane=lane_for(agent, external_id),
                agent=agent,
                source="hook",
                external_id=external_id,
                project=facts["project"],
                repo_path=facts["repo_path"],
                branch=facts["branch"],
                cwd=cwd,
                git_head=facts["head"],
                at_ms=at_ms,
            )
            return session
        except Exception as exc:  # another hook created it first (unique agent+external id)
            session = records.session_by_external_id(agent, external_id)
            if session is None:
                raise exc from None
    if session["status"] != "active" and reopen:
        from aitrack.store.agents import AgentStore

        with tracker.db.transaction(lock=f"lane:{session['lane']}"):
            if tracker.records.active_sessions(session["lane"]):
                raise Conflict(f"lane {session['lane']} already has an active session")
            AgentStore(tracker.db).reopen_sessions([session["id"]])
            records.touch_session(session["id"], at_ms)
        session = records.get_session(session["id"]) or session
    return session


def close_idle(tracker: Any, idle_minutes: float | None = None) -> list[Any]:
    """The tracker's idle rule, plus the runs those sessions still had open: a turn cut off
    without its Stop ends with its session."""
    closed = tracker.close_idle_sessions(idle_minutes)
    for c in closed:
        run = tracker.records.open_run(c.id)
        if run is not None:
            tracker.close_run(run["id"], at_ms=c.end_time)
    return closed
