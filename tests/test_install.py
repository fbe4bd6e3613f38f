"""`aitrack install` / `uninstall`: MCP server entries for VS Code, Claude Code and Codex,
Copilot files, merging with what is there, refusing files it cannot read, removing exactly
what it added."""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio
import pytest
import tomlkit
from click.testing import CliRunner

from aitrack.cli.main import cli
from aitrack.install.installer import COPILOT_FILES, packaged_file


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """An empty project folder, with HOME, VS Code's and Codex's user folders in tmp_path."""
    home = tmp_path / "user-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("CODEX_HOME", raising=False)
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def run(project: Path, *args: str):
    return CliRunner().invoke(cli, [*args, "--project", str(project)])


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in sorted(root.rglob("*"))}  # fmt: skip


def test_install_without_flags_sets_up_vscode_and_copilot_and_uninstall_removes_it_all(project):
    result = run(project, "install")
    assert result.exit_code == 0, result.output
    config = json.loads((project / ".vscode" / "mcp.json").read_text())
    entry = config["servers"]["aitrack"]
    assert entry["args"] == ["server"] and entry["command"].endswith("aitrack")
    assert entry["type"] == "stdio"
    agent = project / ".github" / "agents" / COPILOT_FILES["agent"]
    instructions = project / ".github" / "instructions" / COPILOT_FILES["instructions"]
    assert "aitrack/*" in agent.read_text()
    assert "start_ai_session(" in instructions.read_text()
    assert "create:" in result.output
    again = run(project, "install")
    assert again.exit_code == 0 and "unchanged" in again.output
    removed = run(project, "uninstall")
    assert removed.exit_code == 0, removed.output
    assert snapshot(project) == {}


def test_install_merges_with_servers_already_there_and_uninstall_puts_the_file_back(project):
    original = {
        "inputs": [{"id": "token", "type": "promptString"}],
        "servers": {"github": {"type": "http", "url": "https://example.invalid/mcp"}},
    }
    path = project / ".vscode" / "mcp.json"
    path.parent.mkdir()
    path.write_text(json.dumps(original, indent=4))
    assert run(project, "install", "--vscode").exit_code == 0
    merged = json.loads(path.read_text())
    assert set(merged["servers"]) == {"github", "aitrack"}
    assert merged["inputs"] == original["inputs"]
    assert run(project, "uninstall", "--vscode").exit_code == 0
    assert json.loads(path.read_text()) == original


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"servers": {"github": {', "not valid JSON"),
        ('{\n  // my servers\n  "servers": {"a": {"command": "x"}},\n}\n', "comments"),
        ("[1, 2]", "JSON object"),
        ('{"servers": ["not", "an", "object"]}', "not an object"),
    ],
)
def test_an_unparsable_mcp_json_is_left_untouched_with_a_clear_error(project, content, message):
    path = project / ".vscode" / "mcp.json"
    path.parent.mkdir()
    path.write_text(content)
    before = snapshot(project)
    result = run(project, "install", "--vscode")
    assert result.exit_code == 1
    assert message in result.output and "left untouched" in result.output
    assert '"aitrack"' in result.output  # the snippet to add by hand
    assert snapshot(project) == before  # not rewritten, renamed, or backed up beside it


def test_other_targets_are_still_installed_when_one_file_is_unparsable(project):
    (project / ".mcp.json").write_text("{oops")
    result = run(project, "install", "--vscode", "--claude-code")
    assert result.exit_code == 1
    assert (project / ".vscode" / "mcp.json").exists()
    assert (project / ".mcp.json").read_text() == "{oops"


def test_an_older_aitrack_entry_is_updated_and_restored_on_uninstall(project):
    path = project / ".mcp.json"
    old = {"mcpServers": {"aitrack": {"command": "/old/aitrack", "args": ["server"]}}}
    path.write_text(json.dumps(old))
    assert run(project, "install", "--claude-code").exit_code == 0
    assert json.loads(path.read_text())["mcpServers"]["aitrack"]["command"] != "/old/aitrack"
    assert run(project, "install", "--claude-code").exit_code == 0  # idempotent re-install
    assert run(project, "uninstall", "--claude-code").exit_code == 0
    assert json.loads(path.read_text()) == old


def test_uninstall_leaves_what_it_did_not_add_or_what_was_changed_since(project):
    mine = json.loads(json.dumps({"servers": {}}))
    assert run(project, "install", "--vscode").exit_code == 0
    path = project / ".vscode" / "mcp.json"
    mine = json.loads(path.read_text())
    mine["servers"]["aitrack"]["env"] = {"AITRACK_HOME": "/data"}  # the user edits our entry
    path.write_text(json.dumps(mine))
    result = run(project, "uninstall")
    assert result.exit_code == 0 and "changed" in result.output
    assert json.loads(path.read_text()) == mine
    # an identical entry that was there before install is not ours to remove
    other = project.parent / "other"
    other.mkdir()
    assert run(other, "install", "--claude-code").exit_code == 0
    written = (other / ".mcp.json").read_text()
    assert run(other, "uninstall").exit_code == 0
    (other / ".mcp.json").write_text(written)
    assert run(other, "install", "--claude-code").exit_code == 0
    assert "unchanged" in run(other, "install", "--claude-code").output
    assert run(other, "uninstall").exit_code == 0
    assert (other / ".mcp.json").read_text() == written


def test_copilot_files_of_the_same_name_written_by_someone_else_are_not_overwritten(project):
    agent = project / ".github" / "agents" / COPILOT_FILES["agent"]
    agent.parent.mkdir(parents=True)
    agent.write_text("my own agent\n")
    result = run(project, "install", "--copilot")
    assert result.exit_code == 0 and "skip" in result.output
    assert agent.read_text() == "my own agent\n"
    assert run(project, "uninstall").exit_code == 0
    assert agent.read_text() == "my own agent\n"
    assert not (project / ".github" / "instructions").exists()


def test_codex_config_keeps_its_comments_and_uninstall_restores_it_byte_for_byte(project):
    path = project / ".codex" / "config.toml"
    path.parent.mkdir()
    original = (
        '# my Codex settings\nmodel = "gpt-5"  # the default\n\n'
        '[mcp_servers.docs]\ncommand = "docs-mcp"\nargs = ["--stdio"]\n'
    )
    path.write_text(original)
    assert run(project, "install", "--codex").exit_code == 0
    doc = tomlkit.parse(path.read_text())
    assert doc["mcp_servers"]["aitrack"]["args"] == ["server"]
    assert doc["mcp_servers"]["docs"]["command"] == "docs-mcp"
    assert "# my Codex settings" in path.read_text()
    assert run(project, "uninstall", "--codex").exit_code == 0
    assert path.read_text() == original


def test_an_invalid_codex_config_is_left_untouched(project):
    path = project / ".codex" / "config.toml"
    path.parent.mkdir()
    path.write_text("model = [unclosed\n")
    result = run(project, "install", "--codex")
    assert result.exit_code == 1 and "not valid TOML" in result.output
    assert "[mcp_servers.aitrack]" in result.output
    assert path.read_text() == "model = [unclosed\n"


def test_global_install_writes_the_user_level_files_and_uninstall_global_removes_them(project):
    home = Path(project.parent / "user-home")
    result = run(
        project, "install", "--global", "--vscode", "--copilot", "--claude-code", "--codex"
    )
    assert result.exit_code == 0, result.output
    user = home / ".config" / "Code" / "User"
    assert json.loads((user / "mcp.json").read_text())["servers"]["aitrack"]["args"] == ["server"]
    assert (user / "prompts" / COPILOT_FILES["instructions"]).exists()
    assert json.loads((home / ".claude.json").read_text())["mcpServers"]["aitrack"]
    assert "[mcp_servers.aitrack]" in (home / ".codex" / "config.toml").read_text()
    assert snapshot(project) == {}
    assert run(project, "uninstall").exit_code == 0  # project scope: the user files stay
    assert (user / "mcp.json").exists()
    assert run(project, "uninstall", "--global").exit_code == 0
    assert snapshot(home) == {}


def test_dry_run_changes_nothing(project, aitrack_home):
    result = run(
        project, "install", "--dry-run", "--vscode", "--copilot", "--claude-code", "--codex"
    )
    assert result.exit_code == 0
    assert result.output.count("would create") == 5
    assert snapshot(project) == {}
    assert not (aitrack_home / "install-manifest.json").exists()


def test_install_reports_in_json(project):
    result = CliRunner().invoke(cli, ["install", "--codex", "--json", "--project", str(project)])
    data = json.loads(result.output)
    assert data["success"] is True
    assert [s["action"] for s in data["data"]["steps"]] == ["create"]


def test_agent_targets_install_the_hooks_next_to_the_mcp_entries(project, monkeypatch):
    codex_home = project.parent / "codex-home"
    monkeypatch.setenv("CODEX_HOME", str(codex_home))
    dry = run(project, "install", "claude-code", "codex", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "claude-code hooks: would be installed" in dry.output
    assert snapshot(project) == {} and not codex_home.exists()
    result = run(project, "install", "claude-code", "codex", "--claude-code", "--codex")
    assert result.exit_code == 0, result.output
    settings = json.loads((project / ".claude" / "settings.json").read_text())
    assert "SessionStart" in settings["hooks"]
    assert "[mcp_servers.aitrack]" in (project / ".codex" / "config.toml").read_text()
    assert "notify" in (codex_home / "config.toml").read_text()
    assert json.loads((project / ".mcp.json").read_text())["mcpServers"]["aitrack"]
    removed = run(project, "uninstall", "claude-code", "codex", "--claude-code", "--codex")
    assert removed.exit_code == 0, removed.output
    claude_settings = project / ".claude" / "settings.json"
    assert not claude_settings.exists() or not json.loads(claude_settings.read_text()).get("hooks")
    codex_config = codex_home / "config.toml"
    assert not codex_config.exists() or "notify" not in codex_config.read_text()
    assert not (project / ".mcp.json").exists() and not (project / ".codex").exists()


def test_a_broken_claude_settings_file_is_reported_and_the_rest_installed(project):
    settings = project / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text("{broken")
    result = run(project, "install", "claude-code", "--claude-code")
    assert result.exit_code == 1
    assert "claude-code hooks: error" in result.output
    assert settings.read_text() == "{broken"
    assert (project / ".mcp.json").exists()


SIGNATURE = re.compile(r"`(\w+)\(([^)]*)\)`")
VALUES = re.compile(r"^- (\w+): ([\w|]+)$", re.M)


def test_copilot_instructions_name_the_real_tool_parameters_and_values():
    from mcp import Client

    from aitrack.mcp.server import build_server

    async def tools():
        async with Client(build_server()) as client:
            return (await client.list_tools()).tools

    schemas = {t.name: t.input_schema for t in anyio.run(tools)}
    text = packaged_file(COPILOT_FILES["instructions"])
    signatures = SIGNATURE.findall(text)
    assert len(signatures) >= 7
    for name, params in signatures:
        schema = schemas[name]
        listed = [p.split("=")[0].strip() for p in params.split(",") if p.strip()]
        required = [p for p in listed if not p.endswith("?")]
        optional = [p.rstrip("?") for p in listed if p.endswith("?")]
        assert set(required + optional) <= set(schema["properties"]), name
        assert set(schema.get("required", [])) <= set(required), name
        assert not set(optional) & set(schema.get("required", [])), name
    enums = {}
    for schema in schemas.values():
        for prop, spec in schema["properties"].items():
            if "enum" in spec:
                enums[prop] = spec["enum"]
            for option in spec.get("anyOf", []):
                if "enum" in option:
                    enums[prop] = option["enum"]
        for definition in schema.get("$defs", {}).values():
            for prop, spec in definition.get("properties", {}).items():
                if "enum" in spec:
                    enums[prop] = spec["enum"]
    listed_values = dict(VALUES.findall(text))
    assert {"task_type", "severity", "outcome", "estimate_source", "time_range"} <= set(
        listed_values
    )
    for prop, values in listed_values.items():
        if prop in enums:
            assert values.split("|") == enums[prop], prop
    agent = packaged_file(COPILOT_FILES["agent"])
    assert {name for name in re.findall(r"`(\w+)\(", agent)} <= set(schemas)
