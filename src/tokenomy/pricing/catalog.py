"""The genai-prices catalog, read offline: model lookup, dated prices, variants and tiers -> Rates.

The bundled snapshot of ``genai-prices`` is loaded on first use and never refreshed: its
background updater (``UpdatePrices``) is never started, so nothing is fetched. Lookup goes
through genai-prices itself (provider ids, model match rules, fallback providers such as Azure
serving OpenAI models), and so does the choice of dated price (``ConditionalPrice``) and
request variant (``price_context``: ``processing=batch``, ``service_tier=...``). What this module
adds is the reduction of a genai-prices ``ModelPrice`` to per-bucket rates that follow the
catalog's own decomposition:

* cache reads without a cache-read price, and cache writes without a cache-write price, stay
  in the input total and so cost the input rate;
* 5-minute writes without their own price cost the generic cache-write rate, and so do 1-hour
  writes (genai-prices does the same), but that rate is then marked as assumed;
* reasoning tokens without a reasoning price cost the output rate;
* long-context tiers (``TieredPrices``) are turned into one row of rates per threshold.

Prices that change during the day (DeepSeek's off-peak windows) cannot be told apart by a
date: a date-level lookup takes the peak rate, as an upper bound, and says so.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache
from importlib.metadata import version
from typing import Final

from genai_prices.data_snapshot import DataSnapshot
from genai_prices.data_units import unit_data
from genai_prices.types import ModelInfo, ModelPrice, Provider, TieredPrices, TimeOfDateConstraint

from tokenomy.pricing.rates import TIME_OF_DAY, ZERO, Tier, per_token, quantize_rate
from tokenomy.providers import from_model_prefix, maker_of
from tokenomy.schema import MODALITIES

PRICE = Decimal | TieredPrices

_TOOL_UNITS: Final[dict[str, tuple[str, int]]] = {
    usage_key: (unit["price_key"], int(unit["per"]))
    for usage_key, unit in unit_data.items()
    if unit.get("dimensions", {}).get("family") == "tool_calls"
}
"""Server-side tool units (web_searches...) -> (price key, units per price)."""
_REQUESTS_KEY: Final = ("requests_kcount", int(unit_data["requests"]["per"]))


@dataclass(frozen=True, slots=True)
class Found:
    """A model found in the catalog, with the provider that prices it."""

    provider: Provider
    model: ModelInfo

    @property
    def own(self) -> bool:
        """True when the model is the provider's own (not reached through a fallback provider)."""
        return any(self.model is m for m in self.provider.models)


@dataclass(frozen=True, slots=True)
class CatalogPrice:
    """A ModelPrice reduced to tokenomy's rates."""

    tiers: tuple[Tier, ...]
    context_window: int | None
    assumed: Mapping[str, str]
    notes: tuple[str, ...]
    remarks: tuple[str, ...]


class Catalog:
    """The bundled genai-prices snapshot, loaded lazily (once per Catalog, under a lock)."""

    def __init__(self) -> None:
        self.version = f"genai-prices@{version('genai-prices')}"
        self._lock = threading.Lock()
        self._snapshot: DataSnapshot | None = None

    def _snap(self) -> DataSnapshot:
        if self._snapshot is None:
            with self._lock:
                if self._snapshot is None:
                    from genai_prices.data import providers  # noqa: PLC0415  (0.5 s: load on first use)

                    self._snapshot = DataSnapshot(providers=providers, from_auto_update=False)
        return self._snapshot

    def find(self, provider: str | None, model: str) -> Found | str:
        """The catalog entry for ``model`` at ``provider``, or why there is none.

        With no provider, genai-prices picks one from the model name; a routed name such as
        ``anthropic/claude-sonnet-4`` is also tried as (provider, model).
        """
        snap = self._snap()
        for name in name_variants(model):
            try:
                found_provider, found_model = snap.find_provider_model(name, None, provider, None)
                return Found(found_provider, found_model)
            except LookupError:
                continue
        routed_provider, routed_model = from_model_prefix(model)
        if provider is None and routed_provider is not None and routed_model:
            return self.find(routed_provider, routed_model)
        if provider is not None:
            try:
                snap.find_provider(None, provider, None)
            except LookupError:
                return (
                    f"provider '{provider}' is not in the {self.version} catalog; add a [[price]] entry "
                    f"for it to an overrides file"
                )
            return (
                f"model '{model}' is not in the {self.version} catalog for provider '{provider}'; "
                f"add a [[price]] entry to an overrides file"
            )
        return (
            f"no provider in the {self.version} catalog serves a model named '{model}'; pass the provider, "
            f"or add a [[price]] entry to an overrides file"
        )

    def serving(self, model: str) -> tuple[str, ...]:
        """The ids of the catalog providers that list ``model`` as their own, routers left out.

        Routers (OpenRouter, the Hugging Face router) relist other providers' models and are not
        counted. Fallback providers (Azure serving OpenAI's models) count only for models they list.
        """
        snap = self._snap()
        names = [name.lower() for name in name_variants(model)]
        return tuple(
            p.id
            for p in snap.providers
            if p.id not in _ROUTERS
            and not p.id.startswith("huggingface_")
            and any(p.find_model(name) is not None for name in names)
        )

    def model_price(
        self, found: Found, when: date | datetime, context: Mapping[str, str]
    ) -> tuple[ModelPrice, tuple[str, ...]]:
        """The ModelPrice in force ``when`` for the request ``context``, and any assumption made.

        A datetime picks the exact price (time-of-day windows included). A date whose prices
        change during the day gets the peak price, with a note.
        """
        ctx = dict(context) if found.own else {}
        if isinstance(when, datetime):
            instant = when if when.tzinfo else when.replace(tzinfo=UTC)
            return found.model.get_prices(instant, ctx or None), ()
        seen: list[ModelPrice] = []
        for instant in _instants(found.model, when):
            price = found.model.get_prices(instant, ctx or None)
            if price not in seen:
                seen.append(price)
        if len(seen) == 1:
            return seen[0], ()
        peak = max(seen, key=_peak_key)
        note = (
            f"{found.model.id} {TIME_OF_DAY}: the peak rate is used for {when.isoformat()}, "
            "an upper bound (price with a timestamp for the exact rate)"
        )
        return peak, (note,)

    def window_starts(self, provider: str | None, model: str, day: date) -> tuple[datetime, ...]:
        """The instants (UTC, aware) on ``day`` from which the model's prices may change, midnight
        first, ascending: its prices are the same from one to the next (one, midnight, for a model
        whose prices do not change during the day, or that the catalog does not list)."""
        found = self.find(provider, model)
        if isinstance(found, str):
            return (_instant(day),)
        return tuple(sorted(set(_instants(found.model, day))))

    def has_variant(self, found: Found, when: date | datetime, key: str, value: str) -> bool:
        """True when the catalog has a price variant for ``key=value`` in force ``when``."""
        if not found.own:
            return False
        instant = _instant(when)
        for variant in found.model.price_variants or ():
            if variant.when.get(key) != value or len(variant.when) != 1:
                continue
            if variant.constraint is None or variant.constraint.active(instant):
                return True
        return False

    def reduce(self, found: Found, price: ModelPrice) -> CatalogPrice:
        """Reduce a ModelPrice to per-bucket rates, one Tier per long-context threshold."""
        prices = {k: v for k, v in vars(price).items() if not k.startswith("_") and v is not None}
        starts = sorted(
            {-1} | {t.start for v in prices.values() if isinstance(v, TieredPrices) for t in v.tiers}
        )
        tiers = tuple(_tier(prices, start) for start in starts)
        assumed: dict[str, str] = {}
        remarks: list[str] = []
        name = found.model.id
        if not prices:
            remarks.append(f"{name} is listed in the {self.version} catalog with no prices (free of charge)")
        else:
            assumed.update(_assumed_rates(name, prices))
        return CatalogPrice(tiers, found.model.context_window, assumed, (), tuple(remarks))


_ROUTERS: Final = frozenset({"openrouter"})


@lru_cache(maxsize=1)
def _shared() -> Catalog:
    return Catalog()


@lru_cache(maxsize=4096)
def provider_of_model(model: str | None) -> str | None:
    """The provider of a call that names only its model, or None when the name does not tell.

    For importers whose source records a model and no provider (Langfuse observations, SWE-agent
    trajectories, transcripts...). In order:

    1. a routed name (``anthropic/claude-sonnet-4``) names its provider;
    2. the maker's naming (:func:`tokenomy.providers.maker_of`), of the name as given and then of
       its last path segment (``litellm_proxy/gpt-4o``, ``models/gemini-2.5-pro``): Bedrock and
       Vertex AI id forms, then well-known prefixes (``gpt-``, ``o3``, ``claude-``, ``gemini-``...).
       A name several providers serve goes to its maker: see that function for why;
    3. the price catalog (the bundled genai-prices data, offline): the provider its own naming
       rules pick for the name, when that provider lists the model (``voyage-3`` is Voyage AI's:
       what the pricer picks for a call without a provider); else, for a name without a ``/``,
       the one provider that lists it, routers left out (``llama-3.1-8b-instant`` is Groq's,
       ``glm-4.5`` Z.ai's).

    A name the catalog lists for several providers, none of them its maker (an open-weight model
    hosted by many), for none, or a Hugging Face style ``org/model`` id that names no provider
    (``meta-llama/Llama-3.3-70B-Instruct``: served by many hosts, the catalog lists few) gets
    None: the call stays unattributed rather than guessed.
    """
    if not model or not model.strip():
        return None
    routed, rest = from_model_prefix(model)
    if routed is not None and rest:
        return routed
    for name in name_variants(model.strip()):
        maker = maker_of(name)
        if maker is not None:
            return maker
    catalog = _shared()
    found = catalog.find(None, model.strip())
    if not isinstance(found, str) and found.own:
        return found.provider.id
    if "/" in model:
        return None
    serving = catalog.serving(model.strip())
    return serving[0] if len(serving) == 1 else None


def _instant(when: date | datetime) -> datetime:
    if isinstance(when, datetime):
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return datetime.combine(when, time(0), tzinfo=UTC)


def _instants(model: ModelInfo, day: date) -> list[datetime]:
    """Midnight UTC of ``day`` and every time-of-day boundary of the model's prices on that day."""
    constraints = [p.constraint for p in model.prices] if isinstance(model.prices, list) else []
    constraints += [v.constraint for v in model.price_variants or ()]
    instants = [_instant(day)]
    for constraint in constraints:
        if isinstance(constraint, TimeOfDateConstraint):
            for t in (constraint.start_time, constraint.end_time):
                utc = datetime.combine(day, t).astimezone(UTC) if t.tzinfo else datetime.combine(day, t, UTC)
                instants.append(datetime.combine(day, utc.timetz()))
    return instants


def _base(value: PRICE | None) -> Decimal:
    if value is None:
        return ZERO
    return value.base if isinstance(value, TieredPrices) else value


def _peak_key(price: ModelPrice) -> tuple[Decimal, Decimal]:
    values = vars(price)
    return _base(values.get("input_mtok")), _base(values.get("output_mtok"))


def _at(value: PRICE | None, start: int) -> Decimal | None:
    """The price of one key in the tier row starting at ``start``."""
    if value is None or not isinstance(value, TieredPrices):
        return value
    chosen = value.base
    for tier in value.tiers:
        if tier.start <= start:
            chosen = tier.price
    return chosen


def _first(*values: Decimal | None) -> Decimal:
    for value in values:
        if value is not None:
            return value
    return ZERO


def _tier(prices: Mapping[str, PRICE], start: int) -> Tier:
    def at(key: str) -> Decimal | None:
        return _at(prices.get(key), start)

    cache_write = at("cache_write_mtok")
    per_mtok = {
        "input_uncached": _first(at("input_mtok")),
        "cache_read": _first(at("cache_read_mtok"), at("input_mtok")),
        "cache_write_5m": _first(at("cache_write_5m_mtok"), cache_write, at("input_mtok")),
        "cache_write_1h": _first(at("cache_write_1h_mtok"), cache_write, at("input_mtok")),
        "output_visible": _first(at("output_mtok")),
        "reasoning": _first(at("output_reasoning_mtok"), at("output_mtok")),
    }
    tools: dict[str, Decimal] = {}
    for usage_key, (price_key, per) in _TOOL_UNITS.items():
        value = at(price_key)
        if value is not None:
            tools[usage_key] = quantize_rate(value / per)
    fee = at(_REQUESTS_KEY[0])
    request_fee = quantize_rate(fee / _REQUESTS_KEY[1]) if fee is not None else ZERO
    tokens = {bucket: per_token(value) for bucket, value in per_mtok.items()}
    modal = {}
    for key, (price_keys, bucket_keys, input_key) in _MODAL_PRICE_KEYS.items():
        value = next((v for k in price_keys if (v := at(k)) is not None), None)
        if value is None and input_key and not any(at(k) is not None for k in bucket_keys):
            value = at(input_key)  # a cache bucket without a price of its own bills as input
        if value is not None:
            modal[key] = per_token(value)
    return Tier(start, tokens, tools, request_fee, modal)


def _modal_price_keys() -> dict[str, tuple[tuple[str, ...], tuple[str, ...], str]]:
    """Each modality key of a usage, the catalog's price keys for it (the most specific first), the
    price keys of its bucket, and the modality's input price key.

    The catalog's ``input_<m>_mtok`` prices the modality's uncached input, ``cache_<m>_read_mtok``
    its cache reads, ``cache_<m>_write[_5m|_1h]_mtok`` its cache writes and ``output_<m>_mtok`` its
    output. A cached modality without a price of its own is charged as its bucket's tokens are,
    unless the bucket has no price of its own either: then it bills as that modality's input (a
    model without cache prices charges cached audio as audio input). genai-prices decomposes its
    units the same way, and it refuses a catalog entry that prices both a cache bucket and a
    modality's input without their join, so no other case arises.
    """
    keys: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {}
    for m in MODALITIES:
        given = f"input_{m}_mtok"
        keys[f"input_uncached.{m}"] = ((given,), (), "")
        keys[f"cache_read.{m}"] = ((f"cache_{m}_read_mtok",), ("cache_read_mtok",), given)
        keys[f"cache_write_5m.{m}"] = (
            (f"cache_{m}_write_5m_mtok", f"cache_{m}_write_mtok"),
            ("cache_write_5m_mtok", "cache_write_mtok"),
            given,
        )
        keys[f"cache_write_1h.{m}"] = (
            (f"cache_{m}_write_1h_mtok", f"cache_{m}_write_mtok"),
            ("cache_write_1h_mtok", "cache_write_mtok"),
            given,
        )
        keys[f"output_visible.{m}"] = ((f"output_{m}_mtok",), (), "")
    return keys


_MODAL_PRICE_KEYS: Final = _modal_price_keys()


_UNITS: Final = {
    "input_mchars": "input character",
    "audio_hours": "audio hour",
    "input_audio_hours": "input audio hour",
    "output_audio_hours": "output audio hour",
    "input_document_kpages": "thousand document pages",
    "input_annotated_document_kpages": "thousand annotated document pages",
    "input_text_messages_kcount": "thousand text messages",
}
"""Words for the catalog's prices in units other than tokens and requests (its field names else)."""


def other_units(price: ModelPrice) -> tuple[str, ...]:
    """The units a model is priced in when none is a token or a request (text-to-speech per input
    character, transcription per audio hour), in words; empty for a model with a price per token or
    per request (its missing rates are assumed: :func:`_assumed_rates`), or with no price at all."""
    prices = [k for k, v in vars(price).items() if not k.startswith("_") and v is not None]
    if any(k.endswith("_mtok") or k == "requests_kcount" for k in prices):
        return ()
    return tuple(_UNITS.get(k, k.replace("_", " ")) for k in prices)


def _assumed_rates(name: str, prices: Mapping[str, PRICE]) -> dict[str, str]:
    assumed: dict[str, str] = {}
    if "cache_write_1h_mtok" not in prices:
        fallback = "generic cache-write" if "cache_write_mtok" in prices else "input"
        assumed["cache_write_1h"] = (
            f"the catalog has no 1h cache-write price for {name}: 1h writes priced at the {fallback} rate"
        )
    if "input_mtok" not in prices:
        for bucket in ("input_uncached", "cache_read", "cache_write_5m", "cache_write_1h"):
            assumed[bucket] = f"the catalog has no input price for {name}: input tokens not charged"
    if "output_mtok" not in prices:
        for bucket in ("output_visible", "reasoning"):
            assumed[bucket] = f"the catalog has no output price for {name}: output tokens not charged"
    return assumed


def name_variants(model: str) -> list[str]:
    """The names to try for a model, most specific first.

    Responses sometimes carry a resource path or a proxy's route rather than the bare name:
    Gemini's ``models/gemini-2.5-pro``, a proxy's ``litellm_proxy/claude-sonnet-4-20250514``.
    The bare last segment is tried after the name as given.
    """
    names = [model]
    bare = model.removeprefix("models/")
    if "/" in bare:
        bare = bare.rsplit("/", 1)[1]
    if bare and bare != model:
        names.append(bare)
    return names
