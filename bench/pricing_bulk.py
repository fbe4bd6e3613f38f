"""Rows per second of `price_call` against `BulkPricer` on varied Claude and Codex rows.

Run: PYTHONPATH=src .venv/bin/python bench/pricing_bulk.py [rows]
"""

from __future__ import annotations

import random
import sys
import time

from aitrack.pricing import BulkPricer, TokenUsage, price_call

MODELS = [
    ("anthropic", "claude-sonnet-4-5-20250929"),
    ("anthropic", "claude-haiku-4-5-20251001"),
    (None, "claude-opus-4-1-20250805"),
    ("anthropic", "claude-opus-4-5-20251101"),
    ("openai", "gpt-5-codex"),
]
START_MS = 1_735_689_600_000  # 2025-01-01 UTC
YEAR_MS = 365 * 86_400_000


def make_rows(n: int, seed: int = 0) -> list[tuple[str | None, str, TokenUsage, int]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        provider, model = rng.choice(MODELS)
        claude = model.startswith("claude")
        output = rng.randint(0, 8_000)
        usage = TokenUsage(
            input_tokens=rng.randint(0, 300_000) if rng.random() < 0.05 else rng.randint(0, 5_000),
            output_tokens=output,
            cache_read_tokens=rng.randint(0, 150_000),
            cache_write_5m_tokens=rng.randint(0, 20_000) if claude else 0,
            cache_write_1h_tokens=rng.randint(0, 20_000) if claude and rng.random() < 0.2 else 0,
            reasoning_tokens=rng.randint(0, output),
        )
        rows.append((provider, model, usage, START_MS + rng.randrange(YEAR_MS)))
    return rows


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rows = make_rows(n)
    print(f"{n:,} rows of {len(MODELS)} models over one year")

    sample = rows[:20_000]
    t0 = time.perf_counter()
    slow = [price_call(p, m, u, at) for p, m, u, at in sample]
    dt_call = time.perf_counter() - t0
    print(
        f"price_call : {len(sample):>9,} rows in {dt_call:6.2f} s = {len(sample) / dt_call:>11,.0f} rows/s"
    )

    pricer = BulkPricer()
    t0 = time.perf_counter()
    fast = [pricer.price(p, m, u, at) for p, m, u, at in rows]
    dt_bulk = time.perf_counter() - t0
    print(f"BulkPricer : {n:>9,} rows in {dt_bulk:6.2f} s = {n / dt_bulk:>11,.0f} rows/s")
    print(f"rows priced through genai-prices' own calculation: {pricer.exact_rows:,}")

    worst = max(abs(a.cost_usd - b.cost_usd) for a, b in zip(slow, fast, strict=False))
    print(f"largest difference on the {len(sample):,} rows priced both ways: {worst:.3g} USD")
    print(f"speed-up: {dt_call / len(sample) / (dt_bulk / n):,.0f}x")


if __name__ == "__main__":
    main()
