"""Transcript parsers against generated corpora (exact truth) and hand-made edge cases."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aitrack.transcripts import (
    ApiCallRecord,
    ClaudeFileState,
    CodexFileState,
    FileParse,
    FileRows,
    FileShrank,
    TranscriptError,
    default_claude_roots,
    default_codex_roots,
    discover_claude_files,
    discover_codex_files,
    parse_claude_file,
    parse_claude_rows,
    parse_codex_file,
    supersedes,
)

GENERATOR = Path(__file__).resolve().parents[2] / "shared" / "tools" / "gen_agent_logs.py"
if not GENERATOR.exists():  # a clone elsewhere than beside shared/
    GENERATOR = Path("/work/shared/tools/gen_agent_logs.py")
TRUTH_KEYS = ["input", "output", "cache_creation", "cache_read", "reasoning", "responses"]
HIGH_DUP = ["--dup-rate", "0.2", "--btw-rate", "0.05"]
SID = "11111111-2222-4333-8444-555555555555"
PROJ = "-home-dev-src-app"


def generate(out: Path, fmt: str, *extra: str) -> Path:
    cmd = [sys.executable, str(GENERATOR), "--out", str(out), "--format", fmt, *extra]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    base = tmp_path_factory.mktemp("corpora")
    made = {}
    for fmt, sessions in (("claude-code", "40"), ("codex", "30")):
        size = ["--sessions", sessions, "--turns", "6"]
        made[(fmt, "default")] = generate(base / f"{fmt}-1", fmt, *size, "--seed", "3")
        made[(fmt, "high-dup")] = generate(base / f"{fmt}-2", fmt, *size, "--seed", "4", *HIGH_DUP)
    return made


def best_copies(parses: list[FileParse]) -> dict[str, ApiCallRecord]:
    """What the importer keeps: one row per dedup_key, replaced when `supersedes` says so."""
    best: dict[str, ApiCallRecord] = {}
    for fp in parses:
        for rec in fp.api_calls:
            old = best.get(rec.dedup_key)
            if old is None or supersedes(rec, old):
                best[rec.dedup_key] = rec
    return best


def merged(records: list, **changes: object) -> dict:
    """Chunks of the same run / tool call / session, merged as the importer does."""
    out: dict = {}
    for r in records:
        r = dataclasses.replace(r, **changes) if changes and hasattr(r, "source_file") else r
        out[r.external_id] = out[r.external_id].merged(r) if r.external_id in out else r
    return out


def per_model(records: dict[str, ApiCallRecord]) -> dict[str, dict[str, int]]:
    """Per-model totals in _truth.json's terms (its input includes Codex's cached input)."""
    out: dict[str, dict[str, int]] = {}
    for r in records.values():
        if r.synthetic:
            continue
        m = out.setdefault(r.model, dict.fromkeys(TRUTH_KEYS, 0))
        m["input"] += r.input_tokens + (r.cache_read_tokens if r.provider == "openai" else 0)
        m["output"] += r.output_tokens
        m["cache_creation"] += r.cache_write_5m_tokens + r.cache_write_1h_tokens
        m["cache_read"] += r.cache_read_tokens
        m["reasoning"] += r.reasoning_tokens
        m["responses"] += 1
    return out


def truth(root: Path) -> dict[str, dict[str, int]]:
    return json.loads((root / "_truth.json").read_text())["models"]


def write_lines(path: Path, lines: list[object], tail: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(
        (ln if isinstance(ln, bytes) else json.dumps(ln, separators=(",", ":")).encode()) + b"\n"
        for ln in lines
    )
    path.write_bytes(data + tail)
    return path


def pick(rec: object, *names: str) -> tuple:
    return tuple(getattr(rec, n) for n in names)


def claude(tmp_path: Path, lines: list[object], **kw: bytes) -> FileParse:
    return parse_claude_file(write_lines(tmp_path / PROJ / f"{SID}.jsonl", lines, **kw))


def cc(kind: str, ts: str, message: dict | None = None, **extra: object) -> dict:
    """A Claude Code line with the CLI's envelope and key order."""
    d: dict = {"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": "/home/dev/src/app",
               "sessionId": SID, "version": "2.0.55", "gitBranch": "main"}  # fmt: skip
    if message is not None:
        d["message"] = message
    uuid = extra.pop("uuid", f"u-{ts}")
    d.update(type=kind, uuid=uuid, timestamp=f"2025-10-01T10:00:{ts}.000Z", **extra)
    return d


def reply(mid: str, out: int, block: dict | None = None, **usage: object) -> dict:
    u = {"input_tokens": 3, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000,
         "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 0},
         "output_tokens": out, "service_tier": "standard", **usage}  # fmt: skip
    return {"id": mid, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
            "content": [block or {"type": "text", "text": "done"}], "stop_reason": None,
            "stop_sequence": None, "usage": u}  # fmt: skip


def prompt(text: str) -> dict:
    return {"role": "user", "content": text}


def tool_result(tid: str, body: str, is_error: bool = False) -> dict:
    block = {"tool_use_id": tid, "type": "tool_result", "content": body, "is_error": is_error}
    return {"role": "user", "content": [block]}


# -- totals against the generator's truth ------------------------------------------------------


@pytest.mark.parametrize("rates", ["default", "high-dup"])
def test_claude_totals_per_model_match_truth_after_the_importers_dedup_rule(corpora, rates):
    root = corpora[("claude-code", rates)]
    parses = [parse_claude_file(p) for p in discover_claude_files([root])]
    assert per_model(best_copies(parses)) == {
        m: dict(t, reasoning=0) for m, t in truth(root).items()
    }
    assert sum(fp.stats.skipped_malformed for fp in parses) > 0  # the generator's junk was seen


@pytest.mark.parametrize("rates", ["default", "high-dup"])
def test_codex_totals_per_model_match_truth(corpora, rates):
    root = corpora[("codex", rates)]
    parses = [parse_codex_file(p) for p in discover_codex_files([root])]
    got = per_model(best_copies(parses))
    assert got == {m: dict(t, cache_creation=0) for m, t in truth(root).items()}


def test_claude_sidechain_replays_count_once_and_the_main_copy_wins_in_any_order(corpora):
    root = corpora[("claude-code", "high-dup")]
    files = discover_claude_files([root])
    forward = best_copies([parse_claude_file(p) for p in files])
    backward = best_copies([parse_claude_file(p) for p in reversed(files)])

    def kept(best: dict[str, ApiCallRecord]) -> dict[str, tuple[int, int, bool]]:
        return {k: (r.total_tokens, r.output_tokens, r.is_sidechain) for k, r in best.items()}

    assert kept(forward) == kept(backward)
    asides = [p for p in files if "aside_question" in p.name]
    assert asides
    replayed = {
        r.dedup_key for p in asides for r in parse_claude_file(p).api_calls if r.is_sidechain
    }
    main_copies = {r.dedup_key for r in forward.values() if not r.is_sidechain}
    assert replayed & main_copies  # the /btw copy of a main response kept the main attribution


# -- incremental reading -------------------------------------------------------------------------


def test_claude_append_after_end_offset_yields_only_the_new_records(corpora, tmp_path):
    files = [
        p
        for p in discover_claude_files([corpora[("claude-code", "default")]])
        if "subagents" not in p.parts
    ]
    first, second = files[0], files[1]
    target = tmp_path / "projects" / PROJ / f"{SID}.jsonl"
    target.parent.mkdir(parents=True)
    old = first.read_bytes()
    old = old[: old.rfind(b"\n") + 1]  # drop a possible half-written tail
    target.write_bytes(old)
    before = parse_claude_file(target)
    assert before.end_offset == len(old)
    new = second.read_bytes()
    new = new[: new.rfind(b"\n") + 1]
    with target.open("ab") as f:
        f.write(new)
    after = parse_claude_file(target, before.end_offset, before.state)
    alone = parse_claude_file(second)
    assert {r.dedup_key for r in after.api_calls} == {r.dedup_key for r in alone.api_calls}
    assert not {r.dedup_key for r in after.api_calls} & {r.dedup_key for r in before.api_calls}
    assert {r.session_external_id for r in after.api_calls} == {SID}
    assert after.end_offset == len(old) + len(new)
    assert after.stats.lines == new.count(b"\n")


def test_a_half_written_last_line_is_read_once_it_is_completed(tmp_path):
    done = cc("assistant", "02", reply("msg_done", 40), requestId="req_1")
    half = json.dumps(cc("assistant", "03", reply("msg_half", 50)), separators=(",", ":")).encode()
    path = write_lines(tmp_path / f"{SID}.jsonl", [cc("user", "01", prompt("hi")), done], half[:70])
    first = parse_claude_file(path)
    assert [r.message_id for r in first.api_calls] == ["msg_done"]
    assert first.end_offset == path.stat().st_size - 70
    assert first.stats.skipped_malformed == 0
    with path.open("ab") as f:
        f.write(half[70:] + b"\n")
    second = parse_claude_file(path, first.end_offset, first.state)
    assert [(r.message_id, r.output_tokens) for r in second.api_calls] == [("msg_half", 50)]
    assert second.api_calls[0].run_external_id == "u-01"  # the run opened before the cut
    assert second.end_offset == path.stat().st_size


def test_claude_split_anywhere_with_state_gives_the_same_totals_and_runs(corpora, tmp_path):
    root = corpora[("claude-code", "high-dup")]
    src = max(
        (p for p in discover_claude_files([root]) if "subagents" not in p.parts),
        key=lambda p: p.stat().st_size,
    )
    data = src.read_bytes()
    whole = parse_claude_file(src)
    path = tmp_path / "projects" / src.parent.name / src.name
    path.parent.mkdir(parents=True)
    cut = data.find(b"\n", data.find(b'"type":"tool_use"', len(data) // 2)) + 20
    path.write_bytes(data[:cut])  # mid-line, just after a tool use and before its result
    part1 = parse_claude_file(path)
    state = ClaudeFileState.from_dict(json.loads(json.dumps(part1.state.to_dict())))
    path.write_bytes(data)
    part2 = parse_claude_file(path, part1.end_offset, state)
    assert per_model(best_copies([part1, part2])) == per_model(best_copies([whole]))
    runs_whole = {r.dedup_key: r.run_external_id for r in whole.api_calls}
    assert all(runs_whole[r.dedup_key] == r.run_external_id for r in part2.api_calls)
    for kind in ("runs", "tool_calls", "sessions"):  # chunks merge into the whole-file records
        split = getattr(part1, kind) + getattr(part2, kind)
        assert merged(split) == merged(getattr(whole, kind), source_file=str(path)), kind
    assert any(t.ended_ms is None for t in part1.tool_calls)  # a tool answered after the cut


def test_codex_state_survives_json_across_a_mid_file_split_and_totals_match_truth(
    corpora, tmp_path
):
    root = corpora[("codex", "high-dup")]
    parses = []
    for src in discover_codex_files([root]):
        data = src.read_bytes()
        path = tmp_path / src.name
        path.write_bytes(data[: len(data) // 2])
        part1 = parse_codex_file(path)
        state = CodexFileState.from_dict(json.loads(json.dumps(part1.state.to_dict())))
        path.write_bytes(data)
        parses += [part1, parse_codex_file(path, part1.end_offset, state)]
    got = per_model(best_copies(parses))
    assert got == {m: dict(t, cache_creation=0) for m, t in truth(root).items()}


def codex_line(ts: str, kind: str, payload: dict) -> dict:
    return {"timestamp": f"2025-10-20T12:{ts}.000Z", "type": kind, "payload": payload}


def usage(inp: int, cached: int, out: int, reasoning: int) -> dict:
    keys = [
        "input_tokens",
        "cached_input_tokens",
        "output_tokens",
        "reasoning_output_tokens",
        "total_tokens",
    ]
    return dict(zip(keys, [inp, cached, out, reasoning, inp + out], strict=True))


def token_count(ts: str, total: dict | None, last: dict | None, used: float = 1.0) -> dict:
    info = (
        None
        if total is None and last is None
        else {"total_token_usage": total, "last_token_usage": last, "model_context_window": 272000}
    )
    if info is not None:
        info = {k: v for k, v in info.items() if v is not None}
    return codex_line(
        ts,
        "event_msg",
        {"type": "token_count", "info": info, "rate_limits": {"primary": {"used_percent": used}}},
    )


def codex_session(sid: str, ts: str = "00:00", **meta: object) -> list[dict]:
    return [
        codex_line(ts, "session_meta", {"id": sid, "timestamp": f"2025-10-20T12:{ts}.000Z", "cwd": "/home/dev/src/app",
                                        "cli_version": "0.46.0", "git": {"branch": "main"}, **meta}),
        codex_line(ts, "turn_context", {"cwd": "/home/dev/src/app", "model": "gpt-5-codex"}),
    ]  # fmt: skip


def user_event(ts: str, text: str) -> dict:
    return codex_line(ts, "event_msg", {"type": "user_message", "message": text, "images": []})


def json_round_trip(state: CodexFileState) -> CodexFileState:
    return CodexFileState.from_dict(json.loads(json.dumps(state.to_dict())))


TOKENS = ("input_tokens", "cache_read_tokens", "output_tokens", "reasoning_tokens")


def test_codex_reemitted_token_count_is_counted_once_even_across_a_split(tmp_path):
    first = usage(1000, 800, 50, 20)
    lines = [
        *codex_session("sess-1"),
        token_count("00:01", None, None),
        user_event("00:02", "fix it"),
        token_count("00:05", first, first),
        token_count("00:06", first, first, used=2.0),  # re-emit: same totals, new rate limits
    ]
    path = write_lines(tmp_path / "rollout.jsonl", lines[:5])
    part1 = parse_codex_file(path)
    write_lines(path, lines)
    part2 = parse_codex_file(path, part1.end_offset, json_round_trip(part1.state))
    (rec,) = part1.api_calls + part2.api_calls
    assert pick(rec, *TOKENS) == (200, 800, 50, 20)
    assert pick(rec, "model", "session_external_id", "provider") == (
        "gpt-5-codex",
        "sess-1",
        "openai",
    )
    assert len(parse_codex_file(path).api_calls) == 1
    assert part2.api_calls == []
    # without the state the baseline is lost and the re-emit would count again
    assert len(parse_codex_file(path, part1.end_offset).api_calls) == 1


def test_codex_usage_falls_back_to_the_difference_of_totals_and_clamps_cached(tmp_path):
    lines = [
        *codex_session("sess-2"),
        token_count("00:05", usage(1000, 900, 50, 0), None),
        token_count("00:09", usage(1500, 2000, 80, 10), None),
    ]
    recs = parse_codex_file(write_lines(tmp_path / "r.jsonl", lines)).api_calls
    # the second: cached 1100 clamped to the 500 new input
    assert [pick(r, *TOKENS) for r in recs] == [(100, 900, 50, 0), (0, 500, 30, 10)]


def test_codex_subagent_skips_the_replayed_burst_and_counts_toward_its_parent(tmp_path):
    spawn = {"subagent": {"thread_spawn": {"parent_thread_id": "parent-1", "depth": 1}}}
    lines = [
        *codex_session("child-1", ts="30:00", source=spawn),
        # parent history, rewritten to the fork instant
        token_count("30:00", usage(500, 0, 10, 0), usage(500, 0, 10, 0)),
        token_count("30:00", usage(900, 400, 30, 0), usage(400, 400, 20, 0)),
        # its own first call
        token_count("30:12", usage(1700, 1200, 70, 5), usage(800, 800, 40, 5)),
    ]
    fp = parse_codex_file(write_lines(tmp_path / "rollout-child.jsonl", lines))
    names = ("input_tokens", "cache_read_tokens", "session_external_id", "is_sidechain")
    assert [pick(r, *names) for r in fp.api_calls] == [(0, 800, "parent-1", True)]
    assert {pick(s, "external_id", "parent_external_id") for s in fp.sessions} == {
        ("parent-1", None),
        ("child-1", "parent-1"),
    }


def test_codex_runs_and_tool_calls_follow_prompts_and_exit_codes(tmp_path):
    output = json.dumps({"output": "boom", "metadata": {"exit_code": 2, "duration_seconds": 0.1}})
    call = {"type": "function_call", "name": "shell", "arguments": "{}", "call_id": "call_a"}
    result = {"type": "function_call_output", "call_id": "call_a", "output": output}
    lines = [
        *codex_session("sess-3"),
        user_event("01:00", "run the tests"),
        codex_line("01:05", "response_item", call),
        codex_line("01:09", "response_item", result),
        token_count("01:10", usage(100, 0, 5, 0), usage(100, 0, 5, 0)),
    ]
    fp = parse_codex_file(write_lines(tmp_path / "r.jsonl", lines))
    (run,) = fp.runs
    assert (run.prompt, run.ended_ms - run.started_ms) == ("run the tests", 10_000)
    (tool,) = fp.tool_calls
    assert pick(tool, "name", "ok", "run_external_id") == ("shell", False, run.external_id)
    assert tool.ended_ms - tool.started_ms == 4000
    assert fp.api_calls[0].run_external_id == run.external_id


# -- Claude line rules ---------------------------------------------------------------------------


def test_malformed_junk_and_truncated_lines_are_counted_and_skipped(tmp_path):
    good = cc("assistant", "02", reply("msg_ok", 7), requestId="req_1")
    raw = json.dumps(good, separators=(",", ":")).encode()
    junk = [b"", b"{", b"\x00\x00\x00", b"not json at all", raw[:300], raw[:-1] + b"}x}"]
    fp = claude(tmp_path, [*junk, good])
    assert fp.stats.skipped_malformed == 6
    assert [r.message_id for r in fp.api_calls] == ["msg_ok"]
    assert fp.stats.lines == 7


def test_spaced_json_and_null_request_id_are_still_counted(tmp_path):
    spaced = json.dumps(cc("assistant", "02", reply("msg_spaced", 11), requestId="req_1")).encode()
    assert b'"usage": {' in spaced
    path = write_lines(
        tmp_path / PROJ / f"{SID}.jsonl",
        [spaced, cc("assistant", "03", reply("msg_null", 12), requestId=None)],
    )
    recs = {r.message_id: r for r in parse_claude_file(path).api_calls}
    assert (recs["msg_spaced"].output_tokens, recs["msg_spaced"].request_id) == (11, "req_1")
    assert (recs["msg_null"].output_tokens, recs["msg_null"].request_id) == (12, None)


def test_odd_values_follow_the_same_rules_as_the_usual_ones(tmp_path):
    """Counts that are null, bool, float, str, negative or beyond 64 bits (the typed decoder
    leaves such lines to plain JSON) follow as_int; a usage without counts is no call."""
    odd = {"input_tokens": None, "output_tokens": 5, "cache_read_input_tokens": "7",
           "cache_creation_input_tokens": 2.0, "cache_creation": None}  # fmt: skip
    lines = [
        cc("user", "01", prompt("go")),
        cc("assistant", "02", {**reply("msg_odd", 0), "usage": odd}, requestId=123),
        cc("assistant", "03", reply("msg_bool", True, input_tokens=3.0), isSidechain="yes"),
        cc("assistant", "04", reply("msg_neg", 4, input_tokens=-5, cache_read_input_tokens=2**64)),
        cc("assistant", "05", {**reply("msg_none", 1), "usage": {"service_tier": "x"}}),
        cc("assistant", "06", reply("msg_big", 2**64 - 1, input_tokens=2**63)),
    ]
    fp = claude(tmp_path, lines)
    names = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_5m_tokens",
             "cache_write_1h_tokens", "request_id", "is_sidechain")  # fmt: skip
    assert {r.message_id: pick(r, *names) for r in fp.api_calls} == {
        "msg_odd": (0, 5, 0, 2, 0, None, False),
        "msg_bool": (3, 0, 1000, 100, 0, None, False),
        "msg_neg": (0, 4, 0, 100, 0, None, False),
        "msg_big": (0, 0, 1000, 100, 0, None, False),  # no BIGINT holds them
    }
    assert (fp.stats.api_lines, fp.stats.skipped_other) == (4, 1)


def test_lines_read_as_plain_json_give_the_records_of_their_usual_form(tmp_path):
    tool = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}
    side = {"isSidechain": True, "agentId": "abc"}
    mirror = cc("assistant", "06", reply("msg_sub", 7), requestId="req_s", **side)
    lines = [
        {"type": "summary", "summary": "a title", "leafUuid": "u-x"},
        cc("user", "01", prompt("list files")),
        cc("assistant", "02", reply("msg_a", 40, tool), requestId="req_a"),
        cc("user", "03", tool_result("toolu_1", "boom", is_error=True)),
        cc("user", "04", prompt("expand the command"), isMeta=True),
        cc("user", "05", {"role": "user", "content": [{"type": "text", "text": "look"}]}, **side),
        cc("progress", "06", data={"type": "agent_progress", "message": mirror}),
        cc("assistant", "07", reply("msg_b", 9, speed="fast"), requestId="req_b", **side),
        cc("user", "08", prompt("<local-command-stdout>ok</local-command-stdout>")),
    ]
    usual = claude(tmp_path / "usual", lines)
    assert (len(usual.api_calls), len(usual.runs), len(usual.tool_calls)) == (3, 2, 1)
    # NaN (a JSON extension) and lone surrogates are not for the typed decoder: plain JSON
    for extra in (b',"x":NaN}', b',"x":"\\ud800"}'):
        odd = [json.dumps(ln, separators=(",", ":")).encode()[:-1] + extra for ln in lines]
        plain = claude(tmp_path / extra.hex(), odd)
        for kind in ("runs", "tool_calls", "api_calls"):
            assert getattr(plain, kind) == getattr(usual, kind), (extra, kind)
        here = usual.sessions[0].source_file
        assert [dataclasses.replace(r, source_file=here) for r in plain.sessions] == usual.sessions
        plain.stats.bytes = usual.stats.bytes
        assert (plain.stats, plain.state) == (usual.stats, usual.state)


def test_usage_like_json_inside_tool_results_is_not_counted(tmp_path):
    body = '{"type":"assistant","message":{"id":"msg_fake","usage":{"input_tokens":999999,"output_tokens":5}}}'
    lines = [
        cc("user", "01", tool_result("toolu_x", body)),
        cc(
            "user",
            "02",
            tool_result("toolu_y", "x" * 2000 + body),
            toolUseResult={
                "type": "assistant",
                "usage": {"input_tokens": 999999, "output_tokens": 5},
            },
        ),
    ]
    fp = parse_claude_file(write_lines(tmp_path / PROJ / f"{SID}.jsonl", lines))
    assert fp.api_calls == []
    assert fp.stats.skipped_malformed == 0


def test_streaming_snapshots_collapse_to_the_final_one_and_cache_rules_apply(tmp_path):
    tool = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}
    thinking = {"type": "thinking", "thinking": "hm", "signature": "s"}
    one_hour = {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 100}
    old_usage = {"input_tokens": 2, "output_tokens": 5, "cache_creation_input_tokens": 70}
    zero = dict.fromkeys(["input_tokens", "output_tokens", "cache_read_input_tokens"], 0)
    b = reply("msg_b", 9, cache_creation=one_hour, cache_creation_input_tokens=999, speed="fast")
    fp = claude(tmp_path, [
        cc("user", "01", prompt("list files")),
        cc("assistant", "02", reply("msg_a", 3, thinking), requestId="req_a"),
        cc("assistant", "03", reply("msg_a", 40, tool), requestId="req_a"),
        cc("user", "05", tool_result("toolu_1", "boom", is_error=True)),
        cc("assistant", "06", b, requestId="req_b"),
        cc("assistant", "07", {**reply("msg_c", 5), "usage": old_usage}, requestId="req_c"),
        cc("assistant", "08", {**reply("msg_e", 0), "model": "<synthetic>", "usage": zero}, isApiErrorMessage=True),
    ])  # fmt: skip
    names = (
        "output_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
        "speed",
        "synthetic",
    )
    assert {r.message_id: pick(r, *names) for r in fp.api_calls} == {
        "msg_a": (40, 100, 0, None, False),
        "msg_b": (9, 0, 100, "fast", False),
        "msg_c": (5, 70, 0, None, False),
        "msg_e": (0, 0, 0, None, True),
    }
    assert fp.stats.api_lines == 5
    (call,) = fp.tool_calls
    assert pick(call, "name", "ok", "run_external_id") == ("Bash", False, "u-01")
    assert call.ended_ms - call.started_ms == 2000
    (run,) = fp.runs
    assert pick(run, "external_id", "prompt", "is_sidechain") == ("u-01", "list files", False)
    assert run.ended_ms - run.started_ms == 7000
    (session,) = fp.sessions
    assert pick(session, "external_id", "project", "cwd", "git_branch", "model") == (
        SID, PROJ, "/home/dev/src/app", "main", "claude-sonnet-4-5-20250929")  # fmt: skip


def test_meta_and_command_output_lines_do_not_open_runs(tmp_path):
    lines = [
        cc("user", "01", prompt("first")),
        cc(
            "user",
            "02",
            prompt("Caveat: the messages below were generated by the user"),
            isMeta=True,
        ),
        cc("user", "03", prompt("<local-command-stdout>ok</local-command-stdout>")),
        cc("assistant", "04", reply("msg_a", 4), requestId="req_a"),
    ]
    fp = parse_claude_file(write_lines(tmp_path / PROJ / f"{SID}.jsonl", lines))
    assert [r.external_id for r in fp.runs] == ["u-01"]
    assert fp.api_calls[0].run_external_id == "u-01"


def test_subagent_file_records_belong_to_the_parent_session(tmp_path):
    side = cc(
        "assistant", "05", reply("msg_sub", 6), requestId="req_s", isSidechain=True, agentId="abc"
    )
    path = write_lines(tmp_path / "projects" / PROJ / SID / "subagents" / "agent-abc.jsonl",
                       [cc("user", "04", prompt("look around"), isSidechain=True, agentId="abc"), side])  # fmt: skip
    fp = parse_claude_file(path)
    assert [(r.session_external_id, r.is_sidechain, r.run_external_id) for r in fp.api_calls] == [
        (SID, True, "u-04")
    ]
    assert {(s.external_id, s.parent_external_id) for s in fp.sessions} == {
        (SID, None),
        (f"{SID}/agent-abc", SID),
    }
    assert fp.runs[0].is_sidechain


def test_lines_without_message_id_get_a_stable_key_per_file_and_offset(tmp_path):
    no_id = cc(
        "assistant", "02", {k: v for k, v in reply("x", 8).items() if k != "id"}, requestId="req_1"
    )
    path = write_lines(
        tmp_path / "projects" / PROJ / f"{SID}.jsonl", [cc("user", "01", prompt("hi")), no_id]
    )
    key = parse_claude_file(path).api_calls[0].dedup_key
    offset = len(json.dumps(cc("user", "01", prompt("hi")), separators=(",", ":"))) + 1
    assert key == f"anthropic-line:{PROJ}/{SID}.jsonl:{offset}"
    assert parse_claude_file(path).api_calls[0].dedup_key == key


def test_huge_lines_are_skipped_and_counted_and_an_unfinished_one_waits(tmp_path):
    huge = b'{"type":"user","pad":"' + b"x" * (17 * 1024 * 1024) + b'"}'
    good = cc("assistant", "02", reply("msg_after", 5), requestId="req_1")
    path = write_lines(tmp_path / PROJ / f"{SID}.jsonl", [huge, good], tail=huge[:-5])
    fp = parse_claude_file(path)
    assert (fp.stats.skipped_huge, fp.stats.lines) == (1, 2)
    assert [r.message_id for r in fp.api_calls] == ["msg_after"]
    assert fp.end_offset == path.stat().st_size - len(huge) + 5


# -- files and roots -----------------------------------------------------------------------------


def test_unreadable_files_raise_transcript_error(tmp_path):
    with pytest.raises(TranscriptError):
        parse_claude_file(tmp_path / "gone.jsonl")
    with pytest.raises(TranscriptError):
        parse_codex_file(tmp_path)  # a directory
    path = write_lines(tmp_path / "short.jsonl", [cc("user", "01", prompt("hi"))])
    with pytest.raises(FileShrank):
        parse_claude_file(path, path.stat().st_size + 10)


def test_discover_claude_files_reads_config_dirs_and_projects_dirs_and_skips_symlinks(
    tmp_path, monkeypatch
):
    one = tmp_path / "one"
    write_lines(one / "projects" / PROJ / "b.jsonl", [])
    write_lines(one / "projects" / PROJ / "a" / "subagents" / "agent-1.jsonl", [])
    (one / "projects" / PROJ / "notes.txt").write_text("x")
    os.symlink(one / "projects" / PROJ / "b.jsonl", one / "projects" / PROJ / "link.jsonl")
    os.symlink(one / "projects" / PROJ, one / "projects" / "linked-dir")
    two = tmp_path / "two" / "projects"
    write_lines(two / PROJ / "c.jsonl", [])
    (tmp_path / "empty").mkdir()
    files = discover_claude_files([one, two, tmp_path / "empty", tmp_path / "missing"])
    assert [str(p.relative_to(tmp_path)) for p in files] == [
        f"one/projects/{PROJ}/a/subagents/agent-1.jsonl",
        f"one/projects/{PROJ}/b.jsonl",
        f"two/projects/{PROJ}/c.jsonl",
    ]
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", f"{one}, {two}")
    assert default_claude_roots() == [one, two]
    monkeypatch.delenv("CLAUDE_CONFIG_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert default_claude_roots() == [tmp_path / ".config" / "claude", tmp_path / ".claude"]


def test_discover_codex_files_prefers_sessions_and_scans_bare_roots(tmp_path, monkeypatch):
    home = tmp_path / "codex"
    write_lines(home / "sessions" / "2025" / "10" / "01" / "r1.jsonl", [])
    write_lines(home / "archived_sessions" / "2025" / "10" / "01" / "r1.jsonl", [])
    write_lines(home / "archived_sessions" / "r0.jsonl", [])
    bare = tmp_path / "exec-output"
    write_lines(bare / "run.jsonl", [])
    files = discover_codex_files([home, bare])
    assert [str(p.relative_to(tmp_path)) for p in files] == [
        "codex/archived_sessions/r0.jsonl",
        "codex/sessions/2025/10/01/r1.jsonl",
        "exec-output/run.jsonl",
    ]
    monkeypatch.setenv("CODEX_HOME", f"{home},{bare}")
    assert default_codex_roots() == [home, bare]
    monkeypatch.delenv("CODEX_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_codex_roots() == [tmp_path / ".codex"]


def test_parsing_does_not_change_the_state_passed_in(corpora):
    state = CodexFileState()
    parse_codex_file(discover_codex_files([corpora[("codex", "default")]])[0], 0, state)
    assert state == CodexFileState()


def test_claude_rows_are_the_fields_of_the_records_and_carry_the_same_state(corpora, tmp_path):
    for path in discover_claude_files([corpora[("claude-code", "high-dup")]]):
        half = path.stat().st_size // 2
        first = parse_claude_file(path, 0)
        cut = tmp_path / path.name
        cut.write_bytes(path.read_bytes()[: first.end_offset if half == 0 else half])
        head = parse_claude_file(cut)
        for start, state in ((0, None), (head.end_offset, head.state)):
            records = parse_claude_file(path, start, state)
            rows = parse_claude_rows(path, start, state)
            assert rows == FileRows.of(records)
            assert rows.state.to_dict() == records.state.to_dict()
            assert json.loads(rows.state.to_json()) == records.state.to_dict()
