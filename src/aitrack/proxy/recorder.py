"""The proxy's single writer thread: parses usage off the event loop, attributes calls to
sessions and stores them in batches (one transaction per batch through
aitrack.usage.record_api_calls), so the database never adds latency to a proxied call.
`flush()` waits until everything submitted so far is stored; `close()` flushes and stops."""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aitrack.proxy import usage_parsers as parsers
from aitrack.proxy.attribution import BudgetGate, Key, Resolver, refresh_gate

# Write-behind under overload: while the proxy serves more than DEFER_RATE requests a second,
# batches wait (up to DEFER_MAX calls) so that forwarding keeps the CPU; nothing is dropped.
DEFER_RATE = 1000.0
DEFER_MAX = 20_000


@dataclass(slots=True)
class CapturedCall:
    """What the event loop hands over once a response has finished (never a request body)."""

    ts: int
    provider: str
    kind: str
    status: int
    latency_ms: int
    request_id: str | None
    key: Key
    body: parsers.BodyCopy | None = None  # non-streamed response, raw bytes
    encoding: str | None = None
    sse_events: list[bytes] | None = None  # usage-bearing data lines of a stream
    request_model: str | None = None
    complete: bool = True


def usage_of(call: CapturedCall) -> parsers.Usage:
    """Usage of a captured call. Raises UnsupportedEncoding, zlib.error."""
    if call.sse_events is not None:
        return parsers.usage_from_sse(call.provider, call.sse_events)
    if call.body is None:
        return parsers.Usage()
    body = call.body
    if body.truncated:
        tail = b"".join(body.tail)
        if call.encoding and call.encoding.lower() != "identity":
            return parsers.Usage()
        return parsers.usage_from_json_tail(call.provider, body.chunks[0], tail)
    return parsers.usage_from_json(
        call.provider, parsers.decode_body(call.encoding, b"".join(body.chunks))
    )


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Recorder:
    """A background thread with a queue; owns its own store connection."""

    def __init__(
        self,
        store_url: str | None = None,
        lane: str = "background",
        session_id: str | None = None,
        run_id: str | None = None,
        warn: Callable[[str], None] | None = _stderr,
        batch_interval_s: float = 0.05,
    ) -> None:
        self.store_url = store_url
        self.lane = lane
        self.session_id = session_id
        self.run_id = run_id
        self.warn = warn
        self.batch_interval_s = batch_interval_s
        self.gate = BudgetGate()
        self.recorded = 0
        self.failed = 0
        self.requests_seen = 0  # incremented by the event loop for every proxied request
        self.submitted = 0  # written by the event loop only
        self.taken = 0  # written by the writer thread only
        self._urgent = threading.Event()
        self.ready = threading.Event()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name="aitrack-recorder", daemon=True)
        self._warned: set[tuple[Any, ...]] = set()
        self._tracker: Any = None
        self._error: BaseException | None = None

    # -- used from the event loop / other threads ------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def submit(self, call: CapturedCall) -> None:
        self.submitted += 1
        self._queue.put(call)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every call submitted before now is stored (True) or timeout."""
        if not self._thread.is_alive():
            return False
        done = threading.Event()
        self._urgent.set()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        if self._thread.is_alive():
            self._urgent.set()
            self._queue.put(None)
            self._thread.join(timeout)

    # -- the thread ------------------------------------------------------------------------
    def _main(self) -> None:
        from aitrack.settings import Settings
        from aitrack.store import open_store
        from aitrack.tracker import Tracker, log_internal_error

        try:
            store = open_store(self.store_url)
            self._tracker = tracker = Tracker(store, Settings.from_env())
            self._resolver = Resolver(tracker, self.lane, self.session_id)
            _warm_pricing()
            self._refresh(tracker)
        except BaseException as exc:  # noqa: BLE001 - reported by whoever waits on ready
            self._error = exc
            log_internal_error("proxy recorder could not start", exc)
            self.ready.set()
            self._drain_forever()
            return
        self.ready.set()
        last_refresh = time.monotonic()
        try:
            while True:
                try:
                    item = self._queue.get(timeout=2.0)
                except queue.Empty:
                    self._refresh(tracker)
                    last_refresh = time.monotonic()
                    continue
                batch = [item]
                time.sleep(self.batch_interval_s)  # let a burst gather into one transaction
                self._wait_while_overloaded()
                while len(batch) < 5000:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                calls = [c for c in batch if isinstance(c, CapturedCall)]
                if calls:
                    self._store(tracker, calls)
                    self.taken += len(calls)
                    self._refresh(tracker)
                    last_refresh = time.monotonic()
                elif time.monotonic() - last_refresh > 2.0:
                    self._refresh(tracker)
                    last_refresh = time.monotonic()
                for item in batch:
                    if isinstance(item, threading.Event):
                        item.set()
                        self._urgent.clear()
                if any(item is None for item in batch):
                    return
        finally:
            store.close()

    def _wait_while_overloaded(self) -> None:
        seen = self.requests_seen
        while not self._urgent.is_set() and self.submitted - self.taken < DEFER_MAX:
            time.sleep(0.1)
            now = self.requests_seen
            if (now - seen) / 0.1 < DEFER_RATE:
                return
            seen = now

    def _drain_forever(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, threading.Event):
                item.set()
            if item is None:
                return

    def _row(self, call: CapturedCall) -> dict[str, Any] | None:
        from aitrack.tracker import log_internal_error
        from aitrack.usage import api_call_row

        try:
            usage = usage_of(call)
        except (parsers.UnsupportedEncoding, ValueError, EOFError, OSError) as exc:
            log_internal_error(f"proxy: cannot read usage of a {call.provider} response", exc)
            usage = parsers.Usage()
        except Exception as exc:  # noqa: BLE001 - zlib.error and the like: never lose the thread
            log_internal_error(f"proxy: cannot read usage of a {call.provider} response", exc)
            usage = parsers.Usage()
        model = usage.model or call.request_model
        if not model or (not usage.found and call.status < 400 and call.complete):
            return None  # nothing billed that we could read (e.g. a non-generation answer)
        session_id, repo = self._resolver.resolve(call.key, call.ts)
        self.gate.keys[call.key] = (session_id, repo)
        return api_call_row(
            model=model,
            source="proxy",
            provider=call.provider,
            session_id=session_id,
            run_id=self.run_id if session_id and session_id == self.session_id else None,
            ts=call.ts,
            latency_ms=call.latency_ms,
            status=call.status,
            request_id=call.request_id,
            # fast mode marks the call as the import marks it: it is billed at its own prices
            request_type="fast" if usage.fast else call.kind,
            dedup_key=f"{call.provider}:{usage.response_id}" if usage.response_id else None,
            **usage.tokens,  # type: ignore[arg-type]
        )

    def _store(self, tracker: Any, calls: list[CapturedCall]) -> None:
        from aitrack.tracker import log_internal_error
        from aitrack.usage import record_api_calls

        rows = [r for r in (self._row(c) for c in calls) if r is not None]
        if not rows:
            return
        for attempt in range(5):
            try:
                record_api_calls(tracker, rows)
                self.recorded += len(rows)
                return
            except Exception as exc:  # noqa: BLE001 - a locked or lost database: retry, then log
                if attempt == 4:
                    self.failed += len(rows)
                    log_internal_error(f"proxy: {len(rows)} api calls could not be stored", exc)
                    if self.warn:
                        self.warn(f"aitrack: {len(rows)} API calls could not be stored: {exc}")
                    return
                time.sleep(0.2 * (attempt + 1))

    def _refresh(self, tracker: Any) -> None:
        from aitrack.tracker import log_internal_error

        try:
            refresh_gate(self.gate, tracker, self.warn, self._warned)
        except Exception as exc:  # noqa: BLE001 - budgets must never stop recording
            log_internal_error("proxy: budget check failed", exc)

    def describe_session(self) -> dict[str, Any] | None:
        """The session calls without a header go to now (for /health); any thread."""
        from aitrack import presenters

        tracker = self._tracker
        if tracker is None:
            return None
        session_id, _ = self._resolver.resolve((None, None), _now_ms())
        if not session_id:
            return None
        session = tracker.get_session(session_id)
        out = presenters.session(session)
        return {
            k: out[k]
            for k in (
                "id",
                "short_id",
                "name",
                "lane",
                "status",
                "start_time",
                "duration_minutes",
                "repo_path",
            )
        }


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _warm_pricing() -> None:
    """Import and index genai-prices before the first batch (a cold import holds the GIL for a
    few hundred ms, which the event loop would feel)."""
    from aitrack.pricing import TokenUsage, price_call

    price_call("anthropic", "claude-sonnet-4-5", TokenUsage(1, 1))
