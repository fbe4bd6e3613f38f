"""Throughput and peak memory of the transcript parsers on a generated corpus.

    python bench/parse_transcripts.py --size-mb 200 [--format claude-code|codex] [--check]
                                      [--root DIR] [--repeat N] [--pure-python] [--compare]

The corpus is generated once into /tmp/aitrack-transcripts-bench-<format>-<size>mb (deterministic) and
reused (--root: an existing corpus instead). Prints MB/s (wall and CPU), CPU seconds per GB (the
best of --repeat runs; on a shared machine CPU time is the figure to compare) and the peak RSS of
this process while parsing every file (records are dropped per file, as an importer writing them
out would; --check keeps the dedup map to compare per-model totals with _truth.json). Not a timed
test.

Claude Code: the C reader (_claude_read.c) when it is built; --pure-python times the Python loop
instead. --compare (not timed) reads every file with both and checks they give the same records,
stats, state and parser internals.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from aitrack.transcripts import (  # noqa: E402
    ClaudeFileState,
    ParseStats,
    claude_code,  # noqa: E402
    discover_claude_files,
    discover_codex_files,
    parse_claude_file,
    parse_codex_file,
    supersedes,
)
from aitrack.transcripts.records import iter_lines_buffered, open_transcript  # noqa: E402

GENERATOR = ROOT.parent / "shared" / "tools" / "gen_agent_logs.py"


def corpus(fmt: str, size_mb: float) -> Path:
    out = Path(f"/tmp/aitrack-transcripts-bench-{fmt}-{size_mb:g}mb")
    if not (out / "_truth.json").exists():
        if out.exists():
            subprocess.run(["rm", "-rf", str(out)], check=True)
        print(f"generating {out} ...", file=sys.stderr)
        cmd = [sys.executable, str(GENERATOR), "--out", str(out), "--format", fmt]
        subprocess.run([*cmd, "--size-mb", str(size_mb)], check=True, stdout=subprocess.DEVNULL)
    return out


def compare_claude(files: list[Path]) -> None:
    """Every file read by the C reader and by the Python loop: the same everything."""

    def read(path: Path, python: bool) -> tuple[str, ...]:
        parser = claude_code._ClaudeFile(path, ClaudeFileState())
        stats = ParseStats()
        with open_transcript(path, 0) as f:
            if python:
                parser._read_python(iter_lines_buffered(f, path, 0, stats), stats)
            else:
                parser.read_file(f, 0, stats)
        fp = parser.finish(stats.bytes, stats)
        internals = (parser.api, parser.tools, parser.runs, parser.first_ts, parser.last_ts,
                     parser.model, parser.side_model, parser.title)  # fmt: skip
        return repr(fp), repr(fp.state.to_dict()), repr(internals)

    if claude_code._c is None:
        sys.exit("--compare: the C reader is not built")
    bad = lines = 0
    for path in files:
        c, py = read(path, False), read(path, True)
        lines += int(c[0].split("ParseStats(lines=")[1].split(",")[0])
        if c != py:
            bad += 1
            print(f"DIFFERS: {path}")
    print(f"compare: {len(files)} files, {lines} lines: {bad} files differ between C and Python")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--size-mb", type=float, default=200)
    p.add_argument("--format", choices=["claude-code", "codex"], default="claude-code")
    p.add_argument("--check", action="store_true", help="also dedup and compare with _truth.json")
    p.add_argument("--root", type=Path, help="an existing corpus instead of a generated one")
    p.add_argument("--repeat", type=int, default=1, help="parse it N times, report the best")
    p.add_argument("--pure-python", action="store_true", help="Claude: the Python loop, not C")
    p.add_argument("--compare", action="store_true", help="Claude: check C against Python first")
    a = p.parse_args()
    root = a.root or corpus(a.format, a.size_mb)
    discover, parse = (
        (discover_claude_files, parse_claude_file)
        if a.format == "claude-code"
        else (discover_codex_files, parse_codex_file)
    )
    if a.compare and a.format == "claude-code":
        compare_claude(discover([root]))
    if a.pure_python:
        claude_code._c = None
    reader = "pure Python" if claude_code._c is None else "C reader"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    runs = []
    for _ in range(a.repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        files = discover([root])
        nbytes = lines = malformed = api_lines = records = 0
        best: dict = {}
        for path in files:
            fp = parse(path)
            nbytes += fp.stats.bytes
            lines += fp.stats.lines
            malformed += fp.stats.skipped_malformed
            api_lines += fp.stats.api_lines
            records += len(fp.api_calls) + len(fp.runs) + len(fp.tool_calls) + len(fp.sessions)
            if a.check:
                for rec in fp.api_calls:
                    old = best.get(rec.dedup_key)
                    if old is None or supersedes(rec, old):
                        best[rec.dedup_key] = rec
        runs.append((time.process_time() - cpu, time.perf_counter() - wall))
    cpu, wall = min(runs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mb = nbytes / 1e6
    print(
        f"{a.format}: {len(files)} files, {mb:.1f} MB, {lines} lines ({malformed} malformed), "
        f"{api_lines} usage lines -> {records} records"
    )
    print(f"parse: {wall:.2f} s wall = {mb / wall:.1f} MB/s; {cpu:.2f} s CPU = {mb / cpu:.1f} MB/s")
    each = ", ".join(f"{c / (mb / 1000):.2f}" for c, _ in runs)
    if a.format == "claude-code":
        print(f"CPU s/GB ({reader}): best {cpu / (mb / 1000):.2f} of {len(runs)} runs ({each})")
    print(f"peak RSS: {peak / 1024:.0f} MB (interpreter and imports: {rss_before / 1024:.0f} MB)")
    if a.check:
        truth = json.loads((root / "_truth.json").read_text())["models"]
        got: dict[str, dict[str, int]] = {}
        for r in best.values():
            if r.synthetic:
                continue
            m = got.setdefault(r.model, {"input": 0, "output": 0, "responses": 0})
            m["input"] += r.input_tokens + (r.cache_read_tokens if r.provider == "openai" else 0)
            m["output"] += r.output_tokens
            m["responses"] += 1
        same = all(
            got.get(model, {}).get(k) == t[k]
            for model, t in truth.items()
            for k in ("input", "output", "responses")
        )
        print("totals match _truth.json" if same else f"MISMATCH: {got} vs {truth}")


if __name__ == "__main__":
    main()
