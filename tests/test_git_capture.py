"""Git data of sessions, on real repositories: HEAD at start and end, the commits made in
between, and the files changed (committed, uncommitted, untracked) without double counting."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from aitrack import gitinfo
from aitrack.cli.main import cli
from aitrack.gitcapture import capture
from aitrack.store import open_store
from aitrack.tracker import Tracker

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def write(repo: Path, name: str, lines: int, start: int = 0) -> None:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"line {i}\n" for i in range(start, start + lines)))


@pytest.fixture
def repo(tmp_path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    return root


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def start(tracker: Tracker, repo: Path):
    info = gitinfo.describe(repo)
    session, _ = tracker.start_session(
        "git work", repo_path=info["repo_path"], branch=info["branch"], git_head=info["head"]
    )
    return session


def changes(tracker, session_id):
    return {
        c["path"]: (c["change_type"], c["lines_added"], c["lines_removed"])
        for c in tracker.records.rows_for_session("changes", session_id)
    }


def test_commits_and_all_kinds_of_changes_are_recorded_once_when_the_session_ends(tracker, repo):
    write(repo, "app.py", 10)
    write(repo, "old.txt", 4)
    write(repo, ".gitignore", 0)
    (repo / ".gitignore").write_text("*.log\n")
    start_sha = commit_all(repo, "initial")
    session = start(tracker, repo)
    assert session["git_head_start"] == start_sha

    write(repo, "app.py", 13)  # +3 lines
    write(repo, "feature/new.py", 5)
    (repo / "old.txt").unlink()
    first = commit_all(repo, "Add feature\n\nWith a body line.\tTabbed ünïcode")
    lines = (repo / "app.py").read_text().splitlines()
    (repo / "app.py").write_text("\n".join(["changed 0", *lines[1:], "extra 1", "extra 2"]) + "\n")
    second = commit_all(repo, "Tweak app")
    write(repo, "feature/new.py", 7)  # uncommitted: +2 more lines on a committed new file
    write(repo, "staged.py", 3)
    git(repo, "add", "staged.py")
    write(repo, "notes/untracked.md", 4)
    (repo / "image.bin").write_bytes(b"\x00\x01\x02" * 100)
    (repo / "debug.log").write_text("ignored\n" * 50)

    head = gitinfo.head_sha(repo)
    ended = tracker.end_session(session["id"], "success", git_head=head)
    assert ended["git_head_end"] == second

    rows = tracker.records.rows_for_session("commits", session["id"])
    commits = {c["sha"]: c for c in rows}  # same second: the order of ts alone is a tie
    assert set(commits) == {first, second} and len(rows) == 2
    assert commits[first]["message"] == "Add feature\n\nWith a body line.\tTabbed ünïcode"
    assert commits[first]["author"] == "Ada Lovelace <ada@example.com>"
    assert (commits[first]["lines_added"], commits[first]["lines_removed"]) == (3 + 5, 4)
    assert (commits[second]["lines_added"], commits[second]["lines_removed"]) == (3, 1)
    assert all(abs(c["ts"] - ended["end_time"]) < 120_000 for c in rows)

    assert changes(tracker, session["id"]) == {
        "app.py": ("modified", 6, 1),  # 3 + 3 added, 1 replaced: counted once, start → now
        "feature/new.py": ("added", 7, 0),  # committed 5 + uncommitted 2
        "old.txt": ("deleted", 0, 4),
        "staged.py": ("added", 3, 0),
        "notes/untracked.md": ("added", 4, 0),
        "image.bin": ("added", 0, 0),
    }
    listed = tracker.list_sessions()[0]
    assert (listed["files_changed"], listed["lines_added"], listed["commits"]) == (6, 20, 2)


def test_a_repository_with_no_commits_at_start_works(tracker, repo):
    session = start(tracker, repo)
    assert session["git_head_start"] is None
    write(repo, "a.py", 2)
    commit_all(repo, "first ever")
    write(repo, "b.py", 3)
    commit_all(repo, "second")
    write(repo, "c.py", 1)  # untracked
    tracker.end_session(session["id"], "success")
    commits = tracker.records.rows_for_session("commits", session["id"])
    assert sorted(c["message"] for c in commits) == ["first ever", "second"]
    assert changes(tracker, session["id"]) == {
        "a.py": ("added", 2, 0),
        "b.py": ("added", 3, 0),
        "c.py": ("added", 1, 0),
    }
    assert tracker.get_session(session["id"])["git_head_end"] == gitinfo.head_sha(repo)


def test_a_repository_still_without_commits_counts_its_new_files(tracker, repo):
    session = start(tracker, repo)
    write(repo, "draft.txt", 5)
    tracker.end_session(session["id"], "partial")
    assert changes(tracker, session["id"]) == {"draft.txt": ("added", 5, 0)}
    assert tracker.records.rows_for_session("commits", session["id"]) == []


def test_a_session_outside_a_repository_has_no_git_data_and_no_error(
    tracker, tmp_path, aitrack_home
):
    session, _ = tracker.start_session("no repo", repo_path=None, cwd=str(tmp_path))
    tracker.end_session(session["id"], "success")
    assert tracker.records.rows_for_session("changes", session["id"]) == []
    assert not (aitrack_home / "errors.log").exists()
    assert capture(tracker, tracker.get_session(session["id"])) is None


def test_capture_on_demand_while_active_and_after_the_end(aitrack_home, repo, monkeypatch):
    tracker = Tracker(open_store())
    write(repo, "a.py", 3)
    commit_all(repo, "base")
    session = start(tracker, repo)
    write(repo, "a.py", 5)
    monkeypatch.chdir(repo)
    runner = CliRunner()
    result = runner.invoke(cli, ["git", "capture", "--json"])
    assert result.exit_code == 0, result.output
    assert '"files_changed": 1' in result.output and '"lines_added": 2' in result.output
    assert tracker.get_session(session["id"])["git_head_end"] is None  # still active
    commit_all(repo, "grow a")
    tracker.end_session(session["id"], "success")
    write(repo, "later.py", 9)  # after the end: not the session's work
    result = runner.invoke(cli, ["git", "capture", session["id"][:10]])
    assert result.exit_code == 0, result.output
    assert "1 commits, 1 files (+2 -0)" in result.output
    assert changes(tracker, session["id"]) == {"a.py": ("modified", 2, 0)}


def test_show_lists_files_and_commits(aitrack_home, repo, monkeypatch):
    tracker = Tracker(open_store())
    write(repo, "a.py", 1)
    commit_all(repo, "base")
    session = start(tracker, repo)
    write(repo, "module/feature.py", 12)
    commit_all(repo, "Add the feature module")
    write(repo, "module/feature.py", 15)
    tracker.end_session(session["id"], "success")
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(cli, ["show", session["id"], "--files", "--commits"])
    assert result.exit_code == 0, result.output
    assert "module/feature.py" in result.output and "15" in result.output
    assert "Add the feature module" in result.output and "Ada Lovelace" in result.output
    data = CliRunner().invoke(cli, ["show", session["id"], "--json"]).output
    assert '"path": "module/feature.py"' in data and '"lines_added": 15' in data
