"""Code metrics as use cases: measured automatically when a session ends in a git repository
(`measure_session`, an END_CAPTURE, source 'auto'), on demand (`aitrack metrics ID`), and as
reported by an agent through the MCP tool log_code_metrics (`log_code_metrics`, source 'mcp').

The analysis itself is aitrack.code_metrics (pure functions); this module decides which files
a session may read and stores the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aitrack import ids
from aitrack.clock import now_ms
from aitrack.errors import Conflict, InvalidValue
from aitrack.store.agent_reports import AgentReports
from aitrack.store.database import Row

if TYPE_CHECKING:
    from aitrack.code_metrics import FileMetrics, FunctionChange, FunctionMetrics
    from aitrack.tracker import Tracker

AUTO, MCP = "auto", "mcp"
MAX_FILE_BYTES = 5_000_000  # a file an agent names; larger ones are generated or vendored
_CHANGE_FIELDS = ("name", "modification_type", "lines_added", "lines_modified", "lines_deleted")


def measure_session(
    tracker: Tracker, session: Row, base_rev: str | None = None
) -> list[dict[str, Any]]:
    """Measure the functions changed in the session's repository since its start (git HEAD at
    start, or base_rev) and store them as source 'auto', replacing earlier 'auto' rows.

    Does nothing (returns []) outside a git repository or without a start revision: without
    one, every file of the repository would count as the session's work.

    Raises:
        CodeMetricsError: base_rev (or the recorded start) is not a commit of the repository.
    """
    from aitrack.code_metrics import CodeMetricsError, analyse_file, functions_changed_between

    repo = session.get("repo_path")
    base = base_rev or session.get("git_head_start")
    if not repo or not base or not Path(repo).is_dir():
        return []
    root = Path(repo)
    rows: list[dict[str, Any]] = []
    at = now_ms()
    for path, changes in functions_changed_between(root, base).items():
        try:
            measured = analyse_file(path, changes)
        except CodeMetricsError:
            continue  # removed or unreadable since git listed it
        rows += [
            _row(session["id"], _relative(path, root), m, AUTO, at) for m in measured.functions
        ]
    with tracker.db.transaction():
        AgentReports(tracker.db).replace_code_metrics(session["id"], AUTO, rows)
    return rows


def log_code_metrics(
    tracker: Tracker,
    session_id: str,
    file_path: str,
    functions: Iterable[Mapping[str, Any] | FunctionChange],
) -> FileMetrics:
    """Analyse the functions an agent says it changed in one file of the session's repository
    and store them (source 'mcp'); a function reported again replaces its earlier row.

    Raises:
        InvalidValue: no functions, or a bad function entry; NotFound/Conflict: no such session
        or it has ended; CodeMetricsError: the file is outside the session's repository (it is
        then not read), missing, unreadable or in an unsupported language.
    """
    from aitrack.code_metrics import CodeMetricsError, FunctionChange, analyse_file, ensure_inside

    session = tracker.resolve_session(session_id)
    if session["status"] != "active":
        raise Conflict(
            f"session {ids.short(session['id'])} has ended; code metrics can only be logged to "
            "an active session"
        )
    if not isinstance(file_path, str) or not file_path.strip():
        raise InvalidValue("file_path is required: the path of the source file you changed")
    changes = [c if isinstance(c, FunctionChange) else _change(c) for c in functions]
    if not changes:
        raise InvalidValue("functions_modified is empty: list the functions you changed")
    root_text = session.get("repo_path") or session.get("cwd")
    if not root_text:
        raise InvalidValue(
            f"session {ids.short(session['id'])} has no repository or working directory, so "
            "no file can be checked against it; start the session with repo_path"
        )
    root = Path(root_text)
    path = ensure_inside(Path(file_path.strip()), root)
    if path.exists() and not path.is_file():
        raise CodeMetricsError(f"{file_path} is not a regular file: give a source file")
    if path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
        raise CodeMetricsError(
            f"{file_path} is over {MAX_FILE_BYTES // 1_000_000} MB: generated or vendored code is "
            "not measured"
        )
    measured = analyse_file(path, changes)
    at = now_ms()
    rows = [_row(session["id"], _relative(path, root), m, MCP, at) for m in measured.functions]
    with tracker.db.transaction():
        AgentReports(tracker.db).upsert_function_metrics(rows)
        tracker.records.touch_session(session["id"], at)
    return measured


def _change(entry: Mapping[str, Any]) -> FunctionChange:
    from aitrack.code_metrics import FunctionChange

    if not isinstance(entry, Mapping):
        raise InvalidValue(
            "each entry of functions_modified must be an object with name and modification_type"
        )
    unknown = set(entry) - set(_CHANGE_FIELDS)
    if unknown:
        raise InvalidValue(
            f"unknown field(s) {', '.join(sorted(unknown))} in functions_modified: "
            f"use {', '.join(_CHANGE_FIELDS)}"
        )
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidValue("each function needs a name (e.g. 'parse' or 'Parser.parse')")
    return FunctionChange(
        name=name.strip(),
        modification_type=entry.get("modification_type"),  # type: ignore[arg-type]
        lines_added=entry.get("lines_added", 0),
        lines_modified=entry.get("lines_modified", 0),
        lines_deleted=entry.get("lines_deleted", 0),
    )


def _relative(path: Path, root: Path) -> str:
    """A repository-relative path for storage (portable across machines)."""
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(path)


def _row(
    session_id: str, file_path: str, m: FunctionMetrics, source: str, at: int
) -> dict[str, Any]:
    return {
        "id": ids.new_id(),
        "session_id": session_id,
        "ts": at,
        "file_path": file_path,
        "language": m.language,
        "function_name": m.name,
        "modification_type": m.modification_type,
        "lines_added": m.lines_added,
        "lines_modified": m.lines_modified,
        "lines_deleted": m.lines_deleted,
        "complexity": m.complexity,
        "length": m.length,
        "parameters": m.parameters,
        "documented": 1 if m.documented else 0,
        "doc_score": m.doc_score,
        "effort_score": round(m.effort_score, 4),
        "found": 1 if m.found else 0,
        "source": source,
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals and averages of stored metric rows (for `aitrack metrics` and MCP results)."""
    found = [r for r in rows if r["found"]]
    complexities = [r["complexity"] for r in found if r["complexity"] is not None]
    return {
        "functions": len(rows),
        "functions_found": len(found),
        "files": len({r["file_path"] for r in rows}),
        "lines_added": sum(r["lines_added"] for r in rows),
        "lines_modified": sum(r["lines_modified"] for r in rows),
        "lines_deleted": sum(r["lines_deleted"] for r in rows),
        "average_complexity": round(sum(complexities) / len(complexities), 2)
        if complexities
        else 0.0,
        "average_doc_score": round(sum(r["doc_score"] for r in found) / len(found), 2)
        if found
        else 0.0,
        "total_effort_score": round(sum(r["effort_score"] for r in rows), 2),
    }
