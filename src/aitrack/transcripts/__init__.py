"""Read Claude Code and Codex CLI transcripts into plain records (no database here)."""

from aitrack.transcripts.claude_code import (
    claude_file_paths,
    default_claude_roots,
    discover_claude_files,
    parse_claude_file,
    parse_claude_rows,
)
from aitrack.transcripts.codex import (
    codex_file_paths,
    default_codex_roots,
    discover_codex_files,
    parse_codex_file,
)
from aitrack.transcripts.records import (
    ApiCallRecord,
    ClaudeFileState,
    CodexFileState,
    FileParse,
    FileRows,
    FileShrank,
    ParseStats,
    RunRecord,
    SessionRecord,
    ToolCallRecord,
    TranscriptError,
    supersedes,
)

__all__ = [
    "ApiCallRecord",
    "ClaudeFileState",
    "CodexFileState",
    "FileParse",
    "FileRows",
    "FileShrank",
    "ParseStats",
    "RunRecord",
    "SessionRecord",
    "ToolCallRecord",
    "TranscriptError",
    "claude_file_paths",
    "codex_file_paths",
    "default_claude_roots",
    "default_codex_roots",
    "discover_claude_files",
    "discover_codex_files",
    "parse_claude_file",
    "parse_claude_rows",
    "parse_codex_file",
    "supersedes",
]
