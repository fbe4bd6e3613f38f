"""Code metrics measured automatically when a session ends in a git repository, and again on
demand with `aitrack metrics ID`, in real git repositories."""

from __future__ import annotations

import json

from click.testing import CliRunner

from aitrack import gitinfo
from aitrack.cli.main import cli
from aitrack.code_metrics_capture import log_code_metrics, measure_session
from aitrack.settings import Settings
from aitrack.store import open_store
from aitrack.tracker import Tracker
from mcp_helpers import git, make_repo

BASE = """def keep(x):
    return x


def change(x):
    return x + 1
"""

CHANGED = '''def keep(x):
    return x


def change(x):
    if x > 10:
        return x - 1
    return x + 2


def fresh(a, b):
    """Join two values into one string and return it."""
    return f"{a}{b}"
'''

GO = """package main

// Sum adds a and b and returns the result.
func Sum(a int, b int) int {
	if a > b {
		return a + b
	}
	return b + a
}
"""


def start_in(tracker, repo):
    git_facts = gitinfo.describe(repo)
    session, _ = tracker.start_session(
        "work", repo_path=git_facts["repo_path"], git_head=git_facts["head"], cwd=str(repo)
    )
    return session


def auto_rows(tracker, session_id):
    rows = tracker.records.rows_for_session("code_metrics", session_id)
    return {(r["file_path"], r["function_name"]): r for r in rows if r["source"] == "auto"}


def test_ending_a_session_in_a_git_repository_measures_the_functions_it_changed(tracker, tmp_path):
    repo = make_repo(tmp_path / "repo", {"app.py": BASE, "README.md": "hi\n"})
    session = start_in(tracker, repo)
    (repo / "app.py").write_text(CHANGED)
    (repo / "cmd").mkdir()
    (repo / "cmd" / "main.go").write_text(GO)
    git(repo, "add", "app.py")
    git(repo, "commit", "-q", "-m", "change")  # committed and untracked work both count
    tracker.end_session(session["id"], "success")
    rows = auto_rows(tracker, session["id"])
    assert set(rows) == {("app.py", "change"), ("app.py", "fresh"), ("cmd/main.go", "Sum")}
    change, fresh, go = (
        rows[("app.py", "change")],
        rows[("app.py", "fresh")],
        rows[("cmd/main.go", "Sum")],
    )
    assert change["modification_type"] == "modified" and change["complexity"] == 2
    assert change["lines_added"] + change["lines_modified"] >= 3
    assert fresh["modification_type"] == "added" and fresh["documented"] == 1
    assert fresh["effort_score"] == fresh["lines_added"]  # complexity not counted when added
    assert go["language"] == "go" and go["complexity"] == 2 and go["doc_score"] > 50


def test_a_session_outside_git_or_without_a_start_revision_measures_nothing(tracker, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.py").write_text(BASE)
    outside, _ = tracker.start_session("no repo", repo_path=str(plain), cwd=str(plain), lane="a")
    assert measure_session(tracker, outside) == []
    repo = make_repo(tmp_path / "repo", {"app.py": BASE})
    (repo / "app.py").write_text(CHANGED)
    headless, _ = tracker.start_session("no head", repo_path=str(repo), lane="b")
    tracker.end_session(headless["id"], "success")
    assert tracker.records.rows_for_session("code_metrics", headless["id"]) == []


def test_remeasuring_replaces_automatic_rows_and_keeps_what_the_agent_reported(tracker, tmp_path):
    repo = make_repo(tmp_path / "repo", {"app.py": BASE})
    session = start_in(tracker, repo)
    (repo / "app.py").write_text(CHANGED)
    log_code_metrics(
        tracker,
        session["id"],
        "app.py",
        [{"name": "change", "modification_type": "modified", "lines_modified": 3}],
    )
    first = measure_session(tracker, session)
    assert {r["function_name"] for r in first} == {"change", "fresh"}
    (repo / "app.py").write_text(BASE)  # the work was reverted
    assert measure_session(tracker, session) == []
    rows = tracker.records.rows_for_session("code_metrics", session["id"])
    assert [(r["source"], r["function_name"]) for r in rows] == [("mcp", "change")]


def test_the_metrics_command_recomputes_a_sessions_code_metrics(tmp_path, aitrack_home):
    repo = make_repo(tmp_path / "repo", {"app.py": BASE})
    store = open_store()
    tracker = Tracker(store, Settings())
    session = start_in(tracker, repo)
    tracker.end_session(session["id"], "success")
    assert auto_rows(tracker, session["id"]) == {}
    (repo / "app.py").write_text(CHANGED)
    runner = CliRunner()
    result = runner.invoke(cli, ["metrics", session["id"][:12], "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)["data"]
    assert data["summary"]["functions"] == 2
    assert {f["function_name"] for f in data["functions"]} == {"change", "fresh"}
    assert set(auto_rows(tracker, session["id"])) == {("app.py", "change"), ("app.py", "fresh")}
    human = runner.invoke(cli, ["metrics", session["id"]], env={"COLUMNS": "200"})
    assert human.exit_code == 0 and "fresh" in human.output and "2 functions" in human.output
    store.close()


def test_the_metrics_command_explains_what_is_missing(tmp_path, aitrack_home):
    store = open_store()
    tracker = Tracker(store, Settings())
    norepo, _ = tracker.start_session("nothing", lane="a")
    repo = make_repo(tmp_path / "repo", {"app.py": BASE})
    nohead, _ = tracker.start_session("no head", repo_path=str(repo), lane="b")
    store.close()
    runner = CliRunner()
    missing_repo = runner.invoke(cli, ["metrics", norepo["id"]])
    assert missing_repo.exit_code == 1 and "no repository" in missing_repo.output
    missing_head = runner.invoke(cli, ["metrics", nohead["id"]])
    assert missing_head.exit_code == 1 and "--base" in missing_head.output
    bad_base = runner.invoke(cli, ["metrics", nohead["id"], "--base", "nonsense"])
    assert bad_base.exit_code == 1 and "not a commit" in bad_base.output
    first = git(repo, "rev-parse", "HEAD")
    (repo / "app.py").write_text(CHANGED)
    with_base = runner.invoke(cli, ["metrics", nohead["id"], "--base", first, "--json"])
    assert with_base.exit_code == 0
    assert json.loads(with_base.output)["data"]["summary"]["functions"] == 2
    unknown = runner.invoke(cli, ["metrics", "01NOTHING"])
    assert unknown.exit_code == 1 and "no session" in unknown.output
