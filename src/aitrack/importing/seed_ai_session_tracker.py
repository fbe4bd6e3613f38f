"""Import an ai-session-tracker-mcp store (the JSON files of its ``.ai_sessions/`` folder):
sessions, interactions, issues, code metrics and logged token requests.

Idempotent through ``import_keys`` (source ``ai-session-tracker``): a second run adds only
records that appeared since, and a session the seed has ended since is ended here too. The
source files are only read. Sessions keep their times, status, outcome and notes; an active
one stays active only if its lane (the seed's execution context) has no active session in
aitrack, else it is closed at its last activity as partial, saying why.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from aitrack import ids
from aitrack.errors import InvalidValue, NotFound
from aitrack.importing.seed_values import iso_ms, to_int
from aitrack.store.agents import AgentStore
from aitrack.store.records import dumps
from aitrack.vocab import ESTIMATE_SOURCES, OUTCOMES, SEVERITIES, TASK_TYPES

SOURCE = "ai-session-tracker"
ROW_SOURCE = "import:ai-session-tracker"
LANES = ("foreground", "background")


def import_ai_session_tracker(tracker: Any, directory: Path) -> dict[str, Any]:
    """Import the store in directory (the .ai_sessions folder, or the folder holding it).

    Raises:
        NotFound: no sessions.json there. InvalidValue: a file is not the JSON it should be.
    """
    folder = directory if (directory / "sessions.json").is_file() else directory / ".ai_sessions"
    if not (folder / "sessions.json").is_file():
        raise NotFound(
            f"no sessions.json in {directory} or {directory / '.ai_sessions'}: give the folder "
            "ai-session-tracker writes to (its AI_OUTPUT_DIR)"
        )
    sessions = _load(folder / "sessions.json", default={})
    if isinstance(sessions, list):
        sessions = {s.get("id"): s for s in sessions if isinstance(s, dict)}
    if not isinstance(sessions, dict):
        raise InvalidValue(f"{folder / 'sessions.json'} does not hold sessions keyed by id")
    interactions = _records(folder / "interactions.json")
    issues = _records(folder / "issues.json")
    requests = _records(folder / "requests.json")
    run = _Import(tracker, folder)
    with tracker.db.transaction():
        for sid, data in sessions.items():
            if isinstance(data, dict) and isinstance(sid, str):
                run.session(sid, data)
        for item in sorted(interactions, key=lambda i: str(i.get("timestamp"))):
            run.interaction(item)
        for item in issues:
            run.issue(item)
        for item in requests:
            run.request(item)
        run.settle_active()
        run.save_keys()
    return run.result()


def _load(path: Path, default: Any) -> Any:
    if not path.is_file():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8") or "null") or default
    except (OSError, ValueError) as exc:
        raise InvalidValue(f"cannot read {path}: {exc}") from None


def _records(path: Path) -> list[dict[str, Any]]:
    data = _load(path, default=[])
    if isinstance(data, dict):
        data = list(data.values())
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def _digest(text: Any) -> str:
    return hashlib.sha1(str(text).encode("utf-8")).hexdigest()[:12]


class _Import:
    def __init__(self, tracker: Any, folder: Path) -> None:
        self.tracker = tracker
        self.records = tracker.records
        self.agents = AgentStore(tracker.db)
        self.folder = folder
        self.known = self.agents.import_keys(SOURCE)
        self.new_keys: list[tuple[str, str, str]] = []
        self.added = {"sessions": 0, "interactions": 0, "issues": 0, "code_metrics": 0,
                      "api_calls": 0, "sessions_ended": 0}  # fmt: skip
        self.skipped = 0
        self.notes: list[str] = []
        self.active: list[tuple[str, str]] = []  # (aitrack id, lane) imported as active

    def _seen(self, key: str) -> str | None:
        return self.known.get(key)

    def _remember(self, key: str, kind: str, entity_id: str) -> None:
        self.known[key] = entity_id
        self.new_keys.append((key, kind, entity_id))

    # -- sessions -----------------------------------------------------------------------------
    def session(self, sid: str, s: dict[str, Any]) -> None:
        key = f"session:{sid}"
        start = iso_ms(s.get("start_time"))
        end = iso_ms(s.get("end_time"))
        status = "active" if s.get("status") == "active" else "completed"
        outcome = s.get("outcome") if s.get("outcome") in OUTCOMES else None
        existing = self._seen(key)
        if existing is not None:
            self._update_ended(existing, status, end, outcome, s.get("notes"))
            return
        if start is None:
            self.skipped += 1
            self.notes.append(f"session {sid} has no start time: skipped")
            return
        task_type = s.get("task_type") if s.get("task_type") in TASK_TYPES else "general"
        estimate_source = s.get("estimate_source")
        lane = s.get("execution_context") if s.get("execution_context") in LANES else "background"
        notes = s.get("notes") or None
        if s.get("status") not in ("active", "completed", None):
            notes = "\n".join(
                x for x in (notes, f"status in ai-session-tracker: {s.get('status')}") if x
            )
        row: dict[str, Any] = {
            "id": ids.new_id(start),
            "name": str(s.get("session_name") or s.get("name") or sid)[:2000],
            "task_type": task_type,
            "model": s.get("model_name")
            if s.get("model_name") not in (None, "", "unknown")
            else None,
            "estimate_minutes": s.get(
                "initial_estimate_minutes", s.get("human_time_estimate_minutes")
            ),
            "estimate_source": estimate_source
            if estimate_source in ESTIMATE_SOURCES
            else "default",
            "final_estimate_minutes": s.get("final_estimate_minutes"),
            "context": s.get("context") or None,
            "lane": lane,
            "source": ROW_SOURCE,
            "external_id": sid,
            "developer": s.get("developer") or None,
            "project": s.get("project") or None,
            "start_time": start,
            "end_time": end if status == "completed" else None,
            "last_activity": max(x for x in (start, end) if x is not None),
            "status": "completed",  # made active below when its lane is free
            "outcome": outcome,
            "notes": notes,
            "metadata": dumps({"token_stats": s["token_stats"]}) if s.get("token_stats") else None,
        }
        self.records.insert_session(row)
        self._remember(key, "session", row["id"])
        self.added["sessions"] += 1
        if status == "active":
            self.active.append((row["id"], str(lane)))
        for i, metric in enumerate(s.get("code_metrics") or []):
            self.code_metrics(sid, row["id"], i, metric, end or start)

    def _update_ended(
        self, session_id: str, status: str, end: int | None, outcome: str | None, notes: Any
    ) -> None:
        """The seed ended a session aitrack still has active: end it the same way."""
        current = self.records.get_session(session_id)
        if current is None or current["status"] != "active" or status != "completed" or end is None:
            return
        values: dict[str, Any] = {"status": "completed", "end_time": max(end, current["start_time"]),
                                  "outcome": outcome or "partial"}  # fmt: skip
        if notes:
            values["notes"] = notes
        self.records.update_session(session_id, values)
        self.added["sessions_ended"] += 1

    def settle_active(self) -> None:
        """Active seed sessions become active here when their lane is free (the lane rule:
        one active session per lane); otherwise they end at their last activity."""
        for session_id, lane in self.active:
            session = self.records.get_session(session_id)
            if session is None:
                continue
            if self.records.active_sessions(lane):
                closed = self.tracker.close_at(  # the tracker's own close: cap, outcome, notes
                    session, session["last_activity"], "partial",
                    f"closed on import: lane {lane} already had an active session",
                )  # fmt: skip
                self.notes.append(f"session {closed.name!r} ended on import: lane {lane} is busy")
            else:
                self.records.update_session(session_id, {"status": "active"})

    # -- what hangs off sessions ------------------------------------------------------------
    def interaction(self, item: dict[str, Any]) -> None:
        sid, ts = item.get("session_id"), iso_ms(item.get("timestamp"))
        key = f"interaction:{sid}:{item.get('timestamp')}:{_digest(item.get('prompt'))}"
        if self._seen(key):
            return
        session_id = self._seen(f"session:{sid}")
        rating = to_int(item.get("effectiveness_rating", item.get("rating")))
        if session_id is None or ts is None or rating is None:
            self.skipped += 1
            return
        tools = item.get("tools_used") or []
        row: dict[str, Any] = {
            "id": ids.new_id(ts),
            "session_id": session_id,
            "ts": ts,
            "prompt": str(item.get("prompt") or ""),
            "response_summary": str(item.get("response_summary") or ""),
            "rating": min(5, max(1, rating)),
            "iteration_count": max(1, to_int(item.get("iteration_count")) or 1),
            "tools_used": dumps(
                [str(t) for t in tools] if isinstance(tools, list) else [str(tools)]
            ),
        }
        for field in ("tokens_in", "tokens_out", "cached_tokens", "new_tokens"):
            row[field] = to_int(item.get(field))
        for field in ("cache_hit_rate", "context_pct"):
            value = item.get(field)
            row[field] = float(value) if isinstance(value, int | float) else None
        self.records.insert_interaction(row)
        self._remember(key, "interaction", row["id"])
        self.added["interactions"] += 1

    def issue(self, item: dict[str, Any]) -> None:
        sid, ts = item.get("session_id"), iso_ms(item.get("timestamp"))
        key = f"issue:{sid}:{item.get('timestamp')}:{_digest(item.get('description'))}"
        if self._seen(key):
            return
        session_id = self._seen(f"session:{sid}")
        if session_id is None or ts is None:
            self.skipped += 1
            return
        severity = item.get("severity") if item.get("severity") in SEVERITIES else "medium"
        row: dict[str, Any] = {
            "id": ids.new_id(ts),
            "session_id": session_id,
            "ts": ts,
            "issue_type": str(item.get("issue_type") or "other"),
            "description": str(item.get("description") or ""),
            "severity": severity,
            "resolved": 1 if item.get("resolved") else 0,
            "resolution_notes": item.get("resolution_notes") or None,
        }
        self.records.insert_issue(row)
        self._remember(key, "issue", row["id"])
        self.added["issues"] += 1

    def code_metrics(self, sid: str, session_id: str, index: int, entry: Any, ts: int) -> None:
        """A session's code_metrics entry: {file_path, functions: [...]} or one function."""
        if not isinstance(entry, dict):
            return
        functions: list[Any] = (
            entry["functions"] if isinstance(entry.get("functions"), list) else [entry]
        )
        for j, fn in enumerate(functions):
            if not isinstance(fn, dict) or not fn.get("function_name"):
                continue
            key = f"code_metric:{sid}:{index}:{j}"
            if self._seen(key):
                continue
            contrib = fn.get("ai_contribution") or {}
            context = fn.get("context") or {}
            doc = fn.get("documentation") or {}
            value = fn.get("value_metrics") or {}
            row: dict[str, Any] = {
                "id": ids.new_id(ts),
                "session_id": session_id,
                "ts": iso_ms(entry.get("timestamp")) or ts,
                "file_path": str(entry.get("file_path") or fn.get("file_path") or ""),
                "language": "python",
                "function_name": str(fn["function_name"]),
                "modification_type": str(fn.get("modification_type") or "modified"),
                "lines_added": to_int(contrib.get("lines_added", fn.get("lines_added"))) or 0,
                "lines_modified": to_int(contrib.get("lines_modified", fn.get("lines_modified")))
                or 0,
                "lines_deleted": to_int(contrib.get("lines_deleted", fn.get("lines_deleted"))) or 0,
                "complexity": to_int(context.get("final_complexity", fn.get("complexity"))),
                "documented": 1 if doc.get("has_docstring", fn.get("has_docstring")) else 0,
                "doc_score": to_int(doc.get("quality_score", fn.get("documentation_score"))) or 0,
                "effort_score": float(value.get("effort_score", fn.get("effort_score")) or 0),
                "source": ROW_SOURCE,
            }
            self.records.insert_code_metric(row)
            self._remember(key, "code_metric", row["id"])
            self.added["code_metrics"] += 1

    def request(self, item: dict[str, Any]) -> None:
        """A logged token request: an api_call outside any session, priced by aitrack."""
        from aitrack.usage import api_call_row, record_api_calls

        rid = item.get("id") or f"{item.get('timestamp')}:{item.get('model')}"
        key = f"request:{rid}"
        ts = iso_ms(item.get("timestamp"))
        if self._seen(key):
            return
        if ts is None or not item.get("model"):
            self.skipped += 1
            return
        tokens_in = to_int(item.get("tokens_in")) or 0
        cached = min(to_int(item.get("cached_tokens")) or 0, tokens_in)
        row = api_call_row(
            model=str(item["model"]),
            source=ROW_SOURCE,
            ts=ts,
            request_type=str(item.get("type")) if item.get("type") else None,
            dedup_key=f"{SOURCE}:request:{rid}",
            input_tokens=tokens_in - cached,  # the seed's tokens_in includes the cached part
            cache_read_tokens=cached,
            output_tokens=to_int(item.get("tokens_out")) or 0,
        )
        record_api_calls(self.tracker, [row])
        self._remember(key, "api_call", row["id"])
        self.added["api_calls"] += 1

    def save_keys(self) -> None:
        self.agents.add_import_keys(SOURCE, self.new_keys)

    def result(self) -> dict[str, Any]:
        return {
            "source": str(self.folder),
            "added": self.added,
            "already_imported": len(self.known) - len(self.new_keys),
            "skipped": self.skipped,
            "notes": self.notes,
        }
