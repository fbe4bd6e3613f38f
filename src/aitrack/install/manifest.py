"""The record of what `aitrack install` added (install-manifest.json in the data dir), so that
`aitrack uninstall` removes exactly that and restores what it replaced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aitrack.install.config_files import atomic_write

VERSION = 1


def manifest_path() -> Path:
    from aitrack.settings import data_dir

    return data_dir() / "install-manifest.json"


def load() -> dict[str, dict[str, Any]]:
    """Recorded entries by key; {} when nothing was installed (or the record is unreadable)."""
    path = manifest_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    entries = data.get("entries") if isinstance(data, dict) else None
    return entries if isinstance(entries, dict) else {}


def save(entries: dict[str, dict[str, Any]]) -> None:
    path = manifest_path()
    if not entries:
        path.unlink(missing_ok=True)
        return
    atomic_write(path, json.dumps({"version": VERSION, "entries": entries}, indent=2) + "\n")


def key(kind: str, path: Path, name: str = "") -> str:
    return f"{kind}:{path}:{name}"
