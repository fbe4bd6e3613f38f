"""`aitrack install` / `aitrack uninstall`: register the MCP server with VS Code, Claude Code and
Codex, and add Copilot's agent and instruction files, recording each change for uninstall."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from aitrack.install import InstallError, manifest
from aitrack.install.config_files import (
    MISSING,
    add_json_entry,
    add_toml_entry,
    atomic_write,
    remove_json_entry,
    remove_toml_entry,
)
from aitrack.install.locations import SERVER_NAME, copilot_dirs, mcp_config, server_entry

TARGETS = ("vscode", "copilot", "claude-code", "codex")
MCP_TARGETS = ("vscode", "claude-code", "codex")
COPILOT_FILES = {
    "agent": "aitrack.agent.md",
    "instructions": "aitrack-session-tracking.instructions.md",
}


@dataclass(slots=True)
class Step:
    """One thing done (or, with --dry-run, to be done) to one file."""

    target: str
    path: str
    action: str  # create, add, update, unchanged, skip, removed, restored, deleted file, ...
    detail: str = ""

    def line(self, dry_run: bool = False) -> str:
        prefix = "would " if dry_run and self.action not in ("unchanged", "absent") else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f"{prefix}{self.action}: {self.path}{detail}"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def packaged_file(name: str) -> str:
    """The text of an agent file shipped in aitrack.install_files.copilot."""
    return (resources.files("aitrack") / "install_files" / "copilot" / name).read_text(
        encoding="utf-8"
    )


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _scope(global_: bool) -> str:
    return "global" if global_ else "project"


def install(
    targets: list[str], project: Path, global_: bool = False, dry_run: bool = False
) -> list[Step]:
    """Install each target; the manifest records what changed (not with dry_run).

    Raises:
        InstallError: a configuration file cannot be changed safely (it is left untouched);
        targets done before it stay done and recorded.
    """
    project = project.resolve()
    entries = manifest.load()
    steps: list[Step] = []
    try:
        for target in targets:
            if target == "copilot":
                steps += _install_copilot(entries, project, global_, dry_run)
            elif target in MCP_TARGETS:
                steps.append(_install_mcp(entries, target, project, global_, dry_run))
            else:
                raise InstallError(f"unknown target {target!r}: use {', '.join(TARGETS)}")
    finally:
        if not dry_run:
            manifest.save(entries)
    return steps


def _install_mcp(
    entries: dict[str, Any], target: str, project: Path, global_: bool, dry_run: bool
) -> Step:
    cfg = mcp_config(target, project, global_)
    value = server_entry(target)
    add = add_toml_entry if cfg.fmt == "toml" else add_json_entry
    new_dirs = [str(d) for d in _missing_dirs(cfg.path.parent)]
    change = add(cfg.path, cfg.container, SERVER_NAME, value, dry_run)
    record_key = manifest.key("mcp", cfg.path, SERVER_NAME)
    if change.action != "unchanged" and not dry_run:
        earlier = entries.get(record_key)
        entries[record_key] = {
            "kind": "mcp",
            "target": target,
            "scope": _scope(global_),
            "project": str(project),
            "path": str(cfg.path),
            "format": cfg.fmt,
            "container": cfg.container,
            "name": SERVER_NAME,
            "written": value,
            # a re-install over our own older entry keeps what was there before the first one
            "previous": earlier["previous"] if earlier else change.previous,
            "created_file": earlier["created_file"] if earlier else change.created_file,
            "created_dirs": earlier.get("created_dirs", []) if earlier else new_dirs,
        }
    return Step(target, str(cfg.path), change.action, f"MCP server '{SERVER_NAME}'")


def _install_copilot(
    entries: dict[str, Any], project: Path, global_: bool, dry_run: bool
) -> list[Step]:
    agents_dir, instructions_dir = copilot_dirs(project, global_)
    steps = []
    for kind, folder in (("agent", agents_dir), ("instructions", instructions_dir)):
        name = COPILOT_FILES[kind]
        dest = folder / name
        content = packaged_file(name)
        record_key = manifest.key("file", dest)
        record = entries.get(record_key)
        if dest.exists():
            try:
                current = dest.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InstallError(f"cannot read {dest} ({exc}); it was left untouched") from None
            if current == content:
                steps.append(Step("copilot", str(dest), "unchanged", f"Copilot {kind} file"))
                continue
            if record is None or record["sha256"] != _sha(current):
                steps.append(
                    Step(
                        "copilot",
                        str(dest),
                        "skip",
                        "a file of that name that aitrack did not write; left as is",
                    )
                )
                continue
            action = "update"
            created_dirs = record["created_dirs"]
        else:
            action = "create"
            created_dirs = [str(d) for d in _missing_dirs(folder)]
        if not dry_run:
            atomic_write(dest, content)
            entries[record_key] = {
                "kind": "file",
                "target": "copilot",
                "scope": _scope(global_),
                "project": str(project),
                "path": str(dest),
                "sha256": _sha(content),
                "created_dirs": created_dirs,
            }
        steps.append(Step("copilot", str(dest), action, f"Copilot {kind} file"))
    return steps


def _missing_dirs(folder: Path) -> list[Path]:
    """folder and its parents that do not exist yet, deepest first."""
    missing = []
    for d in (folder, *folder.parents):
        if d.exists():
            break
        missing.append(d)
    return missing


def uninstall(
    targets: list[str] | None, project: Path, global_: bool = False, dry_run: bool = False
) -> list[Step]:
    """Remove what install recorded for these targets (all when None) in this project (or the
    user-level files with global_): entries still as written are removed, or replaced by what
    they replaced; anything changed since is left and reported.

    Raises:
        InstallError: a configuration file can no longer be parsed (it is left untouched).
    """
    project = project.resolve()
    entries = manifest.load()
    steps: list[Step] = []
    created_dirs: set[Path] = set()
    try:
        for record_key, entry in list(entries.items()):
            if targets is not None and entry["target"] not in targets:
                continue
            if entry["scope"] != _scope(global_):
                continue
            if not global_ and entry["project"] != str(project):
                continue
            step = _undo(entry, dry_run)
            steps.append(step)
            if step.action in ("removed", "deleted file"):
                created_dirs.update(Path(d) for d in entry.get("created_dirs", []))
            if not dry_run:
                del entries[record_key]
    finally:
        if not dry_run:
            manifest.save(entries)
            for d in sorted(created_dirs, key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):  # only folders install made, when left empty
                    d.rmdir()
    return steps


def _undo(entry: dict[str, Any], dry_run: bool) -> Step:
    path = Path(entry["path"])
    if entry["kind"] == "mcp":
        remove = remove_toml_entry if entry["format"] == "toml" else remove_json_entry
        previous = MISSING if entry["previous"] is None else entry["previous"]
        outcome = remove(path, entry["container"], entry["name"], entry["written"], previous,
                         entry["created_file"], dry_run)  # fmt: skip
        detail = f"MCP server '{entry['name']}'"
        if outcome == "changed":
            detail += ": changed since install, left as is"
        return Step(entry["target"], str(path), outcome, detail)
    if not path.exists():
        return Step(entry["target"], str(path), "absent")
    try:
        current = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    if current is None or _sha(current) != entry["sha256"]:
        return Step(entry["target"], str(path), "changed", "edited since install, left as is")
    if not dry_run:
        path.unlink()
    return Step(entry["target"], str(path), "removed")
