"""The C reader of Claude transcripts (_claude_read.c) against its specification, the Python
loop (_ClaudeFile._read_python): the same records, stats, state and parser internals on
generated corpora, the existing tests' fixtures, split reads and fuzzed odd lines."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_transcript_lines import claude_prompt, claude_reply, claude_tool_result
from aitrack.transcripts import ClaudeFileState, ParseStats, TranscriptError, discover_claude_files
from aitrack.transcripts import claude_code as cc
from aitrack.transcripts.records import iter_lines_buffered, open_transcript
from plugin_runs import pytest_with_plugin

GENERATOR = Path(__file__).resolve().parents[2] / "shared" / "tools" / "gen_agent_logs.py"
if not GENERATOR.exists():  # a clone elsewhere than beside shared/
    GENERATOR = Path("/work/shared/tools/gen_agent_logs.py")
SID = "11111111-2222-4333-8444-555555555555"
PROJ = "-home-dev-src-app"
MODES = ("file", "lines", "python")


def test_the_extension_is_built_and_used():
    from aitrack.transcripts import _claude_read

    assert cc._c is _claude_read


# -- comparing the paths ---------------------------------------------------------------------


def read(path: Path, mode: str, start: int = 0, state: ClaudeFileState | None = None):
    """(FileParse, parser) read by the C reader from the file ("file"), by the C reader from
    iter_lines_buffered ("lines"), or by the Python loop ("python")."""
    parser = cc._ClaudeFile(
        path,
        ClaudeFileState.from_dict(copy.deepcopy(state.to_dict())) if state else ClaudeFileState(),
    )
    stats = ParseStats()
    with open_transcript(path, start) as f:
        if mode == "file":
            parser.read_file(f, start, stats)
        elif mode == "lines":
            cc._c.read_lines(
                parser, iter_lines_buffered(f, path, start, stats), stats, cc._C_CONFIG
            )
        else:
            parser._read_python(iter_lines_buffered(f, path, start, stats), stats)
    return parser.finish(start + stats.bytes, stats), parser


def snapshot(fp: Any, parser: cc._ClaudeFile) -> tuple[Any, ...]:
    """Everything the read leaves, with types and orders (repr tells 1 from True)."""
    internals = (parser.api, parser.tools, parser.runs, parser.first_ts, parser.last_ts,
                 parser.model, parser.side_model, parser.title)  # fmt: skip
    return fp, repr(fp), repr(fp.state.to_dict()), repr(internals)


def assert_same(path: Path, start: int = 0, state: ClaudeFileState | None = None) -> Any:
    """The three paths agree on path from start; the Python FileParse."""
    results = {m: read(path, m, start, state) for m in MODES}
    want = snapshot(*results["python"])
    for mode in ("file", "lines"):
        got = snapshot(*results[mode])
        assert got[0] == want[0], (mode, path)
        assert got[1:] == want[1:], (mode, path)
    return results["python"][0]


def generate(out: Path, *args: str) -> Path:
    cmd = [sys.executable, str(GENERATOR), "--out", str(out), "--format", "claude-code", *args]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


# -- generated corpora, whole and in two chunks ------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--sessions", "12", "--turns", "5", "--seed", "1"],
        [
            "--sessions",
            "12",
            "--turns",
            "5",
            "--seed",
            "2",
            "--dup-rate",
            "0.3",
            "--btw-rate",
            "0.1",
        ],
        ["--sessions", "10", "--turns", "4", "--seed", "3", "--dup-rate", "0", "--btw-rate", "0"],
        [
            "--sessions",
            "10",
            "--turns",
            "6",
            "--seed",
            "4",
            "--dup-rate",
            "0.6",
            "--btw-rate",
            "0.3",
        ],
    ],
    ids=["seed1", "high-dup", "no-dup", "very-high-dup"],
)
def test_generated_corpora_read_alike_whole_and_in_two_chunks(tmp_path, args):
    files = discover_claude_files([generate(tmp_path / "corpus", *args)])
    assert len(files) > 10
    lines = 0
    for path in files:
        whole = assert_same(path)
        lines += whole.stats.lines
        data = path.read_bytes()
        for cut in (data.find(b"\n", len(data) // 2) + 1, len(data) // 3):  # at a line; inside one
            if 0 < cut < len(data):
                assert_same(path, cut, _read_until(path, cut).state)
    assert lines > 500


def _read_until(path: Path, cut: int) -> Any:
    """The Python read of the first cut bytes (a copy of the file cut there)."""
    head = path.with_name(path.name + ".head.jsonl")
    head.write_bytes(path.read_bytes()[:cut])
    try:
        return read(head, "python")[0]
    finally:
        head.unlink()


# -- the existing tests' fixtures: every read they make, cross-checked -----------------------

PLUGIN = """
import copy, os
from aitrack.transcripts import claude_code as cc
from aitrack.transcripts.records import ClaudeFileState, ParseStats, iter_lines_buffered, open_transcript

_read_file = cc._ClaudeFile.read_file
checked = 0


def _state(p):
    return (p.api, p.tools, p.runs, p.first_ts, p.last_ts, p.model, p.side_model, p.title,
            p.state.to_dict())


def read_file(self, f, start_offset, stats):
    global checked
    twin = cc._ClaudeFile(self.path, ClaudeFileState.from_dict(copy.deepcopy(self.state.to_dict())))
    _read_file(self, f, start_offset, stats)
    twin_stats = ParseStats()
    with open_transcript(self.path, start_offset) as g:
        twin._read_python(iter_lines_buffered(g, self.path, start_offset, twin_stats), twin_stats)
    assert repr(_state(self)) == repr(_state(twin)), self.path
    assert stats == twin_stats, self.path
    checked += 1


cc._ClaudeFile.read_file = read_file


def pytest_unconfigure(config):
    with open(os.environ["CROSSCHECK_OUT"], "a") as out:
        out.write(f"{checked}\\n")
"""


def test_every_claude_read_of_the_existing_tests_matches_the_python_loop(tmp_path):
    out = tmp_path / "checked.txt"
    files = ["test_transcripts.py", "test_import_transcripts.py", "test_import_bulk_load.py"]
    run = pytest_with_plugin(
        tmp_path, "crosscheck_plugin", PLUGIN, files, env={"CROSSCHECK_OUT": str(out)}
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert int(out.read_text().split()[-1]) > 100  # reads cross-checked


def test_the_pure_python_path_passes_the_transcript_tests(tmp_path):
    """Without the extension (no compiler), the Python loop reads everything."""
    plugin = "from aitrack.transcripts import claude_code\nclaude_code._c = None\n"
    run = pytest_with_plugin(tmp_path, "pure_python_plugin", plugin, ["test_transcripts.py"])
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]


def test_the_hand_made_fixture_lines_read_alike(tmp_path):
    import test_transcripts as tt

    tool = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}
    side = {"isSidechain": True, "agentId": "abc"}
    mirror = tt.cc("assistant", "06", tt.reply("msg_sub", 7), requestId="req_s", **side)
    lines = [
        {"type": "summary", "summary": "a title", "leafUuid": "u-x"},
        tt.cc("user", "01", tt.prompt("list files")),
        tt.cc("assistant", "02", tt.reply("msg_a", 40, tool), requestId="req_a"),
        tt.cc("user", "03", tt.tool_result("toolu_1", "boom", is_error=True)),
        tt.cc("user", "04", tt.prompt("expand the command"), isMeta=True),
        tt.cc(
            "user", "05", {"role": "user", "content": [{"type": "text", "text": "look"}]}, **side
        ),
        tt.cc("progress", "06", data={"type": "agent_progress", "message": mirror}),
        tt.cc("assistant", "07", tt.reply("msg_b", 9, speed="fast"), requestId="req_b", **side),
        tt.cc("user", "08", tt.prompt("<local-command-stdout>ok</local-command-stdout>")),
        json.loads(claude_prompt("hi there", "u-p", SID, "2025-10-01T11:00:00.000Z")),
        json.loads(claude_reply("m1", SID, "2025-10-01T11:00:01.000Z", 3, 4, tool=("t1", "Read"))),
        json.loads(claude_tool_result("t1", SID, "2025-10-01T11:00:02.000Z")),
        json.loads(
            claude_reply("m2", SID, "2025-10-01T11:00:03.000Z", 3, 9, side=True, agent_id="z")
        ),
    ]
    for extra in (b"}", b',"x":NaN}', b',"x":"\\ud800"}', b',"x":"\\ud83d\\ude00"}'):
        raw = [json.dumps(ln, separators=(",", ":")).encode()[:-1] + extra for ln in lines]
        fp = assert_same(tt.write_lines(tmp_path / extra.hex() / PROJ / f"{SID}.jsonl", raw))
        assert len(fp.api_calls) == 5
    sub = tmp_path / "projects" / PROJ / SID / "subagents" / "agent-abc.jsonl"
    assert_same(tt.write_lines(sub, lines))


# -- fuzz: odd lines -----------------------------------------------------------------------------

MIRROR = {"parentUuid": "p", "isSidechain": True, "agentId": "ag1", "cwd": "/w", "type": "assistant",
          "message": {"id": "msg_m", "type": "message", "role": "assistant", "model": "claude-haiku",
                      "content": [{"type": "tool_use", "id": "toolu_m", "name": "Grep", "input": {}}],
                      "usage": {"input_tokens": 9, "output_tokens": 79, "cache_read_input_tokens": 5,
                                "cache_creation_input_tokens": 2,
                                "cache_creation": {"ephemeral_5m_input_tokens": 2,
                                                   "ephemeral_1h_input_tokens": 0}}},
          "timestamp": "2025-10-01T10:00:05.198Z", "requestId": "req_m"}  # fmt: skip


def _env(kind: str, ts: str, **extra: Any) -> dict[str, Any]:
    return {"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": "/home/dev/app",
            "sessionId": SID, "version": "2.0.55", "gitBranch": "main", "type": kind,
            "uuid": f"u-{ts}", "timestamp": f"2025-10-01T10:00:{ts}.000Z", **extra}  # fmt: skip


def _usage(inp: int, out: int, **more: Any) -> dict[str, Any]:
    return {"input_tokens": inp, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000,
            "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 7},
            "output_tokens": out, "service_tier": "standard", **more}  # fmt: skip


def _reply(mid: str, blocks: list[Any], **usage: Any) -> dict[str, Any]:
    return {"id": mid, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": blocks, "stop_reason": None, "usage": _usage(3, 5, **usage)}  # fmt: skip


BASE: list[dict[str, Any]] = [
    _env("user", "01", message={"role": "user", "content": "list the files please"}),
    _env(
        "user",
        "02",
        message={
            "role": "user",
            "content": [{"type": "text", "text": "look"}, {"type": "image", "source": {}}],
        },
    ),  # fmt: skip
    _env(
        "assistant",
        "03",
        requestId="req_a",
        message=_reply(
            "msg_a",
            [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}],
        ),
    ),  # fmt: skip
    _env(
        "assistant",
        "04",
        requestId="req_a",
        message=_reply("msg_a", [{"type": "text", "text": "done"}], output_tokens=40),
    ),
    _env(
        "user",
        "05",
        message={
            "role": "user",
            "content": [
                {
                    "tool_use_id": "toolu_1",
                    "type": "tool_result",
                    "content": "ok",
                    "is_error": False,
                }
            ],
        },
        toolUseResult={"stdout": "ok"},
    ),  # fmt: skip
    _env(
        "user",
        "06",
        message={
            "role": "user",
            "content": [
                {
                    "tool_use_id": "toolu_9",
                    "type": "tool_result",
                    "content": [{"type": "text", "text": "x"}],
                    "is_error": True,
                }
            ],
        },
    ),  # fmt: skip
    _env("user", "07", isMeta=True, message={"role": "user", "content": "Caveat: generated"}),
    _env(
        "user",
        "08",
        message={"role": "user", "content": "  <local-command-stdout>x</local-command-stdout>"},
    ),
    _env("progress", "09", data={"type": "agent_progress", "agentId": "ag1", "message": MIRROR}),
    _env("progress", "10", data={"type": "agent_progress", "message": {**MIRROR, "type": "user"}}),
    {"type": "summary", "summary": "a title", "leafUuid": "u-x"},
    _env(
        "assistant",
        "11",
        isSidechain=True,
        agentId="ag1",
        requestId="req_s",
        message=_reply(
            "msg_s", [{"type": "thinking", "thinking": "hm", "signature": "s"}], speed="fast"
        ),
    ),  # fmt: skip
    _env(
        "user",
        "12",
        isSidechain=True,
        agentId="ag1",
        message={"role": "user", "content": "sub task"},
    ),
    _env(
        "assistant",
        "13",
        message={
            "type": "message",
            "role": "assistant",
            "model": "<synthetic>",
            "content": [],
            "usage": _usage(0, 0),
        },
    ),  # fmt: skip
    _env("system", "14", subtype="compact_boundary", content="compacted"),
    {"type": "file-history-snapshot", "messageId": "m", "snapshot": {"trackedFileBackups": {}}},
    _env(
        "assistant",
        "15",
        message={"id": "msg_n", "role": "assistant", "usage": {"service_tier": "x"}},
    ),
    _env(
        "user",
        "16",
        isCompactSummary=True,
        message={"role": "user", "content": "summary of before"},
    ),
]

# Raw JSON put in place of a value (or a key): escapes, numbers, invalid UTF-8, deep nesting, ...
RAW_VALUES: list[bytes] = [
    b"null", b"true", b"false", b"0", b"-0", b"1.0", b"1E2", b"-1", b"1e400", b"-0.0e-999",
    b"9223372036854775807", b"9223372036854775808", b"18446744073709551616",
    b"123456789012345678901234567890", b"NaN", b"Infinity", b"[]", b"{}", b'""', b'" "',
    b'[{"type":"tool_use","id":"toolu_x","name":"Edit"}]', b'[{"type":"text","text":"hi"}, null]',
    b'[{"type":"tool_result","tool_use_id":"toolu_1","is_error":true}]',
    b'{"input_tokens":1,"output_tokens":2}', b'{"ephemeral_5m_input_tokens":3}',
    b'"a\\u0000b"', b'"\\ud83d\\ude00"', b'"\\ud800"', b'"x\\udc00"', b'"\\/\\b\\f\\n\\r\\t\\"\\\\"',
    b'"\\u00e9\\u65e5"', b'"\\u12g4"', b'"\\x"', b'"\xff\xfe"', b'"\xed\xa0\x80"', b'"caf\xc3\xa9"',
    b'"\xc0\xaf"', b'"a\x01b"', b'"a\tb"', b'"\x7f"', b'"\xf4\x90\x80\x80"', b'"\xef\xbf\xbf"',
    b"[" * 70 + b"]" * 70, b"[" * 600 + b"]" * 600, b'{"a":' * 40 + b"1" + b"}" * 40,
    b'"user"', b'"assistant"', b'"progress"', b'"summary"', b'"us\\u0065r"', b'"tool_\\u0072esult"',
    b'"tool_use"', b'"text"', b'"<synthetic>"', b'"fast"', b'"ag1"', b'"toolu_1"', b'"toolu_m"',
    b'"2025-10-01T10:00:00Z"', b'"2025-10-01T10:00:00.123456+00:00"', b'"2025-10-01T10:00:00+01:00"',
    b'"2025-02-29T10:00:00.000Z"', b'"2024-02-29T10:00:00.000Z"', b'"2025-10-01 10:00:00"',
    b'"2025-10-01"', b'"2025-10-01T24:00:00Z"', b'"0000-01-01T00:00:00Z"', b'"0001-01-01T00:00:00Z"',
    b'"9999-12-31T23:59:59.999Z"', b'"2025-10-01T10:00:00.12Z"', b'"2025-10-01T10:00:60Z"',
    b'"1969-12-31T23:59:59.999Z"', b'"2025-10-01T10:00:00.000z"', b'"2025-10-01t10:00:00"',
    b'"<local-command-stderr>e"', b'" \\n Caveat: x"', b'"[Request interrupted by user]"',
    b'"\\u2003<bash-stdout>x"', b'"' + b"p" * 700 + b'"', b'"' + b" " * 600 + b'x"',
]  # fmt: skip
KEYS = ["type", "message", "content", "usage", "input_tokens", "output_tokens", "id", "model",
        "timestamp", "isSidechain", "agentId", "data", "tool_use_id", "is_error", "text", "uuid",
        "isMeta", "summary", "cache_creation", "speed", "requestId", "cwd", "name"]  # fmt: skip
SEPARATORS = [(",", ":"), (", ", ": "), (" ,\t", "\r: "), ("\r,", ":\t")]


def _paths(obj: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at] if at else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*at, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*at, i))
    return out


def _set(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for p in path[:-1]:
        obj = obj[p]
    obj[path[-1]] = value


@st.composite
def odd_lines(draw: st.DrawFn) -> bytes:
    obj = copy.deepcopy(draw(st.sampled_from(BASE)))
    raws: dict[str, bytes] = {}
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(obj)))
        what = draw(st.integers(0, 9))
        if what <= 5:  # a raw value
            marker = f"RAW{len(raws)}"
            raws[marker] = draw(st.sampled_from(RAW_VALUES))
            _set(obj, path, marker)
        elif what == 6 and len(path) == 1 and isinstance(obj, dict):  # drop a field
            obj.pop(path[0], None)
        else:  # a duplicate (or escaped) key with a raw value, in the object holding path
            holder = obj
            for p in path[:-1]:
                holder = holder[p]
            if isinstance(holder, dict):
                key = draw(st.sampled_from(KEYS))
                marker = f"KEY{len(raws)}"
                raws[marker] = draw(
                    st.sampled_from([key.encode(), key[:-1].encode() + b"\\u%04x" % ord(key[-1])])
                )
                holder[marker] = f"RAW{len(raws)}"
                raws[f"RAW{len(raws)}"] = draw(st.sampled_from(RAW_VALUES))
    sep = draw(st.sampled_from(SEPARATORS))
    line = json.dumps(obj, separators=sep, ensure_ascii=draw(st.booleans())).encode()
    for marker, raw in raws.items():
        line = line.replace(
            f'"{marker}"'.encode(), raw if marker.startswith("RAW") else b'"' + raw + b'"'
        )
    cut = draw(st.integers(0, 12))
    if cut == 0:
        line = line[: draw(st.integers(0, len(line)))]
    elif cut == 1:
        i = draw(st.integers(0, len(line) - 1))
        line = line[:i] + bytes([draw(st.integers(0, 255))]) + line[i + 1 :]
    elif cut == 2:
        line = draw(st.sampled_from([b"\xef\xbb\xbf", b" ", b"\t", b"\x0c", b"\r", b"\x0b"])) + line
    elif cut == 3:
        line = line + draw(st.sampled_from([b" ", b"\r", b"\x0c", b"x", b"}", b"\t\t"]))
    elif cut == 4:
        line = draw(st.sampled_from([b"", b" ", b"\t \r", b"{}", b"[]", b"null", b"{", b"}"]))
    return line


# The files fuzzed: odd lines among usual ones, a main or sub-agent file, and its tail.
FUZZ = {
    "lines": st.lists(
        st.one_of(
            odd_lines(),
            st.sampled_from(BASE).map(lambda d: json.dumps(d, separators=(",", ":")).encode()),
        ),
        min_size=1,
        max_size=8,
    ),
    "sub": st.booleans(),
    "tail": st.sampled_from([b"", b"\n", b'{"type":"user"']),
}


def check_fuzzed(base: Path, lines: list[bytes], sub: bool, tail: bytes) -> None:
    base = base / "fuzz" / "projects" / PROJ
    path = base / SID / "subagents" / "agent-ag1.jsonl" if sub else base / f"{SID}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"\n".join(lines) + b"\n" + tail
    path.write_bytes(data)
    fp = assert_same(path)
    if len(lines) > 2:  # and continued after its first lines, with their state
        cut = len(b"\n".join(lines[:2])) + 1
        assert_same(path, cut, _read_until(path, cut).state)
    assert fp.stats.lines == data.count(b"\n")


@settings(
    max_examples=700,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(**FUZZ)
def test_fuzzed_odd_lines_read_alike(tmp_path_factory, lines, sub, tail):
    check_fuzzed(tmp_path_factory.getbasetemp(), lines, sub, tail)


def test_the_common_lines_are_read_in_c_and_odd_ones_in_python():
    scan = cc._c.scan
    for d in BASE:
        line = json.dumps(d, separators=(",", ":")).encode()
        assert scan(line) in ("fast", "not read"), line
        assert scan(json.dumps(d).encode()) in ("fast", "not read")  # spaced
    odd = json.dumps(BASE[2], separators=(",", ":")).encode()
    for raw in (b'"\\ud800"', b"1.5", b'"\xff"', b"[" * 70 + b"]" * 70):
        assert scan(odd[:-1] + b',"isSidechain":' + raw + b"}") == "python"
    assert scan(odd[:-1] + b',"message":null}') == "python"  # a duplicate key read
    assert scan(odd[:-1] + b',"x":"\xff"}') == "fast"  # skipped: msgspec does not check it either


# -- timestamps ----------------------------------------------------------------------------------


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.datetimes().map(lambda d: d.isoformat(timespec="milliseconds")),
        st.datetimes().map(lambda d: d.isoformat(timespec="microseconds") + "Z"),
        st.datetimes().map(lambda d: d.isoformat(timespec="seconds") + "+00:00"),
        st.from_regex(
            r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,7})?(Z|\+00:00|[+-][0-9]{2}:[0-9]{2})?\Z"
        ),
        st.text(max_size=30),
    )
)
def test_timestamps_parsed_in_c_equal_ts(value):
    fast = cc._c.parse_ts(value)
    if fast is not None:
        assert fast == cc._ts(value), value


def test_the_common_timestamp_forms_are_parsed_in_c():
    for value in ("2025-10-01T10:00:00.123Z", "2024-02-29T23:59:59.999999+00:00", "0001-01-01T00:00:00",
                  "9999-12-31T23:59:59.999Z", "1969-07-20T20:17:40.000Z"):  # fmt: skip
        assert cc._c.parse_ts(value) == cc._ts(value) is not None
    for value in ("2025-02-29T10:00:00Z", "2025-10-01T24:00:00Z", "0000-01-01T00:00:00Z",
                  "2025-10-01T10:00:00+01:00", "2025-10-01T10:00:00.12Z", "2025-10-01 10:00:00"):  # fmt: skip
        assert cc._c.parse_ts(value) is None


# -- errors and references -------------------------------------------------------------------


def test_exceptions_of_the_python_callbacks_propagate(tmp_path):
    path = tmp_path / PROJ / f"{SID}.jsonl"
    path.parent.mkdir(parents=True)
    good = json.dumps(BASE[0], separators=(",", ":")).encode()
    path.write_bytes(good + b"\n" + good[:-1] + b',"isMeta":1.5}\n')  # the second goes to Python

    def boom(line: bytes) -> None:
        raise KeyError("from decode_line")

    parser, stats = cc._ClaudeFile(path, ClaudeFileState()), ParseStats()
    with open_transcript(path, 0) as f, pytest.raises(KeyError, match="from decode_line"):
        cc._c.read_file(parser, f.readinto, 0, stats, (boom, *cc._C_CONFIG[1:]))

    def failing_read(buf: memoryview) -> int:
        raise TranscriptError("cannot read")

    with pytest.raises(TranscriptError):
        cc._c.read_file(parser, failing_read, 0, ParseStats(), cc._C_CONFIG)
    with pytest.raises(TypeError):
        cc._c.read_lines(parser, [(0, good), "not a pair"], ParseStats(), cc._C_CONFIG)


def test_repeated_reads_do_not_leak(tmp_path):
    files = discover_claude_files(
        [generate(tmp_path / "c", "--sessions", "4", "--turns", "4", "--seed", "9")]
    )
    odd = tmp_path / "projects" / PROJ / f"{SID}.jsonl"
    odd.parent.mkdir(parents=True)
    lines = [json.dumps(d, separators=(",", ":")).encode() for d in BASE]
    odd.write_bytes(b"\n".join(lines + [ln[:-1] + b',"x":"\\ud800"}' for ln in lines]) + b"\n")
    files.append(odd)

    def once() -> None:
        for path in files:
            read(path, "file")
            read(path, "lines")

    once()
    tracemalloc.start()
    once()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(30):
        once()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 64 * 1024, grown
