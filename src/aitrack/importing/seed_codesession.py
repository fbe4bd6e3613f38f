"""Import a codesession-cli SQLite database: sessions, AI usage, file changes, commits and
notes. The database is opened read-only (``file:…?mode=ro``) and nothing is written beside it.

Idempotent through ``import_keys`` (source ``codesession``), keyed by each session's start
time and name (codesession's integer ids are only unique inside one database) and the row
ids under it. AI usage keeps its recorded cost (cost_source ``reported``) and tokens: prompt
and completion tokens when recorded, else the total as input. codesession has no outcome:
completed sessions keep none. An active session stays active only if aitrack's CLI lane
(``background``) is free; otherwise it ends at its last activity as partial.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from aitrack import ids
from aitrack.errors import InvalidValue, NotFound
from aitrack.importing.seed_values import iso_ms, to_int
from aitrack.store.agents import AgentStore
from aitrack.store.records import dumps

SOURCE = "codesession"
ROW_SOURCE = "import:codesession"
LANE = "background"  # the lane of aitrack's CLI, which replaces `cs`
CHANGE_TYPES = {"created": "added", "added": "added", "modified": "modified",
                "deleted": "deleted", "renamed": "renamed"}  # fmt: skip


def default_database() -> Path:
    """CODESESSION_DB_PATH, else ~/.codesession/sessions.db (as codesession-cli finds it)."""
    env = os.environ.get("CODESESSION_DB_PATH")
    return Path(env).expanduser() if env else Path.home() / ".codesession" / "sessions.db"


def import_codesession(tracker: Any, path: Path) -> dict[str, Any]:
    """Import the codesession database at path.

    Raises:
        NotFound: no such file. InvalidValue: not a codesession database.
    """
    if not path.is_file():
        raise NotFound(
            f"no codesession database at {path}: give its path (codesession keeps it "
            "in ~/.codesession/sessions.db or $CODESESSION_DB_PATH)"
        )
    data = _read_source(path)
    run = _Import(tracker, path)
    with tracker.db.transaction():
        for s in data["sessions"]:
            run.session(s)
        for table, handler in (("ai_usage", run.ai_usage), ("file_changes", run.file_change),
                               ("commits", run.commit), ("session_notes", run.note)):  # fmt: skip
            for row in data[table]:
                handler(row)
        run.settle_active()
        run.save_keys()
    return run.result()


def _read_source(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every table we import, read without changing anything next to the database.

    codesession keeps its database in WAL mode, where even a read-only connection creates
    -wal and -shm files beside it. Without a pending WAL the file is opened read-only and
    immutable (no side files); with one (codesession running, or it crashed) the database
    and its WAL are copied to a temporary folder and read there, so recent writes count.
    """
    import tempfile

    wal = path.with_name(path.name + "-wal")
    with tempfile.TemporaryDirectory(prefix="aitrack-codesession-") as tmp:
        if wal.exists() and wal.stat().st_size > 0:
            import shutil

            copy = Path(tmp) / path.name
            shutil.copyfile(path, copy)
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
            uri = f"{copy.as_uri()}?mode=ro"
        else:
            uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
        try:
            source = sqlite3.connect(uri, uri=True)
        except sqlite3.Error as exc:
            raise InvalidValue(f"cannot open {path} read-only: {exc}") from None
        source.row_factory = sqlite3.Row
        try:
            tables = {
                r[0] for r in source.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if "sessions" not in tables:
                raise InvalidValue(
                    f"{path} is not a codesession database (it has no sessions table)"
                )
            return {t: _rows(source, t) if t in tables else [] for t in
                    ("sessions", "ai_usage", "file_changes", "commits", "session_notes")}  # fmt: skip
        except sqlite3.DatabaseError as exc:
            raise InvalidValue(f"{path} cannot be read as a codesession database: {exc}") from None
        finally:
            source.close()


def _rows(conn: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY id")]


class _Import:
    def __init__(self, tracker: Any, path: Path) -> None:
        self.tracker = tracker
        self.records = tracker.records
        self.agents = AgentStore(tracker.db)
        self.path = path
        self.known = self.agents.import_keys(SOURCE)
        self.new_keys: list[tuple[str, str, str]] = []
        self.by_local_id: dict[Any, tuple[str, str]] = {}  # codesession id -> (aitrack id, key)
        self.added = {"sessions": 0, "api_calls": 0, "changes": 0, "commits": 0, "notes": 0,
                      "sessions_ended": 0}  # fmt: skip
        self.skipped = 0
        self.notes: list[str] = []
        self.active: list[str] = []
        self.agent_names: dict[str, set[str]] = {}

    def _remember(self, key: str, kind: str, entity_id: str) -> None:
        self.known[key] = entity_id
        self.new_keys.append((key, kind, entity_id))

    def session(self, s: dict[str, Any]) -> None:
        start = iso_ms(s.get("start_time"))
        if start is None:
            self.skipped += 1
            self.notes.append(f"session {s.get('id')} has no readable start time: skipped")
            return
        key = f"session:{s.get('start_time')}:{s.get('name')}"
        end = iso_ms(s.get("end_time"))
        active = s.get("status") == "active"
        existing = self.known.get(key)
        if existing is not None:
            self.by_local_id[s["id"]] = (existing, key)
            current = self.records.get_session(existing)
            if current and current["status"] == "active" and not active and end is not None:
                self.records.update_session(
                    existing,
                    {
                        "status": "completed",
                        "end_time": max(end, current["start_time"]),
                        "notes": s.get("notes") or current["notes"],
                    },
                )
                self.added["sessions_ended"] += 1
            return
        root = s.get("git_root") or None
        row: dict[str, Any] = {
            "id": ids.new_id(start),
            "name": str(s.get("name") or f"codesession {s.get('id')}")[:2000],
            "task_type": "general",
            "estimate_source": "default",
            "lane": LANE,
            "source": ROW_SOURCE,
            "repo_path": root,
            "project": os.path.basename(root.rstrip("/")) if root else None,
            "cwd": s.get("working_directory") or None,
            "git_head_start": s.get("start_git_head") or None,
            "start_time": start,
            "end_time": None if active else (end if end is not None else start),
            "last_activity": max(x for x in (start, end) if x is not None),
            "status": "completed",  # made active below when the lane is free
            "notes": s.get("notes") or None,
            "metadata": dumps(
                {
                    "codesession": {
                        k: s.get(k)
                        for k in (
                            "id",
                            "duration",
                            "files_changed",
                            "commits",
                            "ai_cost",
                            "ai_tokens",
                        )
                    }
                }
            ),
        }
        self.records.insert_session(row)
        self._remember(key, "session", row["id"])
        self.by_local_id[s["id"]] = (row["id"], key)
        self.added["sessions"] += 1
        if active:
            self.active.append(row["id"])

    def _parent(self, row: dict[str, Any], kind: str) -> tuple[str, str] | None:
        parent = self.by_local_id.get(row.get("session_id"))
        if parent is None:
            self.skipped += 1
            self.notes.append(f"{kind} {row.get('id')} belongs to no imported session: skipped")
        return parent

    def ai_usage(self, u: dict[str, Any]) -> None:
        from aitrack.usage import api_call_row, record_api_calls

        parent = self._parent(u, "ai_usage")
        if parent is None:
            return
        key = f"{parent[1]}:ai_usage:{u.get('id')}"
        if key in self.known:
            return
        ts = iso_ms(u.get("timestamp"))
        if ts is None or not u.get("model"):
            self.skipped += 1
            return
        prompt, completion = to_int(u.get("prompt_tokens")), to_int(u.get("completion_tokens"))
        total = to_int(u.get("tokens")) or 0
        if prompt is None and completion is None:
            prompt, completion = total, 0  # only a total was recorded
        cost = u.get("cost")
        row = api_call_row(
            model=str(u["model"]), source=ROW_SOURCE, provider=u.get("provider") or None,
            session_id=parent[0], ts=ts,
            cost_usd=float(cost) if isinstance(cost, int | float) and cost >= 0 else None,
            request_type=u.get("agent_name") or None, dedup_key=f"{SOURCE}:{key}",
            input_tokens=prompt or 0, output_tokens=completion or 0,
        )  # fmt: skip
        record_api_calls(self.tracker, [row])
        self._remember(key, "api_call", row["id"])
        self.added["api_calls"] += 1
        if u.get("agent_name"):
            self.agent_names.setdefault(parent[0], set()).add(str(u["agent_name"]))

    def file_change(self, c: dict[str, Any]) -> None:
        parent = self._parent(c, "file change")
        if parent is None:
            return
        key = f"{parent[1]}:file_change:{c.get('id')}"
        ts = iso_ms(c.get("timestamp"))
        if key in self.known or ts is None or not c.get("file_path"):
            return
        row: dict[str, Any] = {
            "id": ids.new_id(ts),
            "session_id": parent[0],
            "path": str(c["file_path"]),
            "change_type": CHANGE_TYPES.get(
                str(c.get("change_type")), str(c.get("change_type") or "modified")
            ),
            "lines_added": 0,
            "lines_removed": 0,
            "ts": ts,
        }
        if self.agents.insert_change_ignore(row):
            self.added["changes"] += 1
        self._remember(key, "change", row["id"])

    def commit(self, c: dict[str, Any]) -> None:
        parent = self._parent(c, "commit")
        if parent is None:
            return
        key = f"{parent[1]}:commit:{c.get('id')}"
        ts = iso_ms(c.get("timestamp"))
        if key in self.known or ts is None or not c.get("hash"):
            return
        row: dict[str, Any] = {
            "id": ids.new_id(ts),
            "session_id": parent[0],
            "sha": str(c["hash"]),
            "message": str(c.get("message") or ""),
            "ts": ts,
        }
        if self.records.insert_commit(row):
            self.added["commits"] += 1
        self._remember(key, "commit", row["id"])

    def note(self, n: dict[str, Any]) -> None:
        parent = self._parent(n, "note")
        if parent is None:
            return
        key = f"{parent[1]}:note:{n.get('id')}"
        ts = iso_ms(n.get("timestamp"))
        if key in self.known or ts is None:
            return
        row: dict[str, Any] = {"id": ids.new_id(ts), "session_id": parent[0], "ts": ts,
               "message": str(n.get("message") or "")}  # fmt: skip
        self.records.insert_note(row)
        self.records.touch_session(parent[0], ts)
        self._remember(key, "note", row["id"])
        self.added["notes"] += 1

    def settle_active(self) -> None:
        for session_id in self.active:
            session = self.records.get_session(session_id)
            if session is None:
                continue
            if self.records.active_sessions(LANE):
                self.tracker.close_at(  # the tracker's own close: cap, outcome, notes
                    session, session["last_activity"], "partial",
                    f"closed on import: lane {LANE} already had an active session",
                )  # fmt: skip
                self.notes.append(
                    f"session {session['name']!r} ended on import: lane {LANE} is busy"
                )
            else:
                self.records.update_session(session_id, {"status": "active"})

    def save_keys(self) -> None:
        for session_id, names in self.agent_names.items():
            current = self.records.tags_for("session", [session_id]).get(session_id, {})
            merged = sorted(set(filter(None, current.get("agents", "").split(","))) | names)
            self.records.set_tags("session", session_id, {"agents": ",".join(merged)})
        self.agents.add_import_keys(SOURCE, self.new_keys)

    def result(self) -> dict[str, Any]:
        return {
            "source": str(self.path),
            "added": self.added,
            "already_imported": len(self.known) - len(self.new_keys),
            "skipped": self.skipped,
            "notes": self.notes,
        }
