"""`aitrack service …` and `install --service`: the dashboard as a per-user service, with the
platform's own service manager (stand-in scripts for systemctl/launchctl/schtasks record the
calls; without one, the failure is reported as such)."""

from __future__ import annotations

import json
import os
import plistlib
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from aitrack.cli.main import cli
from aitrack.install import service


@pytest.fixture
def user(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    return home


def fake_tool(folder: Path, name: str, exit_code: int = 0, output: str = "") -> Path:
    """A stand-in for a system command that appends its arguments to calls.log."""
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text(
        "#!/bin/sh\n"
        f'echo "{name} $*" >> "{folder}/calls.log"\n'
        f"printf '%s' '{output}'\n"
        f"exit {exit_code}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder


def calls(folder: Path) -> list[str]:
    log = folder / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_service_install_writes_a_systemd_user_unit_and_enables_it(
    user, tmp_path, monkeypatch, aitrack_home
):
    tools = fake_tool(tmp_path / "bin", "systemctl")
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    result = CliRunner().invoke(cli, ["service", "install", "--port", "8123"])
    assert result.exit_code == 0, result.output
    unit = user / ".config" / "systemd" / "user" / "aitrack-dashboard.service"
    text = unit.read_text()
    assert "ExecStart=" in text and " dashboard --host 127.0.0.1 --port 8123" in text
    assert f'Environment="AITRACK_HOME={aitrack_home}"' in text  # the same store as this shell
    assert "WantedBy=default.target" in text
    assert calls(tools) == [
        "systemctl --user daemon-reload",
        "systemctl --user enable --now aitrack-dashboard.service",
    ]
    for action, expected in [("stop", "stop"), ("start", "start"), ("status", "status")]:
        out = CliRunner().invoke(cli, ["service", action])
        assert out.exit_code == 0, out.output
        assert calls(tools)[-1].startswith(f"systemctl --user {expected}")
    removed = CliRunner().invoke(cli, ["service", "uninstall"])
    assert removed.exit_code == 0 and "removed" in removed.output
    assert not unit.exists()
    assert "systemctl --user disable --now aitrack-dashboard.service" in calls(tools)


def test_a_service_that_cannot_be_started_is_reported_as_a_failure(user, tmp_path, monkeypatch):
    tools = fake_tool(
        tmp_path / "bin",
        "systemctl",
        exit_code=1,
        output="Failed to connect to bus: No medium found",
    )
    monkeypatch.setenv("PATH", str(tools))  # and nothing else: no real systemctl either
    result = CliRunner().invoke(cli, ["service", "install", "--json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["success"] is False
    assert "not started" in data["message"] and "Failed to connect to bus" in data["message"]
    assert Path(data["data"]["path"]).exists()  # the unit is written; starting it failed
    missing = tmp_path / "empty"
    missing.mkdir()
    monkeypatch.setenv("PATH", str(missing))
    result = CliRunner().invoke(cli, ["install", "--service"])
    assert result.exit_code == 1
    assert "`systemctl` is not available" in result.output


def test_status_of_a_service_that_is_not_installed_says_so(user):
    result = CliRunner().invoke(cli, ["service", "status", "proxy"])
    assert result.exit_code == 1 and "not installed" in result.output


def test_launchd_agent_on_macos(user, tmp_path, monkeypatch):
    tools = fake_tool(tmp_path / "bin", "launchctl")
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    result = service.install_service("proxy", port=9001, kind="launchd")
    assert result.ok, result.message
    plist = plistlib.loads(Path(result.path).read_bytes())
    assert plist["Label"] == "com.aitrack.proxy"
    assert plist["ProgramArguments"][1:] == ["proxy", "--port", "9001"]
    assert plist["RunAtLoad"] is True
    assert calls(tools) == [f"launchctl load -w {result.path}"]
    assert service.control("uninstall", "proxy", kind="launchd").ok
    assert not Path(result.path).exists()


def test_scheduled_task_on_windows(user, tmp_path, monkeypatch):
    tools = fake_tool(tmp_path / "bin", "schtasks")
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    result = service.install_service("dashboard", kind="schtasks")
    assert result.ok, result.message
    create, run = calls(tools)
    assert create.startswith("schtasks /Create /TN aitrack-dashboard /TR")
    assert "/SC ONLOGON" in create and "dashboard --host 127.0.0.1 --port 8050" in create
    assert run == "schtasks /Run /TN aitrack-dashboard"
    stopped = service.control("stop", "dashboard", kind="schtasks")
    assert stopped.ok and calls(tools)[-1] == "schtasks /End /TN aitrack-dashboard"


def test_dry_run_shows_the_unit_without_writing_it(user):
    result = CliRunner().invoke(cli, ["service", "install", "--dry-run"])
    assert result.exit_code == 0
    assert "[Service]" in result.output
    assert not (user / ".config" / "systemd").exists()
