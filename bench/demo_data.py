"""Realistic demo data for the dashboard's benchmark and screenshots, inserted directly with
executemany (millions of rows in seconds, not through the tracker).

90 days of work of a small team: 8 repositories with their branches, 3 agents, 6 models (one
of them unpriced), weekday and working-hour peaks, outcomes, ratings, issues, commits and
changed files, a few tags, and a handful of sessions still active.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from aitrack import ids  # noqa: E402
from aitrack.clock import now_ms  # noqa: E402
from aitrack.store import open_store  # noqa: E402

DAY = 86_400_000
REPOS = {
    "/home/dev/src/payments-api": (0.22, ["main", "feat/refunds", "fix/idempotency"]),
    "/home/dev/src/web-frontend": (0.18, ["main", "feat/checkout-v2", "chore/deps"]),
    "/home/dev/src/mobile-app": (0.12, ["main", "feat/offline-sync"]),
    "/home/dev/src/data-pipeline": (0.12, ["main", "feat/backfill", "perf/partitioning"]),
    "/home/dev/src/auth-service": (0.1, ["main", "fix/token-refresh"]),
    "/home/dev/src/infra": (0.1, ["main", "ops/terraform-upgrade"]),
    "/home/dev/src/search": (0.09, ["main", "feat/semantic"]),
    "/home/dev/src/docs-site": (0.07, ["main"]),
}
AGENTS = {"claude-code": 0.55, "codex": 0.3, "copilot": 0.15}
# model: (provider, share, $/MTok input, output, cache read, cache write); None = unpriced
MODELS: dict[str, tuple[str | None, float, tuple[float, float, float, float] | None]] = {
    "claude-sonnet-4-5": ("anthropic", 0.42, (3.0, 15.0, 0.3, 3.75)),
    "claude-opus-4-1": ("anthropic", 0.08, (15.0, 75.0, 1.5, 18.75)),
    "claude-haiku-4-5": ("anthropic", 0.12, (1.0, 5.0, 0.1, 1.25)),
    "gpt-5": ("openai", 0.24, (1.25, 10.0, 0.125, 0.0)),
    "gpt-5-mini": ("openai", 0.12, (0.25, 2.0, 0.025, 0.0)),
    "qwen2.5-coder-32b": (None, 0.02, None),
}
AGENT_MODELS = {
    "claude-code": ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"],
    "codex": ["gpt-5", "gpt-5-mini"],
    "copilot": ["gpt-5", "claude-sonnet-4-5", "gpt-5-mini", "qwen2.5-coder-32b"],
}
TASKS = {
    "code_generation": (0.3, 90),
    "debugging": (0.2, 60),
    "refactoring": (0.12, 120),
    "testing": (0.1, 60),
    "documentation": (0.06, 30),
    "analysis": (0.08, 45),
    "architecture_planning": (0.04, 180),
    "human_review": (0.05, 30),
    "general": (0.05, 30),
}
DEVELOPERS = ["ana", "ben", "chen", "dara", "eli", "fatima", "gus", "hana", "ivan", "jo"]
ISSUES = [
    ("hallucination", "Invented an API that does not exist"),
    ("incorrect_output", "Tests failed after the change"),
    ("wrong_api", "Used a deprecated client method"),
    ("incomplete", "Stopped before finishing the migration"),
    ("context_loss", "Forgot the constraint given earlier"),
    ("security", "Logged a secret in plain text"),
]
SEVERITY = ["low", "medium", "medium", "high", "critical"]
VERBS = ["Fix", "Add", "Refactor", "Speed up", "Document", "Test", "Investigate", "Remove"]
OBJECTS = [
    "login redirect loop",
    "refund webhook retries",
    "checkout form validation",
    "CSV export",
    "flaky integration test",
    "rate limiter",
    "search ranking",
    "token refresh race",
    "offline cache eviction",
    "Terraform state drift",
    "invoice PDF layout",
    "N+1 query on orders",
    "feature flag cleanup",
    "dark mode contrast",
    "backfill job memory",
    "OpenAPI docs",
]
FILES = [
    "src/app.py",
    "src/models.py",
    "src/api/routes.py",
    "tests/test_api.py",
    "README.md",
    "src/db/queries.sql",
    "web/src/Checkout.tsx",
    "infra/main.tf",
    "src/jobs/backfill.py",
]


def _pick(rnd: random.Random, weights: dict) -> str:
    keys = list(weights)
    values = [w[0] if isinstance(w, tuple) else w for w in weights.values()]
    return rnd.choices(keys, values)[0]


def _start_times(rnd: random.Random, n: int, now: int, days: int) -> list[int]:
    """Session starts over `days`, weekdays and working hours heavier, growing over time."""
    out = []
    while len(out) < n:
        age = rnd.random() ** 1.25 * days  # more recent days are busier (adoption grows)
        day_start = (now - int(age * DAY)) // DAY * DAY
        weekday = (day_start // DAY + 3) % 7  # 0 = Monday
        if weekday >= 5 and rnd.random() < 0.8:
            continue
        hour = min(23.9, max(0.0, rnd.gauss(13.5, 3.2)))
        start = day_start + int(hour * 3_600_000) + rnd.randrange(3_600_000)
        if start < now - 600_000:
            out.append(start)
    return sorted(out)


def _call_cost(model: str, tokens: tuple[int, int, int, int]) -> float | None:
    price = MODELS[model][2]
    if price is None:
        return None
    return sum(t * p for t, p in zip(tokens, price, strict=True)) / 1_000_000


def fill(
    path: str | Path,
    sessions: int = 100_000,
    interactions: int = 1_000_000,
    api_calls: int = 1_000_000,
    days: int = 90,
    active: int = 4,
    seed: int = 7,
) -> dict:
    """Fill the store at path; returns counts. The store is created and migrated."""
    rnd = random.Random(seed)
    store = open_store(str(path))
    db = store.db
    if db.dialect == "sqlite":  # a bulk load: durability of each batch does not matter here
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -262144")
    now = now_ms()
    starts = _start_times(rnd, sessions, now, days)
    i_counts = _allocate(rnd, interactions, sessions)
    a_counts = _allocate(rnd, api_calls, sessions)
    buf: dict[str, list] = {k: [] for k in ("s", "i", "a", "is", "c", "ch", "t", "r")}
    counts = dict.fromkeys(
        ("sessions", "interactions", "api_calls", "issues", "commits", "changes", "tags", "runs"), 0
    )

    def flush() -> None:
        with db.transaction():
            _insert(db, buf)
        for v in buf.values():
            v.clear()

    for n, start in enumerate(starts):
        is_active = n >= sessions - active
        if is_active:  # still running: started within the last hour and a half
            start = now - rnd.randrange(5, 90) * 60_000
        sid = ids.new_id(start)
        repo = _pick(rnd, REPOS)
        branch = rnd.choice(REPOS[repo][1])
        agent = _pick(rnd, AGENTS)
        model = rnd.choice(AGENT_MODELS[agent])
        task = _pick(rnd, TASKS)
        base = TASKS[task][1]
        minutes = min(240.0, rnd.lognormvariate(3.4, 0.75))
        end = None if is_active else start + int(minutes * 60_000)
        last = max(start, now - rnd.randrange(60_000, 300_000)) if is_active else end
        n_i, n_a = i_counts[n], a_counts[n]
        span = (last - start) or 60_000
        ratings = [min(5, max(1, round(rnd.gauss(3.9, 0.9)))) for _ in range(n_i)]
        hist = [ratings.count(k) for k in range(1, 6)]
        outcome = (
            None
            if is_active
            else rnd.choices(["success", "partial", "failed"], [0.72, 0.19, 0.09])[0]
        )
        n_issues = 0 if rnd.random() < 0.8 else rnd.randint(1, 3)
        step = span // max(n_i, 1)
        gaps = [step] * max(0, n_i - 1)
        buf["s"].append(
            (
                sid,
                f"{rnd.choice(VERBS)} {rnd.choice(OBJECTS)}",
                task,
                model,
                float(rnd.choice([0.5, 1, 1, 1.5, 2, 3]) * base),
                rnd.choice(["manual", "default"]),
                f"{agent}-{sid[-6:]}",
                agent,
                "hook" if agent != "copilot" else "mcp",
                rnd.choice(DEVELOPERS),
                repo,
                branch,
                repo,
                start,
                end,
                last,
                "active" if is_active else "completed",
                outcome,
                n_i,
                sum(ratings),
                *hist,
                len(gaps),
                sum(gaps),
                max(gaps, default=0),
                sum(1 for g in gaps if g > 900_000),
                n_issues,
            )
        )
        for k, rating in enumerate(ratings):
            ts = start + k * step
            buf["i"].append(
                (
                    ids.new_id(ts),
                    sid,
                    ts,
                    "Make the change described in the task",
                    "Edited the files and ran the tests",
                    rating,
                    rnd.randint(1, 3),
                    '["Edit","Bash"]',
                    None if k == 0 else step,
                )
            )
        run_id = ids.new_id(start)
        buf["r"].append((run_id, sid, start, end, "completed" if end else "active"))
        a_step = span // max(n_a, 1)
        for k in range(n_a):
            ts = start + k * a_step
            m = model if rnd.random() < 0.85 else rnd.choice(list(MODELS)[:5])
            cache_read = int(rnd.lognormvariate(9.8 if MODELS[m][0] == "anthropic" else 8.6, 0.9))
            tokens = (
                int(rnd.lognormvariate(6.5, 1.0)),
                int(rnd.lognormvariate(6.3, 0.9)),
                cache_read,
                int(rnd.lognormvariate(7.0, 1.2)) if k == 0 else 0,
            )
            buf["a"].append(
                (
                    ids.new_id(ts),
                    sid,
                    run_id,
                    ts,
                    MODELS[m][0],
                    m,
                    *tokens,
                    min(tokens[1], int(tokens[1] * rnd.random() * 0.3)),
                    _call_cost(m, tokens),
                    rnd.randint(800, 30000),
                    200,
                    "import",
                    f"{sid}:{k}",
                )
            )
        for _ in range(n_issues):
            kind, text = rnd.choice(ISSUES)
            ts = start + rnd.randrange(max(span, 1))
            buf["is"].append(
                (
                    ids.new_id(ts),
                    sid,
                    ts,
                    kind,
                    text,
                    rnd.choice(SEVERITY),
                    1 if rnd.random() < 0.6 else 0,
                )
            )
        if end and outcome != "failed" and rnd.random() < 0.55:
            for k in range(rnd.choice([1, 1, 1, 2, 2, 3])):
                ts = end - k * 60_000
                added, removed = (
                    int(rnd.lognormvariate(3.5, 1.1)),
                    int(rnd.lognormvariate(2.5, 1.1)),
                )
                buf["c"].append(
                    (
                        ids.new_id(ts),
                        sid,
                        f"{rnd.getrandbits(160):040x}",
                        f"{rnd.choice(VERBS)} {rnd.choice(OBJECTS)}",
                        "dev",
                        ts,
                        added,
                        removed,
                    )
                )
            for f in rnd.sample(FILES, rnd.randint(1, 4)):
                buf["ch"].append(
                    (
                        ids.new_id(end),
                        sid,
                        f,
                        rnd.choice(["modified", "added"]),
                        int(rnd.lognormvariate(3.0, 1.0)),
                        int(rnd.lognormvariate(2.0, 1.0)),
                        end,
                    )
                )
        if rnd.random() < 0.15:
            buf["t"].append(("session", sid, "ticket", f"PAY-{rnd.randint(100, 999)}"))
        if rnd.random() < 0.3:
            buf["t"].append(("session", sid, "team", rnd.choice(["core", "growth", "platform"])))
        if len(buf["a"]) + len(buf["i"]) > 200_000:
            _count(counts, buf)
            flush()
    _count(counts, buf)
    flush()
    db.execute("ANALYZE")
    store.close()
    return counts


def _allocate(rnd: random.Random, total: int, sessions: int) -> list[int]:
    """Exactly total items over sessions, skewed (most sessions few, some many)."""
    weights = [rnd.expovariate(1.0) for _ in range(sessions)]
    scale = total / sum(weights)
    counts = [int(w * scale) for w in weights]
    for k in rnd.sample(range(sessions), total - sum(counts)):
        counts[k] += 1
    return counts


def _count(counts: dict, buf: dict) -> None:
    for key, name in (
        ("s", "sessions"),
        ("i", "interactions"),
        ("a", "api_calls"),
        ("is", "issues"),
        ("c", "commits"),
        ("ch", "changes"),
        ("t", "tags"),
        ("r", "runs"),
    ):
        counts[name] += len(buf[key])


def _insert(db, buf: dict) -> None:
    if buf["s"]:
        db.executemany(
            "INSERT INTO sessions (id, name, task_type, model, estimate_minutes, estimate_source, "
            "lane, agent, source, developer, repo_path, branch, cwd, start_time, end_time, "
            "last_activity, status, outcome, interaction_count, rating_sum, rating_1, rating_2, "
            "rating_3, rating_4, rating_5, gap_count, gap_sum_ms, gap_max_ms, long_gap_count, "
            "issue_count) VALUES (" + ", ".join(["?"] * 30) + ")",
            buf["s"],
        )
    statements = {
        "r": "INSERT INTO runs (id, session_id, started_at, ended_at, status) VALUES (?, ?, ?, ?, ?)",
        "i": "INSERT INTO interactions (id, session_id, ts, prompt, response_summary, rating, "
        "iteration_count, tools_used, gap_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "a": "INSERT INTO api_calls (id, session_id, run_id, ts, provider, model, input_tokens, "
        "output_tokens, cache_read_tokens, cache_write_5m_tokens, reasoning_tokens, cost_usd, "
        "latency_ms, status, source, dedup_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?)",
        "is": "INSERT INTO issues (id, session_id, ts, issue_type, description, severity, resolved) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        "c": "INSERT INTO commits (id, session_id, sha, message, author, ts, lines_added, "
        "lines_removed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        "ch": "INSERT INTO changes (id, session_id, path, change_type, lines_added, lines_removed, "
        "ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
        "t": "INSERT INTO tags (entity_type, entity_id, key, value) VALUES (?, ?, ?, ?)",
    }
    for key, sql in statements.items():
        if buf[key]:
            db.executemany(sql, buf[key])


if __name__ == "__main__":
    target = Path(sys.argv[1])
    sizes = [int(x) for x in sys.argv[2:5]] or [100_000, 1_000_000, 1_000_000]
    print(json.dumps(fill(target, *sizes)))
