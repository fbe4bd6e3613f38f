"""Which session a proxied call belongs to, and whether a budget refuses it.

Order: the agent's own session id header (Claude Code sends X-Claude-Code-Session-Id since
v2.1.86, Codex sends session_id) when a session knows that id; then our own
`x-aitrack-session` (set by `aitrack run` through ANTHROPIC_CUSTOM_HEADERS /
OPENAI_CUSTOM_HEADERS); then the session `run` started for this proxy; then the session of
the proxy's lane open at the time of the call (and, for a shared proxy, the single active
session). Lookups run on the writer thread, never on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from aitrack.errors import AitrackError

CLAUDE_CODE_HEADER = "x-claude-code-session-id"
CODEX_HEADERS = ("session_id", "session-id")
AITRACK_HEADER = "x-aitrack-session"

Key = tuple[str | None, str | None]  # (agent's session id, aitrack session id)
NO_KEY: Key = (None, None)


def call_key(headers: Mapping[str, str]) -> Key:
    """The attribution headers of a request (cheap: runs for every request)."""
    agent = headers.get(CLAUDE_CODE_HEADER)
    if agent is None:
        for name in CODEX_HEADERS:
            agent = headers.get(name)
            if agent is not None:
                break
    own = headers.get(AITRACK_HEADER)
    if agent is None and own is None:
        return NO_KEY
    return (agent.strip() if agent else None, own.strip() if own else None)


class Resolver:
    """Resolves call keys to (session id, repo path) with a short-lived cache."""

    def __init__(
        self, tracker: Any, lane: str, fixed_session_id: str | None = None, ttl_s: float = 1.0
    ) -> None:
        from aitrack.store.spend import SpendRecords

        self.tracker = tracker
        self.spend = SpendRecords(tracker.db)
        self.lane = lane
        self.fixed = fixed_session_id
        self.ttl_s = ttl_s
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}

    def _cached(self, kind: str, value: str, lookup: Callable[[], Any]) -> Any:
        now = time.monotonic()
        hit = self._cache.get((kind, value))
        if hit is not None and hit[0] > now:
            return hit[1]
        result = lookup()
        # a found id never changes session; a miss or a lane may change soon
        expires = float("inf") if result is not None and kind != "lane" else now + self.ttl_s
        self._cache[(kind, value)] = (expires, result)
        if len(self._cache) > 10_000:
            self._cache.clear()
        return result

    def resolve(self, key: Key, at_ms: int) -> tuple[str | None, str | None]:
        agent, own = key
        if agent:
            row = self._cached("agent", agent, lambda: self.spend.session_by_external_id(agent))
            if row:
                return row["id"], row["repo_path"]
        if own:
            row = self._cached("own", own, lambda: self._own(own))
            if row:
                return row["id"], row["repo_path"]
        fixed = self.fixed
        if fixed:
            row = self._cached("own", fixed, lambda: self.spend.session_brief(fixed))
            return fixed, row["repo_path"] if row else None
        row = self._cached(
            "lane",
            f"{self.lane}@{at_ms // 1000}",
            lambda: self.spend.session_in_lane_at(self.lane, at_ms),
        )
        if row is None:
            active = self._cached("lane", "*", lambda: self.spend.active_session_briefs(2))
            row = active[0] if active and len(active) == 1 else None
        return (row["id"], row["repo_path"]) if row else (None, None)

    def _own(self, value: str) -> Any:
        try:
            session = self.tracker.resolve_session(value)
        except AitrackError:
            return None
        return {"id": session["id"], "repo_path": session.get("repo_path")}


class BudgetGate:
    """What enforced budgets refuse right now. Written by the writer thread, read by the
    event loop with plain dict lookups (each read is atomic)."""

    def __init__(self) -> None:
        self.active = False
        self.all_refused: str | None = None
        self.sessions: dict[str, str] = {}
        self.repos: dict[str, str] = {}
        self.keys: dict[Key, tuple[str | None, str | None]] = {}

    def refusal(self, key: Key) -> str | None:
        """The reason a call with this key is refused, or None."""
        if not self.active:
            return None
        if self.all_refused:
            return self.all_refused
        hit = self.keys.get(key)
        if hit is None:
            return None
        session_id, repo = hit
        return self.sessions.get(session_id or "") or self.repos.get(repo or "")


def refresh_gate(
    gate: BudgetGate, tracker: Any, warn: Callable[[str], None] | None, warned: set[tuple[Any, ...]]
) -> None:
    """Recompute what enforced budgets refuse, and warn once per limit reached."""
    from aitrack import budgets
    from aitrack.clock import local_day, now_ms
    from aitrack.store.spend import SpendRecords

    if not SpendRecords(tracker.db).has_budgets():
        gate.active = False
        gate.all_refused, gate.sessions, gate.repos = None, {}, {}
        return
    today = local_day(now_ms())
    sessions: dict[str, str] = {}
    repos: dict[str, str] = {}
    all_refused = None
    checks = [budgets.check_budgets(tracker)]
    for session_id in {s for s, _ in gate.keys.values() if s}:
        try:
            checks.append(budgets.check_budgets(tracker, session_id))
        except AitrackError:
            continue
    for check in checks:
        for rule in check["exceeded"]:
            text = budgets.describe(rule)
            scope = rule["scope"]
            mark = (scope, rule["repo_path"], check["session_id"] if scope == "session" else today)
            if warn is not None and mark not in warned:
                warned.add(mark)
                warn(f"aitrack: {text}" + (" (calls refused)" if rule["enforce"] else ""))
            if not rule["enforce"]:
                continue
            if scope == "session":
                sessions[check["session_id"]] = text
            elif rule["repo_path"]:
                repos[rule["repo_path"]] = text
            else:
                all_refused = text
    gate.sessions, gate.repos, gate.all_refused = sessions, repos, all_refused
    gate.active = True
