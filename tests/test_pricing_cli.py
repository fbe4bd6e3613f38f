"""`aitrack pricing list/set/unset` and `aitrack log-ai`: user prices win, unknown models stay
unpriced (never $0), manual usage goes to the active session."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from aitrack.cli.main import cli
from aitrack.pricing import TokenUsage, price_call
from aitrack.store import open_store
from aitrack.tracker import Tracker


@pytest.fixture
def runner(aitrack_home):
    return CliRunner()


def invoke(runner, *args):
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_pricing_list_shows_genai_prices_models_as_json(runner):
    data = json.loads(invoke(runner, "pricing", "list", "--provider", "anthropic", "--json").output)
    models = {p["model"]: p for p in data["data"]["prices"]}
    assert "claude-sonnet-4-5" in models
    sonnet = models["claude-sonnet-4-5"]
    assert sonnet["source"] == "genai-prices"
    assert sonnet["input_mtok"] == 3.0 and sonnet["output_mtok"] == 15.0
    assert all(p["provider"] == "anthropic" for p in data["data"]["prices"])


def test_a_user_price_is_listed_first_and_wins_over_genai_prices(runner):
    invoke(
        runner,
        "pricing",
        "set",
        "claude-sonnet-4-5",
        "1",
        "2",
        "--cache-read",
        "0.5",
        "--cache-write",
        "0.75",
    )
    data = json.loads(invoke(runner, "pricing", "list", "--model", "sonnet-4-5", "--json").output)
    first = data["data"]["prices"][0]
    assert (first["source"], first["model"], first["input_mtok"], first["cache_write_mtok"]) == (
        "user",
        "claude-sonnet-4-5",
        1.0,
        0.75,
    )
    invoke(runner, "start", "priced")
    logged = json.loads(
        invoke(
            runner,
            "log-ai",
            "-p",
            "anthropic",
            "-m",
            "claude-sonnet-4-5",
            "--input",
            "1000000",
            "--output",
            "1000000",
            "--cache-read",
            "1000000",
            "--cache-write",
            "1000000",
            "--json",
        ).output
    )
    assert logged["data"]["cost_usd"] == pytest.approx(1 + 2 + 0.5 + 0.75)
    assert logged["data"]["cost_source"] == "user"
    table = invoke(runner, "pricing", "list", "--model", "sonnet-4-5").output
    assert table.index("user") < table.index("genai-prices")


def test_a_user_price_for_one_hour_cache_writes_is_listed_and_billed(runner, aitrack_home):
    from aitrack.usage import user_prices

    invoke(runner, "pricing", "set", "acme-coder-7", "4", "8", "--cache-write-1h", "6")
    invoke(runner, "pricing", "set", "acme-coder-8", "4", "8")
    data = json.loads(invoke(runner, "pricing", "list", "--model", "acme-coder", "--json").output)
    listed = {p["model"]: p["cache_write_1h_mtok"] for p in data["data"]["prices"]}
    assert listed == {"acme-coder-7": 6.0, "acme-coder-8": None}
    tracker = Tracker(open_store(str(aitrack_home / "aitrack.db")))
    own = user_prices(tracker)
    hour = TokenUsage(cache_write_1h_tokens=1_000_000)
    assert price_call(None, "acme-coder-7", hour, None, own).cost_usd == pytest.approx(6.0)
    assert price_call(None, "acme-coder-8", hour, None, own).cost_usd == pytest.approx(8.0)
    tracker.db.close()


def test_unset_brings_back_genai_prices(runner):
    invoke(runner, "pricing", "set", "claude-sonnet-4-5", "1", "2")
    invoke(runner, "pricing", "unset", "claude-sonnet-4-5")
    invoke(runner, "start", "s")
    logged = json.loads(
        invoke(
            runner,
            "log-ai",
            "-m",
            "claude-sonnet-4-5",
            "--input",
            "1000",
            "--output",
            "100",
            "--json",
        ).output
    )
    expected = price_call(None, "claude-sonnet-4-5", TokenUsage(1000, 100))
    assert logged["data"]["cost_usd"] == pytest.approx(expected.cost_usd)
    missing = runner.invoke(cli, ["pricing", "unset", "claude-sonnet-4-5"])
    assert missing.exit_code == 1 and "no user price" in missing.output


def test_a_price_for_an_unknown_model_makes_it_priced(runner):
    invoke(runner, "start", "s")
    first = json.loads(
        invoke(runner, "log-ai", "-m", "acme-coder-7", "--input", "500", "--json").output
    )
    assert first["data"]["cost_usd"] is None  # unpriced, not free
    shown = invoke(runner, "log-ai", "-m", "acme-coder-7", "--input", "500").output
    assert "unpriced" in shown
    invoke(runner, "pricing", "set", "acme-coder-7", "4", "8")
    priced = json.loads(
        invoke(runner, "log-ai", "-m", "acme-coder-7", "--input", "500000", "--json").output
    )
    assert priced["data"]["cost_usd"] == pytest.approx(2.0)


def test_log_ai_is_codesession_compatible(runner):
    invoke(runner, "start", "manual")
    invoke(
        runner,
        "log-ai",
        "-p",
        "anthropic",
        "-m",
        "claude-3-5-sonnet-20241022",
        "-t",
        "25000",
        "-c",
        "0.25",
    )
    tracker = Tracker(open_store())
    [session] = tracker.records.active_sessions()
    [row] = tracker.records.rows_for_session("api_calls", session["id"])
    assert (row["source"], row["provider"], row["input_tokens"], row["cost_usd"]) == (
        "manual",
        "anthropic",
        25_000,
        0.25,
    )
    assert row["cost_source"] == "reported"


def test_log_ai_needs_an_active_session_and_some_usage(runner):
    result = runner.invoke(cli, ["log-ai", "-m", "gpt-4o", "-t", "10"])
    assert result.exit_code == 1 and "no active session" in result.output
    invoke(runner, "start", "s")
    result = runner.invoke(cli, ["log-ai", "-m", "gpt-4o"])
    assert result.exit_code == 2 and "give tokens" in result.output


def test_pricing_set_refuses_negative_prices(runner):
    result = runner.invoke(cli, ["pricing", "set", "m", "--", "-1", "2"])
    assert result.exit_code == 2
