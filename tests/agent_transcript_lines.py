"""Hand-made transcript lines in the agents' own shapes, for hook and import tests."""

from __future__ import annotations

import json

CWD = "/home/u/app"


def _dump(obj: dict) -> str:
    return json.dumps(obj, separators=(",", ":"))


def claude_prompt(text: str, uuid: str, session: str, ts: str, cwd: str = CWD) -> str:
    return _dump({
        "parentUuid": None, "isSidechain": False, "userType": "external", "cwd": cwd,
        "sessionId": session, "version": "2.0.55", "gitBranch": "main", "type": "user",
        "message": {"role": "user", "content": text}, "uuid": uuid, "timestamp": ts,
    })  # fmt: skip


def claude_reply(
    mid: str,
    session: str,
    ts: str,
    inp: int,
    out: int,
    *,
    cache_read: int = 0,
    cache_write: int = 0,
    side: bool = False,
    agent_id: str | None = None,
    tool: tuple[str, str] | None = None,
    cwd: str = CWD,
    model: str = "claude-sonnet-4-5-20250929",
) -> str:
    content = ([{"type": "tool_use", "id": tool[0], "name": tool[1], "input": {}}] if tool
               else [{"type": "text", "text": "done"}])  # fmt: skip
    line = {
        "parentUuid": None, "isSidechain": side, "userType": "external", "cwd": cwd,
        "sessionId": session, "version": "2.0.55", "gitBranch": "main", "type": "assistant",
        "uuid": "u-" + mid, "timestamp": ts, "requestId": "req-" + mid,
        "message": {"id": mid, "type": "message", "role": "assistant", "model": model,
                    "content": content, "stop_reason": "tool_use" if tool else "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": inp, "cache_creation_input_tokens": cache_write,
                              "cache_read_input_tokens": cache_read, "output_tokens": out,
                              "cache_creation": {"ephemeral_5m_input_tokens": cache_write,
                                                 "ephemeral_1h_input_tokens": 0}}},
    }  # fmt: skip
    if agent_id:
        line["agentId"] = agent_id
    return _dump(line)


def claude_tool_result(tool_id: str, session: str, ts: str, cwd: str = CWD) -> str:
    return _dump({
        "parentUuid": None, "isSidechain": False, "userType": "external", "cwd": cwd,
        "sessionId": session, "version": "2.0.55", "gitBranch": "main", "type": "user",
        "message": {"role": "user", "content": [
            {"tool_use_id": tool_id, "type": "tool_result", "content": "ok"}]},
        "uuid": "r-" + tool_id, "timestamp": ts, "toolUseResult": {"stdout": "ok"},
    })  # fmt: skip
