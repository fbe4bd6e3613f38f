"""Running other test files in a fresh pytest process with a plugin module loaded first (a
fallback path forced, a cross-check installed), for tests of the optional C extensions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent


def pytest_with_plugin(
    tmp_path: Path, name: str, source: str, files: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the test files (names in tests/) with the plugin module `name` (its `source`
    written to tmp_path) loaded, without xdist; the finished process."""
    (tmp_path / f"{name}.py").write_text(source)
    env = {**os.environ, **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:xdist",
           "-p", name, *[str(TESTS / f) for f in files]]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=TESTS.parent)
