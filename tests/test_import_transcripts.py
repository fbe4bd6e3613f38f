"""Transcript import on corpora made by the shared generator: exact totals per model against
its _truth.json, incremental re-imports, appended data, malformed and huge lines."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from aitrack.cli.main import cli
from aitrack.importing.transcripts import TranscriptImporter
from aitrack.settings import Settings
from aitrack.store import open_store
from aitrack.tracker import Tracker
from aitrack.transcripts.records import MAX_LINE_BYTES

GENERATOR = Path(__file__).resolve().parents[2] / "shared" / "tools" / "gen_agent_logs.py"
if not GENERATOR.exists():
    GENERATOR = Path("/work/shared/tools/gen_agent_logs.py")


def generate(out: Path, fmt: str, sessions: int = 14, turns: int = 6, seed: int = 3) -> Path:
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out), "--format", fmt,
         "--sessions", str(sessions), "--turns", str(turns), "--seed", str(seed),
         "--dup-rate", "0.05", "--btw-rate", "0.05"],
        check=True, capture_output=True,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def claude_corpus(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("gen") / "claude", "claude-code")


@pytest.fixture(scope="module")
def codex_corpus(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("gen") / "codex", "codex")


def copy_corpus(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


def per_model(tracker: Tracker, agent: str) -> dict[str, dict[str, int]]:
    rows = tracker.db.query(
        "SELECT a.model AS model, count(*) AS responses, sum(a.input_tokens) AS input, "
        "sum(a.output_tokens) AS output, sum(a.cache_read_tokens) AS cache_read, "
        "sum(a.cache_write_5m_tokens + a.cache_write_1h_tokens) AS cache_creation, "
        "sum(a.reasoning_tokens) AS reasoning FROM api_calls a "
        "JOIN sessions s ON s.id = a.session_id WHERE s.agent = ? AND a.model <> '<synthetic>' "
        "GROUP BY a.model",
        (agent,),
    )
    return {r.pop("model"): {k: int(v) for k, v in r.items()} for r in rows}


def truth(corpus: Path, agent: str) -> dict[str, dict[str, int]]:
    models = json.loads((corpus / "_truth.json").read_text())["models"]
    out = {}
    for model, t in models.items():
        row = {
            k: t[k]
            for k in ("responses", "input", "output", "cache_read", "cache_creation", "reasoning")
        }
        if agent == "codex":  # the generator's input includes the cached part; ours is non-cached
            row["input"] = t["input"] - t["cache_read"]
        out[model] = row
    return out


def counts(tracker: Tracker) -> dict[str, int]:
    return {t: tracker.db.scalar(f"SELECT count(*) FROM {t}") for t in
            ("sessions", "runs", "tool_calls", "api_calls")}  # fmt: skip


@pytest.mark.parametrize("agent", ["claude-code", "codex"])
def test_import_gives_the_token_totals_of_truth_per_model(
    tracker, agent, claude_corpus, codex_corpus
):
    corpus = claude_corpus if agent == "claude-code" else codex_corpus
    summary = TranscriptImporter(tracker).import_agent(agent, [corpus])
    assert summary.files == json.loads((corpus / "_truth.json").read_text())["files"]
    assert summary.errors == []
    assert per_model(tracker, agent) == truth(corpus, agent)


@pytest.mark.parametrize("agent", ["claude-code", "codex"])
def test_second_import_reads_nothing_and_adds_nothing(tracker, agent, claude_corpus, codex_corpus):
    corpus = claude_corpus if agent == "claude-code" else codex_corpus
    importer = TranscriptImporter(tracker)
    importer.import_agent(agent, [corpus])
    before = counts(tracker)
    again = importer.import_agent(agent, [corpus])
    assert again.files_read == 0 and again.lines == 0 and again.api_calls == 0
    assert counts(tracker) == before
    assert per_model(tracker, agent) == truth(corpus, agent)


def test_forgotten_offsets_re_read_everything_without_double_counting(tracker, claude_corpus):
    importer = TranscriptImporter(tracker)
    importer.import_agent("claude-code", [claude_corpus])
    before = counts(tracker)
    tracker.db.execute("DELETE FROM import_files")
    again = importer.import_agent("claude-code", [claude_corpus])
    assert again.files_read == again.files
    assert counts(tracker) == before
    assert per_model(tracker, "claude-code") == truth(claude_corpus, "claude-code")


def _cut_files(corpus: Path) -> dict[Path, bytes]:
    """Cut every transcript after roughly its first third of lines; returns the cut-off tails."""
    tails = {}
    for path in sorted(corpus.rglob("*.jsonl")):
        data = path.read_bytes()
        lines = data.split(b"\n")
        keep = max(1, len(lines) // 3)
        head = b"\n".join(lines[:keep]) + b"\n"
        if len(head) < len(data):
            tails[path] = data[len(head) :]
            path.write_bytes(head)
    return tails


@pytest.mark.parametrize("agent", ["claude-code", "codex"])
def test_appending_to_files_adds_exactly_the_new_responses(
    tracker, agent, tmp_path, claude_corpus, codex_corpus
):
    corpus = copy_corpus(claude_corpus if agent == "claude-code" else codex_corpus, tmp_path)
    tails = _cut_files(corpus)
    importer = TranscriptImporter(tracker)
    first = importer.import_agent(agent, [corpus])
    partial = per_model(tracker, agent)
    assert sum(m["responses"] for m in partial.values()) < sum(
        m["responses"] for m in truth(corpus, agent).values()
    )
    for path, tail in tails.items():
        with path.open("ab") as f:
            f.write(tail)
    second = importer.import_agent(agent, [corpus])
    assert second.files_read == len(tails)
    assert second.bytes == sum(len(t) for t in tails.values()) - _dangling(corpus)
    assert first.bytes + second.bytes == sum(
        p.stat().st_size for p in corpus.rglob("*.jsonl")
    ) - _dangling(corpus)
    assert per_model(tracker, agent) == truth(corpus, agent)


def _dangling(corpus: Path) -> int:
    """Bytes after the last newline of each file (a half-written line is left for later)."""
    return sum(
        len(p.read_bytes()) - p.read_bytes().rfind(b"\n") - 1 for p in corpus.rglob("*.jsonl")
    )


def test_malformed_truncated_and_huge_lines_are_skipped_and_counted(tracker, tmp_path):
    project = tmp_path / "cfg" / "projects" / "-home-u-app"
    project.mkdir(parents=True)
    good = _assistant("msg_1", "req_1", 10, 20)
    lines = [good, good[: len(good) // 2], "not json", "{}", "x" * (MAX_LINE_BYTES + 10),
             _assistant("msg_2", "req_2", 1, 2)]  # fmt: skip
    (project / "s1.jsonl").write_text("\n".join(lines) + "\n")
    summary = TranscriptImporter(tracker).import_agent("claude-code", [tmp_path / "cfg"])
    assert summary.skipped_huge == 1
    assert summary.skipped_malformed >= 2
    assert summary.lines == len(lines)
    assert tracker.db.scalar("SELECT count(*) FROM api_calls") == 2
    assert tracker.db.scalar("SELECT sum(output_tokens) FROM api_calls") == 22


def _assistant(
    mid: str,
    req: str,
    inp: int,
    out: int,
    session: str = "s1",
    ts: str = "2025-10-02T10:00:00.000Z",
    side: bool = False,
    uuid: str = "u",
) -> str:
    return json.dumps({
        "parentUuid": None, "isSidechain": side, "userType": "external", "cwd": "/home/u/app",
        "sessionId": session, "version": "2.0.55", "gitBranch": "main", "type": "assistant",
        "uuid": uuid + mid, "timestamp": ts, "requestId": req,
        "message": {"id": mid, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                    "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": inp, "cache_creation_input_tokens": 0,
                              "cache_read_input_tokens": 0, "output_tokens": out}},
    }, separators=(",", ":"))  # fmt: skip


def _prompt(text: str, uuid: str, session: str = "s1", ts: str = "2025-10-02T09:59:00.000Z") -> str:
    return json.dumps({
        "parentUuid": None, "isSidechain": False, "userType": "external", "cwd": "/home/u/app",
        "sessionId": session, "version": "2.0.55", "gitBranch": "main", "type": "user",
        "message": {"role": "user", "content": text}, "uuid": uuid, "timestamp": ts,
    }, separators=(",", ":"))  # fmt: skip


def test_a_line_still_being_written_waits_for_its_newline(tracker, tmp_path):
    project = tmp_path / "cfg" / "projects" / "-home-u-app"
    project.mkdir(parents=True)
    path = project / "s1.jsonl"
    line = _assistant("msg_1", "req_1", 5, 7)
    path.write_text(_prompt("fix it", "p1") + "\n" + line[:40])
    importer = TranscriptImporter(tracker)
    importer.import_agent("claude-code", [tmp_path / "cfg"])
    assert tracker.db.scalar("SELECT count(*) FROM api_calls") == 0
    with path.open("a") as f:
        f.write(line[40:] + "\n")
    importer.import_agent("claude-code", [tmp_path / "cfg"])
    assert tracker.db.scalar("SELECT sum(output_tokens) FROM api_calls") == 7


def test_streaming_snapshots_split_across_imports_count_the_final_one(tracker, tmp_path):
    project = tmp_path / "cfg" / "projects" / "-home-u-app"
    project.mkdir(parents=True)
    path = project / "s1.jsonl"
    path.write_text(_assistant("msg_1", "req_1", 3, 2, uuid="a") + "\n")
    importer = TranscriptImporter(tracker)
    importer.import_agent("claude-code", [tmp_path / "cfg"])
    with path.open("a") as f:
        f.write(_assistant("msg_1", "req_1", 3, 250, uuid="b") + "\n")
    importer.import_agent("claude-code", [tmp_path / "cfg"])
    rows = tracker.db.query("SELECT output_tokens FROM api_calls")
    assert rows == [{"output_tokens": 250}]


def test_a_fast_mode_response_is_billed_at_the_models_fast_prices(tracker, tmp_path):
    """Claude Code writes `speed: "fast"` in the usage of a fast-mode response; genai-prices
    has fast prices for the models that offer it (here 2x Opus 4.8's)."""
    project = tmp_path / "cfg" / "projects" / "-home-u-app"
    project.mkdir(parents=True)
    lines = []
    for mid, speed in (("msg_f", "fast"), ("msg_s", "standard")):
        line = json.loads(
            _assistant(mid, "req_" + mid, 1_000, 2_000, ts="2026-11-16T12:00:00.000Z")
        )
        line["message"]["model"] = "claude-opus-4-8"
        line["message"]["usage"]["speed"] = speed
        lines.append(json.dumps(line))
    (project / "s1.jsonl").write_text("\n".join(lines) + "\n")
    TranscriptImporter(tracker).import_agent("claude-code", [tmp_path / "cfg"], workers=1)
    rows = {
        r["dedup_key"]: r
        for r in tracker.db.query("SELECT dedup_key, cost_usd, request_type FROM api_calls")
    }
    fast, standard = rows["anthropic:msg_f"], rows["anthropic:msg_s"]
    assert fast["request_type"] == "fast" and standard["request_type"] is None
    assert fast["cost_usd"] == pytest.approx(2 * standard["cost_usd"], rel=1e-12)
    assert standard["cost_usd"] == pytest.approx((1_000 * 5 + 2_000 * 25) / 1e6, rel=1e-12)


def test_an_api_call_recorded_as_fast_mode_is_billed_at_fast_prices(tracker):
    from aitrack.usage import record_api_call

    at = 1_795_348_800_000  # 2026-11-22
    calls = [
        record_api_call(tracker, model="claude-opus-4-8", source="proxy", ts=at,
                        input_tokens=1_000, output_tokens=2_000, request_type=kind)
        for kind in ("fast", None)
    ]  # fmt: skip
    assert calls[0]["cost_usd"] == pytest.approx(2 * calls[1]["cost_usd"], rel=1e-12)


def test_files_deleted_by_the_agent_stay_in_the_store(tracker, tmp_path, claude_corpus):
    corpus = copy_corpus(claude_corpus, tmp_path)
    importer = TranscriptImporter(tracker)
    importer.import_agent("claude-code", [corpus])
    before = counts(tracker)
    shutil.rmtree(corpus / "projects")
    (corpus / "projects").mkdir()
    importer.import_agent("claude-code", [corpus])
    assert counts(tracker) == before


def test_a_file_rewritten_shorter_is_read_again_without_double_counting(tracker, tmp_path):
    project = tmp_path / "cfg" / "projects" / "-home-u-app"
    project.mkdir(parents=True)
    path = project / "s1.jsonl"
    path.write_text(
        _prompt("go", "p1")
        + "\n"
        + _assistant("msg_1", "r1", 1, 10)
        + "\n"
        + _assistant("msg_2", "r2", 1, 20)
        + "\n"
    )
    importer = TranscriptImporter(tracker)
    importer.import_agent("claude-code", [tmp_path / "cfg"])
    path.write_text(_assistant("msg_3", "r3", 1, 30) + "\n")  # shorter: rewritten
    importer.import_agent("claude-code", [tmp_path / "cfg"])
    assert tracker.db.scalar("SELECT sum(output_tokens) FROM api_calls") == 60
    assert tracker.db.scalar("SELECT count(*) FROM api_calls") == 3


def test_sessions_get_repo_branch_runs_and_tool_calls(tracker, claude_corpus):
    TranscriptImporter(tracker).import_agent("claude-code", [claude_corpus])
    sessions = tracker.db.query("SELECT * FROM sessions")
    assert sessions and all(s["agent"] == "claude-code" and s["lane"] == f"claude-code:{s['external_id']}"
                            for s in sessions)  # fmt: skip
    assert all(s["repo_path"].startswith("/home/dev/src/") and s["branch"] for s in sessions)
    assert all(s["project"] == os.path.basename(s["repo_path"]) for s in sessions)
    runs = tracker.db.scalar("SELECT count(*) FROM runs WHERE prompt IS NOT NULL")
    assert runs > 0
    linked = tracker.db.scalar("SELECT count(*) FROM api_calls WHERE run_id IS NOT NULL")
    assert linked > 0.9 * tracker.db.scalar("SELECT count(*) FROM api_calls")
    assert tracker.db.scalar("SELECT count(*) FROM tool_calls WHERE duration_ms IS NOT NULL") > 0


def test_old_imported_sessions_are_closed_at_their_last_activity(tracker, claude_corpus):
    TranscriptImporter(tracker).import_agent("claude-code", [claude_corpus])
    rows = tracker.db.query(
        "SELECT status, end_time, last_activity, start_time, capped FROM sessions"
    )
    assert {r["status"] for r in rows} == {"completed"}
    for r in rows:
        expected = min(r["last_activity"], r["start_time"] + Settings().max_session_ms)
        assert r["end_time"] == expected and bool(r["capped"]) == (r["last_activity"] > expected)


def test_subagent_files_count_in_the_parent_session(tracker, claude_corpus):
    TranscriptImporter(tracker).import_agent("claude-code", [claude_corpus])
    subagent_files = list(claude_corpus.rglob("subagents/*.jsonl"))
    assert subagent_files
    ids = {s["external_id"] for s in tracker.db.query("SELECT external_id FROM sessions")}
    assert all("/" not in i for i in ids)
    assert {f.parent.parent.name for f in subagent_files} <= ids
    assert tracker.db.scalar("SELECT count(*) FROM api_calls WHERE is_sidechain = 1") > 0


def test_worker_processes_give_the_same_result(tmp_path, claude_corpus):
    a = Tracker(open_store(str(tmp_path / "a.db")))
    b = Tracker(open_store(str(tmp_path / "b.db")))
    TranscriptImporter(a).import_agent("claude-code", [claude_corpus], workers=1)
    TranscriptImporter(b).import_agent("claude-code", [claude_corpus], workers=2)
    assert (
        per_model(a, "claude-code")
        == per_model(b, "claude-code")
        == truth(claude_corpus, "claude-code")
    )
    assert counts(a) == counts(b)


def test_import_command_prints_a_json_summary(tmp_path, claude_corpus):
    result = CliRunner().invoke(
        cli, ["import", "claude-code", "--path", str(claude_corpus), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)["data"]
    assert data["files"] == data["files_read"] > 0
    assert data["api_calls"] > 0 and data["lines"] > 0
    assert data["skipped"] == data["skipped_malformed"] + data["skipped_huge"]


def test_import_command_refuses_a_missing_path(tmp_path):
    result = CliRunner().invoke(
        cli, ["import", "codex", "--path", str(tmp_path / "nope"), "--json"]
    )
    assert result.exit_code == 1
    assert "does not exist" in json.loads(result.output)["error"]


def test_import_all_skips_missing_agent_dirs_quietly(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "no-claude"))
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "no-codex"))
    result = CliRunner().invoke(cli, ["import", "all", "--json"])
    assert result.exit_code == 0, result.output
    imports = json.loads(result.output)["data"]["imports"]
    assert [i["files"] for i in imports] == [0, 0]


def test_import_all_reads_both_agents_from_their_env_dirs(
    tmp_path, monkeypatch, claude_corpus, codex_corpus
):
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(claude_corpus))
    monkeypatch.setenv("CODEX_HOME", str(codex_corpus))
    result = CliRunner().invoke(cli, ["import", "all"])
    assert result.exit_code == 0, result.output
    assert "claude-code:" in result.output and "codex:" in result.output
    t = Tracker(open_store())
    assert per_model(t, "codex") == truth(codex_corpus, "codex")


def test_worker_processes_import_into_either_store(tracker, claude_corpus):
    summary = TranscriptImporter(tracker).import_agent("claude-code", [claude_corpus], workers=2)
    assert summary.files_read == summary.files and summary.errors == []
    assert per_model(tracker, "claude-code") == truth(claude_corpus, "claude-code")
    again = TranscriptImporter(tracker).import_agent("claude-code", [claude_corpus], workers=2)
    assert again.files_read == 0
