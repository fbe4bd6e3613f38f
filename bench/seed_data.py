"""Fill a store quickly with realistic sessions and interactions for benchmarks (direct inserts,
not through the tracker: millions of rows in seconds)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from aitrack import ids  # noqa: E402
from aitrack.clock import now_ms  # noqa: E402
from aitrack.store import open_store  # noqa: E402
from aitrack.vocab import OUTCOMES, TASK_TYPES  # noqa: E402

REPOS = [f"/home/dev/repo{i}" for i in range(8)]
MODELS = ["claude-sonnet-4-5", "gpt-5", "claude-opus-4-1", "gpt-4o", "claude-haiku-4-5", "o3"]
AGENTS = ["claude-code", "codex", "copilot"]


def fill(path: Path, sessions: int, interactions: int, seed: int = 0) -> list[str]:
    """Create sessions (all completed but the newest) and interactions spread over them."""
    rnd = random.Random(seed)
    store = open_store(str(path))
    db = store.db
    now = now_ms()
    span = 90 * 86_400_000
    per_session = interactions // max(sessions, 1)
    extra = interactions - per_session * sessions
    session_ids: list[str] = []
    rows, irows = [], []

    def flush() -> None:
        with db.transaction():
            if rows:
                db.executemany(
                    "INSERT INTO sessions (id, name, task_type, model, estimate_minutes, "
                    "estimate_source, lane, agent, source, repo_path, branch, start_time, end_time, "
                    "last_activity, status, outcome, interaction_count, rating_sum, issue_count, "
                    "rating_1, rating_2, rating_3, rating_4, rating_5, gap_count, gap_sum_ms, "
                    "gap_max_ms, long_gap_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                    "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            if irows:
                db.executemany(
                    "INSERT INTO interactions (id, session_id, ts, prompt, response_summary, "
                    "rating, iteration_count, tools_used, gap_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    irows,
                )
        rows.clear()
        irows.clear()

    starts = sorted(now - rnd.randrange(span) for _ in range(sessions))
    for n, start in enumerate(starts):
        sid = ids.new_id(start)
        session_ids.append(sid)
        count = per_session + (1 if n < extra else 0)
        duration = rnd.randrange(5, 180) * 60_000
        ratings = [rnd.choice((2, 3, 4, 4, 5, 5)) for _ in range(count)]
        step = duration // max(count, 1)
        rows.append(
            (
                sid,
                f"task {n}",
                rnd.choice(TASK_TYPES),
                rnd.choice(MODELS),
                rnd.choice((30, 60, 120, 240)),
                "manual",
                f"bench-{n}",
                rnd.choice(AGENTS),
                "bench",
                rnd.choice(REPOS),
                rnd.choice(("main", "dev", "feature/x")),
                start,
                start + duration,
                start + duration,
                "completed",
                rnd.choice(OUTCOMES),
                count,
                sum(ratings),
                0,
                *(ratings.count(r) for r in range(1, 6)),
                max(count - 1, 0),
                step * max(count - 1, 0),
                step if count > 1 else 0,
                max(count - 1, 0) if step > 900_000 else 0,
            )
        )
        for k, rating in enumerate(ratings):
            irows.append(
                (
                    ids.new_id(start + k * step),
                    sid,
                    start + k * step,
                    "prompt text " * 4,
                    "summary of the answer",
                    rating,
                    1,
                    "[]",
                    None if k == 0 else step,
                )
            )
        if len(irows) >= 200_000:
            flush()
    flush()
    store.close()
    return session_ids


if __name__ == "__main__":
    target = Path(sys.argv[1])
    fill(target, int(sys.argv[2]), int(sys.argv[3]))
    print(f"filled {target}")
