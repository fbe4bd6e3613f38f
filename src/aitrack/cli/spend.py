"""Spend commands: proxy, run, pricing, budget, log-ai and git capture."""

from __future__ import annotations

import contextlib
import os
import sys

import click

from aitrack.cli.common import (
    default_lane,
    emit,
    json_option,
    lane_option,
    money,
    table,
    tracker,
)
from aitrack.ids import short


def _default_port() -> int:
    from aitrack.proxy.server import DEFAULT_PORT

    return int(os.environ.get("AITRACK_PROXY_PORT") or DEFAULT_PORT)


# --- proxy -----------------------------------------------------------------------------------


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port on 127.0.0.1 (default $AITRACK_PROXY_PORT or 3739; 0: any free port).",
)
@click.option(
    "-s",
    "--session",
    "session_name",
    default=None,
    help="Start a session with this name in the proxy's lane.",
)
@lane_option
@click.option(
    "--anthropic-upstream",
    envvar="AITRACK_ANTHROPIC_UPSTREAM",
    default="https://api.anthropic.com",
    show_default=True,
    help="Where Anthropic calls go (env AITRACK_ANTHROPIC_UPSTREAM).",
)
@click.option(
    "--openai-upstream",
    envvar="AITRACK_OPENAI_UPSTREAM",
    default="https://api.openai.com/v1",
    show_default=True,
    help="Where OpenAI calls go, with its /v1 (env AITRACK_OPENAI_UPSTREAM).",
)
@click.option("--host", default="127.0.0.1", show_default=True, hidden=True)
def proxy(port, session_name, lane, anthropic_upstream, openai_upstream, host):
    """Serve the local API proxy: Anthropic and OpenAI calls sent through it are recorded,
    with tokens and cost, to the session that made them.

    \b
    aitrack proxy
    aitrack proxy --session "fix auth bug"
    export ANTHROPIC_BASE_URL=http://127.0.0.1:3739
    export OPENAI_BASE_URL=http://127.0.0.1:3739/v1
    """
    import asyncio
    import signal

    from aitrack import gitinfo
    from aitrack.errors import InvalidValue
    from aitrack.proxy.server import ProxyConfig, ProxyServer, bind_socket, new_event_loop

    lane = lane or default_lane()
    t = tracker()
    session = None
    if session_name:
        git = gitinfo.describe(os.getcwd())
        session, _ = t.start_session(
            session_name,
            lane=lane,
            source="proxy",
            repo_path=git["repo_path"],
            branch=git["branch"],
            cwd=os.getcwd(),
            git_head=git["head"],
            developer=os.environ.get("AITRACK_DEVELOPER") or os.environ.get("USER"),
        )
    port = _default_port() if port is None else port
    try:
        sock = bind_socket(host, port)
    except OSError:
        raise InvalidValue(
            f"port {port} is taken (another proxy?): try `aitrack proxy --port {port + 1}`"
        ) from None
    try:
        config = ProxyConfig(
            host=host,
            port=port,
            anthropic_upstream=anthropic_upstream,
            openai_upstream=openai_upstream,
            lane=lane,
            store_url=_store_url(t),
        )
        server = ProxyServer(config)
    except ValueError as exc:
        raise InvalidValue(str(exc)) from None

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        actual = await server.start(sock)
        url = f"http://{host}:{actual}"
        click.echo(f"aitrack proxy listening on {url} (lane {lane})")
        if session:
            click.echo(f"session {short(session['id'])} {session['name']!r} started")
        if os.name == "nt":
            click.echo(f'  $env:ANTHROPIC_BASE_URL = "{url}"')
            click.echo(f'  $env:OPENAI_BASE_URL = "{url}/v1"')
        else:
            click.echo(f"  export ANTHROPIC_BASE_URL={url}")
            click.echo(f"  export OPENAI_BASE_URL={url}/v1")
        sys.stdout.flush()
        await stop.wait()
        await server.stop()

    loop = new_event_loop()
    try:
        loop.run_until_complete(serve())
    finally:
        loop.close()
    click.echo(f"aitrack proxy stopped ({server.recorder.recorded} calls recorded)", err=True)


def _store_url(t) -> str | None:
    from aitrack.runner import _store_url as url

    return url(t)


# --- run ---------------------------------------------------------------------------------------


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--name", default=None, help="Session name (default: the command).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Proxy port (default 3739, or a free one when taken; 0: any free port).",
)
@click.option("--no-proxy", is_flag=True, help="Track the session only, no proxy.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(name, port, no_proxy, command):
    """Run CMD in a new session with the proxy in front of its API calls, then print what
    it cost and changed. Exits with CMD's status.

    \b
    aitrack run -- python my_agent.py --task "fix the bug"
    aitrack run --name "refactor" -- claude -p "refactor utils.py"
    """
    from aitrack.runner import run_command

    code = run_command(tracker(), list(command), name=name, port=port, use_proxy=not no_proxy)
    sys.stdout.flush()
    sys.exit(code)


# --- pricing -----------------------------------------------------------------------------------


@click.group()
def pricing():
    """Model prices: genai-prices' bundled data and your own prices (which win)."""


def _mtok(value) -> str:
    return "-" if value is None else f"${value:,.4g}"


@pricing.command(name="list")
@click.option("--provider", default=None, help="Only this provider (anthropic, openai, ...).")
@click.option("--model", "match", default=None, help="Only models whose id contains this.")
@json_option
def pricing_list(provider, match, as_json):
    """List prices per million tokens (input, output, cache read, cache write 5 min / 1 h)."""
    from aitrack.pricing import known_models
    from aitrack.store.spend import SpendRecords

    own = [
        {
            "provider": r["provider"],
            "model": r["model"],
            "source": "user",
            "input_mtok": r["input_mtok"],
            "output_mtok": r["output_mtok"],
            "cache_read_mtok": r["cache_read_mtok"],
            "cache_write_mtok": r["cache_write_mtok"],
            "cache_write_1h_mtok": r["cache_write_1h_mtok"],
        }
        for r in SpendRecords(tracker().db).user_prices()
    ]
    models = [{**m, "source": "genai-prices"} for m in known_models(provider)]
    rows = [
        r
        for r in own + models
        if (not provider or (r.get("provider") or "") == provider.lower() or r in own)
        and (not match or match.lower() in r["model"].lower())
    ]

    def human():
        table(
            [
                "source",
                "provider",
                "model",
                "input",
                "output",
                "cache read",
                "cache write",
                "cache write 1h",
            ],
            [
                [
                    r["source"],
                    r.get("provider") or "",
                    r["model"],
                    _mtok(r.get("input_mtok")),
                    _mtok(r.get("output_mtok")),
                    _mtok(r.get("cache_read_mtok")),
                    _mtok(r.get("cache_write_mtok")),
                    _mtok(r.get("cache_write_1h_mtok")),
                ]
                for r in rows
            ],
            title="Prices in USD per million tokens (user prices win)",
        )

    emit(f"{len(rows)} price(s)", {"prices": rows, "count": len(rows)}, human)


@pricing.command(name="set")
@click.argument("model")
@click.argument("input_mtok", type=click.FloatRange(min=0))
@click.argument("output_mtok", type=click.FloatRange(min=0))
@click.option(
    "--cache-read",
    type=click.FloatRange(min=0),
    default=None,
    help="USD per million cache-read tokens (default 0.1x input).",
)
@click.option(
    "--cache-write",
    type=click.FloatRange(min=0),
    default=None,
    help="USD per million cache-write tokens, 5-minute cache (default 1.25x input).",
)
@click.option(
    "--cache-write-1h",
    type=click.FloatRange(min=0),
    default=None,
    help="USD per million cache-write tokens, 1-hour cache (default 2x input).",
)
@click.option("--provider", default=None, help="Provider of the model (optional).")
@json_option
def pricing_set(
    model, input_mtok, output_mtok, cache_read, cache_write, cache_write_1h, provider, as_json
):
    """Set your own price for MODEL: IN and OUT in USD per million tokens. It wins over
    genai-prices for calls recorded from now on."""
    from aitrack.clock import now_ms
    from aitrack.store.spend import SpendRecords
    from aitrack.vocab import check_text

    model = check_text("model", model, max_len=300).strip()
    row = {
        "model": model,
        "provider": provider,
        "input_mtok": input_mtok,
        "output_mtok": output_mtok,
        "cache_read_mtok": cache_read,
        "cache_write_mtok": cache_write,
        "cache_write_1h_mtok": cache_write_1h,
        "updated_at": now_ms(),
    }
    t = tracker()
    with t.db.transaction():
        SpendRecords(t.db).set_user_price(row)
    emit(
        f"Price set for {model}",
        row,
        lambda: click.echo(
            f"{model}: ${input_mtok:g} in / ${output_mtok:g} out per million tokens"
            + (f", cache read ${cache_read:g}" if cache_read is not None else "")
            + (f", cache write ${cache_write:g}" if cache_write is not None else "")
            + (f", 1 h cache write ${cache_write_1h:g}" if cache_write_1h is not None else "")
        ),
    )


@pricing.command(name="unset")
@click.argument("model")
@json_option
def pricing_unset(model, as_json):
    """Remove your own price for MODEL (genai-prices applies again)."""
    from aitrack.errors import NotFound
    from aitrack.store.spend import SpendRecords

    t = tracker()
    with t.db.transaction():
        removed = SpendRecords(t.db).delete_user_price(model)
    if not removed:
        raise NotFound(f"no user price for {model!r}: see `aitrack pricing list`")
    emit(
        f"Price removed for {model}",
        {"model": model},
        lambda: click.echo(f"{model}: your price removed"),
    )


# --- budget ------------------------------------------------------------------------------------


@click.command()
@click.option(
    "--session",
    "per_session",
    type=click.FloatRange(min=0),
    default=None,
    help="Limit per session, USD.",
)
@click.option("--daily", type=click.FloatRange(min=0), default=None, help="Limit per day, USD.")
@click.option("--monthly", type=click.FloatRange(min=0), default=None, help="Limit per month, USD.")
@click.option(
    "--repo",
    type=click.Path(file_okay=False),
    default=None,
    help="Limits for this repository only (default: all spend).",
)
@click.option(
    "--enforce/--no-enforce",
    default=None,
    help="Make the proxy refuse calls once a limit is reached (429).",
)
@click.option("--clear", is_flag=True, help="Remove the limits (of --repo, or global).")
@json_option
def budget(per_session, daily, monthly, repo, enforce, clear, as_json):
    """Set spending limits, or show them with today's spend. A reached limit warns from
    `run` and `proxy` and shows in `status`; with --enforce the proxy refuses further calls.

    \b
    aitrack budget --session 2 --daily 10
    aitrack budget --monthly 200 --repo . --enforce
    """
    from aitrack import budgets, gitinfo

    t = tracker()
    repo_path = None
    if repo:
        repo_path = gitinfo.describe(repo)["repo_path"] or os.path.abspath(repo)
    limits = {"session": per_session, "daily": daily, "monthly": monthly}
    if clear:
        scopes = tuple(s for s, v in limits.items() if v is not None) or None
        removed = budgets.clear_budgets(t, repo_path, scopes)
        emit(
            f"{removed} limit(s) removed",
            {"removed": removed},
            lambda: click.echo(f"{removed} limit(s) removed"),
        )
        return
    if any(v is not None for v in limits.values()) or enforce is not None:
        budgets.set_budgets(t, limits, repo_path, enforce)
    rules = budgets.list_budgets(t)
    active = t.records.active_sessions()
    check = budgets.check_budgets(t, active[0]["id"] if len(active) == 1 else None, repo_path)
    data = {"budgets": rules, "check": check, "over_budget": check["over_budget"]}

    def human():
        if not rules:
            click.echo("No budgets. Set one: aitrack budget --session 2 --daily 10")
            return
        table(
            ["scope", "repository", "limit", "enforce", "spent", "status"],
            [
                [
                    r["scope"],
                    r["repo_path"] or "(all)",
                    money(r["limit_usd"]),
                    "yes" if r["enforce"] else "no",
                    _spent(check, r),
                    _state(check, r),
                ]
                for r in rules
            ],
            title="Budgets",
        )
        for r in check["exceeded"]:
            click.echo(f"⚠ {budgets.describe(r)}", err=True)

    emit("Budgets", data, human)


def _rule_check(check, rule):
    for r in check["rules"]:
        if r["scope"] == rule["scope"] and r["repo_path"] == rule["repo_path"]:
            return r
    return None


def _spent(check, rule) -> str:
    r = _rule_check(check, rule)
    return money(r["spend_usd"]) if r else "-"


def _state(check, rule) -> str:
    r = _rule_check(check, rule)
    if r is None:
        return "-"
    return "REACHED" if r["over"] else f"{money(r['remaining_usd'])} left"


# --- log-ai ------------------------------------------------------------------------------------


@click.command(name="log-ai")
@click.option("-p", "--provider", default=None, help="anthropic, openai, ...")
@click.option("-m", "--model", required=True, help="Model name.")
@click.option(
    "-t",
    "--tokens",
    type=click.IntRange(min=0),
    default=None,
    help="Total tokens (counted as input when no split is given).",
)
@click.option(
    "-c",
    "--cost",
    type=click.FloatRange(min=0),
    default=None,
    help="Cost in USD (default: priced from the tokens).",
)
@click.option("--input", "input_tokens", type=click.IntRange(min=0), default=None)
@click.option("--output", "output_tokens", type=click.IntRange(min=0), default=None)
@click.option("--cache-read", type=click.IntRange(min=0), default=None)
@click.option(
    "--cache-write",
    type=click.IntRange(min=0),
    default=None,
    help="Cache-write tokens (5 minute TTL).",
)
@click.option("--session-id", default=None, help="Session (default: the active one).")
@lane_option
@json_option
def log_ai(
    provider,
    model,
    tokens,
    cost,
    input_tokens,
    output_tokens,
    cache_read,
    cache_write,
    session_id,
    lane,
    as_json,
):
    """Log AI usage to the active session by hand (codesession-compatible).

    \b
    aitrack log-ai -p anthropic -m claude-sonnet-4-5 -t 25000 -c 0.25
    aitrack log-ai -m gpt-5 --input 12000 --output 800 --cache-read 4000
    """
    from aitrack.usage import record_api_call

    t = tracker()
    session = t.active_session(session_id, lane or default_lane())
    split = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_tokens": cache_read,
        "cache_write_5m_tokens": cache_write,
    }
    counts = {k: v for k, v in split.items() if v is not None}
    if not counts:
        if tokens is None and cost is None:
            raise click.UsageError("give tokens (-t or --input/--output) or a cost (-c)")
        counts = {"input_tokens": tokens or 0}
    row = record_api_call(
        t,
        model=model,
        source="manual",
        provider=provider,
        session_id=session["id"],
        cost_usd=cost,
        **counts,
    )
    total = sum(row[k] for k in split)
    data = {
        "api_call_id": row["id"],
        "session_id": session["id"],
        "model": model,
        "tokens": total,
        "cost_usd": row["cost_usd"],
        "cost_source": row["cost_source"],
    }
    emit(
        "AI usage logged",
        data,
        lambda: click.echo(
            f"logged {total:,} tokens of {model} ({money(row['cost_usd'])}) "
            f"to {short(session['id'])}"
        ),
    )


# --- git ---------------------------------------------------------------------------------------


@click.group()
def git():
    """Git data of sessions: commits and changed files."""


@git.command(name="capture")
@click.argument("session_id", required=False)
@lane_option
@json_option
def git_capture(session_id, lane, as_json):
    """Record now the commits and changed files of SESSION (default: the active session,
    else the most recent)."""
    from aitrack.errors import NotFound
    from aitrack.gitcapture import capture

    t = tracker()
    if session_id:
        session = t.resolve_session(session_id)
    else:
        try:
            session = t.active_session(None, lane or default_lane())
        except NotFound:
            session = t.records.latest_session()
            if session is None:
                raise
    result = capture(t, session)
    if result is None:
        emit(
            "Not in a git repository",
            {"session_id": session["id"], "git": None},
            lambda: click.echo(
                f"{short(session['id'])}: not in a git repository, nothing to record"
            ),
        )
        return
    emit(
        "Git captured",
        result,
        lambda: click.echo(
            f"{short(session['id'])}: {result['commits']} commits, {result['files_changed']} files "
            f"(+{result['lines_added']} -{result['lines_removed']})"
        ),
    )
