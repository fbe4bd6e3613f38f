"""Running the long-lived parts of aitrack (the dashboard, the proxy) as a per-user service:
a systemd user unit on Linux, a launchd agent on macOS, a scheduled task on Windows.

The stdio MCP server is not a service: its client starts it. Each operation says honestly
what happened: a unit written but not started is reported as a failure with the reason.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from aitrack.install import InstallError
from aitrack.install.config_files import atomic_write
from aitrack.install.locations import home

SERVICES = ("dashboard", "proxy")
DEFAULT_PORTS = {"dashboard": 8050, "proxy": 3739}  # the dashboard's and the proxy's defaults
_ENV_VARS = (
    "AITRACK_HOME",
    "AI_OUTPUT_DIR",
    "AITRACK_DATABASE_URL",
    "AI_MAX_SESSION_DURATION_HOURS",
)


@dataclass(slots=True)
class ServiceResult:
    service: str
    kind: str
    path: str | None
    ok: bool
    message: str
    commands: list[list[str]] = field(default_factory=list)


def service_kind(platform: str | None = None) -> str:
    platform = platform or sys.platform
    if platform == "darwin":
        return "launchd"
    if platform.startswith("win"):
        return "schtasks"
    return "systemd"


def aitrack_executable() -> str:
    """An absolute path to the aitrack script (services do not get the user's PATH)."""
    script = Path(sys.executable).parent / ("aitrack.exe" if os.name == "nt" else "aitrack")
    if script.exists():
        return str(script)
    found = shutil.which("aitrack")
    if not found:
        raise InstallError("cannot find the aitrack command to run as a service; is it installed?")
    return str(Path(found).absolute())


def service_command(service: str, host: str, port: int | None) -> list[str]:
    if service not in SERVICES:
        raise InstallError(f"unknown service {service!r}: use {' or '.join(SERVICES)}")
    port = port or DEFAULT_PORTS[service]
    if service == "dashboard":
        return [aitrack_executable(), "dashboard", "--host", host, "--port", str(port)]
    return [aitrack_executable(), "proxy", "--port", str(port)]


def service_env() -> dict[str, str]:
    """The environment the service needs to use the same store as this shell."""
    return {k: os.environ[k] for k in _ENV_VARS if os.environ.get(k)}


def unit_name(service: str, kind: str) -> str:
    return {"systemd": f"aitrack-{service}.service", "launchd": f"com.aitrack.{service}",
            "schtasks": f"aitrack-{service}"}[kind]  # fmt: skip


def unit_path(service: str, kind: str) -> Path | None:
    if kind == "systemd":
        base = Path(os.environ.get("XDG_CONFIG_HOME") or home() / ".config")
        return base / "systemd" / "user" / unit_name(service, kind)
    if kind == "launchd":
        return home() / "Library" / "LaunchAgents" / f"{unit_name(service, kind)}.plist"
    return None  # a scheduled task lives in the Task Scheduler, not in a file


def systemd_unit(service: str, command: list[str], env: dict[str, str]) -> str:
    lines = [
        "[Unit]",
        f"Description=aitrack {service}",
        "After=network.target",
        "",
        "[Service]",
        "ExecStart=" + " ".join(shlex.quote(c) for c in command),
        *(f'Environment="{k}={v}"' for k, v in sorted(env.items())),
        "Restart=on-failure",
        "RestartSec=5",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def launchd_plist(service: str, command: list[str], env: dict[str, str]) -> str:
    log_dir = home() / "Library" / "Logs"
    data = {
        "Label": unit_name(service, "launchd"),
        "ProgramArguments": command,
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "StandardOutPath": str(log_dir / f"aitrack-{service}.log"),
        "StandardErrorPath": str(log_dir / f"aitrack-{service}.log"),
    }
    if env:
        data["EnvironmentVariables"] = env
    return plistlib.dumps(data).decode("utf-8")


def schtasks_create(service: str, command: list[str]) -> list[str]:
    return ["schtasks", "/Create", "/TN", unit_name(service, "schtasks"),
            "/TR", subprocess.list2cmdline(command), "/SC", "ONLOGON", "/RL", "LIMITED", "/F"]  # fmt: skip


def _commands(action: str, service: str, kind: str, path: Path | None) -> list[list[str]]:
    name = unit_name(service, kind)
    if kind == "systemd":
        return {
            "install": [["systemctl", "--user", "daemon-reload"],
                        ["systemctl", "--user", "enable", "--now", name]],
            "start": [["systemctl", "--user", "start", name]],
            "stop": [["systemctl", "--user", "stop", name]],
            "status": [["systemctl", "--user", "status", "--no-pager", name]],
            "uninstall": [["systemctl", "--user", "disable", "--now", name]],
        }[action]  # fmt: skip
    if kind == "launchd":
        return {
            "install": [["launchctl", "load", "-w", str(path)]],
            "start": [["launchctl", "start", name]],
            "stop": [["launchctl", "stop", name]],
            "status": [["launchctl", "list", name]],
            "uninstall": [["launchctl", "unload", "-w", str(path)]],
        }[action]  # fmt: skip
    return {
        "install": [["schtasks", "/Run", "/TN", name]],
        "start": [["schtasks", "/Run", "/TN", name]],
        "stop": [["schtasks", "/End", "/TN", name]],
        "status": [["schtasks", "/Query", "/TN", name, "/V", "/FO", "LIST"]],
        "uninstall": [["schtasks", "/Delete", "/TN", name, "/F"]],
    }[action]


def _run(commands: list[list[str]]) -> tuple[bool, str]:
    """Run commands in order; stop at the first failure and say why."""
    output = []
    for cmd in commands:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        except FileNotFoundError:
            return False, f"`{cmd[0]}` is not available on this system"
        except subprocess.TimeoutExpired:
            return False, f"`{' '.join(cmd)}` did not finish within 60 s"
        text = (done.stdout + done.stderr).strip()
        if done.returncode != 0:
            return (
                False,
                f"`{' '.join(cmd)}` failed (exit {done.returncode}): {text or 'no output'}",
            )
        if text:
            output.append(text)
    return True, "\n".join(output)


def install_service(
    service: str,
    host: str = "127.0.0.1",
    port: int | None = None,
    kind: str | None = None,
    dry_run: bool = False,
) -> ServiceResult:
    """Write the unit for service and enable and start it (the platform's way)."""
    kind = kind or service_kind()
    command = service_command(service, host, port)
    env = service_env()
    path = unit_path(service, kind)
    commands = _commands("install", service, kind, path)
    if kind == "systemd":
        content = systemd_unit(service, command, env)
    elif kind == "launchd":
        content = launchd_plist(service, command, env)
    else:
        content = None
        wrapped = command if not env else ["cmd", "/c", " && ".join(
            [*(f"set {k}={v}" for k, v in env.items()), subprocess.list2cmdline(command)])]  # fmt: skip
        commands = [schtasks_create(service, wrapped), *commands]
    if dry_run:
        return ServiceResult(service, kind, str(path) if path else None, True,
                             content or " ".join(commands[0]), commands)  # fmt: skip
    if path is not None and content is not None:
        atomic_write(path, content)
    ok, output = _run(commands)
    where = f"{path}" if path else f"task {unit_name(service, kind)}"
    if ok:
        message = f"{service} service installed and started ({where})"
    else:
        message = (
            f"{service} service written to {where} but not started: {output}. Start it yourself "
            f"with `aitrack {service}` or fix the error and run `aitrack service start`."
        )
    return ServiceResult(service, kind, str(path) if path else None, ok, message, commands)


def control(action: str, service: str, kind: str | None = None) -> ServiceResult:
    """start, stop, status or uninstall an installed service."""
    kind = kind or service_kind()
    path = unit_path(service, kind)
    if path is not None and not path.exists() and action != "uninstall":
        return ServiceResult(service, kind, str(path), False,
                             f"the {service} service is not installed: run `aitrack service "
                             f"install`")  # fmt: skip
    commands = _commands(action, service, kind, path)
    if action == "uninstall" and path is not None and not path.exists():
        return ServiceResult(service, kind, str(path), True,
                             f"the {service} service is not installed; nothing to remove")  # fmt: skip
    ok, output = _run(commands)
    if action == "uninstall":
        if path is not None:
            path.unlink(missing_ok=True)
            if kind == "systemd":
                _run([["systemctl", "--user", "daemon-reload"]])
        message = f"{service} service removed" + ("" if ok else f" (stopping it failed: {output})")
        return ServiceResult(service, kind, str(path) if path else None, True, message, commands)
    if action == "status":
        message = output if ok else f"{service} service is not running: {output}"
    else:
        done = {"start": "started", "stop": "stopped"}[action]
        message = f"{service} service {done}" if ok else output
    return ServiceResult(service, kind, str(path) if path else None, ok, message, commands)
