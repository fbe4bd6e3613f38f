"""Prices of model API calls: the one place in aitrack that knows a price.

Sits over the data bundled with `genai-prices`, offline: its network updater is never
started. `genai_prices` is imported lazily, so importing this module stays cheap for hooks.

Token convention (the store's): `input_tokens` is NON-cached input, `output_tokens` is all
output (reasoning included), cache reads and 5 min / 1 h cache writes are separate, and
`reasoning_tokens` is an informational subset of output that is never billed again.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from math import lcm
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from decimal import Decimal
    from fractions import Fraction

    from genai_prices.data_snapshot import DataSnapshot
    from genai_prices.types import ModelInfo, ModelPrice, Provider

__all__ = ["BulkPricer", "PriceResult", "TokenUsage", "UserPrice"]
__all__ += ["infer_provider", "known_models", "price_call"]

SOURCE_GENAI = "genai-prices"
SOURCE_USER = "user"

_DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens of one API request, in aitrack's convention (see the module docstring)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class UserPrice:
    """A user's own price in USD per million tokens; it wins over genai-prices.

    Cache reads default to 0.1x input, 5 min cache writes to 1.25x input and 1 h cache
    writes to 2x input, as Anthropic bills them.
    """

    model: str
    input_mtok: float
    output_mtok: float
    cache_read_mtok: float | None = None
    cache_write_mtok: float | None = None
    cache_write_1h_mtok: float | None = None


@dataclass(frozen=True, slots=True)
class PriceResult:
    cost_usd: float | None  # None means UNPRICED: an unknown model never costs 0
    source: str | None  # "genai-prices" | "user" | None
    model_ref: str | None  # the model id genai-prices resolved to, or the user price's model
    provider_ref: str | None
    reason: str | None  # why unpriced, human readable

    @property
    def priced(self) -> bool:
        return self.cost_usd is not None


# A frozen dataclass' __init__ costs about 1 us; the bulk path fills the slots directly.
_new_object = object.__new__
_slots: Mapping[str, Any] = vars(PriceResult)
_set_cost = _slots["cost_usd"].__set__
_set_source = _slots["source"].__set__
_set_model_ref = _slots["model_ref"].__set__
_set_provider_ref = _slots["provider_ref"].__set__
_set_reason = _slots["reason"].__set__


# --- provider inference and model resolution -------------------------------------------

_OPENAI_RE = re.compile(
    r"^(?:openai/)?(?:gpt-?\d|gpt-|chatgpt-|codex|o\d(?:$|-)|text-embedding-|whisper-|tts-|"
    r"dall-e|davinci|babbage|computer-use|omni-moderation)"
)


def infer_provider(model: str) -> str | None:
    """The provider a bare model name belongs to ("anthropic", "openai", "google"), or None."""
    name = (model or "").strip().lower()
    if "claude" in name or name.startswith("anthropic/"):
        return "anthropic"
    if _OPENAI_RE.match(name):
        return "openai"
    if "gemini" in name or name.startswith("google/"):
        return "google"
    return None


def load_price_data() -> None:
    """Load genai-prices' bundled data now (0.4 s here): before forking workers that price."""
    _snapshot()


@cache
def _snapshot() -> DataSnapshot:
    # Our own snapshot of the bundled data, so that an updater started by anyone else in the
    # process can never change what aitrack bills.
    from genai_prices.data import providers
    from genai_prices.data_snapshot import DataSnapshot

    return DataSnapshot(providers=providers, from_auto_update=False)


def _attempts(provider: str | None, model: str) -> list[tuple[str | None, str]]:
    """(provider id, model ref) pairs to try, most specific first."""
    given = provider.strip().lower() if provider and provider.strip() else None
    guess = infer_provider(model)
    out: list[tuple[str | None, str]] = [(given or guess, model)]
    if guess:
        out.append((guess, model))
    if ".anthropic." in model.lower() or model.lower().startswith("anthropic."):
        out.append(("aws", model))  # Bedrock ids such as us.anthropic.claude-...-v1:0
    out.append((None, model))
    if "/" in model:  # "anthropic/claude-sonnet-4.5", "openai/gpt-4o"
        tail = model.rsplit("/", 1)[1]
        out += [(infer_provider(tail), tail), (None, tail)]
    return list(dict.fromkeys(out))


@lru_cache(maxsize=4096)
def _resolve(provider: str | None, model: str) -> tuple[Provider, ModelInfo] | str:
    """genai-prices' provider and model for a name, or the reason why there is none."""
    name = (model or "").strip()
    if not name:
        return "no model name"
    snapshot = _snapshot()
    for provider_id, ref in _attempts(provider, name):
        try:
            return snapshot.find_provider_model(ref, None, provider_id, None)
        except (LookupError, ValueError):
            continue
    where = f" (provider {provider!r})" if provider else ""
    return f"model {name!r}{where} is not in genai-prices' data; add a user price to price it"


def _as_datetime(at_ms: int | None) -> datetime:
    if at_ms is None:
        return datetime.now(tz=UTC)
    return _EPOCH + timedelta(milliseconds=at_ms)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- exact pricing through genai-prices ------------------------------------------------

# input, output, cache read, cache write 5m, cache write 1h, reasoning
_Fields = tuple[int, int, int, int, int, int]


def _fields(usage: TokenUsage) -> _Fields:
    """Usage as clean non-negative ints; reasoning capped at output since it is a subset."""
    u = usage
    raw = (u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_5m_tokens)
    i, o, cr, w5, w1, r = (
        max(0, int(v or 0)) for v in (*raw, u.cache_write_1h_tokens, u.reasoning_tokens)
    )
    return i, o, cr, w5, w1, min(r, o)


def _one_hour_surcharge(mp: ModelPrice) -> bool:
    """True when a price has cache writes but no distinct 1 h write price.

    genai-prices would then bill 1 h writes at the 5 min write price (1.25x input); Anthropic
    (and Claude on Bedrock and Vertex, the only APIs with 1 h cache writes) bills them at 2x
    base input, so we do too. Models with no cache-write price at all bill writes as input.
    """
    has_write = mp.cache_write_mtok is not None or mp.cache_write_5m_mtok is not None
    return has_write and mp.cache_write_1h_mtok is None


def _genai_usage(fields: _Fields, split_1h: bool) -> Any:
    from genai_prices import Usage

    i, o, cr, w5, w1, r = fields
    # genai-prices counts cache reads and writes inside input_tokens (Anthropic does not).
    if split_1h:
        writes = {"cache_write_tokens": w5 + w1, "cache_write_1h_tokens": w1}
    else:  # 1 h writes stay in the input leaf; the surcharge adds the second 1x input
        writes = {"cache_write_tokens": w5}
    return Usage(
        input_tokens=i + cr + w5 + w1,
        output_tokens=o,
        cache_read_tokens=cr,
        output_reasoning_tokens=r,
        cache_write_5m_tokens=w5,
        **writes,
    )


def _context(fast: bool) -> dict[str, str] | None:
    """genai-prices' price context of a request: fast mode (Anthropic's `speed: "fast"`) has
    its own prices for the models that offer it; other models ignore it."""
    return _FAST if fast else None


_FAST = {"speed": "fast"}


def _genai_cost(
    provider: Provider, model: ModelInfo, fields: _Fields, when: datetime, fast: bool = False
) -> Decimal:
    """Exact cost by genai-prices' own calculation (what `genai_prices.calc_price` does)."""
    from genai_prices.types import calc_unit_price

    context = _context(fast)
    surcharge = fields[4] > 0 and _one_hour_surcharge(model.get_prices(when, context))
    usage = _genai_usage(fields, split_1h=not surcharge)
    calc = model.calc_price(usage, provider, genai_request_timestamp=when, price_context=context)
    total = calc.total_price
    if surcharge:
        total_input = fields[0] + fields[2] + fields[3] + fields[4]
        total += calc_unit_price(calc.model_price.input_mtok, fields[4], total_input, 1_000_000)
    return total


def _exact(
    provider: str | None, model: str, fields: _Fields, at_ms: int | None, fast: bool = False
) -> PriceResult:
    resolved = _resolve(provider, model)
    if isinstance(resolved, str):
        return PriceResult(None, None, None, None, resolved)
    prov, info = resolved
    try:
        cost = _genai_cost(prov, info, fields, _as_datetime(at_ms), fast)
    except (ValueError, ArithmeticError, LookupError, TypeError) as exc:
        return PriceResult(None, None, info.id, prov.id, f"genai-prices cannot price it: {exc}")
    return PriceResult(float(cost), SOURCE_GENAI, info.id, prov.id, None)


# --- linear plans: cost as integer arithmetic over price data --------------------------


class _Linear:
    """Cost = (coefficients . fields + constant) / denominator, with per-request tiers.

    `tiers` is ((start, coefficients), ...) ascending: a request whose TOTAL input (cache
    included) is over `start` pays that tier's rates on every token class, as genai-prices
    applies Anthropic's and OpenAI's long-context rule per request.
    """

    __slots__ = ("base", "tiers", "denominator", "source", "model_ref", "provider_ref")

    def __init__(
        self,
        base: tuple[Any, ...],
        tiers: tuple[tuple[int, tuple[Any, ...]], ...],
        denominator: int | float,
        source: str,
        model_ref: str | None,
        provider_ref: str | None,
    ) -> None:
        self.base = base
        self.tiers = tiers
        self.denominator = denominator
        self.source = source
        self.model_ref = model_ref
        self.provider_ref = provider_ref

    def cost(self, i: int, o: int, cr: int, w5: int, w1: int, r: int) -> float:
        c = self.base
        if self.tiers:
            total_input = i + cr + w5 + w1
            for start, coefficients in self.tiers:
                if total_input > start:
                    c = coefficients
        return (c[0] * i + c[1] * o + c[2] * cr + c[3] * w5 + c[4] * w1 + c[5] * r + c[6]) / (
            self.denominator
        )

    def result(self, fields: _Fields) -> PriceResult:
        return PriceResult(self.cost(*fields), self.source, self.model_ref, self.provider_ref, None)


def _user_plan(price: UserPrice, provider: str | None, model: str) -> _Linear:
    base = float(price.input_mtok)
    read = base * 0.1 if price.cache_read_mtok is None else float(price.cache_read_mtok)
    write = base * 1.25 if price.cache_write_mtok is None else float(price.cache_write_mtok)
    write_1h = base * 2 if price.cache_write_1h_mtok is None else float(price.cache_write_1h_mtok)
    coefficients = (base, float(price.output_mtok), read, write, write_1h, 0.0, 0.0)
    return _Linear(
        coefficients, (), 1_000_000, SOURCE_USER, price.model, provider or infer_provider(model)
    )


def _user_index(user_prices: Mapping[str, UserPrice] | None) -> dict[str, UserPrice]:
    index: dict[str, UserPrice] = {}
    for key, price in (user_prices or {}).items():
        index.setdefault(key.strip().lower(), price)
        index.setdefault(price.model.strip().lower(), price)
    return index


# Which of our fields each supported genai-prices usage key counts, as a vector over
# (input, output, cache read, write 5m, write 1h, reasoning, one-per-request).
_VALUE = {
    "input_mtok": (1, 0, 1, 1, 1, 0, 0),  # genai-prices' input is the total input
    "output_mtok": (0, 1, 0, 0, 0, 0, 0),
    "cache_read_mtok": (0, 0, 1, 0, 0, 0, 0),
    "cache_write_mtok": (0, 0, 0, 1, 1, 0, 0),
    "cache_write_5m_mtok": (0, 0, 0, 1, 0, 0, 0),
    "cache_write_1h_mtok": (0, 0, 0, 0, 1, 0, 0),
    "output_reasoning_mtok": (0, 0, 0, 0, 0, 1, 0),
    "requests_kcount": (0, 0, 0, 0, 0, 0, 1),
    "web_searches_kcount": (0, 0, 0, 0, 0, 0, 0),  # never reported by aitrack
    "storage_searches_kcount": (0, 0, 0, 0, 0, 0, 0),
}
_PER = {"requests_kcount": 1000, "web_searches_kcount": 1000, "storage_searches_kcount": 1000}
# genai-prices bills each unit on its leaf count: its value minus its priced descendants.
_DESCENDANTS = {
    "input_mtok": (
        "cache_read_mtok",
        "cache_write_mtok",
        "cache_write_5m_mtok",
        "cache_write_1h_mtok",
    ),
    "cache_write_mtok": ("cache_write_5m_mtok", "cache_write_1h_mtok"),
    "output_mtok": ("output_reasoning_mtok",),
}
_LEAF_ORDER = (
    "cache_write_5m_mtok", "cache_write_1h_mtok", "cache_read_mtok", "cache_write_mtok",
    "output_reasoning_mtok", "input_mtok", "output_mtok", "requests_kcount",
    "web_searches_kcount", "storage_searches_kcount",
)  # fmt: skip


def _price_at(price: Any, total_input: int) -> Fraction:
    """A flat or tiered price per unit at a request's total input, as genai-prices picks it."""
    from fractions import Fraction

    from genai_prices.types import TieredPrices

    if isinstance(price, TieredPrices):
        chosen = price.base
        for tier in price.tiers:
            if total_input > tier.start:
                chosen = tier.price
        return Fraction(chosen)
    return Fraction(price)


def _coefficients(mp: ModelPrice, total_input: int) -> tuple[Fraction, ...] | None:
    from fractions import Fraction

    prices = {k: v for k, v in vars(mp).items() if v is not None and not k.startswith("_")}
    if not prices.keys() <= _VALUE.keys():
        return None
    surcharge = _one_hour_surcharge(mp)
    values = dict(_VALUE)
    if surcharge:
        values["cache_write_mtok"] = (0, 0, 0, 1, 0, 0, 0)
    leaves: dict[str, tuple[int, ...]] = {}
    for key in _LEAF_ORDER:
        if key in prices:
            counts = list(values[key])
            for d in _DESCENDANTS.get(key, ()):
                if d in leaves:
                    counts = [a - b for a, b in zip(counts, leaves[d], strict=True)]
            leaves[key] = tuple(counts)
    out = [Fraction(0)] * 7
    for key, leaf in leaves.items():
        unit_price = _price_at(prices[key], total_input) / _PER.get(key, 1_000_000)
        out = [c + n * unit_price for c, n in zip(out, leaf, strict=True)]
    if surcharge and "input_mtok" in prices:
        out[4] += _price_at(prices["input_mtok"], total_input) / 1_000_000
    return tuple(out)


def _genai_plan(
    provider: Provider, model: ModelInfo, when: datetime, fast: bool = False
) -> _Linear | None:
    """A linear plan for a model's prices at `when` (in fast mode: `fast`), checked against
    genai-prices' own calculation; None when the prices use anything the plan cannot
    reproduce."""
    from genai_prices.types import TieredPrices

    mp = model.get_prices(when, _context(fast))
    starts = sorted(
        {t.start for v in vars(mp).values() if isinstance(v, TieredPrices) for t in v.tiers}
    )
    # (tier start, a total input inside the regime); the base regime's start is unused
    regimes = [(-1, starts[0] if starts else 100_000)]
    regimes += [(s, s + 1) for s in starts]
    built = []
    for start, total_input in regimes:
        coefficients = _coefficients(mp, total_input)
        if coefficients is None:
            return None
        built.append((start, total_input, coefficients))
    denominator = lcm(*(c.denominator for _, _, coefficients in built for c in coefficients))

    def ints(coefficients: tuple[Fraction, ...]) -> tuple[int, ...]:
        return tuple(int(c * denominator) for c in coefficients)

    plan = _Linear(
        ints(built[0][2]),
        tuple((start, ints(c)) for start, _, c in built[1:]),
        denominator,
        SOURCE_GENAI,
        model.id,
        provider.id,
    )
    for _, t, _ in built:  # probe each regime with a zero and a basis of usages
        probes = [(0, 0, 0, 0, 0, 0), (t, 0, 0, 0, 0, 0), (0, 0, t, 0, 0, 0), (0, 0, 0, t, 0, 0)]
        probes += [(0, 0, 0, 0, t, 0), (t, 1000, 0, 0, 0, 0), (t, 1000, 0, 0, 0, 400)]
        for probe in probes:
            try:
                expected = float(_genai_cost(provider, model, probe, when, fast))
            except (ValueError, ArithmeticError):
                return None
            if abs(plan.cost(*probe) - expected) > 1e-12:
                return None
    return plan


# Plans by (provider, model, price set, fast mode); the bundled data lives as long as the
# process. (The fast prices are a copy made per call: the standard price set is the key.)
_PLANS: dict[tuple[int, int, int, bool], tuple[ModelPrice, _Linear | None]] = {}


def _cached_genai_plan(
    provider: Provider, model: ModelInfo, when: datetime, fast: bool = False
) -> _Linear | None:
    mp = model.get_prices(when)
    key = (id(provider), id(model), id(mp), fast)
    if key not in _PLANS:  # mp kept alive: ids stay unique
        _PLANS[key] = (mp, _genai_plan(provider, model, when, fast))
    return _PLANS[key][1]


def _date_only(model: ModelInfo) -> bool:
    """True when the model's price depends on the request's UTC date alone, not its hour."""
    from genai_prices.types import StartDateConstraint

    if not isinstance(model.prices, list):
        return True
    return all(
        c.constraint is None or isinstance(c.constraint, StartDateConstraint) for c in model.prices
    )


# --- public entry points ----------------------------------------------------------------


def price_call(
    provider: str | None,
    model: str,
    usage: TokenUsage,
    at_ms: int | None = None,
    user_prices: Mapping[str, UserPrice] | None = None,
    fast: bool = False,
) -> PriceResult:
    """Price one API request made at `at_ms` (epoch ms, None = now); `fast`: in Anthropic's
    fast mode (`speed: "fast"`).

    A user price for the exact model name (case-insensitive) wins, fast or not; otherwise
    genai-prices' price in force at that time, its fast-mode price where the model has one.
    Unknown models come back unpriced (cost_usd None), never 0.
    """
    fields = _fields(usage)
    if user_prices:
        own = _user_index(user_prices).get((model or "").strip().lower())
        if own is not None:
            return _user_plan(own, provider, model).result(fields)
    return _exact(provider, model, fields, at_ms, fast)


class BulkPricer:
    """Prices many rows with the answers of `price_call`, for import paths.

    Resolution and price data are memoised per (provider, model, UTC day); each row is then
    a few integer multiplications. Prices the plan cannot reproduce (time-of-day prices,
    unusual units) go through genai-prices, behind a small LRU cache.
    """

    def __init__(self, user_prices: Mapping[str, UserPrice] | None = None, cache_size: int = 4096):
        self._user = _user_index(user_prices)
        self._plans: dict[tuple[str | None, str, int, bool], Any] = {}
        self._exact_cache: OrderedDict[tuple, PriceResult] = OrderedDict()
        self._cache_size = cache_size
        self.exact_rows = 0  # rows priced through genai-prices' calculation

    def price(
        self,
        provider: str | None,
        model: str,
        usage: TokenUsage,
        at_ms: int | None = None,
        fast: bool = False,
    ) -> PriceResult:
        day = (_now_ms() if at_ms is None else at_ms) // _DAY_MS
        plan = self._plan_of(provider, model, day, fast)
        if type(plan) is _Linear:
            u = usage
            i, o, cr = u.input_tokens, u.output_tokens, u.cache_read_tokens
            w5, w1, r = u.cache_write_5m_tokens, u.cache_write_1h_tokens, u.reasoning_tokens
            try:
                clean = (i | o | cr | w5 | w1 | r) >= 0 and r <= o
            except TypeError:
                clean = False
            if not clean:
                i, o, cr, w5, w1, r = _fields(u)
            result = _new_object(PriceResult)
            _set_cost(result, plan.cost(i, o, cr, w5, w1, r))
            _set_source(result, plan.source)
            _set_model_ref(result, plan.model_ref)
            _set_provider_ref(result, plan.provider_ref)
            _set_reason(result, None)
            return result
        if type(plan) is PriceResult:
            return plan
        # An exact plan: "day" prices alike all day long; "time" needs the time of day.
        fields = _fields(usage)
        when = day * _DAY_MS if plan == "day" else (_now_ms() if at_ms is None else at_ms)
        key = (provider, model, fields, when, fast)
        hit = self._exact_cache.get(key)
        if hit is not None:
            self._exact_cache.move_to_end(key)
            return hit
        self.exact_rows += 1
        result = self._exact_cache[key] = _exact(provider, model, fields, when, fast)
        if len(self._exact_cache) > self._cache_size:
            self._exact_cache.popitem(last=False)
        return result

    def cost(
        self,
        provider: str | None,
        model: str,
        at_ms: int,
        i: int,
        o: int,
        cr: int,
        w5: int,
        w1: int,
        r: int,
        fast: bool = False,
    ) -> tuple[float | None, str | None]:
        """(cost_usd, source) of one row of clean non-negative token counts, as `price`
        gives them, without building objects (the import's hot path)."""
        plan = self._plans.get((provider, model, at_ms // _DAY_MS, fast))
        if type(plan) is _Linear and r <= o and (i | o | cr | w5 | w1 | r) >= 0:
            return plan.cost(i, o, cr, w5, w1, r), plan.source
        result = self.price(provider, model, TokenUsage(i, o, cr, w5, w1, r), at_ms, fast)
        return result.cost_usd, result.source

    def costs(
        self, rows: Iterable[tuple[str | None, str, int, int, int, int, int, int, int, bool]]
    ) -> list[tuple[float | None, str | None]]:
        """`cost` of many (provider, model, at_ms, i, o, cr, w5, w1, r, fast) rows: a run of
        rows of one model, day and mode looks its plan up once."""
        out: list[tuple[float | None, str | None]] = []
        append, plans = out.append, self._plans
        last: tuple[Any, ...] = ()
        plan: Any = None
        for provider, model, at_ms, i, o, cr, w5, w1, r, fast in rows:
            key = (provider, model, at_ms // _DAY_MS, fast)
            if key != last:
                last, plan = key, plans.get(key)
                if type(plan) is not _Linear:
                    plan = None
            if plan is None or r > o or (i | o | cr | w5 | w1 | r) < 0:
                append(self.cost(provider, model, at_ms, i, o, cr, w5, w1, r, fast))
                last = ()  # the plan may exist now
                continue
            append((plan.cost(i, o, cr, w5, w1, r), plan.source))
        return out

    def linear_plan(
        self, provider: str | None, model: str, at_ms: int, fast: bool = False
    ) -> _Linear | None:
        """The plan `cost` uses for rows of this model, day and mode when it is linear (its
        attributes: base and each tier's coefficients over (input, output, cache read,
        write 5m, write 1h, reasoning, per request), denominator, source); None when such
        rows need `cost` itself. For the importer's row builder in C (importing/_api_rows.c)."""
        plan = self._plan_of(provider, model, at_ms // _DAY_MS, fast)
        return plan if type(plan) is _Linear else None

    def _plan_of(self, provider: str | None, model: str, day: int, fast: bool) -> Any:
        """The memoised plan of a model on a UTC day (`_plan`)."""
        key = (provider, model, day, fast)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(provider, model, day, fast)
        return plan

    def _plan(self, provider: str | None, model: str, day: int, fast: bool) -> Any:
        own = self._user.get((model or "").strip().lower())
        if own is not None:
            return _user_plan(own, provider, model)
        resolved = _resolve(provider, model)
        if isinstance(resolved, str):
            return PriceResult(None, None, None, None, resolved)
        prov, info = resolved
        if not _date_only(info):
            return "time"
        plan = _cached_genai_plan(prov, info, _as_datetime(day * _DAY_MS), fast)
        return plan if plan is not None else "day"


def known_models(provider: str | None = None) -> list[dict[str, Any]]:
    """Models genai-prices can price, with today's prices per MTok and long-context tiers.

    For `aitrack pricing list`; `provider` filters by genai-prices provider id. Prices are
    what aitrack bills, so a missing 1 h cache-write price shows as 2x input.
    """
    from genai_prices.types import TieredPrices

    now = datetime.now(tz=UTC)
    wanted = provider.strip().lower() if provider else None
    rows: list[dict[str, Any]] = []
    for prov in _snapshot().providers:
        if wanted and prov.id != wanted:
            continue
        for model in prov.models:
            mp = model.get_prices(now)
            row: dict[str, Any] = {
                "provider": prov.id,
                "model": model.id,
                "name": model.name,
                "matches": _match_patterns(model.match),
                "deprecated": bool(model.deprecated),
                "price_changes_over_time": isinstance(model.prices, list),
            }
            tiers: dict[int, dict[str, Any]] = {}
            for key in _LISTED:
                value = getattr(mp, key, None)
                base = value.base if isinstance(value, TieredPrices) else value
                row[key] = None if base is None else float(base)
                if isinstance(value, TieredPrices):
                    for tier in value.tiers:
                        tiers.setdefault(tier.start, {"above_input_tokens": tier.start})
                        tiers[tier.start][key] = float(tier.price)
            row["tiers"] = [tiers[s] for s in sorted(tiers)]
            if _one_hour_surcharge(mp):  # list what we bill: 1 h writes at 2x input
                for prices in (row, *row["tiers"]):
                    if prices.get("input_mtok") is not None:
                        prices["cache_write_1h_mtok"] = 2 * prices["input_mtok"]
            rows.append(row)
    return rows


_LISTED: tuple[str, ...] = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
_LISTED += ("cache_write_1h_mtok",)


def _match_patterns(clause: Any) -> list[str]:
    """Names a model answers to: exact names, `prefix*`, `*part*`, `*suffix`, `re:...`."""
    for attr, fmt in (
        ("equals", "{}"),
        ("starts_with", "{}*"),
        ("contains", "*{}*"),
        ("ends_with", "*{}"),
        ("regex", "re:{}"),
    ):
        if hasattr(clause, attr):
            return [fmt.format(getattr(clause, attr))]
    if hasattr(clause, "or_"):
        return [p for sub in clause.or_ for p in _match_patterns(sub)]
    if hasattr(clause, "and_"):
        return [" & ".join(p for sub in clause.and_ for p in _match_patterns(sub))]
    return []
