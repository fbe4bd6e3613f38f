"""Where each tool reads its configuration, per project and per user, and the command that
starts aitrack's MCP server."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

SERVER_NAME = "aitrack"


def aitrack_command() -> str:
    """`aitrack` when it is on PATH (portable in committed project files), else the absolute
    path of this installation's script."""
    if shutil.which("aitrack"):
        return "aitrack"
    script = Path(sys.executable).parent / ("aitrack.exe" if os.name == "nt" else "aitrack")
    return str(script) if script.exists() else "aitrack"


def server_entry(kind: str) -> dict[str, object]:
    """The MCP server entry each tool expects: VS Code and Claude Code name the transport."""
    entry: dict[str, object] = {"command": aitrack_command(), "args": ["server"]}
    if kind in ("vscode", "claude-code"):
        entry = {"type": "stdio", **entry}
    return entry


def home() -> Path:
    return Path(os.environ.get("HOME") or Path.home())


def vscode_user_dir() -> Path:
    """VS Code's user settings folder (where the user-level mcp.json and prompts live)."""
    if sys.platform == "darwin":
        return home() / "Library" / "Application Support" / "Code" / "User"
    if os.name == "nt":
        return Path(os.environ.get("APPDATA") or home() / "AppData" / "Roaming") / "Code" / "User"
    return Path(os.environ.get("XDG_CONFIG_HOME") or home() / ".config") / "Code" / "User"


def codex_home() -> Path:
    return Path(os.environ.get("CODEX_HOME") or home() / ".codex")


@dataclass(frozen=True, slots=True)
class McpConfig:
    """One tool's MCP server registry: a JSON object under `container`, or a TOML table."""

    target: str
    path: Path
    container: str
    fmt: str  # "json" or "toml"


def mcp_config(target: str, project: Path, global_: bool) -> McpConfig:
    if target == "vscode":
        path = vscode_user_dir() / "mcp.json" if global_ else project / ".vscode" / "mcp.json"
        return McpConfig(target, path, "servers", "json")
    if target == "claude-code":
        path = home() / ".claude.json" if global_ else project / ".mcp.json"
        return McpConfig(target, path, "mcpServers", "json")
    if target == "codex":
        path = codex_home() / "config.toml" if global_ else project / ".codex" / "config.toml"
        return McpConfig(target, path, "mcp_servers", "toml")
    raise ValueError(f"no MCP configuration for {target}")


def copilot_dirs(project: Path, global_: bool) -> tuple[Path, Path]:
    """Folders for Copilot custom agents and instruction files."""
    if global_:
        prompts = vscode_user_dir() / "prompts"
        return prompts, prompts
    return project / ".github" / "agents", project / ".github" / "instructions"
