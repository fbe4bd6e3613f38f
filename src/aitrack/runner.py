"""`aitrack run -- CMD ARGS...`: a session around one command, with the proxy in between.

Starts a session in a lane of its own (so concurrent runs never share calls), the proxy on a
background thread (own event loop; measured: no second interpreter to start, and the run
process is idle while CMD runs), then CMD with ANTHROPIC_BASE_URL / OPENAI_BASE_URL pointing
at the proxy and its arguments exactly as given. Signals sent to `run` reach CMD once (a
terminal's Ctrl-C already reaches the whole foreground group and is not sent twice). When CMD
exits: the calls are flushed, the session ends (success on exit 0, else failed) with its git
capture, the summary goes to stderr and `run` exits with CMD's status (128+N for signal N).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from aitrack import ids
from aitrack.proxy.attribution import AITRACK_HEADER

_FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
_SI_KERNEL = 0x80  # Linux si_code of signals the kernel (the terminal) sends to a whole group


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _signals() -> set[signal.Signals]:
    return {getattr(signal, n) for n in _FORWARDED if hasattr(signal, n)}


def _can_sigwait() -> bool:
    return (
        hasattr(signal, "sigtimedwait")
        and hasattr(os, "posix_spawnp")
        and threading.current_thread() is threading.main_thread()
    )


def upstreams(env: dict[str, str]) -> tuple[str, str]:
    """The proxy's upstreams: the user's own gateway (ANTHROPIC_BASE_URL / OPENAI_BASE_URL),
    else AITRACK_ANTHROPIC_UPSTREAM / AITRACK_OPENAI_UPSTREAM, else the real APIs."""
    from aitrack.proxy.server import ANTHROPIC_API, OPENAI_API

    anthropic = (
        env.get("ANTHROPIC_BASE_URL") or env.get("AITRACK_ANTHROPIC_UPSTREAM") or ANTHROPIC_API
    )
    openai = env.get("OPENAI_BASE_URL") or env.get("AITRACK_OPENAI_UPSTREAM") or OPENAI_API
    return anthropic, openai


def _with_header(existing: str | None, name: str, value: str) -> str:
    lines = [
        ln
        for ln in (existing or "").split("\n")
        if ln.strip() and ln.split(":", 1)[0].strip().lower() != name
    ]
    return "\n".join([*lines, f"{name}: {value}"])


def child_env(
    base: dict[str, str], session_id: str, lane: str, run_id: str, proxy_url: str | None
) -> dict[str, str]:
    env = dict(base)
    env.update(AITRACK_SESSION_ID=session_id, AITRACK_LANE=lane, AITRACK_RUN_ID=run_id)
    if proxy_url:
        env["ANTHROPIC_BASE_URL"] = proxy_url  # SDKs append /v1/messages
        env["OPENAI_BASE_URL"] = proxy_url + "/v1"  # SDKs append /chat/completions
        for var in ("ANTHROPIC_CUSTOM_HEADERS", "OPENAI_CUSTOM_HEADERS"):
            env[var] = _with_header(env.get(var), AITRACK_HEADER, session_id)
    return env


def _exit_status(wait_status: int) -> int:
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


def _spawn_and_wait(argv: list[str], env: dict[str, str], old_mask: set[Any]) -> int:
    """Linux/BSD path: signals are blocked in every thread of ours and taken with
    sigtimedwait, so we know who sent them."""
    waited = _signals() | {signal.SIGCHLD}
    restore = [s for s in (getattr(signal, "SIGPIPE", None), getattr(signal, "SIGXFSZ", None)) if s]
    try:
        pid = os.posix_spawnp(argv[0], argv, env, setsigmask=old_mask, setsigdef=restore)
    except FileNotFoundError:
        _stderr(f"aitrack run: command not found: {argv[0]}")
        return 127
    except PermissionError:
        _stderr(f"aitrack run: permission denied: {argv[0]}")
        return 126
    except OSError as exc:
        _stderr(f"aitrack run: cannot start {argv[0]}: {exc.strerror or exc}")
        return 126
    while True:
        info = signal.sigtimedwait(waited, 1.0)
        if info is not None and info.si_signo != signal.SIGCHLD:
            if info.si_code != _SI_KERNEL:  # from kill(), not from the terminal
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, info.si_signo)
            continue
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return _exit_status(status)


def _popen_and_wait(argv: list[str], env: dict[str, str]) -> int:
    """Elsewhere: forward SIGTERM/SIGHUP with handlers; the terminal delivers Ctrl-C itself."""
    import subprocess

    try:
        proc = subprocess.Popen(argv, env=env)
    except FileNotFoundError:
        _stderr(f"aitrack run: command not found: {argv[0]}")
        return 127
    except PermissionError:
        _stderr(f"aitrack run: permission denied: {argv[0]}")
        return 126
    previous: dict[int, Any] = {}

    def forward(signum: int, _frame: Any) -> None:
        with contextlib.suppress(OSError):
            proc.send_signal(signum)

    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        for name in ("SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                previous[getattr(signal, name)] = signal.signal(getattr(signal, name), forward)
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code = proc.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - code if code < 0 else code


def run_command(
    tracker: Any,
    argv: list[str],
    *,
    name: str | None = None,
    port: int | None = None,
    use_proxy: bool = True,
    env: dict[str, str] | None = None,
    out: Callable[[str], None] = _stderr,
) -> int:
    """Run argv inside a new session (see the module docstring); returns the exit status.

    Raises:
        AitrackError: the session cannot start or an explicitly given port is taken.
    """
    from aitrack import gitinfo

    if not argv:
        raise ValueError("no command to run")
    base_env = dict(os.environ if env is None else env)
    command = shlex.join(argv)
    lane = f"run:{ids.new_id()}"
    use_sigwait = _can_sigwait()
    old_mask: set[Any] = set()
    if use_sigwait:  # before any thread starts: our threads inherit the blocked mask
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _signals() | {signal.SIGCHLD})
    proxy = None
    session = None
    try:
        if use_proxy:
            _check_upstreams(base_env)
        git = gitinfo.describe(os.getcwd())
        session, _ = tracker.start_session(
            name or command,
            lane=lane,
            source="run",
            developer=base_env.get("AITRACK_DEVELOPER") or base_env.get("USER"),
            repo_path=git["repo_path"],
            branch=git["branch"],
            cwd=os.getcwd(),
            git_head=git["head"],
            context=command,
        )
        run = tracker.open_run(session["id"], command=command)
        if use_proxy:
            proxy = _start_proxy(tracker, session["id"], run["id"], lane, port, base_env, out)
        env_child = child_env(
            base_env, session["id"], lane, run["id"], proxy.url if proxy else None
        )
        if use_sigwait:
            code = _spawn_and_wait(argv, env_child, old_mask)
        else:
            code = _popen_and_wait(argv, env_child)
        if proxy is not None:
            proxy.flush()
            proxy.stop()
            proxy = None
        tracker.close_run(run["id"], exit_code=code, status="completed" if code == 0 else "failed")
        root = gitinfo.repo_root(git["repo_path"]) if git["repo_path"] else None
        head = gitinfo.head_sha(root) if root else None
        tracker.end_session(session["id"], "success" if code == 0 else "failed", git_head=head)
        out(summary_text(tracker, session["id"], command, code))
        return code
    except BaseException as exc:
        if session is not None and tracker.get_session(session["id"])["status"] == "active":
            tracker.end_session(session["id"], "failed", f"aitrack run failed: {exc}")
        raise
    finally:
        if proxy is not None:
            proxy.stop()
        if use_sigwait:
            while signal.sigtimedwait(_signals() | {signal.SIGCHLD}, 0) is not None:
                pass  # signals meant for the child: never for us once it is gone
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def _check_upstreams(env: dict[str, str]) -> None:
    from aitrack.errors import InvalidValue
    from aitrack.proxy.server import check_upstream

    for url, var in zip(upstreams(env), ("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"), strict=True):
        try:
            check_upstream(url)
        except ValueError as exc:
            raise InvalidValue(f"{exc} (from {var} or AITRACK_*_UPSTREAM)") from None


def _start_proxy(
    tracker: Any,
    session_id: str,
    run_id: str,
    lane: str,
    port: int | None,
    env: dict[str, str],
    out: Callable[[str], None],
) -> Any:
    from aitrack.errors import InvalidValue
    from aitrack.proxy.server import DEFAULT_PORT, ProxyConfig, ProxyThread, bind_preferred
    from aitrack.proxy.server import bind_socket as bind

    anthropic, openai = upstreams(env)
    config = ProxyConfig(
        port=0,
        anthropic_upstream=anthropic,
        openai_upstream=openai,
        lane=lane,
        session_id=session_id,
        run_id=run_id,
        store_url=_store_url(tracker),
        warn=out,
    )
    if port is None:
        sock = bind_preferred("127.0.0.1", int(env.get("AITRACK_PROXY_PORT") or DEFAULT_PORT))
    else:
        try:
            sock = bind("127.0.0.1", port)
        except OSError:
            raise InvalidValue(
                f"port {port} is taken: choose another with --port, or leave it out"
            ) from None
    return ProxyThread(config, sock).start()


def _store_url(tracker: Any) -> str | None:
    from aitrack.settings import database_url

    db = tracker.db
    return (
        str(db.path)
        if getattr(db, "dialect", "") == "sqlite" and hasattr(db, "path")
        else database_url()
    )


def _elapsed(minutes: float) -> str:
    seconds = int(round(minutes * 60))
    if seconds < 60:
        return f"{seconds}s"
    from aitrack.clock import format_duration

    return format_duration(minutes)


def summary_text(tracker: Any, session_id: str, command: str, code: int) -> str:
    """codesession-style summary: 'Done CMD', duration • files • commits • tokens • cost."""
    from aitrack import budgets

    detail = tracker.session_detail(session_id)
    summary = detail["summary"]
    changes = detail["changes"]
    added = sum(c["lines_added"] for c in changes)
    removed = sum(c["lines_removed"] for c in changes)
    cost = summary["api_cost_usd"]
    unpriced = summary["unpriced_calls"]
    if cost is None:
        cost_text = f"unpriced AI cost ({unpriced} calls)"
    else:
        cost_text = f"${cost:,.2f} AI cost" + (f" (+{unpriced} unpriced calls)" if unpriced else "")
    parts = [
        _elapsed(summary["duration_minutes"]),
        f"{len(changes)} files (+{added} -{removed})",
        f"{len(detail['commits'])} commits",
        f"{summary['tokens']:,} tokens",
        cost_text,
    ]
    if code == 0:
        head = f"Done {command}"
    elif code > 128:
        head = f"Killed by signal {code - 128}: {command}"
    else:
        head = f"Failed (exit {code}) {command}"
    lines = [head, "  " + " • ".join(parts)]
    if summary["top_model"] and summary["api_calls"]:
        lines.append(f"  Top model: {summary['top_model']}")
    try:
        check = budgets.check_budgets(tracker, session_id)
    except Exception:  # noqa: BLE001 - the summary never fails on budgets
        check = {"exceeded": []}
    lines += [f"  Budget: {budgets.describe(r)}" for r in check["exceeded"]]
    lines.append(f"  Session {ids.short(session_id)} (aitrack show {ids.short(session_id)})")
    return "\n".join(lines)
