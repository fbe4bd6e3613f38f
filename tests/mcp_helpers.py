"""Helpers shared by the MCP tests: drive a server through the official client, make git repos."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

SEED_START = {
    "session_name": "Add login",
    "task_type": "code_generation",
    "model_name": "claude-sonnet-4-5",
    "estimate_source": "manual",
    "initial_estimate_minutes": 60,
}


def run_client(server: Any, script: Callable[[Client], Awaitable[Any]]) -> Any:
    """Run script(client) against server (in memory, or StdioServerParameters) and return its
    result."""

    async def main() -> Any:
        async with Client(server, read_timeout_seconds=60) as client:
            return await script(client)

    return anyio.run(main)


def call(server: Any, name: str, arguments: dict[str, Any] | None = None):
    """One tool call on a fresh connection; returns the CallToolResult."""

    async def script(client: Client):
        return await client.call_tool(name, arguments or {})

    return run_client(server, script)


def text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


def make_repo(root: Path, files: dict[str, str]) -> Path:
    """A git repository at root with files committed; returns root."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def start(server, **overrides) -> str:
    """start_ai_session with SEED_START (and overrides); returns the session id."""
    result = call(server, "start_ai_session", {**SEED_START, **overrides})
    assert not result.is_error, text(result)
    return result.structured_content["session_id"]


def interaction(session_id: str, rating=4, **extra):
    return {
        "session_id": session_id,
        "prompt": "write the login form",
        "response_summary": "wrote it",
        "effectiveness_rating": rating,
        **extra,
    }
