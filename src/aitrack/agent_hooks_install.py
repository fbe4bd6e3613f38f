"""Installing aitrack's hook into Claude Code and Codex, and taking it out again.

Claude Code: hook entries in ``~/.claude/settings.json`` (global) or ``<project>/.claude/
settings.json`` (project), merged with the user's own hooks. Codex: the ``notify`` program in
``$CODEX_HOME/config.toml`` (edited with tomlkit, so comments and layout stay) and hook entries
in ``$CODEX_HOME/hooks.json``. A notify program the user already has is kept: aitrack's
command runs it after itself (``codex-notify --then THEIR PROGRAM…``) and uninstalling puts it
back. Uninstall removes exactly the entries whose command is aitrack's hook.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from aitrack.errors import InvalidValue

HOOK_SCRIPT = "aitrack-hook"
CLAUDE_EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PostToolUse",
    "PostToolUseFailure",
    "Stop",
    "SubagentStop",
    "PreCompact",
    "SessionEnd",
)
# Codex's turn end comes through notify (it carries the turn id); its hooks add the rest.
CODEX_EVENTS = ("SessionStart", "UserPromptSubmit", "PostToolUse")
TOOL_EVENTS = ("PreToolUse", "PostToolUse", "PostToolUseFailure")
TIMEOUT_SECONDS = 10


def hook_command() -> str:
    """How settings call the hook: the bare name when PATH finds this installation's script,
    else its absolute path (a virtualenv not on PATH)."""
    script = Path(sys.executable).parent / HOOK_SCRIPT
    found = shutil.which(HOOK_SCRIPT)
    if found and (not script.exists() or os.path.samefile(found, script)):
        return HOOK_SCRIPT
    return shlex.quote(str(script)) if script.exists() else HOOK_SCRIPT


def is_aitrack_command(command: object) -> bool:
    """Whether a hook command is aitrack's (`aitrack-hook …` or `aitrack hook …`)."""
    if not isinstance(command, str):
        return False
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    if not words:
        return False
    name = os.path.basename(words[0])
    return name in (HOOK_SCRIPT, HOOK_SCRIPT + ".exe") or (
        name in ("aitrack", "aitrack.exe") and words[1:2] == ["hook"]
    )


# -- Claude Code ---------------------------------------------------------------------------------
def claude_settings_path(scope: str, project_dir: Path | None = None) -> Path:
    if scope == "global":
        env = os.environ.get("CLAUDE_CONFIG_DIR", "").split(",")[0].strip()
        base = Path(env).expanduser() if env else Path.home() / ".claude"
        return base / "settings.json"
    if scope == "project":
        return Path(project_dir or os.getcwd()) / ".claude" / "settings.json"
    raise InvalidValue(f"unknown scope {scope!r}: use global or project")


def install_claude_code_hooks(
    scope: str = "project", dry_run: bool = False, project_dir: Path | None = None
) -> dict[str, Any]:
    """Add aitrack's hook to Claude Code's settings for every event it uses, next to the
    user's own hooks; events that already have it are left alone.

    Raises:
        InvalidValue: the settings file is not valid JSON or its "hooks" has another shape
            (nothing is written then).
    """
    path = claude_settings_path(scope, project_dir)
    command = hook_command()
    settings = _read_json(path)
    added, present = _merge_hooks(settings, path, CLAUDE_EVENTS, command)
    if added and not dry_run:
        _write_json(path, settings)
    return {
        "agent": "claude-code",
        "scope": scope,
        "path": str(path),
        "command": command,
        "events_added": added,
        "events_already_installed": present,
        "changed": bool(added) and not dry_run,
        "dry_run": dry_run,
        "settings": settings,
    }


def uninstall_claude_code_hooks(scope: str, project_dir: Path | None = None) -> dict[str, Any]:
    """Remove the hook entries aitrack added (any command that is aitrack's hook)."""
    path = claude_settings_path(scope, project_dir)
    if not path.exists():
        return {"agent": "claude-code", "scope": scope, "path": str(path), "events_removed": [],
                "changed": False}  # fmt: skip
    settings = _read_json(path)
    removed = _remove_hooks(settings, path)
    if removed:
        _write_json_or_remove(path, settings)
    return {"agent": "claude-code", "scope": scope, "path": str(path), "events_removed": removed,
            "changed": bool(removed)}  # fmt: skip


def _merge_hooks(
    settings: dict[str, Any], path: Path, events: tuple[str, ...], command: str
) -> tuple[list[str], list[str]]:
    hooks = settings.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise InvalidValue(f'"hooks" in {path} is not an object; fix it by hand first')
    added, present = [], []
    for event in events:
        groups = hooks.setdefault(event, [])
        if not isinstance(groups, list):
            raise InvalidValue(f'"hooks.{event}" in {path} is not a list; fix it by hand first')
        if any(_has_ours(g) for g in groups):
            present.append(event)
            continue
        group: dict[str, Any] = {"matcher": "*"} if event in TOOL_EVENTS else {}
        group["hooks"] = [{"type": "command", "command": command, "timeout": TIMEOUT_SECONDS}]
        groups.append(group)
        added.append(event)
    return added, present


def _has_ours(group: object) -> bool:
    if not isinstance(group, dict) or not isinstance(group.get("hooks"), list):
        return False
    return any(isinstance(h, dict) and is_aitrack_command(h.get("command")) for h in group["hooks"])


def _remove_hooks(settings: dict[str, Any], path: Path) -> list[str]:
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        return []
    removed = []
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        kept_groups = []
        touched = False
        for group in groups:
            if not _has_ours(group):
                kept_groups.append(group)
                continue
            touched = True
            kept = [
                h
                for h in group["hooks"]
                if not (isinstance(h, dict) and is_aitrack_command(h.get("command")))
            ]
            if kept:
                kept_groups.append({**group, "hooks": kept})
        if touched:
            removed.append(event)
            if kept_groups:
                hooks[event] = kept_groups
            else:
                del hooks[event]
    if removed and not hooks:
        del settings["hooks"]
    return removed


# -- Codex ---------------------------------------------------------------------------------------
def codex_home() -> Path:
    env = os.environ.get("CODEX_HOME", "").split(",")[0].strip()
    return Path(env).expanduser() if env else Path.home() / ".codex"


def install_codex_notify(dry_run: bool = False) -> dict[str, Any]:
    """Make aitrack Codex's notify program (chaining the user's own one) and add its hooks.

    Raises:
        InvalidValue: config.toml cannot be parsed, or its notify is not a list of strings
            (nothing is written then: fix it or remove the notify line).
    """
    import tomlkit

    home = codex_home()
    config_path = home / "config.toml"
    doc = _read_toml(config_path)
    command = shlex.split(hook_command())
    current = doc.get("notify")
    chained: list[str] | None = None
    if current is not None and not _is_string_list(current):
        raise InvalidValue(
            f"notify in {config_path} is {current!r}, not a list of strings; aitrack leaves it "
            "alone: fix it, or remove it and run the install again"
        )
    notify_present = current is not None and _notify_is_ours(list(current))
    if not notify_present:
        if current:
            chained = [str(x) for x in current]
        doc["notify"] = [*command, "codex-notify", *(["--then", *chained] if chained else [])]
    hooks_path = home / "hooks.json"
    hooks_settings = _read_json(hooks_path)
    added, present = _merge_hooks(
        hooks_settings, hooks_path, CODEX_EVENTS, f"{hook_command()} --agent codex"
    )
    if not dry_run:
        if not notify_present:
            _write_text(config_path, tomlkit.dumps(doc))
        if added:
            _write_json(hooks_path, hooks_settings)
    return {
        "agent": "codex",
        "config_path": str(config_path),
        "notify": [str(x) for x in doc.get("notify", [])],
        "notify_already_installed": notify_present,
        "chained_notify": chained,
        "hooks_path": str(hooks_path),
        "events_added": added,
        "events_already_installed": present,
        "changed": (not notify_present or bool(added)) and not dry_run,
        "dry_run": dry_run,
    }


def uninstall_codex_notify() -> dict[str, Any]:
    """Take aitrack out of Codex: the user's own notify program comes back, our hooks go."""
    import tomlkit

    home = codex_home()
    config_path = home / "config.toml"
    restored: list[str] | None = None
    removed_notify = False
    if config_path.exists():
        doc = _read_toml(config_path)
        current = doc.get("notify")
        if current is not None and _is_string_list(current) and _notify_is_ours(list(current)):
            words = [str(x) for x in current]
            if "--then" in words:
                restored = words[words.index("--then") + 1 :]
                doc["notify"] = restored
            else:
                del doc["notify"]
            removed_notify = True
            _write_text(config_path, tomlkit.dumps(doc))
    hooks_path = home / "hooks.json"
    removed: list[str] = []
    if hooks_path.exists():
        settings = _read_json(hooks_path)
        removed = _remove_hooks(settings, hooks_path)
        if removed:
            _write_json_or_remove(hooks_path, settings)
    return {
        "agent": "codex",
        "config_path": str(config_path),
        "notify_removed": removed_notify,
        "restored_notify": restored,
        "hooks_path": str(hooks_path),
        "events_removed": removed,
        "changed": removed_notify or bool(removed),
    }


def _notify_is_ours(words: list[Any]) -> bool:
    return (
        bool(words)
        and is_aitrack_command(shlex.join(str(w) for w in words[:2]))
        and ("codex-notify" in [str(w) for w in words[:3]])
    )


def _is_string_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


# -- files ---------------------------------------------------------------------------------------
def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidValue(f"cannot read {path}: {exc.strerror or exc}") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidValue(
            f"{path} is not valid JSON ({exc}); fix it first, nothing was changed"
        ) from None
    if not isinstance(data, dict):
        raise InvalidValue(f"{path} does not hold a JSON object; fix it first, nothing was changed")
    return data


def _read_toml(path: Path) -> Any:
    import tomlkit

    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidValue(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # tomlkit raises its own ParseError family
        raise InvalidValue(
            f"{path} is not valid TOML ({exc}); fix it first, nothing was changed"
        ) from None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    _write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _write_json_or_remove(path: Path, data: dict[str, Any]) -> None:
    """After an uninstall: a file left with nothing in it was aitrack's alone; remove it."""
    if data:
        _write_json(path, data)
    else:
        path.unlink()


def _write_text(path: Path, text: str) -> None:
    """Replace the file atomically, keeping its permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
