"""The priced api rows of a transcript import: the C builder (_api_rows.c) against its
specification (_api_rows_python), costs compared to the bit, for genai-prices' plans (exact
ints over a denominator), a user's prices (floats), tiers, unknown models and rows no plan
can price."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aitrack.importing import transcripts as importing
from aitrack.pricing import BulkPricer, UserPrice

DAY = 86_400_000
T0 = 1_759_408_674_434  # 2025-10-02
MODELS = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-sonnet-4-5-20250929", "gpt-5",
          "my-local-model", "mystery-model-9", ""]  # fmt: skip
USER = {"my-local-model": UserPrice("my-local-model", 0.3, 1.7, cache_read_mtok=0.07)}

counts = st.one_of(
    st.integers(min_value=0, max_value=400_000),
    st.sampled_from([0, 1, 199_999, 200_000, 200_001, 2**53, 2**62]),
    st.integers(min_value=-5, max_value=-1),  # no plan takes a negative count
)
calls = st.lists(
    st.tuples(
        st.sampled_from(["anthropic", "openai", None]),
        st.sampled_from(MODELS),
        st.one_of(st.integers(T0 - 3 * DAY, T0 + 3 * DAY), st.integers(-3 * DAY, 3 * DAY)),
        st.tuples(*[counts] * 6),
        st.sampled_from(["fast", None, "standard"]),
        st.sampled_from(["s1", "s2"]),
        st.sampled_from(["r1", "r2", None]),
        st.booleans(),
    ),
    max_size=25,
)


def call(provider, model, ts, tokens, speed, session, run, side, n):
    return ("claude-code", provider, f"anthropic:msg_{n}", session, run, ts, model, *tokens,
            f"req_{n}", f"msg_{n}", side, False, speed)  # fmt: skip


def both(rows: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """The rows each builder gives, each with a fresh pricer (the pricer memoises plans)."""
    ids = [f"{n:026d}" for n in range(len(rows))]
    run_of = {("s1", "r1"): "RUN-1", ("s2", "r2"): "RUN-2"}
    got = importing._api_rows_c(rows, ids, run_of, BulkPricer(USER), importing._api_rows_python)
    want = importing._api_rows_python(rows, ids, run_of, BulkPricer(USER))
    return got, want


def test_the_extension_is_built_and_used():
    from aitrack.importing import _api_rows

    assert importing._api_rows_c is _api_rows.api_rows


@settings(max_examples=300, deadline=None)
@given(calls)
def test_the_c_builder_gives_the_rows_and_costs_of_its_python_specification(drawn):
    rows = [call(*c, n) for n, c in enumerate(drawn)]
    got, want = both(rows)
    assert got == want
    assert [repr(r[12]) for r in got] == [repr(r[12]) for r in want]  # to the bit, and type


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["claude-sonnet-4-5", "claude-opus-4-1", "gpt-5", "my-local-model"]),
            st.tuples(*[st.integers(min_value=0, max_value=600_000)] * 6),
            st.sampled_from(["fast", None]),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_rows_every_plan_takes_cost_what_python_computes_to_the_bit(drawn):
    """The plans' own arithmetic (exact ints over a denominator; a user's floats summed left
    to right): rows with no count a plan refuses."""
    rows = [
        call(None, model, T0 + n * 3_600_000, tokens, speed, "s1", "r1", False, n)
        for n, (model, tokens, speed) in enumerate(drawn)
    ]
    got, want = both(rows)
    assert [repr(r[12]) for r in got] == [repr(r[12]) for r in want]
    assert got == want


def test_long_context_tiers_user_prices_and_unknown_models_are_priced_alike():
    long = (250_000, 900, 10_000, 0, 0, 0)  # over Sonnet 4.5's 200k tier
    rows = [
        call("anthropic", "claude-sonnet-4-5", T0, (3, 200, 1_000, 50, 0, 0), "fast", "s1", "r1", False, 1),
        call("anthropic", "claude-sonnet-4-5", T0, long, None, "s1", "r1", False, 2),
        call(None, "my-local-model", T0, (1_000, 500, 2_000, 0, 0, 0), None, "s2", "r2", True, 3),
        call(None, "mystery-model-9", T0, (10, 10, 0, 0, 0, 0), None, "s2", None, False, 4),
        call("anthropic", "claude-sonnet-4-5", T0, (0, 0, 0, 0, 0, 0), None, "s1", "r1", False, 5),
    ]  # fmt: skip
    got, want = both(rows)
    assert got == want
    costs = [(r[12], r[13]) for r in got]
    assert costs[0][1] == costs[1][1] == "genai-prices" and costs[1][0] > costs[0][0] > 0
    assert costs[2] == (pytest.approx((1_000 * 0.3 + 500 * 1.7 + 2_000 * 0.07) / 1e6), "user")
    assert costs[3][0] is None  # unknown: unpriced, never 0
    assert costs[4] == (0.0, "no-usage")
    assert [r[18] for r in got] == ["RUN-1", "RUN-1", "RUN-2", None, "RUN-1"]
    assert [r[15] for r in got] == ["fast", None, None, None, None]


@pytest.mark.parametrize(
    "tokens",
    [(2**64, 1, 0, 0, 0, 0), (1.5, 1, 0, 0, 0, 0), ("7", 1, 0, 0, 0, 0)],
    ids=["past-64-bits", "float", "text"],
)
def test_a_row_of_numbers_c_cannot_hold_is_the_specifications(tokens):
    rows = [call("anthropic", "claude-sonnet-4-5", T0, tokens, None, "s1", "r1", False, 1)]
    try:
        want = importing._api_rows_python(rows, ["I"], {}, BulkPricer())
    except Exception as exc:  # the specification refuses it: so does the builder
        with pytest.raises(type(exc)):
            importing._api_rows_c(rows, ["I"], {}, BulkPricer(), importing._api_rows_python)
        return
    got = importing._api_rows_c(rows, ["I"], {}, BulkPricer(), importing._api_rows_python)
    assert got == want


@pytest.mark.parametrize(
    "rows, ids, error",
    [
        ([("short",)], ["I"], TypeError),
        ([call(None, "m", T0, (1,) * 6, None, "s", "r", False, 1)], [], ValueError),
    ],
    ids=["not-a-call", "ids-missing"],
)
def test_malformed_input_is_refused_with_the_reason(rows, ids, error):
    with pytest.raises(error):
        importing._api_rows_c(rows, ids, {}, BulkPricer(), importing._api_rows_python)
