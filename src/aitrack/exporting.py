"""Export of everything recorded: lossless JSON (every row of every table, per session) or CSV
(one row per session)."""

from __future__ import annotations

import csv
import json
from typing import Any, TextIO

from aitrack import __version__, presenters
from aitrack.clock import now_ms, to_iso
from aitrack.store.records import SESSION_CHILD_TABLES
from aitrack.tracker import Tracker

# the notes table is exported as "annotations": "notes" is a session field
CHILD_TABLES = SESSION_CHILD_TABLES
CSV_COLUMNS = (
    "id",
    "name",
    "status",
    "outcome",
    "task_type",
    "model",
    "agent",
    "lane",
    "repo_path",
    "branch",
    "developer",
    "start_time",
    "end_time",
    "duration_minutes",
    "capped",
    "estimate_minutes",
    "final_estimate_minutes",
    "estimate_source",
    "interaction_count",
    "average_rating",
    "issue_count",
    "api_calls",
    "tokens",
    "cost_usd",
    "unpriced_calls",
    "files_changed",
    "lines_added",
    "lines_removed",
    "commits",
    "tags",
    "notes",
)
PAGE = 500


def _pages(tracker: Tracker, filters: dict[str, Any]):
    offset = 0
    while True:
        rows = tracker.list_sessions(filters, limit=PAGE, offset=offset, descending=False)
        if not rows:
            return
        yield rows
        offset += len(rows)


def write(tracker: Tracker, filters: dict[str, Any], fmt: str, out: TextIO) -> int:
    """Write the export to out; returns the number of sessions written."""
    if fmt == "csv":
        return _write_csv(tracker, filters, out)
    return _write_json(tracker, filters, out)


def _write_json(tracker: Tracker, filters: dict[str, Any], out: TextIO) -> int:
    out.write(
        '{"format":"aitrack-export","version":1,'
        f'"aitrack":{json.dumps(__version__)},"exported_at":{json.dumps(to_iso(now_ms()))},'
        '"sessions":['
    )
    count = 0
    db = tracker.db
    for page in _pages(tracker, filters):
        ids = [r["id"] for r in page]
        marks = ", ".join("?" for _ in ids)
        children: dict[str, dict[str, list]] = {}
        for table in CHILD_TABLES:
            for row in db.query(
                f"SELECT * FROM {table} WHERE session_id IN ({marks}) ORDER BY session_id, id", ids
            ):
                children.setdefault(row["session_id"], {}).setdefault(table, []).append(row)
        run_tags = tracker.records.tags_for(
            "run", [r["id"] for c in children.values() for r in c.get("runs", [])]
        )
        for row in page:
            item = presenters.session(row)
            for table in CHILD_TABLES:
                rows = children.get(row["id"], {}).get(table, [])
                if table == "runs":
                    rows = [{**r, "tags": run_tags.get(r["id"], {})} for r in rows]
                item["annotations" if table == "notes" else table] = [
                    presenters.times_to_iso(r) for r in rows
                ]
            out.write(("," if count else "") + json.dumps(item, default=str, ensure_ascii=False))
            count += 1
    unattached = db.query("SELECT * FROM api_calls WHERE session_id IS NULL ORDER BY ts")
    out.write('],"unattached_api_calls":')
    out.write(json.dumps([presenters.times_to_iso(r) for r in unattached], ensure_ascii=False))
    out.write("}\n")
    return count


def _write_csv(tracker: Tracker, filters: dict[str, Any], out: TextIO) -> int:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for page in _pages(tracker, filters):
        for row in page:
            s = presenters.session(row)
            s["tags"] = ";".join(f"{k}={v}" for k, v in s["tags"].items())
            writer.writerow(["" if s.get(c) is None else s.get(c) for c in CSV_COLUMNS])
            count += 1
    return count
