"""The tracker: every use case and rule of aitrack, once, for every interface.

CLI, MCP server, web, proxy and hooks call these methods and only format the result. Rules
that live here: one active session per lane (starting one closes the previous as partial),
the maximum session duration, validation of ratings and vocabularies, logging only to active
sessions, id prefixes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aitrack import ids
from aitrack.clock import now_ms
from aitrack.errors import Conflict, InvalidValue, NotFound
from aitrack.settings import Settings
from aitrack.store import Store
from aitrack.store.database import Row
from aitrack.store.records import dumps
from aitrack.vocab import (
    ESTIMATE_SOURCES,
    OUTCOMES,
    SEVERITIES,
    TASK_TYPES,
    check_choice,
    check_non_negative,
    check_rating,
    check_text,
)

FOREGROUND, BACKGROUND = "foreground", "background"
IDLE_NOTE = "closed after idle"

# What is captured when a session ends, for every interface: "module:function(tracker, session)".
# Each runs after the session is closed; a failure is logged to the data dir, never raised,
# so ending a session always works.
END_CAPTURES: tuple[str, ...] = (
    "aitrack.gitcapture:capture_session_git",
    "aitrack.code_metrics_capture:measure_session",
)


@dataclass(frozen=True, slots=True)
class Closed:
    """A session closed as a side effect (lane rule or idle rule)."""

    id: str
    name: str
    end_time: int
    capped: bool


class Tracker:
    """Use cases over a Store with the user's Settings."""

    def __init__(self, store: Store, settings: Settings | None = None) -> None:
        self.store = store
        self.records = store.records
        self.db = store.db
        self.settings = settings or Settings.from_env()

    # -- session lifecycle -------------------------------------------------------------------
    def start_session(
        self,
        name: str,
        task_type: str = "general",
        model: str | None = None,
        estimate_minutes: float | None = None,
        estimate_source: str | None = None,
        *,
        context: str | None = None,
        lane: str = BACKGROUND,
        agent: str | None = None,
        source: str = "cli",
        external_id: str | None = None,
        developer: str | None = None,
        project: str | None = None,
        repo_path: str | None = None,
        branch: str | None = None,
        cwd: str | None = None,
        git_head: str | None = None,
        tags: dict[str, str] | None = None,
        at_ms: int | None = None,
    ) -> tuple[Row, list[Closed]]:
        """Open a session in `lane`, closing the lane's active session as `partial`.

        Raises:
            InvalidValue: a vocabulary value, estimate or name is not allowed.
        """
        name = check_text("session name", name, max_len=2000)
        check_choice("task type", task_type, TASK_TYPES)
        if estimate_source is not None:
            check_choice("estimate source", estimate_source, ESTIMATE_SOURCES)
        check_non_negative("estimate (minutes)", estimate_minutes)
        lane = check_text("lane", lane, max_len=500)
        start = now_ms() if at_ms is None else at_ms
        session_id = ids.new_id()
        row: dict[str, Any] = {
            "id": session_id,
            "name": name,
            "task_type": task_type,
            "model": model,
            "estimate_minutes": estimate_minutes,
            "estimate_source": estimate_source,
            "context": context,
            "lane": lane,
            "agent": agent,
            "source": source,
            "external_id": external_id,
            "developer": developer,
            "project": project,
            "repo_path": repo_path,
            "branch": branch,
            "cwd": cwd,
            "start_time": start,
            "last_activity": start,
            "status": "active",
            "git_head_start": git_head,
        }
        with self.db.transaction(lock=f"lane:{lane}"):
            closed = [
                self.close_at(
                    prev, start, "partial", "auto-closed: a new session started in its lane"
                )
                for prev in self.records.active_sessions(lane)
            ]
            self.records.insert_session(row)
            if tags:
                self.records.set_tags("session", session_id, tags)
        return self.get_session(session_id), closed

    def close_at(
        self,
        session: Row,
        at_ms: int,
        outcome: str,
        notes: str | None = None,
        final_estimate_minutes: float | None = None,
        git_head: str | None = None,
    ) -> Closed:
        """Close a session row at at_ms inside the caller's transaction, applying the duration
        cap (the end becomes start + max, marked capped). For importers and other use cases."""
        values = self.closing_values(
            session, at_ms, outcome, notes, final_estimate_minutes, git_head
        )
        self.records.update_session(session["id"], values)
        return Closed(session["id"], session["name"], values["end_time"], bool(values["capped"]))

    def closing_values(
        self,
        session: Row,
        at_ms: int,
        outcome: str,
        notes: str | None = None,
        final_estimate_minutes: float | None = None,
        git_head: str | None = None,
    ) -> dict[str, Any]:
        """The columns that close a session row at at_ms (see close_at); an importer writes
        them into a session it creates already closed."""
        limit = session["start_time"] + self.settings.max_session_ms
        capped = at_ms > limit
        end = limit if capped else max(at_ms, session["start_time"])
        values: dict[str, Any] = {
            "status": "completed",
            "end_time": end,
            "outcome": outcome,
            "capped": 1 if capped else 0,
        }
        if notes:
            values["notes"] = f"{session['notes']}\n{notes}" if session.get("notes") else notes
        if final_estimate_minutes is not None:
            values["final_estimate_minutes"] = final_estimate_minutes
        if git_head:
            values["git_head_end"] = git_head
        return values

    def end_session(
        self,
        session_id: str | None,
        outcome: str,
        notes: str | None = None,
        *,
        final_estimate_minutes: float | None = None,
        lane: str | None = None,
        git_head: str | None = None,
        at_ms: int | None = None,
    ) -> Row:
        """End a session (by id or prefix, else the only active one of `lane`).

        Raises:
            InvalidValue, NotFound, Conflict: bad outcome, no such session, already ended,
            or several active sessions and no id.
        """
        check_choice("outcome", outcome, OUTCOMES)
        check_non_negative("final estimate (minutes)", final_estimate_minutes)
        if notes is not None:
            check_text("notes", notes, required=False)
        session = self._pick_active(session_id, lane)
        with self.db.transaction():
            current = self.records.get_session(session["id"])
            if current is None or current["status"] != "active":
                raise Conflict(f"session {ids.short(session['id'])} has already ended")
            self.close_at(
                current,
                now_ms() if at_ms is None else at_ms,
                outcome,
                notes,
                final_estimate_minutes,
                git_head,
            )
        ended = self.get_session(session["id"])
        self.run_end_captures(ended)
        return self.get_session(session["id"])

    def run_end_captures(self, session: Row) -> None:
        """Run END_CAPTURES for a closed session (git changes, code metrics)."""
        import importlib

        for target in END_CAPTURES:
            module_name, func_name = target.split(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name == module_name:
                    continue  # that capture is not part of this build
                raise
            try:
                getattr(module, func_name)(self, session)
            except Exception as exc:  # noqa: BLE001 - a capture must never lose the session end
                log_internal_error(f"{target} failed for session {session['id']}", exc)

    def _pick_active(self, session_id: str | None, lane: str | None) -> Row:
        if session_id:
            session = self.resolve_session(session_id)
            if session["status"] != "active":
                raise Conflict(
                    f"session {ids.short(session['id'])} has already ended "
                    f"({session['outcome']}); start a new one with `aitrack start`"
                )
            return session
        active = self.records.active_sessions(lane)
        if not active and lane is not None:
            active = self.records.active_sessions()
        if not active:
            raise NotFound("no active session: start one with `aitrack start NAME`")
        if len(active) > 1:
            listed = ", ".join(f"{ids.short(s['id'])} ({s['name']})" for s in active[:5])
            raise Conflict(
                f"{len(active)} sessions are active: name one with --session-id: {listed}"
            )
        return active[0]

    def active_session(self, session_id: str | None = None, lane: str | None = None) -> Row:
        """The session to act on: the given id, else the single active one (lane first)."""
        return self._pick_active(session_id, lane)

    def idle_cutoff(self, idle_minutes: float | None = None) -> int:
        """Sessions with no activity since this time (ms) are idle."""
        idle = self.settings.idle_close_minutes if idle_minutes is None else idle_minutes
        return now_ms() - int(idle * 60_000)

    def close_idle_sessions(self, idle_minutes: float | None = None) -> list[Closed]:
        """Close active sessions with no activity for idle_minutes, at their last activity."""
        cutoff = self.idle_cutoff(idle_minutes)
        closed = []
        with self.db.transaction():
            for session in self.records.idle_active_sessions(cutoff):
                closed.append(
                    self.close_at(session, session["last_activity"], "partial", IDLE_NOTE)
                )
        return closed

    def idle_closing_values(self, session: Row) -> dict[str, Any]:
        """What close_idle_sessions writes into a session idle since its last activity."""
        return self.closing_values(session, session["last_activity"], "partial", IDLE_NOTE)

    # -- what happens inside a session -------------------------------------------------------
    def log_interaction(
        self,
        session_id: str,
        prompt: str,
        response_summary: str,
        rating: Any,
        iteration_count: Any = 1,
        tools_used: list[str] | None = None,
        *,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        cached_tokens: int | None = None,
        new_tokens: int | None = None,
        cache_hit_rate: float | None = None,
        context_pct: float | None = None,
    ) -> Row:
        """Record a rated exchange in an active session.

        Raises:
            InvalidValue: rating outside 1–5 or other bad values; NotFound/Conflict: no such
            session or it has ended. Nothing is written then.
        """
        rating = check_rating(rating)
        prompt = check_text("prompt", prompt)
        response_summary = check_text("response summary", response_summary)
        if isinstance(iteration_count, bool) or not isinstance(iteration_count, int):
            raise InvalidValue(f"iteration count must be a whole number, not {iteration_count!r}")
        if iteration_count < 1:
            raise InvalidValue("iteration count must be 1 or more")
        tools = list(tools_used or [])
        if not all(isinstance(t, str) for t in tools):
            raise InvalidValue("tools used must be a list of tool names")
        for kind, count in (
            ("tokens_in", tokens_in),
            ("tokens_out", tokens_out),
            ("cached_tokens", cached_tokens),
            ("new_tokens", new_tokens),
        ):
            check_non_negative(kind, count)
        for kind, ratio, bound in (
            ("cache_hit_rate", cache_hit_rate, 1),
            ("context_pct", context_pct, 100),
        ):
            check_non_negative(kind, ratio)
            if ratio is not None and ratio > bound:
                raise InvalidValue(f"{kind} must be between 0 and {bound}, not {ratio}")
        session = self._writable(session_id)
        row = {
            "id": ids.new_id(),
            "session_id": session["id"],
            "ts": now_ms(),
            "prompt": prompt,
            "response_summary": response_summary,
            "rating": rating,
            "iteration_count": iteration_count,
            "tools_used": dumps(tools),
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cached_tokens": cached_tokens,
            "new_tokens": new_tokens,
            "cache_hit_rate": cache_hit_rate,
            "context_pct": context_pct,
        }
        with self.db.transaction():
            self._check_still_active(session["id"])
            self.records.insert_interaction(row)
        return row

    def flag_issue(self, session_id: str, issue_type: str, description: str, severity: str) -> Row:
        """Record a problem with the AI's work in an active session."""
        check_choice("severity", severity, SEVERITIES)
        issue_type = check_text("issue type", issue_type, max_len=200)
        description = check_text("description", description)
        session = self._writable(session_id)
        row = {
            "id": ids.new_id(),
            "session_id": session["id"],
            "ts": now_ms(),
            "issue_type": issue_type,
            "description": description,
            "severity": severity,
            "resolved": 0,
        }
        with self.db.transaction():
            self._check_still_active(session["id"])
            self.records.insert_issue(row)
        return row

    def add_note(self, message: str, session_id: str | None = None, lane: str | None = None) -> Row:
        """Annotate a session (the given one, else the active one)."""
        message = check_text("note", message)
        session = self.resolve_session(session_id) if session_id else self._pick_active(None, lane)
        row = {"id": ids.new_id(), "session_id": session["id"], "ts": now_ms(), "message": message}
        with self.db.transaction():
            self.records.insert_note(row)
            self.records.touch_session(session["id"], row["ts"])
        return row

    def tag(self, entity_id: str, tags: dict[str, str], entity_type: str = "session") -> Row:
        """Set key=value tags on a session or a run (by id or unique prefix)."""
        if not tags:
            raise InvalidValue("give at least one tag as KEY=VALUE")
        for key in tags:
            check_text("tag key", key, max_len=200)
        if entity_type == "run":
            entity = self.resolve_run(entity_id)
        else:
            entity = self.resolve_session(entity_id)
        with self.db.transaction():
            self.records.set_tags(entity_type, entity["id"], tags)
        return {
            "id": entity["id"],
            "tags": self.records.tags_for(entity_type, [entity["id"]]).get(entity["id"], {}),
        }

    def _writable(self, session_id: str) -> Row:
        if not isinstance(session_id, str) or not session_id.strip():
            raise InvalidValue("session id is required")
        session = self.resolve_session(session_id)
        if session["status"] != "active":
            raise Conflict(
                f"session {ids.short(session['id'])} has ended ({session['outcome']}); "
                "nothing can be logged to it. Start a new session."
            )
        return session

    def _check_still_active(self, session_id: str) -> None:
        status = self.db.scalar("SELECT status FROM sessions WHERE id = ?", (session_id,))
        if status != "active":
            raise Conflict(f"session {ids.short(session_id)} ended meanwhile; nothing was logged")

    # -- runs and tool calls (agent turns, `aitrack run` commands) ----------------------------
    def open_run(
        self,
        session_id: str,
        *,
        prompt: str | None = None,
        external_id: str | None = None,
        command: str | None = None,
        at_ms: int | None = None,
    ) -> Row:
        """Open a run in a session, closing the session's previous open run at this time.

        With an external_id already recorded in the session, returns that run unchanged."""
        session = self.resolve_session(session_id)
        at = now_ms() if at_ms is None else at_ms
        with self.db.transaction():
            if external_id:
                existing = self.records.run_by_external_id(session["id"], external_id)
                if existing:
                    return existing
            previous = self.records.open_run(session["id"])
            if previous:
                self.records.update_run(
                    previous["id"],
                    {"status": "completed", "ended_at": max(at, previous["started_at"])},
                )
            row = {
                "id": ids.new_id(),
                "session_id": session["id"],
                "external_id": external_id,
                "started_at": at,
                "prompt": prompt,
                "command": command,
                "status": "active",
            }
            self.records.insert_run(row)
            self.records.touch_session(session["id"], at)
        return row

    def close_run(
        self,
        run_id: str,
        *,
        exit_code: int | None = None,
        status: str = "completed",
        at_ms: int | None = None,
    ) -> Row:
        """Close a run (idempotent: a closed run keeps its first end)."""
        run = self.resolve_run(run_id)
        at = now_ms() if at_ms is None else at_ms
        with self.db.transaction():
            if run["status"] == "active":
                values: dict[str, Any] = {"status": status, "ended_at": max(at, run["started_at"])}
                if exit_code is not None:
                    values["exit_code"] = exit_code
                self.records.update_run(run["id"], values)
                self.records.touch_session(run["session_id"], at)
        return self.records.get_run(run["id"]) or run

    def record_tool_call(
        self,
        session_id: str,
        name: str,
        *,
        run_id: str | None = None,
        external_id: str | None = None,
        ok: bool | None = None,
        duration_ms: int | None = None,
        at_ms: int | None = None,
    ) -> Row:
        """Record one tool the agent used (idempotent on external_id within the session)."""
        name = check_text("tool name", name, max_len=500)
        session = self.resolve_session(session_id)
        at = now_ms() if at_ms is None else at_ms
        if run_id is None:
            open_run = self.records.open_run(session["id"])
            run_id = open_run["id"] if open_run else None
        row = {
            "id": ids.new_id(),
            "session_id": session["id"],
            "run_id": run_id,
            "external_id": external_id,
            "ts": at,
            "name": name,
            "duration_ms": duration_ms,
            "ok": None if ok is None else int(ok),
        }
        with self.db.transaction():
            self.records.insert_tool_call(row)
            self.records.touch_session(session["id"], at)
        return row

    # -- lookups -----------------------------------------------------------------------------
    def resolve_session(self, id_or_prefix: str) -> Row:
        """A session by full id or unique prefix.

        Raises:
            NotFound: no session matches; InvalidValue: the prefix matches several.
        """
        prefix = ids.normalise_prefix(id_or_prefix)
        if not prefix:
            raise InvalidValue("session id is required")
        exact = self.records.get_session(prefix) or self.records.get_session(id_or_prefix.strip())
        if exact:
            return exact
        matches = self.records.sessions_with_prefix(prefix)
        if not matches:
            raise NotFound(
                f"no session {id_or_prefix!r}: see `aitrack list` for ids (any unique prefix works)"
            )
        if len(matches) > 1:
            listed = ", ".join(ids.short(m["id"]) for m in matches)
            raise InvalidValue(f"{id_or_prefix!r} matches several sessions ({listed}): type more")
        return matches[0]

    def resolve_run(self, id_or_prefix: str) -> Row:
        prefix = ids.normalise_prefix(id_or_prefix)
        exact = self.records.get_run(prefix)
        if exact:
            return exact
        matches = self.records.runs_with_prefix(prefix) if prefix else []
        if not matches:
            raise NotFound(f"no run {id_or_prefix!r}: see `aitrack runs` or the MCP tool run_list")
        if len(matches) > 1:
            raise InvalidValue(f"{id_or_prefix!r} matches several runs: type more of the id")
        return matches[0]

    def get_session(self, session_id: str) -> Row:
        session = self.records.get_session(session_id)
        if session is None:
            raise NotFound(f"no session {session_id!r}")
        return session

    def session_detail(self, id_or_prefix: str) -> dict[str, Any]:
        """A session with everything recorded in it, and its own ROI."""
        from aitrack import analytics

        session = self.resolve_session(id_or_prefix)
        sid = session["id"]
        detail: dict[str, Any] = dict(session)
        detail["tags"] = self.records.tags_for("session", [sid]).get(sid, {})
        detail["annotations"] = self.records.rows_for_session("notes", sid)
        for table in (
            "interactions",
            "issues",
            "tool_calls",
            "api_calls",
            "changes",
            "commits",
            "code_metrics",
        ):
            detail[table] = self.records.rows_for_session(table, sid)
        runs = self.records.rows_for_session("runs", sid, order="started_at")
        run_tags = self.records.tags_for("run", [r["id"] for r in runs])
        detail["runs"] = [{**r, "tags": run_tags.get(r["id"], {})} for r in runs]
        detail["summary"] = analytics.session_summary(session, detail["api_calls"], self.settings)
        return detail

    def list_sessions(
        self,
        filters: dict[str, Any] | None = None,
        limit: int = 20,
        offset: int = 0,
        order: str = "start_time",
        descending: bool = True,
    ) -> list[dict[str, Any]]:
        """Sessions matching filters with per-session tokens, cost, files and commits."""
        if limit < 1 or limit > 100_000:
            raise InvalidValue("limit must be between 1 and 100000")
        rows = self.records.list_sessions(filters, limit, offset, order, descending)
        sids = [r["id"] for r in rows]
        api = self.records.session_api_totals(sids)
        changes = self.records.session_change_totals(sids)
        tags = self.records.tags_for("session", sids)
        out = []
        for r in rows:
            a = api.get(r["id"], {})
            c = changes.get(r["id"], {})
            out.append(
                {
                    **r,
                    "tags": tags.get(r["id"], {}),
                    "api_calls": a.get("calls", 0),
                    "tokens": a.get("tokens", 0) or 0,
                    "cost_usd": a.get("cost_usd"),
                    "unpriced_calls": a.get("unpriced_calls", 0),
                    "files_changed": c.get("files", 0),
                    "lines_added": c.get("lines_added", 0) or 0,
                    "lines_removed": c.get("lines_removed", 0) or 0,
                    "commits": c.get("commits", 0),
                }
            )
        return out


def log_internal_error(context: str, exc: BaseException) -> None:
    """Append an internal error with its traceback to errors.log in the data dir."""
    import traceback

    from aitrack.settings import data_dir

    try:
        path = data_dir() / "errors.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write(f"--- {now_ms()} {context}\n")
            f.write("".join(traceback.format_exception(exc)))
    except OSError:
        pass
