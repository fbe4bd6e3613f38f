"""Cheap facts about the git repository around a directory, read from .git without running git
(hooks and CLI calls pay no subprocess for them)."""

from __future__ import annotations

from pathlib import Path


def repo_root(start: str | Path) -> Path | None:
    """The work tree root containing start (a .git dir or file), else None."""
    try:
        path = Path(start).resolve()
    except OSError:
        return None
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def _git_dir(root: Path) -> Path | None:
    dot = root / ".git"
    if dot.is_dir():
        return dot
    try:
        text = dot.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if text.startswith("gitdir:"):
        target = Path(text[len("gitdir:") :].strip())
        return target if target.is_absolute() else (root / target).resolve()
    return None


def _read_head(root: Path) -> str | None:
    git_dir = _git_dir(root)
    if git_dir is None:
        return None
    try:
        return (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None


def branch(root: Path) -> str | None:
    """The checked-out branch name, or None (detached HEAD, not a repo)."""
    head = _read_head(root)
    if head and head.startswith("ref: refs/heads/"):
        return head[len("ref: refs/heads/") :]
    return None


def head_sha(root: Path) -> str | None:
    """The commit HEAD points at, or None (no commits yet, not a repo)."""
    head = _read_head(root)
    if not head:
        return None
    if not head.startswith("ref: "):
        return head
    ref = head[len("ref: ") :]
    git_dir = _git_dir(root)
    assert git_dir is not None
    common = git_dir
    commondir = git_dir / "commondir"
    if commondir.exists():
        common = (git_dir / commondir.read_text(encoding="utf-8").strip()).resolve()
    for base in (git_dir, common):
        try:
            return (base / ref).read_text(encoding="utf-8").strip()
        except OSError:
            pass
    try:
        for line in (common / "packed-refs").read_text(encoding="utf-8").splitlines():
            if line.endswith(" " + ref):
                return line.split(" ", 1)[0]
    except OSError:
        pass
    return None


def describe(path: str | Path) -> dict[str, str | None]:
    """repo_path, branch and head for a directory; all None outside a repository."""
    root = repo_root(path)
    if root is None:
        return {"repo_path": None, "branch": None, "head": None}
    return {"repo_path": str(root), "branch": branch(root), "head": head_sha(root)}
