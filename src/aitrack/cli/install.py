"""`install`, `uninstall` and `service`: put aitrack into the user's tools (MCP server entries,
Copilot files, agent hooks) and run the dashboard or proxy as a per-user service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from aitrack.cli.common import json_option, state

HOOK_AGENTS = ("claude-code", "codex")


def _tool_options(func):
    for name, help_text in reversed([
        ("--vscode", "VS Code: the MCP server in .vscode/mcp.json (user mcp.json with --global)."),
        ("--copilot", "GitHub Copilot: agent and instruction files in .github/agents and "
                      ".github/instructions (VS Code's user prompts folder with --global)."),
        ("--claude-code", "Claude Code: the MCP server in .mcp.json (~/.claude.json with --global)."),
        ("--codex", "Codex: [mcp_servers.aitrack] in .codex/config.toml "
                    "($CODEX_HOME/config.toml with --global)."),
    ]):  # fmt: skip
        func = click.option(name, is_flag=True, help=help_text)(func)
    func = click.option("--global", "global_", is_flag=True,
                        help="User-level files instead of the project's.")(func)  # fmt: skip
    func = click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")(
        func
    )
    func = click.option("--project", type=click.Path(file_okay=False), default=".",
                        show_default=True, help="The project folder.")(func)  # fmt: skip
    return click.argument("agents", nargs=-1, type=click.Choice(HOOK_AGENTS))(func)


def _chosen(vscode: bool, copilot: bool, claude_code: bool, codex: bool) -> list[str]:
    flags = {"vscode": vscode, "copilot": copilot, "claude-code": claude_code, "codex": codex}
    return [name for name, on in flags.items() if on]


def _hooks(agent: str, undo: bool, global_: bool, dry_run: bool, project: Path) -> dict[str, Any]:
    """Agent hooks through aitrack.agent_hooks_install (Claude Code hooks, Codex notify)."""
    from aitrack.errors import AitrackError

    step: dict[str, Any] = {"target": f"{agent} hooks", "path": "", "detail": ""}
    try:
        from aitrack import agent_hooks_install as hooks  # type: ignore[attr-defined]
    except ImportError:
        return {**step, "action": "error",
                "detail": "agent hooks cannot be installed by this build of aitrack"}  # fmt: skip
    scope = "global" if global_ else "project"
    try:
        if agent == "claude-code":
            out = (hooks.uninstall_claude_code_hooks(scope, project_dir=project) if undo
                   else hooks.install_claude_code_hooks(scope, dry_run, project_dir=project))  # fmt: skip
        else:
            out = hooks.uninstall_codex_notify() if undo else hooks.install_codex_notify(dry_run)
    except AitrackError as exc:
        return {**step, "action": "error", "detail": str(exc)}
    events = out.get("events_removed" if undo else "events_added") or []
    if undo:
        action = "removed" if out.get("changed") else "absent"
    elif out.get("changed") or (
        dry_run and (events or not out.get("notify_already_installed", True))
    ):
        action = "installed"
    else:
        action = "unchanged"
    return {
        **step,
        "path": str(out.get("path") or out.get("config_path") or ""),
        "action": action,
        "detail": ("events: " + ", ".join(events)) if events else "",
        "result": {k: v for k, v in out.items() if k != "settings"},
    }


def _report(
    title: str,
    steps: list[dict[str, Any]],
    errors: list[str],
    dry_run: bool,
    extra: dict[str, Any] | None = None,
) -> None:
    from aitrack.install.installer import Step

    def human():
        for s in steps:
            if "result" in s or s["action"] == "error":
                verb = f"would be {s['action']}" if dry_run and s["action"] == "installed" else (
                    s["action"])  # fmt: skip
                click.echo(f"{s['target']}: {verb}" + (f" {s['path']}" if s["path"] else "")
                           + (f" ({s['detail']})" if s["detail"] else ""))  # fmt: skip
            else:
                click.echo(Step(s["target"], s["path"], s["action"], s["detail"]).line(dry_run))
        if not steps and not errors:
            click.echo("Nothing to do.")
        for e in errors:
            click.echo(f"error: {e}", err=True)

    data = {"dry_run": dry_run, "steps": steps, "errors": errors, **(extra or {})}
    failed = bool(errors) or any(s["action"] == "error" for s in steps)
    if state().json:
        out = {
            "success": not failed,
            "message": title
            if not failed
            else "; ".join(errors or [s["detail"] for s in steps if s["action"] == "error"]),
            "data": data,
        }
        click.echo(json.dumps(out, default=str, ensure_ascii=False))
    else:
        human()
    if failed:
        raise SystemExit(1)


@click.command()
@_tool_options
@click.option("--service", is_flag=True, help="Also run the dashboard as a per-user service.")
@json_option
def install(
    agents, vscode, copilot, claude_code, codex, global_, dry_run, project, service, as_json
):
    """Register aitrack with your tools: the MCP server for VS Code, Claude Code and Codex,
    Copilot's agent and instruction files, and (AGENTS: claude-code, codex) the agent hooks
    that track sessions with no help from the model. Without flags: --vscode --copilot.

    \b
    aitrack install                      # VS Code + Copilot, this project
    aitrack install --claude-code --codex
    aitrack install claude-code          # Claude Code hooks
    aitrack install --service            # the dashboard as a service
    """
    from aitrack.install import InstallError
    from aitrack.install.installer import install as install_targets

    targets = _chosen(vscode, copilot, claude_code, codex)
    if not targets and not agents and not service:
        targets = ["vscode", "copilot"]
    steps: list[dict[str, Any]] = []
    errors: list[str] = []
    for target in targets:
        try:
            steps += [s.as_dict() for s in install_targets([target], Path(project), global_,
                                                           dry_run)]  # fmt: skip
        except InstallError as exc:
            errors.append(str(exc))
    steps += [_hooks(agent, False, global_, dry_run, Path(project).resolve()) for agent in agents]
    extra = {}
    if service:
        from aitrack.install.service import install_service

        result = install_service("dashboard", dry_run=dry_run)
        extra["service"] = _service_dict(result)
        if not result.ok:
            errors.append(result.message)
        elif not as_json:
            click.echo(result.message)
    _report("Installed" if not dry_run else "Dry run", steps, errors, dry_run, extra)


@click.command()
@_tool_options
@click.option("--service", is_flag=True, help="Also remove the dashboard service.")
@json_option
def uninstall(
    agents, vscode, copilot, claude_code, codex, global_, dry_run, project, service, as_json
):
    """Remove exactly what `aitrack install` added (every target of this project without
    flags; user-level files with --global). Entries changed since are left and reported, and
    entries install replaced are put back."""
    from aitrack.install import InstallError
    from aitrack.install.installer import uninstall as uninstall_targets

    targets = _chosen(vscode, copilot, claude_code, codex)
    steps: list[dict[str, Any]] = []
    errors: list[str] = []
    if targets or not agents:
        try:
            steps += [s.as_dict() for s in uninstall_targets(targets or None, Path(project),
                                                             global_, dry_run)]  # fmt: skip
        except InstallError as exc:
            errors.append(str(exc))
    if not dry_run:
        steps += [
            _hooks(agent, True, global_, dry_run, Path(project).resolve()) for agent in agents
        ]
    extra = {}
    if service and not dry_run:
        from aitrack.install.service import control

        result = control("uninstall", "dashboard")
        extra["service"] = _service_dict(result)
        if not as_json:
            click.echo(result.message)
    _report("Uninstalled" if not dry_run else "Dry run", steps, errors, dry_run, extra)


def _service_dict(result: Any) -> dict[str, Any]:
    return {k: getattr(result, k) for k in ("service", "kind", "path", "ok", "message", "commands")}


@click.group()
def service():
    """Run the dashboard (or the proxy) as a per-user service: a systemd user unit on Linux, a
    launchd agent on macOS, a scheduled task on Windows. The MCP server needs none: its client
    starts it."""


_which = click.argument("name", required=False, default="dashboard",
                        type=click.Choice(["dashboard", "proxy"]))  # fmt: skip


@service.command(name="install")
@_which
@click.option("--host", default="127.0.0.1", show_default=True, help="Dashboard host.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port (default 8050 for the dashboard, 3739 for the proxy).",
)
@click.option("--dry-run", is_flag=True, help="Show the unit; change nothing.")
@json_option
def service_install(name, host, port, dry_run, as_json):
    """Write the service and enable and start it."""
    from aitrack.install.service import install_service

    _service_out(install_service(name, host, port, dry_run=dry_run))


_CONTROL_HELP = {
    "start": "Start the installed service (default: dashboard).",
    "stop": "Stop the service (default: dashboard).",
    "status": "Show whether the service runs (default: dashboard).",
    "uninstall": "Stop the service and remove it (default: dashboard).",
}


def _control(action: str):
    @service.command(name=action, help=_CONTROL_HELP[action])
    @_which
    @json_option
    def command(name, as_json):
        from aitrack.install.service import control

        _service_out(control(action, name))

    return command


for _action in ("start", "stop", "status", "uninstall"):
    _control(_action)


def _service_out(result: Any) -> None:
    data = _service_dict(result)
    if state().json:
        out = {"success": result.ok, "message": result.message, "data": data}
        click.echo(json.dumps(out, default=str, ensure_ascii=False))
    else:
        click.echo(result.message, err=not result.ok)
    if not result.ok:
        raise SystemExit(1)
