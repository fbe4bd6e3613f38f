"""Importing a 1 GB Claude Code corpus, against the reference analyser ccusage, in one run.

1. cold:  `aitrack import claude-code` into an empty store, then `aitrack usage daily --json`
2. warm:  `aitrack import claude-code` again (finds nothing new), then `usage daily --json`
3. ccusage 20.0.24 `daily --json --offline` on the same directory
4. the parsers alone (one process), for reference

Steps 1-3 run in rounds (--rounds, default 3; ccusage last in the first round, first in the
second, and so on) and the times are compared by their medians: on a shared machine the
wall time of one command moves by a tenth or more from one minute to the next.

Peak memory is the largest sum of RSS over our process and its worker processes (sampled
from /proc every 20 ms). Token totals are checked against the generator's _truth.json.
Targets: cold <= ccusage, warm usage <= 5 % of ccusage, peak <= 300 MB, totals equal.

Run: .venv/bin/python bench/import.py [--size-mb 1000] [--corpus DIR] [--ccusage DIR] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
GENERATOR = Path(__file__).resolve().parents[2] / "shared" / "tools" / "gen_agent_logs.py"
if not GENERATOR.exists():
    GENERATOR = Path("/work/shared/tools/gen_agent_logs.py")
CCUSAGE_VERSION = "20.0.24"
# input, output, cache-write and cache-read totals in our `usage --json` and in ccusage's
OUR_TOKENS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
CCUSAGE_TOKENS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")


def tree_rss_kb(pid: int) -> int:
    """RSS of a process and all its descendants, in KB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return total


CPU: dict[str, float] = {}  # label -> CPU seconds, user + system, worker processes included


def run(cmd: list[str], env: dict[str, str], label: str) -> tuple[float, int, str]:
    """Wall seconds, peak tree RSS (MB) and stdout of a command; its CPU time goes to CPU."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = 0
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()))  # type: ignore[union-attr]
    reader.start()
    while proc.poll() is None:
        peak = max(peak, tree_rss_kb(proc.pid))
        time.sleep(0.02)
    reader.join()
    elapsed = time.perf_counter() - start
    err = proc.stderr.read()  # type: ignore[union-attr]
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed ({proc.returncode}): {err[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[label] = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, peak // 1024, out[0]


def corpus_dir(args: argparse.Namespace) -> Path:
    corpus = Path(args.corpus or f"/tmp/aitrack-bench-claude-{int(args.size_mb)}mb")
    if (corpus / "_truth.json").exists():
        return corpus
    free = shutil.disk_usage(corpus.parent).free
    if free < args.size_mb * 3e6:
        raise SystemExit(
            f"only {free / 1e9:.1f} GB free in {corpus.parent}: need ~{args.size_mb * 3 / 1000:.1f} GB"
        )
    print(f"generating {args.size_mb:.0f} MB corpus in {corpus} ...", flush=True)
    if corpus.exists():
        shutil.rmtree(corpus)
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(corpus), "--size-mb", str(args.size_mb)],
                   check=True)  # fmt: skip
    return corpus


def ccusage_bin(folder: Path) -> Path:
    binary = folder / "node_modules" / ".bin" / "ccusage"
    if not binary.exists():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"installing ccusage@{CCUSAGE_VERSION} in {folder} ...", flush=True)
        subprocess.run(
            ["npm", "install", "--silent", f"ccusage@{CCUSAGE_VERSION}"], cwd=folder, check=True
        )
    return binary


def parse_only(corpus: Path) -> float:
    """CPU seconds of the parsers alone over the corpus, in one process."""
    code = (
        "import sys, time; from pathlib import Path\n"
        "from aitrack.transcripts import discover_claude_files, parse_claude_file\n"
        "t = time.process_time()\n"
        "for f in discover_claude_files([Path(sys.argv[1])]): parse_claude_file(f)\n"
        "print(time.process_time() - t)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(corpus)], capture_output=True, text=True, check=True
    )
    return float(done.stdout)


def one_round(corpus: Path, ccusage: Path, ccusage_first: bool) -> dict[str, Any]:
    """Cold import + `usage daily`, warm import + `usage daily` (a fresh store each round) and
    ccusage, ccusage first or last: the figures of one round."""
    CPU.clear()
    with tempfile.TemporaryDirectory(prefix="aitrack-import-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(AITRACK_HOME=tmp, CLAUDE_CONFIG_DIR=str(corpus), TZ="UTC")
        env.pop("AITRACK_DATABASE_URL", None)
        imp = [str(BIN / "aitrack"), "import", "claude-code", "--path", str(corpus), "--json"]
        daily = [str(BIN / "aitrack"), "usage", "daily", "--json", "--timezone", "UTC"]
        cc_cmd = [str(ccusage), "daily", "--json", "--offline"]
        if ccusage_first:
            cc_time, cc_rss, cc_out = run(cc_cmd, env, "ccusage")
        cold_import, cold_rss, cold_out = run(imp, env, "cold import")
        cold_daily, daily_rss, daily_out = run(daily, env, "cold usage")
        warm_import, warm_rss, warm_out = run(imp, env, "warm import")
        warm_daily, _, warm_daily_out = run(daily, env, "warm usage")
        if not ccusage_first:
            cc_time, cc_rss, cc_out = run(cc_cmd, env, "ccusage")
        db_mb = sum(p.stat().st_size for p in Path(tmp).glob("aitrack.db*")) / 1e6
    return {
        "cold_import_s": cold_import, "cold_usage_s": cold_daily, "cold_s": cold_import + cold_daily,
        "warm_import_s": warm_import, "warm_usage_s": warm_daily, "ccusage_s": cc_time,
        "ccusage_first": ccusage_first, "peak_mb": max(cold_rss, warm_rss, daily_rss),
        "cold_rss": cold_rss, "daily_rss": daily_rss, "ccusage_peak_mb": cc_rss, "store_mb": db_mb,
        "cpu_s": dict(CPU), "summary": json.loads(cold_out)["data"],
        "warm_summary": json.loads(warm_out)["data"],
        "ours": json.loads(daily_out)["data"]["totals"],
        "ours_warm": json.loads(warm_daily_out)["data"]["totals"],
        "theirs": json.loads(cc_out)["totals"],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=1000)
    parser.add_argument(
        "--corpus", help="an existing generator corpus (default: generated in /tmp)"
    )
    parser.add_argument("--ccusage", default="/tmp/ccusage", help="scratch folder for ccusage")
    parser.add_argument(
        "--rounds", type=int, default=3,
        help="rounds, ccusage last then first in turn; times are compared by their medians "
        "(default 3; on a shared machine one round is at the mercy of the next minute)",
    )  # fmt: skip
    parser.add_argument("--skip-parse-only", action="store_true")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")
    corpus = corpus_dir(args)
    truth = json.loads((corpus / "_truth.json").read_text())
    ccusage = ccusage_bin(Path(args.ccusage))
    rounds = [one_round(corpus, ccusage, ccusage_first=i % 2 == 1) for i in range(args.rounds)]
    parse_s = None if args.skip_parse_only else parse_only(corpus)

    t = truth["totals"]
    want = {k: t[k] for k in ("input", "output", "cache_creation", "cache_read")}

    def tokens(totals: dict[str, Any], names: tuple[str, ...]) -> dict[str, int]:
        """The four token totals of a report, under the generator's names."""
        return {kind: totals[name] for kind, name in zip(want, names, strict=True)}

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    def cpu(label: str) -> float:
        return statistics.median(r["cpu_s"][label] for r in rounds)

    print(f"{'round':<6} {'order':<15} {'cold total':>10} {'ccusage':>8} {'ratio':>6} "
          f"{'warm usage':>10} {'peak':>7}")  # fmt: skip
    for i, r in enumerate(rounds, 1):
        order = "ccusage first" if r["ccusage_first"] else "ccusage last"
        print(f"{i:<6} {order:<15} {r['cold_s']:>9.2f}s {r['ccusage_s']:>7.2f}s "
              f"{r['cold_s'] / r['ccusage_s']:>5.2f}x {r['warm_usage_s']:>9.2f}s "
              f"{r['peak_mb']:>4} MB")  # fmt: skip
    first, cold, cc_time = rounds[0], median("cold_s"), median("ccusage_s")
    summary, warm_summary = first["summary"], first["warm_summary"]
    n = f"median of {len(rounds)}" if len(rounds) > 1 else "one round"
    rows = [
        (
            "corpus",
            f"{truth['bytes'] / 1e6:.0f} MB, {truth['files']} files, {truth['lines']:,} lines, "
            f"{truth['totals']['responses']:,} responses",
        ),
        (
            "aitrack cold import",
            f"{median('cold_import_s'):.2f} s, CPU {cpu('cold import'):.1f} s ({n}; peak "
            f"{max(r['cold_rss'] for r in rounds)} MB incl. workers; {summary['api_calls']:,} "
            f"responses read, {summary['skipped']} lines skipped)",
        ),
        (
            "aitrack cold usage daily",
            f"{median('cold_usage_s'):.2f} s (peak {max(r['daily_rss'] for r in rounds)} MB)",
        ),
        ("aitrack cold total", f"{cold:.2f} s ({n})"),
        (
            "aitrack warm import",
            f"{median('warm_import_s'):.2f} s ({warm_summary['files_read']} files with new data)",
        ),
        ("aitrack warm usage daily", f"{median('warm_usage_s'):.2f} s"),
        (
            "ccusage daily --offline",
            f"{cc_time:.2f} s, CPU {cpu('ccusage'):.1f} s ({n}; peak "
            f"{max(r['ccusage_peak_mb'] for r in rounds)} MB)",
        ),
        ("parsers alone, 1 process", "skipped" if parse_s is None else f"CPU {parse_s:.1f} s"),
        ("store size", f"{first['store_mb']:.0f} MB"),
        (
            "cost aitrack / ccusage",
            f"${first['ours']['cost_usd']:,.2f} / ${first['theirs']['totalCost']:,.2f}",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    checks = {
        "cold <= ccusage": cold <= cc_time,
        "warm usage <= 5% of ccusage": median("warm_usage_s") <= 0.05 * cc_time,
        "peak memory <= 300 MB": max(r["peak_mb"] for r in rounds) <= 300,
        "tokens equal _truth.json": all(tokens(r["ours"], OUR_TOKENS) == want for r in rounds),
        "ccusage agrees with _truth.json": all(
            tokens(r["theirs"], CCUSAGE_TOKENS) == want for r in rounds
        ),
        "warm usage equals cold usage": all(r["ours_warm"] == r["ours"] for r in rounds),
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    keep = ("cold_import_s", "cold_usage_s", "cold_s", "warm_import_s", "warm_usage_s",
            "ccusage_s", "ccusage_first", "peak_mb", "ccusage_peak_mb", "cpu_s")  # fmt: skip
    print(json.dumps({"rounds": [{k: r[k] for k in keep} for r in rounds],
                      "cold_s": cold, "ccusage_s": cc_time, "warm_usage_s": median("warm_usage_s"),
                      "parse_only_s": parse_s, "checks": checks, "load": os.getloadavg()[0]}))  # fmt: skip


if __name__ == "__main__":
    main()
