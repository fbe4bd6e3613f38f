"""Importing the stores of the tools aitrack replaces, as their own fixtures hold them:
everything kept, idempotent, sources untouched, active sessions under the lane rule."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from aitrack.cli.main import cli
from aitrack.clock import from_iso
from aitrack.errors import InvalidValue, NotFound
from aitrack.importing.seed_ai_session_tracker import import_ai_session_tracker
from aitrack.importing.seed_codesession import import_codesession
from aitrack.settings import Settings
from aitrack.store import open_store
from aitrack.tracker import Tracker

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
if not FIXTURES.exists():
    FIXTURES = Path("/work/shared/fixtures")
AST = FIXTURES / "ai-session-tracker"
CODESESSION = FIXTURES / "codesession" / "sessions.db"


def digest(path: Path) -> str:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


@pytest.fixture
def store_copy(tmp_path: Path):
    """Copies of the fixtures, made read-only like a store the importer must not touch."""
    ast = tmp_path / "ast"
    shutil.copytree(AST, ast)
    db = tmp_path / "cs" / "sessions.db"
    db.parent.mkdir()
    shutil.copy(CODESESSION, db)
    for p in [*ast.rglob("*.json"), db]:
        p.chmod(stat.S_IRUSR | stat.S_IRGRP)
    return ast, db


def by_name(tracker: Tracker) -> dict[str, dict]:
    return {s["name"]: s for s in tracker.db.query("SELECT * FROM sessions")}


# -- ai-session-tracker --------------------------------------------------------------------------
def test_ai_session_tracker_store_is_imported_whole(tracker, store_copy):
    ast, _ = store_copy
    before = digest(ast)
    result = import_ai_session_tracker(tracker, ast)
    assert result["added"] == {"sessions": 3, "interactions": 4, "issues": 2, "code_metrics": 0,
                               "api_calls": 1, "sessions_ended": 0}  # fmt: skip
    assert digest(ast) == before
    sessions = by_name(tracker)
    login = sessions["Implement login feature"]
    assert login["start_time"] == from_iso("2026-11-22T03:15:35.559271+00:00")
    assert login["end_time"] == from_iso("2026-11-22T03:15:36.190516+00:00")
    assert (login["status"], login["outcome"], login["notes"]) == (
        "completed",
        "success",
        "Feature completed successfully",
    )
    assert (
        login["task_type"],
        login["model"],
        login["estimate_minutes"],
        login["estimate_source"],
    ) == ("code_generation", "claude-opus-4-20250514", 60.0, "manual")
    assert (login["interaction_count"], login["rating_sum"], login["issue_count"]) == (2, 9, 1)
    debug = sessions["Debug flaky test"]
    assert (debug["context"], debug["estimate_source"], debug["outcome"]) == (
        "CI job 42",
        "issue_tracker",
        "partial",
    )
    detail = tracker.session_detail(login["id"])
    assert [i["rating"] for i in detail["interactions"]] == [5, 4]
    assert json.loads(detail["interactions"][1]["tools_used"]) == ["edit,terminal"]
    assert detail["issues"][0]["issue_type"] == "hallucination"
    request = tracker.db.query_one("SELECT * FROM api_calls")
    assert (request["session_id"], request["source"], request["request_type"]) == (
        None,
        "import:ai-session-tracker",
        "coding",
    )
    assert (request["input_tokens"], request["cache_read_tokens"], request["output_tokens"]) == (
        3000,
        9000,
        800,
    )
    assert request["cost_usd"] > 0


def test_ai_session_tracker_import_is_idempotent(tracker, store_copy):
    ast, _ = store_copy
    import_ai_session_tracker(tracker, ast / ".ai_sessions")
    counts = {
        t: tracker.db.scalar(f"SELECT count(*) FROM {t}")
        for t in ("sessions", "interactions", "issues", "api_calls")
    }
    again = import_ai_session_tracker(tracker, ast)
    assert sum(again["added"].values()) == 0 and again["already_imported"] == 10
    assert counts == {t: tracker.db.scalar(f"SELECT count(*) FROM {t}") for t in counts}


def test_an_active_seed_session_stays_active_when_its_lane_is_free(tracker, store_copy):
    import_ai_session_tracker(tracker, store_copy[0])
    refactor = by_name(tracker)["Refactor payment service"]
    assert (refactor["status"], refactor["lane"], refactor["end_time"]) == (
        "active",
        "background",
        None,
    )


def test_an_active_seed_session_ends_when_its_lane_is_taken(tracker, store_copy):
    mine, _ = tracker.start_session("my live work", lane="background")
    result = import_ai_session_tracker(tracker, store_copy[0])
    refactor = by_name(tracker)["Refactor payment service"]
    assert (refactor["status"], refactor["outcome"]) == ("completed", "partial")
    assert refactor["end_time"] == from_iso(
        "2026-11-22T03:15:39.470339+00:00"
    )  # its last interaction
    assert "lane background already had an active session" in refactor["notes"]
    assert tracker.get_session(mine["id"])["status"] == "active"
    assert any("busy" in n for n in result["notes"])


def test_a_folder_without_the_store_is_refused(tracker, tmp_path):
    with pytest.raises(NotFound, match="sessions.json"):
        import_ai_session_tracker(tracker, tmp_path)


# -- codesession ---------------------------------------------------------------------------------
def source_rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_codesession_database_is_imported_whole_and_read_only(tracker, store_copy):
    _, db = store_copy
    before = digest(db)
    result = import_codesession(tracker, db)
    assert result["added"] == {"sessions": 5, "api_calls": 19, "changes": 34, "commits": 11, "notes": 11,
                               "sessions_ended": 0}  # fmt: skip
    assert digest(db) == before
    assert sorted(p.name for p in db.parent.iterdir()) == ["sessions.db"]  # no -wal, -shm left
    cost, tokens = source_rows(db, "SELECT sum(cost), sum(tokens) FROM ai_usage")[0]
    calls = tracker.db.query("SELECT * FROM api_calls")
    assert {c["cost_source"] for c in calls} == {"reported"}
    assert sum(c["cost_usd"] for c in calls) == pytest.approx(cost)
    assert sum(c["input_tokens"] + c["output_tokens"] for c in calls) == tokens
    sessions = by_name(tracker)
    auth = sessions["Fix authentication bug"]
    assert (auth["start_time"], auth["end_time"]) == (
        from_iso("2026-11-15T02:47:43.878Z"),
        from_iso("2026-11-15T04:21:43.879Z"),
    )
    assert (auth["repo_path"], auth["git_head_start"], auth["status"]) == (
        "/home/dev/codesession",
        "868124f",
        "completed",
    )
    assert auth["notes"].startswith("Fixed JWT expiry bug")
    detail = tracker.session_detail(auth["id"])
    assert (
        len(detail["changes"]) == 7
        and len(detail["commits"]) == 2
        and len(detail["annotations"]) == 2
    )
    assert {c["change_type"] for c in detail["changes"]} == {"added", "modified"}
    assert detail["tags"] == {"agents": "Code Fixer,Code Reviewer"}
    assert {c["request_type"] for c in detail["api_calls"]} == {"Code Fixer", "Code Reviewer"}
    first = min(detail["api_calls"], key=lambda c: c["ts"])
    assert (first["input_tokens"], first["output_tokens"], first["cost_usd"]) == (
        12000,
        3200,
        0.084,
    )


def test_writes_still_in_the_wal_of_a_running_codesession_are_imported(tracker, tmp_path):
    live = tmp_path / "live" / "sessions.db"
    live.parent.mkdir()
    shutil.copy(CODESESSION, live)
    writer = sqlite3.connect(live)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute(
        "INSERT INTO sessions (name, start_time, working_directory, status) "
        "VALUES ('still in the wal', '2026-11-22T05:00:00.000Z', '/w', 'completed')"
    )
    writer.commit()
    assert (live.parent / "sessions.db-wal").stat().st_size > 0
    snapshot = tmp_path / "snap"
    shutil.copytree(live.parent, snapshot)  # what codesession leaves on disk while running
    writer.close()
    listing = sorted(p.name for p in snapshot.iterdir())
    import_codesession(tracker, snapshot / "sessions.db")
    assert "still in the wal" in by_name(tracker)
    assert sorted(p.name for p in snapshot.iterdir()) == listing


def test_codesession_import_is_idempotent(tracker, store_copy):
    import_codesession(tracker, store_copy[1])
    counts = {
        t: tracker.db.scalar(f"SELECT count(*) FROM {t}")
        for t in ("sessions", "api_calls", "changes", "commits", "notes")
    }
    again = import_codesession(tracker, store_copy[1])
    assert sum(again["added"].values()) == 0
    assert counts == {t: tracker.db.scalar(f"SELECT count(*) FROM {t}") for t in counts}


def test_codesession_active_session_follows_the_lane_rule(tracker, store_copy, tmp_path):
    import_codesession(tracker, store_copy[1])
    seo = by_name(tracker)["SEO improvements and marketplace listing"]
    assert (seo["status"], seo["lane"]) == ("active", "background")
    other = Tracker(open_store(str(tmp_path / "other.db")), Settings())
    other.start_session("busy", lane="background")
    import_codesession(other, store_copy[1])
    seo = by_name(other)["SEO improvements and marketplace listing"]
    assert (seo["status"], seo["outcome"]) == ("completed", "partial")
    assert seo["end_time"] == from_iso("2026-11-22T02:17:43.882Z")  # its last recorded activity


def test_a_file_that_is_not_a_codesession_database_is_refused(tracker, tmp_path):
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE x (a)").connection.close()
    with pytest.raises(InvalidValue, match="not a codesession database"):
        import_codesession(tracker, other)
    with pytest.raises(NotFound):
        import_codesession(tracker, tmp_path / "missing.db")


def test_import_commands_print_counts(store_copy, monkeypatch):
    monkeypatch.setenv("AITRACK_IDLE_MINUTES", "100000000")
    ast, db = store_copy
    runner = CliRunner()
    first = runner.invoke(cli, ["import", "codesession", str(db), "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["data"]["added"]["sessions"] == 5
    text = runner.invoke(cli, ["import", "ai-session-tracker", str(ast)])
    assert text.exit_code == 0 and "3 sessions" in text.output and "4 interactions" in text.output
    again = runner.invoke(cli, ["import", "codesession", str(db)])
    assert "nothing new" in again.output
    monkeypatch.setenv("CODESESSION_DB_PATH", str(db))
    default = runner.invoke(cli, ["import", "codesession", "--json"])
    assert json.loads(default.output)["data"]["source"] == str(db)
    missing = runner.invoke(
        cli, ["import", "ai-session-tracker", str(db.parent / "nope"), "--json"]
    )
    assert missing.exit_code == 1 and not json.loads(missing.output)["success"]
