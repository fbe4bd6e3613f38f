"""What a session changed in its git repository: the commits made since its start and the files
changed with lines added and removed (committed, uncommitted and untracked-new alike).

Runs `git` in subprocesses. One diff from the start commit to the working tree covers
committed and uncommitted changes of tracked files; untracked new files are counted
separately, so nothing is counted twice. A session outside a repository has no git data.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from aitrack import ids
from aitrack.clock import now_ms
from aitrack.store.spend import SpendRecords

_GIT_ENV = {"LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
_GIT_OPTS = ("-c", "core.quotepath=off", "-c", "diff.external=", "-c", "color.ui=false")
_MAX_UNTRACKED_BYTES = 50 * 1024 * 1024


class GitError(Exception):
    pass


def _git(root: str | Path, *args: str, check: bool = True) -> str:
    try:
        done = subprocess.run(
            ["git", *_GIT_OPTS, *args],
            cwd=str(root),
            capture_output=True,
            env={**os.environ, **_GIT_ENV},
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(str(exc)) from None
    if check and done.returncode != 0:
        raise GitError(done.stderr.decode("utf-8", "replace").strip())
    return done.stdout.decode("utf-8", "surrogateescape")


def repo_root(path: str | Path) -> str | None:
    """The work tree root containing path, or None (not a repository, no git)."""
    try:
        return _git(path, "rev-parse", "--show-toplevel").strip() or None
    except (GitError, NotADirectoryError, FileNotFoundError):
        return None


def head(root: str | Path) -> str | None:
    """HEAD's commit, or None in a repository without commits."""
    try:
        return _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").strip() or None
    except GitError:
        return None


def _empty_tree(root: str | Path) -> str:
    return _git(root, "hash-object", "-t", "tree", "--stdin").strip()


def _is_commit(root: str | Path, sha: str) -> bool:
    try:
        _git(root, "cat-file", "-e", f"{sha}^{{commit}}")
        return True
    except GitError:
        return False


def commits_between(
    root: str | Path, start: str | None, end: str, since_ms: int | None = None
) -> list[dict[str, Any]]:
    """Commits reachable from `end` and not from `start` (all of them when start is None,
    limited to those made since `since_ms` when given), oldest first, with lines ±."""
    args = [
        "log",
        "--reverse",
        "--no-color",
        "--no-renames",
        "--numstat",
        "--format=%x1e%H%x1f%an <%ae>%x1f%at%x1f%B%x1f",
    ]
    if since_ms is not None:
        args.append(f"--since=@{since_ms // 1000}")
    args.append(f"{start}..{end}" if start else end)
    out = _git(root, *args)
    commits = []
    for record in out.split("\x1e")[1:]:
        parts = record.split("\x1f")
        if len(parts) < 5:
            continue
        sha, author, when, message, stats = parts[0], parts[1], parts[2], parts[3], parts[4]
        added = removed = 0
        for line in stats.splitlines():
            fields = line.split("\t")
            if len(fields) >= 3:
                added += int(fields[0]) if fields[0].isdigit() else 0
                removed += int(fields[1]) if fields[1].isdigit() else 0
        commits.append(
            {
                "sha": sha.strip(),
                "message": message.strip(),
                "author": author.strip(),
                "ts": int(when) * 1000 if when.strip().isdigit() else now_ms(),
                "lines_added": added,
                "lines_removed": removed,
            }
        )
    return commits


def _count_lines(path: Path) -> int:
    """Lines of a new text file (0 for binaries and huge files)."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > _MAX_UNTRACKED_BYTES:
            return 0
        data = path.read_bytes()
    except OSError:
        return 0
    if b"\0" in data[:8192]:
        return 0
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def changed_files(
    root: str | Path, start: str | None, end: str | None = None
) -> list[dict[str, Any]]:
    """Files changed from `start` (None: the empty tree) to `end` (None: the working tree,
    plus untracked new files), with lines added and removed."""
    base = start or _empty_tree(root)
    target = [end] if end else []
    diff_opts = ["--no-ext-diff", "--no-renames", "--no-color", "-z"]
    status_out = _git(root, "diff", *diff_opts, "--name-status", base, *target, "--")
    stat_out = _git(root, "diff", *diff_opts, "--numstat", base, *target, "--")
    kinds: dict[str, str] = {}
    tokens = status_out.split("\0")
    for i in range(0, len(tokens) - 1, 2):
        if tokens[i]:
            kinds[tokens[i + 1]] = {"A": "added", "D": "deleted", "T": "modified"}.get(
                tokens[i][0], "modified"
            )
    files: dict[str, dict[str, Any]] = {}
    for entry in stat_out.split("\0"):
        fields = entry.split("\t", 2)
        if len(fields) != 3 or not fields[2]:
            continue
        added, removed, path = fields
        files[path] = {
            "path": path,
            "change_type": kinds.get(path, "modified"),
            "lines_added": int(added) if added.isdigit() else 0,
            "lines_removed": int(removed) if removed.isdigit() else 0,
        }
    if end is None:
        untracked = _git(root, "ls-files", "--others", "--exclude-standard", "-z")
        for path in untracked.split("\0"):
            if path and path not in files:
                files[path] = {
                    "path": path,
                    "change_type": "added",
                    "lines_added": _count_lines(Path(root) / path),
                    "lines_removed": 0,
                }
    return sorted(files.values(), key=lambda f: f["path"])


def capture(tracker: Any, session: dict[str, Any], at_end: bool = False) -> dict[str, Any] | None:
    """Record a session's commits and changed files now; None outside a repository.

    An active session (or one ending now, `at_end`) compares its start with HEAD and the
    working tree. One that ended earlier compares its start with its end HEAD and keeps the
    files recorded when it ended."""
    repo = session.get("repo_path")
    root = repo_root(repo) if repo and Path(repo).is_dir() else None
    if root is None:
        return None
    start = session.get("git_head_start")
    if start and not _is_commit(root, start):
        start = None  # history rewritten or another clone: fall back to time
    live = at_end or session.get("status") == "active"
    end = head(root) if live or not session.get("git_head_end") else session["git_head_end"]
    since = None if session.get("git_head_start") and start else session["start_time"]
    commits = commits_between(root, start, end, since) if end else []
    spend = SpendRecords(tracker.db)
    changes: list[dict[str, Any]] | None
    if live:
        changes = changed_files(root, start)
    elif spend.change_count(session["id"]):
        changes = None  # the end capture saw the working tree; a later one cannot
    else:
        changes = changed_files(root, start, end) if end else []
    at = now_ms()
    commit_rows = [{"id": ids.new_id(), "session_id": session["id"], **c} for c in commits]
    change_rows = (
        None
        if changes is None
        else [{"id": ids.new_id(), "session_id": session["id"], "ts": at, **c} for c in changes]
    )
    ended = session.get("status") != "active"
    head_end = end if ended and not session.get("git_head_end") else None
    with tracker.db.transaction():
        spend.replace_git_capture(session["id"], commit_rows, change_rows, head_end)
    stored = tracker.records.rows_for_session("changes", session["id"])
    return {
        "session_id": session["id"],
        "repo_path": root,
        "head_start": session.get("git_head_start"),
        "head_end": end,
        "commits": len(commits),
        "files_changed": len(stored),
        "lines_added": sum(c["lines_added"] for c in stored),
        "lines_removed": sum(c["lines_removed"] for c in stored),
    }


def capture_session_git(tracker: Any, session: dict[str, Any]) -> None:
    """END_CAPTURE: when a session ends, record HEAD, its commits and its changed files."""
    capture(tracker, session, at_end=True)
