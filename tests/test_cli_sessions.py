"""The session CLI run for real (click's runner over the real store): output, --json, errors."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from aitrack.cli.main import cli


def run(*args: str, ok: bool = True):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def start(*extra: str) -> str:
    return json.loads(run("start", *extra, "--json").output)["data"]["session_id"]


def test_start_prints_the_new_session_id(aitrack_home: Path):
    result = run(
        "start",
        "--name",
        "Implement login",
        "--type",
        "code_generation",
        "--model",
        "claude-opus-4-20250514",
        "--mins",
        "60",
        "--source",
        "manual",
    )
    session_id = result.output.strip()
    assert len(session_id) == 26
    shown = json.loads(run("show", session_id[:14], "--json").output)["data"]
    assert shown["name"] == "Implement login" and shown["estimate_minutes"] == 60
    assert shown["lane"] == "background" and shown["status"] == "active"


def test_the_short_form_of_start_has_sensible_defaults():
    sid = start("Fix login")
    s = json.loads(run("show", sid, "--json").output)["data"]
    assert (s["name"], s["task_type"], s["estimate_source"]) == ("Fix login", "general", None)


def test_json_output_is_one_seed_compatible_object():
    out = run(
        "start",
        "--name",
        "Test",
        "--type",
        "testing",
        "--model",
        "gpt-4",
        "--mins",
        "30",
        "--source",
        "manual",
        "--json",
    ).output
    data = json.loads(out)
    assert data["success"] is True and data["message"] == "Session started"
    assert set(data["data"]) >= {"session_id", "auto_closed_sessions"}


def test_an_unknown_task_type_names_the_allowed_ones():
    result = run("start", "--name", "x", "--type", "cooking", ok=False)
    assert result.exit_code == 2
    assert "code_generation" in result.output and "architecture_planning" in result.output


def test_a_bad_rating_is_refused_with_exit_1_and_nothing_stored(aitrack_home: Path):
    sid = start("s")
    result = run(
        "log", "--session-id", sid, "--prompt", "p", "--summary", "s", "--rating", "9", ok=False
    )
    assert result.exit_code == 1 and "1 to 5" in result.output
    result = run(
        "log",
        "--session-id",
        sid,
        "--prompt",
        "p",
        "--summary",
        "s",
        "--rating",
        "9",
        "--json",
        ok=False,
    )
    assert result.exit_code == 1
    assert json.loads(result.output) == {
        "success": False,
        "error": "rating 9 is out of range: use a whole number from 1 to 5",
    }
    conn = sqlite3.connect(aitrack_home / "aitrack.db")
    assert conn.execute("SELECT count(*) FROM interactions").fetchone()[0] == 0


def test_logging_flagging_and_ending_a_session():
    sid = start("--name", "Debug flaky test", "--type", "debugging", "--mins", "30")
    run(
        "log",
        "--session-id",
        sid,
        "--prompt",
        "why",
        "--summary",
        "race",
        "--rating",
        "4",
        "--iterations",
        "2",
        "--tools",
        "edit,terminal",
    )
    run(
        "flag",
        "--session-id",
        sid,
        "--type",
        "hallucination",
        "--desc",
        "fake lib",
        "--severity",
        "high",
    )
    ended = json.loads(
        run("end", "--session-id", sid, "--outcome", "success", "--notes", "done", "--json").output
    )["data"]
    assert ended["status"] == "completed" and ended["outcome"] == "success"
    assert ended["summary"]["interactions"] == 1 and ended["summary"]["issues"] == 1
    detail = json.loads(run("show", sid, "--json").output)["data"]
    assert detail["interactions"][0]["tools_used"] == ["edit", "terminal"]
    assert detail["issues"][0]["severity"] == "high"
    result = run(
        "log", "--session-id", sid, "--prompt", "p", "--summary", "s", "--rating", "3", ok=False
    )
    assert result.exit_code == 1 and "has ended" in result.output


def test_end_without_an_id_refuses_when_several_sessions_are_active():
    start("a", "--lane", "one")
    start("b", "--lane", "two")
    result = run("end", ok=False)
    assert result.exit_code == 1 and "2 sessions are active" in result.output
    run("end", "--lane", "two")
    assert json.loads(run("active", "--json").output)["data"]["count"] == 1


def test_an_unknown_session_id_is_a_clear_error():
    result = run(
        "log", "--session-id", "nope", "--prompt", "p", "--summary", "s", "--rating", "3", ok=False
    )
    assert result.exit_code == 1 and "aitrack list" in result.output


def test_status_and_active_list_the_running_sessions():
    assert "No active session" in run("status").output
    sid = start("working on it")
    status = json.loads(run("status", "--json").output)["data"]
    assert status["active"] is True and status["sessions"][0]["id"] == sid
    assert sid[:12] in run("active").output


def test_list_filters_by_outcome_and_limit():
    for n in range(3):
        run("end", "--session-id", start(f"s{n}"), "--outcome", "failed" if n else "success")
    rows = json.loads(run("list", "--json", "--outcome", "failed").output)["data"]["sessions"]
    assert sorted(r["name"] for r in rows) == ["s1", "s2"]
    assert len(json.loads(run("list", "-l", "1", "--json").output)["data"]["sessions"]) == 1
    assert "s0" in run("list").output


def test_note_and_tag_annotate_a_session():
    sid = start("tagged")
    run("note", "tried approach B")
    run("tag", sid[:16], "team=web", "ticket=ABC-1")
    detail = json.loads(run("show", sid, "--json").output)["data"]
    assert detail["tags"] == {"team": "web", "ticket": "ABC-1"}
    assert detail["annotations"][0]["message"] == "tried approach B"
    assert run("tag", sid, "=oops", ok=False).exit_code == 2


def test_stats_and_report_show_roi_from_the_estimate():
    sid = start("--name", "work", "--type", "code_generation", "--mins", "120")
    run("log", "--session-id", sid, "--prompt", "p", "--summary", "s", "--rating", "5")
    run("end", "--session-id", sid)
    stats = json.loads(run("stats", "--json", "--by", "task_type,model,day").output)["data"]
    assert stats["sessions"]["completed"] == 1
    assert stats["roi"]["human_baseline_cost"] == 260.0
    assert stats["effectiveness"]["5"] == 1
    assert stats["by"]["task_type"][0]["key"] == "code_generation"
    assert len(stats["per_day"]) == 1
    report = run("report").output
    assert "AI SESSION TRACKER - ANALYTICS REPORT" in report and "$260.00" in report
    assert run("stats", "--by", "colour", ok=False).exit_code == 2


def test_export_json_is_lossless_and_csv_has_one_row_per_session(tmp_path: Path):
    sid = start("--name", "exported", "--mins", "10", "--tag", "k=v")
    run("log", "--session-id", sid, "--prompt", 'p\n"quoted"', "--summary", "s", "--rating", "2")
    run("note", "a note")
    data = json.loads(run("export", "--format", "json").output)
    session = data["sessions"][0]
    assert session["id"] == sid and session["tags"] == {"k": "v"}
    assert session["interactions"][0]["prompt"] == 'p\n"quoted"'
    assert session["annotations"][0]["message"] == "a note"
    out = tmp_path / "x.csv"
    run("export", "--format", "csv", "-o", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 1 and rows[0]["id"] == sid and rows[0]["tags"] == "k=v"


def test_the_maximum_duration_flag_caps_sessions(aitrack_home: Path):
    sid = start("long")
    conn = sqlite3.connect(aitrack_home / "aitrack.db")
    conn.execute("UPDATE sessions SET start_time = start_time - 7200000 WHERE id = ?", (sid,))
    conn.commit()
    ended = json.loads(run("--max-session-duration-hours", "1", "end", "--json").output)["data"]
    assert ended["capped"] is True and ended["duration_minutes"] == 60.0


def test_the_seed_output_dir_variable_is_honoured(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("AITRACK_HOME")
    monkeypatch.setenv("AI_OUTPUT_DIR", str(tmp_path / "seed-dir"))
    start("here")
    assert (tmp_path / "seed-dir" / "aitrack.db").exists()


def test_a_corrupt_store_is_reported_and_left_untouched(aitrack_home: Path):
    aitrack_home.mkdir(parents=True)
    db = aitrack_home / "aitrack.db"
    db.write_bytes(b"garbage" * 1000)
    result = run("status", ok=False)
    assert result.exit_code == 1 and str(db) in result.output
    assert db.read_bytes() == b"garbage" * 1000


@pytest.mark.parametrize("args", [["start", "--help"], ["log", "--help"], ["--help"]])
def test_help_explains_the_commands(args):
    assert "Usage" in run(*args).output
