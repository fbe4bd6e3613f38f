"""Adding and removing one named entry in a tool's JSON or TOML configuration, keeping
everything else in the file as it was. A file that cannot be read safely is never rewritten,
renamed or replaced: the error says what to add by hand."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aitrack.install import InstallError

MISSING: Any = None  # a key that was absent (JSON null is never a server entry)


@dataclass(slots=True)
class EntryChange:
    """What adding an entry did: 'create' (new file), 'add', 'update', or 'unchanged'."""

    action: str
    previous: Any  # the entry that was there before, or None
    created_file: bool


def atomic_write(path: Path, text: str) -> None:
    """Write text to path through a temporary file in the same folder (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _snippet(container: str, key: str, value: Any, fmt: str) -> str:
    if fmt == "toml":
        import tomlkit

        doc = tomlkit.document()
        table = tomlkit.table(is_super_table=True)
        table[key] = value
        doc[container] = table
        return tomlkit.dumps(doc).strip()
    return json.dumps({container: {key: value}}, indent=2)


# -- JSON -----------------------------------------------------------------------------------
def _load_json(path: Path, container: str, key: str, value: Any) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InstallError(f"cannot read {path} ({exc}); it was left untouched") from None
    if not text.strip():
        return {}
    hint = f"add this yourself:\n{_snippet(container, key, value, 'json')}"
    try:
        data = json.loads(text)
    except ValueError as exc:
        if _loads_jsonc(text) is not None:
            raise InstallError(
                f"{path} has comments or trailing commas that rewriting would lose; it was left "
                f"untouched: {hint}"
            ) from None
        raise InstallError(
            f"{path} is not valid JSON ({exc}); it was left untouched: fix it and run again, or "
            f"{hint}"
        ) from None
    if not isinstance(data, dict):
        raise InstallError(f"{path} does not hold a JSON object; it was left untouched: {hint}")
    servers = data.get(container)
    if servers is not None and not isinstance(servers, dict):
        raise InstallError(f"{path}: {container!r} is not an object; it was left untouched: {hint}")
    return data


def _loads_jsonc(text: str) -> Any:
    """JSON with // and /* */ comments and trailing commas (VS Code's mcp.json), or None."""
    pattern = r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/'
    stripped = re.sub(pattern, lambda m: m.group(1) or "", text, flags=re.S)
    stripped = re.sub(r",(\s*[}\]])", r"\1", stripped)
    try:
        return json.loads(stripped)
    except ValueError:
        return None


def _dump_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def add_json_entry(
    path: Path, container: str, key: str, value: Any, dry_run: bool = False
) -> EntryChange:
    """Set data[container][key] = value in the JSON file at path (created when missing).

    Raises:
        InstallError: the file is unreadable, not JSON, or not an object; it is untouched.
    """
    data = _load_json(path, container, key, value)
    created = data is None
    data = {} if data is None else data
    servers = data.setdefault(container, {})
    previous = servers.get(key, MISSING)
    if previous == value:
        return EntryChange("unchanged", previous, False)
    servers[key] = value
    if not dry_run:
        atomic_write(path, _dump_json(data))
    action = "create" if created else ("update" if previous is not MISSING else "add")
    return EntryChange(action, previous, created)


def remove_json_entry(
    path: Path,
    container: str,
    key: str,
    written: Any,
    previous: Any,
    created_file: bool,
    dry_run: bool = False,
) -> str:
    """Undo add_json_entry: restore the previous entry (or drop the key) when the entry is still
    what aitrack wrote; delete the file when aitrack created it and nothing else is left.
    Returns 'removed', 'restored', 'deleted file', 'changed' (left alone) or 'absent'."""
    data = _load_json(path, container, key, written)
    if data is None:
        return "absent"
    servers = data.get(container) or {}
    if key not in servers:
        return "absent"
    if servers[key] != written:
        return "changed"
    if previous is not MISSING:
        servers[key] = previous
        outcome = "restored"
    else:
        del servers[key]
        outcome = "removed"
        if not servers:
            data.pop(container, None)
    if created_file and not data:
        if not dry_run:
            path.unlink()
        return "deleted file"
    if not dry_run:
        atomic_write(path, _dump_json(data))
    return outcome


# -- TOML (Codex config.toml) ---------------------------------------------------------------
def _load_toml(path: Path, container: str, key: str, value: Any):
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    if not path.exists():
        return None
    hint = f"add this yourself:\n{_snippet(container, key, value, 'toml')}"
    try:
        text = path.read_text(encoding="utf-8")
        doc = tomlkit.parse(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise InstallError(f"cannot read {path} ({exc}); it was left untouched") from None
    except TOMLKitError as exc:
        raise InstallError(
            f"{path} is not valid TOML ({exc}); it was left untouched: fix it and run again, or "
            f"{hint}"
        ) from None
    servers = doc.get(container)
    if servers is not None and not isinstance(servers, dict):
        raise InstallError(f"{path}: {container!r} is not a table; it was left untouched: {hint}")
    return doc


def _unwrap(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item


def add_toml_entry(
    path: Path, container: str, key: str, value: dict[str, Any], dry_run: bool = False
) -> EntryChange:
    """Set [container.key] in the TOML file at path, keeping its comments and layout.

    Raises:
        InstallError: the file is unreadable or not TOML; it is untouched.
    """
    import tomlkit

    doc = _load_toml(path, container, key, value)
    created = doc is None
    if doc is None:
        doc = tomlkit.document()
    servers = doc.get(container)
    if servers is None:
        servers = tomlkit.table(is_super_table=True)
        doc[container] = servers
    previous = _unwrap(servers[key]) if key in servers else MISSING
    if previous == value:
        return EntryChange("unchanged", previous, False)
    table = tomlkit.table()
    for k, v in value.items():
        table[k] = v
    servers[key] = table
    if not dry_run:
        text = tomlkit.dumps(doc)
        atomic_write(path, text.lstrip("\n") if created else text)
    action = "create" if created else ("update" if previous is not MISSING else "add")
    return EntryChange(action, previous, created)


def remove_toml_entry(
    path: Path,
    container: str,
    key: str,
    written: Any,
    previous: Any,
    created_file: bool,
    dry_run: bool = False,
) -> str:
    """Undo add_toml_entry (see remove_json_entry for the outcomes)."""
    import tomlkit

    doc = _load_toml(path, container, key, written)
    if doc is None:
        return "absent"
    servers = doc.get(container)
    if servers is None or key not in servers:
        return "absent"
    if _unwrap(servers[key]) != written:
        return "changed"
    if previous is not MISSING:
        table = tomlkit.table()
        for k, v in previous.items():
            table[k] = v
        servers[key] = table
        outcome = "restored"
    else:
        del servers[key]
        outcome = "removed"
        if not servers:
            del doc[container]
    text = tomlkit.dumps(doc)
    if created_file and not text.strip():
        if not dry_run:
            path.unlink()
        return "deleted file"
    if not dry_run:
        atomic_write(path, text.rstrip("\n") + "\n" if text.strip() else "")
    return outcome
