"""`ai-session-tracker` keeps the seed tool's commands, flags and JSON working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ALIAS = str(Path(sys.executable).parent / "ai-session-tracker")


def test_the_seed_cli_session_lifecycle_works_through_the_alias(aitrack_home: Path):
    env = {**os.environ, "AITRACK_HOME": str(aitrack_home)}

    def call(*args: str) -> dict:
        proc = subprocess.run([ALIAS, *args, "--json"], env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    started = call(
        "start",
        "--name",
        "Implement login feature",
        "--type",
        "code_generation",
        "--model",
        "claude-opus-4-20250514",
        "--mins",
        "60",
        "--source",
        "manual",
    )
    assert started["success"] and started["message"] == "Session started"
    sid = started["data"]["session_id"]
    assert call(
        "log",
        "--session-id",
        sid,
        "--prompt",
        "Create login form component",
        "--summary",
        "Generated React component",
        "--rating",
        "5",
    )["success"]
    assert call(
        "flag",
        "--session-id",
        sid,
        "--type",
        "hallucination",
        "--desc",
        "AI referenced non-existent library",
        "--severity",
        "high",
    )["success"]
    assert call("active")["data"]["sessions"][0]["id"] == sid
    assert call(
        "end",
        "--session-id",
        sid,
        "--outcome",
        "success",
        "--notes",
        "Feature completed successfully",
    )["success"]
    report = subprocess.run([ALIAS, "report"], env=env, capture_output=True, text=True)
    assert report.returncode == 0 and "ANALYTICS REPORT" in report.stdout


def test_the_alias_rejects_a_bad_severity_with_the_allowed_values(aitrack_home: Path):
    env = {**os.environ, "AITRACK_HOME": str(aitrack_home)}
    proc = subprocess.run(
        [ALIAS, "flag", "--session-id", "x", "--type", "t", "--desc", "d", "--severity", "urgent"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "critical" in proc.stderr
