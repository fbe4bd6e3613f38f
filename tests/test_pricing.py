import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from aitrack.pricing import (
    BulkPricer,
    PriceResult,
    TokenUsage,
    UserPrice,
    infer_provider,
    known_models,
    price_call,
)

OCT_2025 = datetime(2025, 10, 15, 12, 0, tzinfo=UTC)


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def genai_cost(model: str, provider: str, when: datetime, **usage: int) -> float:
    """What genai-prices itself says, for usage given in ITS convention (total input)."""
    return float(
        calc_price(
            Usage(**usage), model, provider_id=provider, genai_request_timestamp=when
        ).total_price
    )


@pytest.mark.parametrize(
    "model",
    [
        "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5-20251001",
        "claude-opus-4-1-20250805",
        "claude-opus-4-5-20251101",
        "claude-3-5-sonnet-20241022",
    ],
)
def test_anthropic_usage_with_cache_tokens_costs_what_genai_prices_says(model):
    usage = TokenUsage(
        input_tokens=1_234,
        output_tokens=5_678,
        cache_read_tokens=90_000,
        cache_write_5m_tokens=12_000,
        cache_write_1h_tokens=3_000,
    )
    expected = genai_cost(
        model,
        "anthropic",
        OCT_2025,
        input_tokens=1_234 + 90_000 + 12_000 + 3_000,
        output_tokens=5_678,
        cache_read_tokens=90_000,
        cache_write_tokens=15_000,
        cache_write_1h_tokens=3_000,
    )

    result = price_call("anthropic", model, usage, ms(OCT_2025))

    assert result.source == "genai-prices"
    assert result.provider_ref == "anthropic"
    assert result.cost_usd == pytest.approx(expected, abs=1e-12)
    assert result.cost_usd > 0


@pytest.mark.parametrize("model", ["gpt-4o-2024-08-06", "gpt-5-codex"])
def test_openai_usage_with_cached_and_reasoning_tokens_costs_what_genai_prices_says(model):
    prompt_tokens, cached_tokens, completion_tokens, reasoning = 40_000, 32_000, 3_000, 2_500
    usage = TokenUsage(
        input_tokens=prompt_tokens - cached_tokens,
        output_tokens=completion_tokens,
        cache_read_tokens=cached_tokens,
        reasoning_tokens=reasoning,
    )
    expected = genai_cost(
        model,
        "openai",
        OCT_2025,
        input_tokens=prompt_tokens,
        cache_read_tokens=cached_tokens,
        output_tokens=completion_tokens,
    )

    result = price_call("openai", model, usage, ms(OCT_2025))

    assert result.provider_ref == "openai"
    assert result.cost_usd == pytest.approx(expected, abs=1e-12)


def test_cache_reads_are_billed_at_the_cache_read_price():
    result = price_call(
        None, "claude-sonnet-4-5", TokenUsage(cache_read_tokens=100_000), ms(OCT_2025)
    )

    assert result.cost_usd == pytest.approx(0.03)  # $0.30 / MTok, not the $3 input price


@pytest.mark.parametrize(
    ("usage", "dollars"),
    [
        (TokenUsage(cache_write_5m_tokens=100_000), 0.375),
        (TokenUsage(cache_write_1h_tokens=100_000), 0.600),
        (TokenUsage(input_tokens=100_000), 0.300),
        (TokenUsage(output_tokens=100_000), 1.500),
    ],
)
def test_every_token_class_is_billed_at_its_own_sonnet_4_5_price(usage, dollars):
    # 100k tokens: under the 200k long-context threshold
    result = price_call("anthropic", "claude-sonnet-4-5-20250929", usage, ms(OCT_2025))

    assert result.cost_usd == pytest.approx(dollars)


def test_one_hour_cache_writes_cost_twice_base_input_when_genai_prices_has_no_1h_price():
    # Bedrock's Claude Sonnet 4 has a cache-write price but no distinct 1 h price.
    model = "us.anthropic.claude-sonnet-4-20250514-v1:0"
    usage = TokenUsage(cache_write_1h_tokens=1_000_000)
    genai_alone = genai_cost(
        model,
        "aws",
        OCT_2025,
        input_tokens=1_000_000,
        cache_write_tokens=1_000_000,
        cache_write_1h_tokens=1_000_000,
    )

    result = price_call("aws", model, usage, ms(OCT_2025))

    assert result.provider_ref == "aws"
    assert genai_alone == pytest.approx(3.75)  # genai-prices alone would bill the 5 min price
    assert result.cost_usd == pytest.approx(6.00)  # 2 x $3 input, as Anthropic bills 1 h writes


def test_reasoning_tokens_are_part_of_output_and_not_billed_twice():
    with_reasoning = TokenUsage(input_tokens=1_000, output_tokens=10_000, reasoning_tokens=9_000)
    without = TokenUsage(input_tokens=1_000, output_tokens=10_000)

    a = price_call("openai", "gpt-5-codex", with_reasoning, ms(OCT_2025))
    b = price_call("openai", "gpt-5-codex", without, ms(OCT_2025))

    assert a.cost_usd == b.cost_usd == pytest.approx((1_000 * 1.25 + 10_000 * 10) / 1e6)


def test_a_long_context_sonnet_4_5_request_is_billed_at_the_premium_input_rate():
    result = price_call(
        None, "claude-sonnet-4-5-20250929", TokenUsage(input_tokens=300_000), ms(OCT_2025)
    )

    assert result.cost_usd == pytest.approx(300_000 * 6 / 1e6)  # $6 / MTok over 200k, not $3


@pytest.mark.parametrize(("total_input", "rate"), [(200_000, 3.0), (200_001, 6.0)])
def test_the_long_context_premium_starts_strictly_over_200k_input_tokens(total_input, rate):
    usage = TokenUsage(input_tokens=total_input - 150_000, cache_write_5m_tokens=150_000)
    expected = ((total_input - 150_000) * rate + 150_000 * rate * 1.25) / 1e6

    direct = price_call("anthropic", "claude-sonnet-4-5", usage, ms(OCT_2025))
    bulk = BulkPricer().price("anthropic", "claude-sonnet-4-5", usage, ms(OCT_2025))

    assert direct.cost_usd == pytest.approx(expected)
    assert bulk.cost_usd == pytest.approx(expected)


def test_cached_input_counts_toward_the_long_context_threshold_and_pays_premium_too():
    usage = TokenUsage(input_tokens=50_000, cache_read_tokens=160_000, output_tokens=1_000)
    expected = genai_cost(
        "claude-sonnet-4-5",
        "anthropic",
        OCT_2025,
        input_tokens=210_000,
        cache_read_tokens=160_000,
        output_tokens=1_000,
    )

    result = price_call("anthropic", "claude-sonnet-4-5", usage, ms(OCT_2025))

    assert result.cost_usd == pytest.approx(expected, abs=1e-12)
    assert result.cost_usd == pytest.approx((50_000 * 6 + 160_000 * 0.6 + 1_000 * 22.5) / 1e6)


def test_the_price_in_force_at_the_time_of_the_request_is_used():
    # genai-prices: Sonnet 4.6 long-context premium until 2026-03-12, flat from 2026-03-13 UTC.
    usage = TokenUsage(input_tokens=300_000)
    before = datetime(2026, 3, 12, 23, 59, 59, 999_000, tzinfo=UTC)
    after = datetime(2026, 3, 13, 0, 0, tzinfo=UTC)

    old = price_call("anthropic", "claude-sonnet-4-6", usage, ms(before))
    new = price_call("anthropic", "claude-sonnet-4-6", usage, ms(after))

    assert old.cost_usd == pytest.approx(
        genai_cost("claude-sonnet-4-6", "anthropic", before, input_tokens=300_000)
    )
    assert new.cost_usd == pytest.approx(
        genai_cost("claude-sonnet-4-6", "anthropic", after, input_tokens=300_000)
    )
    assert (old.cost_usd, new.cost_usd) == pytest.approx((1.80, 0.90))


@pytest.mark.parametrize("model", ["my-local-llama", "", "   "])
@pytest.mark.parametrize("provider", [None, "anthropic", "no-such-provider"])
def test_an_unknown_model_is_unpriced_never_free(provider, model):
    usage = TokenUsage(input_tokens=1_000, output_tokens=1_000)

    direct = price_call(provider, model, usage, ms(OCT_2025))
    bulk = BulkPricer().price(provider, model, usage, ms(OCT_2025))

    for result in (direct, bulk):
        assert result.cost_usd is None
        assert result.source is None
        assert not result.priced
        assert result.reason


def test_a_user_price_wins_over_genai_prices_matching_the_name_case_insensitively():
    user_prices = {"claude-sonnet-4-5-20250929": UserPrice("claude-sonnet-4-5-20250929", 1.0, 2.0)}
    usage = TokenUsage(
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        cache_read_tokens=1_000_000,
        cache_write_5m_tokens=1_000_000,
    )

    result = price_call("anthropic", "Claude-Sonnet-4-5-20250929", usage, ms(OCT_2025), user_prices)

    assert result.source == "user"
    assert result.model_ref == "claude-sonnet-4-5-20250929"
    assert result.cost_usd == pytest.approx(1.0 + 2.0 + 0.1 + 1.25)  # cache: 0.1x and 1.25x input


def test_a_user_price_prices_a_model_genai_prices_does_not_know():
    user_prices = {"my-local-llama": UserPrice("my-local-llama", 0.5, 1.5, cache_read_mtok=0.0)}
    usage = TokenUsage(input_tokens=2_000_000, output_tokens=1_000_000, cache_read_tokens=5_000_000)

    result = price_call(None, "my-local-llama", usage, None, user_prices)

    assert result == PriceResult(2.5, "user", "my-local-llama", None, None)


@pytest.mark.parametrize(
    ("provider", "model", "model_ref", "provider_ref"),
    [
        (None, "claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "anthropic"),
        (None, "claude-3-5-sonnet-20241022", "claude-3-5-sonnet", "anthropic"),
        (None, "gpt-4o-2024-08-06", "gpt-4o", "openai"),
        ("openai", "gpt-5-codex", "gpt-5", "openai"),
        (None, "claude-haiku-4-5-20251001", "claude-haiku-4-5", "anthropic"),
        ("anthropic", "claude-opus-4-1-20250805", "claude-opus-4-1", "anthropic"),
        ("Anthropic", "claude-opus-4-5-20251101", "claude-opus-4-5", "anthropic"),
        (None, "anthropic/claude-sonnet-4.5", "claude-sonnet-4-5", "anthropic"),
        ("claude-code", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "anthropic"),
    ],
)
def test_dated_and_aliased_model_names_resolve(provider, model, model_ref, provider_ref):
    result = price_call(provider, model, TokenUsage(input_tokens=10), ms(OCT_2025))

    assert (result.model_ref, result.provider_ref) == (model_ref, provider_ref)
    assert result.cost_usd > 0


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("claude-sonnet-4-5-20250929", "anthropic"),
        ("gpt-5-codex", "openai"),
        ("gpt-4o-2024-08-06", "openai"),
        ("o3-mini", "openai"),
        ("o4-mini-2025-04-16", "openai"),
        ("codex-mini-latest", "openai"),
        ("gemini-2.5-pro", "google"),
        ("my-local-llama", None),
        ("", None),
        ("omega-7b", None),
    ],
)
def test_the_provider_is_inferred_from_the_model_name(model, provider):
    assert infer_provider(model) == provider


def random_rows(n):
    rng = random.Random(0)
    models = [
        ("anthropic", "claude-sonnet-4-5-20250929"),
        (None, "claude-haiku-4-5-20251001"),
        ("anthropic", "claude-opus-4-1-20250805"),
        (None, "claude-opus-4-5-20251101"),
        ("openai", "gpt-5-codex"),
        (None, "gpt-4o-2024-08-06"),
        ("anthropic", "claude-sonnet-4-6"),  # price changed on 2026-03-13
        ("aws", "us.anthropic.claude-sonnet-4-20250514-v1:0"),  # 1 h writes at 2x input
        ("deepseek", "deepseek-chat"),  # off-peak prices by time of day
        ("perplexity", "sonar"),  # a price per request
        ("perplexity", "sonar-deep-research"),  # units the linear plan leaves to genai-prices
        (None, "my-local-llama"),  # user price
        (None, "unknown-model-x"),  # unpriced
    ]
    start, end = ms(datetime(2024, 6, 1, tzinfo=UTC)), ms(datetime(2026, 12, 31, tzinfo=UTC))
    for _ in range(n):
        provider, model = rng.choice(models)
        output = rng.randint(0, 20_000)
        big = rng.random() < 0.2
        yield (
            provider,
            model,
            TokenUsage(
                input_tokens=rng.randint(0, 400_000 if big else 4_000),
                output_tokens=output,
                cache_read_tokens=rng.randint(0, 300_000 if big else 50_000),
                cache_write_5m_tokens=rng.choice([0, rng.randint(0, 30_000)]),
                cache_write_1h_tokens=rng.choice([0, 0, rng.randint(0, 30_000)]),
                reasoning_tokens=rng.randint(0, output),
            ),
            rng.randint(start, end),
        )


def test_bulk_pricer_agrees_with_price_call_on_random_usages():
    user_prices = {"my-local-llama": UserPrice("my-local-llama", 0.2, 0.6)}
    pricer = BulkPricer(user_prices)
    priced = 0

    for provider, model, usage, at_ms in random_rows(2_000):
        expected = price_call(provider, model, usage, at_ms, user_prices)
        got = pricer.price(provider, model, usage, at_ms)

        assert (got.source, got.model_ref, got.provider_ref) == (
            expected.source,
            expected.model_ref,
            expected.provider_ref,
        ), (provider, model, usage, at_ms)
        if expected.cost_usd is None:
            assert got.cost_usd is None
        else:
            assert abs(got.cost_usd - expected.cost_usd) <= 1e-12, (provider, model, usage, at_ms)
            priced += 1
    assert priced > 1_500


def test_bulk_pricer_row_cost_agrees_with_its_price_on_random_usages():
    user_prices = {"my-local-llama": UserPrice("my-local-llama", 0.2, 0.6)}
    rows, objects = BulkPricer(user_prices), BulkPricer(user_prices)

    for provider, model, usage, at_ms in random_rows(2_000):
        fields = [
            usage.input_tokens, usage.output_tokens, usage.cache_read_tokens,
            usage.cache_write_5m_tokens, usage.cache_write_1h_tokens, usage.reasoning_tokens,
        ]  # fmt: skip
        if min(fields) < 0:
            continue  # the importer hands over clean counts only
        expected = objects.price(provider, model, usage, at_ms)
        cost, source = rows.cost(provider, model, at_ms, *fields)
        assert source == expected.source, (provider, model, usage, at_ms)
        assert cost == expected.cost_usd, (provider, model, usage, at_ms)


def test_bulk_pricer_prices_common_models_without_genai_prices_per_row():
    pricer = BulkPricer()
    models = ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-opus-4-1-20250805"]
    models += ["claude-opus-4-5-20251101", "gpt-5-codex"]

    for i in range(1, 1_001):
        usage = TokenUsage(input_tokens=i * 300, output_tokens=i, cache_read_tokens=i * 50)
        result = pricer.price(None, models[i % 5], usage, ms(OCT_2025) + i * 3_600_000)
        assert result.cost_usd > 0

    assert pricer.exact_rows == 0


@pytest.mark.parametrize(
    ("provider", "model", "dollars"),
    [
        ("openai", "gpt-5-codex", 100 * 10 / 1e6),
        ("perplexity", "sonar-deep-research", 100 * 3 / 1e6),  # reasoning has its own price
    ],
)
def test_bad_token_counts_are_read_as_zero_and_reasoning_never_exceeds_output(
    provider, model, dollars
):
    messy = TokenUsage(input_tokens=-5, output_tokens=100, reasoning_tokens=500)
    clean = TokenUsage(output_tokens=100, reasoning_tokens=100)

    direct = price_call(provider, model, messy, ms(OCT_2025))
    bulk = BulkPricer().price(provider, model, messy, ms(OCT_2025))

    assert direct == bulk == price_call(provider, model, clean, ms(OCT_2025))
    assert direct.cost_usd == pytest.approx(dollars)


def test_known_models_lists_prices_aliases_and_long_context_tiers():
    models = {m["model"]: m for m in known_models("anthropic")}

    sonnet = models["claude-sonnet-4-5"]
    assert sonnet["provider"] == "anthropic"
    assert "claude-sonnet-4-5*" in sonnet["matches"]
    assert (sonnet["input_mtok"], sonnet["output_mtok"]) == (3.0, 15.0)
    assert (
        sonnet["cache_read_mtok"],
        sonnet["cache_write_mtok"],
        sonnet["cache_write_1h_mtok"],
    ) == (0.3, 3.75, 6.0)
    assert sonnet["tiers"] == [
        {
            "above_input_tokens": 200_000,
            "input_mtok": 6.0,
            "output_mtok": 22.5,
            "cache_read_mtok": 0.6,
            "cache_write_mtok": 7.5,
            "cache_write_1h_mtok": 12.0,
        }
    ]
    assert {m["provider"] for m in known_models("openai")} == {"openai"}
    assert known_models("no-such-provider") == []


def test_importing_the_module_does_not_import_genai_prices():
    src = Path(__file__).resolve().parents[1] / "src"
    code = "import sys, aitrack.pricing; sys.exit('genai_prices' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(src)}, check=False)

    assert done.returncode == 0


NOV_2026 = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
FAST_USAGE = TokenUsage(
    input_tokens=1_200, output_tokens=3_400, cache_read_tokens=50_000, cache_write_5m_tokens=8_000
)


def genai_fast_cost(model: str, when: datetime) -> float:
    u = FAST_USAGE
    usage = Usage(
        input_tokens=u.input_tokens + u.cache_read_tokens + u.cache_write_5m_tokens,
        output_tokens=u.output_tokens,
        cache_read_tokens=u.cache_read_tokens,
        cache_write_tokens=u.cache_write_5m_tokens,
    )
    calc = calc_price(
        usage, model, provider_id="anthropic", genai_request_timestamp=when,
        price_context={"speed": "fast"},
    )  # fmt: skip
    return float(calc.total_price)


def test_a_fast_mode_request_is_billed_at_the_models_fast_prices():
    at = ms(NOV_2026)
    expected = genai_fast_cost("claude-opus-4-8", NOV_2026)
    standard = price_call("anthropic", "claude-opus-4-8", FAST_USAGE, at).cost_usd
    assert standard is not None and expected > 1.5 * standard  # fast mode costs more

    direct = price_call("anthropic", "claude-opus-4-8", FAST_USAGE, at, fast=True)
    bulk = BulkPricer().price("anthropic", "claude-opus-4-8", FAST_USAGE, at, fast=True)
    u = FAST_USAGE
    row = ("anthropic", "claude-opus-4-8", at, u.input_tokens, u.output_tokens,
           u.cache_read_tokens, u.cache_write_5m_tokens, 0, 0)  # fmt: skip
    [(row_fast, _), (row_standard, _)] = BulkPricer().costs([(*row, True), (*row, False)])
    assert direct.cost_usd == pytest.approx(expected, rel=1e-12)
    assert bulk.cost_usd == pytest.approx(expected, rel=1e-12)
    assert row_fast == pytest.approx(expected, rel=1e-12)
    assert row_standard == pytest.approx(standard, rel=1e-12)


def test_fast_mode_on_a_model_without_fast_prices_is_billed_at_its_standard_prices():
    at = ms(OCT_2025)
    standard = price_call("anthropic", "claude-sonnet-4-5", FAST_USAGE, at).cost_usd
    fast = price_call("anthropic", "claude-sonnet-4-5", FAST_USAGE, at, fast=True).cost_usd
    assert fast == standard
    assert BulkPricer().price(
        "anthropic", "claude-sonnet-4-5", FAST_USAGE, at, fast=True
    ).cost_usd == (pytest.approx(standard, rel=1e-12))
