"""Installing the hook into Claude Code's settings and Codex's config: merged with what the user
has, never clobbering it, and uninstalled exactly."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import tomlkit

from aitrack.agent_hooks_install import (
    CLAUDE_EVENTS,
    CODEX_EVENTS,
    install_claude_code_hooks,
    install_codex_notify,
    is_aitrack_command,
    uninstall_claude_code_hooks,
    uninstall_codex_notify,
)
from aitrack.errors import InvalidValue

USER_SETTINGS = {
    "model": "opus",
    "permissions": {"allow": ["Bash(npm test)"]},
    "hooks": {
        "PostToolUse": [
            {"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "prettier --write"}]}
        ],
        "Stop": [{"hooks": [{"type": "command", "command": "say done"}]}],
    },
}


def write_settings(project: Path, data: dict) -> Path:
    path = project / ".claude" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data, indent=4))
    return path


def test_project_install_adds_every_event_next_to_the_users_hooks(tmp_path):
    path = write_settings(tmp_path, USER_SETTINGS)
    result = install_claude_code_hooks("project", project_dir=tmp_path)
    assert result["events_added"] == list(CLAUDE_EVENTS) and result["changed"]
    settings = json.loads(path.read_text())
    assert settings["model"] == "opus" and settings["permissions"] == USER_SETTINGS["permissions"]
    hooks = settings["hooks"]
    assert set(hooks) == set(CLAUDE_EVENTS)
    assert hooks["PostToolUse"][0] == USER_SETTINGS["hooks"]["PostToolUse"][0]
    assert hooks["Stop"][0] == USER_SETTINGS["hooks"]["Stop"][0]
    for event in CLAUDE_EVENTS:
        ours = [h for g in hooks[event] for h in g["hooks"] if is_aitrack_command(h["command"])]
        assert len(ours) == 1 and ours[0]["type"] == "command"
    assert [g.get("matcher") for g in hooks["PostToolUse"]] == ["Edit|Write", "*"]


def test_installing_twice_changes_nothing(tmp_path):
    install_claude_code_hooks("project", project_dir=tmp_path)
    path = tmp_path / ".claude" / "settings.json"
    before = path.read_text()
    again = install_claude_code_hooks("project", project_dir=tmp_path)
    assert again["events_added"] == [] and again["events_already_installed"] == list(CLAUDE_EVENTS)
    assert path.read_text() == before


def test_uninstall_removes_exactly_what_install_added(tmp_path):
    path = write_settings(tmp_path, USER_SETTINGS)
    install_claude_code_hooks("project", project_dir=tmp_path)
    result = uninstall_claude_code_hooks("project", project_dir=tmp_path)
    assert sorted(result["events_removed"]) == sorted(CLAUDE_EVENTS)
    assert json.loads(path.read_text()) == USER_SETTINGS


def test_uninstall_from_settings_without_our_hooks_changes_nothing(tmp_path):
    path = write_settings(tmp_path, USER_SETTINGS)
    before = path.read_text()
    assert uninstall_claude_code_hooks("project", project_dir=tmp_path)["changed"] is False
    assert path.read_text() == before
    assert (
        uninstall_claude_code_hooks("project", project_dir=tmp_path / "none")["events_removed"]
        == []
    )


def test_dry_run_writes_nothing(tmp_path):
    result = install_claude_code_hooks("project", dry_run=True, project_dir=tmp_path)
    assert result["events_added"] == list(CLAUDE_EVENTS) and not result["changed"]
    assert not (tmp_path / ".claude").exists()
    assert set(result["settings"]["hooks"]) == set(CLAUDE_EVENTS)


@pytest.mark.parametrize("content", ["{not json", '["a list"]', '{"hooks": []}'])
def test_broken_settings_are_refused_and_left_untouched(tmp_path, content):
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(content)
    with pytest.raises(InvalidValue, match="fix"):
        install_claude_code_hooks("project", project_dir=tmp_path)
    assert path.read_text() == content


def test_global_install_uses_the_claude_config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "cfg"))
    result = install_claude_code_hooks("global")
    assert result["path"] == str(tmp_path / "cfg" / "settings.json")
    assert set(json.loads((tmp_path / "cfg" / "settings.json").read_text())["hooks"]) == set(
        CLAUDE_EVENTS
    )
    uninstall_claude_code_hooks("global")
    assert not (tmp_path / "cfg" / "settings.json").exists()  # it held only aitrack's hooks


def test_unknown_scope_is_refused(tmp_path):
    with pytest.raises(InvalidValue, match="global or project"):
        install_claude_code_hooks("team", project_dir=tmp_path)


def test_the_installed_command_is_the_fast_hook(tmp_path):
    command = install_claude_code_hooks("project", project_dir=tmp_path)["command"]
    assert Path(shlex.split(command)[0]).name == "aitrack-hook"
    assert is_aitrack_command("aitrack hook --agent codex")
    assert not is_aitrack_command("aitrack-hooked") and not is_aitrack_command("echo aitrack-hook")


# -- Codex ---------------------------------------------------------------------------------------
CODEX_CONFIG = """# my Codex settings
model = "gpt-5-codex"   # the good one

[profiles.fast]
model = "gpt-5-mini"
"""


def test_codex_install_sets_notify_and_keeps_the_config_as_written(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_HOME", str(tmp_path))
    (tmp_path / "config.toml").write_text(CODEX_CONFIG)
    result = install_codex_notify()
    assert result["chained_notify"] is None and result["events_added"] == list(CODEX_EVENTS)
    text = (tmp_path / "config.toml").read_text()
    assert "# my Codex settings" in text and "# the good one" in text
    notify = tomlkit.parse(text)["notify"]
    assert Path(notify[0]).name == "aitrack-hook" and notify[1] == "codex-notify"
    hooks = json.loads((tmp_path / "hooks.json").read_text())["hooks"]
    assert all(
        h["hooks"][0]["command"].endswith("--agent codex") for e in CODEX_EVENTS for h in hooks[e]
    )
    assert install_codex_notify()["changed"] is False
    uninstall_codex_notify()
    assert (tmp_path / "config.toml").read_text() == CODEX_CONFIG
    assert not (tmp_path / "hooks.json").exists()


def test_codex_install_chains_the_users_own_notify_program(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_HOME", str(tmp_path))
    original = 'notify = ["python3", "/home/u/notify.py"]\n' + CODEX_CONFIG
    (tmp_path / "config.toml").write_text(original)
    result = install_codex_notify()
    assert result["chained_notify"] == ["python3", "/home/u/notify.py"]
    notify = tomlkit.parse((tmp_path / "config.toml").read_text())["notify"]
    assert notify[1:] == ["codex-notify", "--then", "python3", "/home/u/notify.py"]
    restored = uninstall_codex_notify()
    assert restored["restored_notify"] == ["python3", "/home/u/notify.py"]
    assert (tmp_path / "config.toml").read_text() == original


def test_codex_notify_that_is_not_a_list_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_HOME", str(tmp_path))
    (tmp_path / "config.toml").write_text('notify = "my-script"\n')
    with pytest.raises(InvalidValue, match="not a list"):
        install_codex_notify()
    assert (tmp_path / "config.toml").read_text() == 'notify = "my-script"\n'
    assert not (tmp_path / "hooks.json").exists()


def test_codex_dry_run_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "home"))
    result = install_codex_notify(dry_run=True)
    assert result["notify"][1] == "codex-notify" and not result["changed"]
    assert not (tmp_path / "home").exists()


def test_codex_hooks_merge_with_the_users_hooks_json(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEX_HOME", str(tmp_path))
    theirs = {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "./check.sh"}]}]}}
    (tmp_path / "hooks.json").write_text(json.dumps(theirs))
    install_codex_notify()
    merged = json.loads((tmp_path / "hooks.json").read_text())
    assert merged["hooks"]["Stop"] == theirs["hooks"]["Stop"]
    uninstall_codex_notify()
    assert json.loads((tmp_path / "hooks.json").read_text()) == theirs
