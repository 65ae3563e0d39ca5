"""The Pricer: overrides over the genai-prices catalog, resolved per call into Rates, then a Cost.

Resolution for one (provider, model, date, batch, service tier):

1. a ``[[price]]`` override covering the model on that date wins; otherwise the catalog is
   asked, with ``processing=batch`` and ``service_tier=<tier>`` as its price context;
2. a ``[[modifier]]`` with a batch or service-tier multiplier for the call replaces the
   catalog's own batch or tier price: the standard rates are multiplied instead;
3. a batch call that neither has a price for is priced at the provider's published batch discount
   (:data:`PUBLISHED_BATCH_DISCOUNTS`: half the standard rates at OpenAI, Anthropic, Google...),
   else at standard rates; a non-standard tier that neither has a price for, at standard rates;
   either way marked estimated, and the reason says so;
4. an ``[[overhead]]`` entry adds its per-request overhead.

A call that cannot be resolved is unpriced with the reason; it is never $0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Final, NamedTuple

from tokenomy.pricing import overrides as overrides_file
from tokenomy.pricing.catalog import Catalog, other_units
from tokenomy.pricing.compute import cost_of
from tokenomy.pricing.overrides import Overrides, PriceEntry
from tokenomy.pricing.rates import NO_OVERHEAD, Rates
from tokenomy.providers import canonical, from_model_prefix
from tokenomy.schema import Call, Cost, Usage

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

STANDARD_TIERS: Final = frozenset({"default", "auto", "standard", "on_demand"})
"""Service tiers billed at the standard rates."""
_MEMO_MAX: Final = 65_536


class PriceKey(NamedTuple):
    """What prices depend on, per call: the key of a price-table row."""

    provider: str | None
    model: str | None
    day: date
    service_tier: str | None = None
    batch: bool = False


@dataclass(frozen=True, slots=True)
class Unpriced:
    """Why no prices could be resolved."""

    reason: str


def utc_day(when: date | datetime) -> date:
    """The UTC date of ``when`` (a naive datetime is taken as UTC)."""
    if isinstance(when, datetime):
        return when.astimezone(UTC).date() if when.tzinfo else when.date()
    return when


PUBLISHED_BATCH_DISCOUNTS: Final[dict[str, Decimal]] = {
    "openai": Decimal("0.5"),
    "azure": Decimal("0.5"),
    "anthropic": Decimal("0.5"),
    "google": Decimal("0.5"),
    "aws": Decimal("0.5"),
}
"""What a batch call pays of the standard token rates at providers whose batch discount is published
for every model they batch (OpenAI's Batch API, Azure OpenAI's global batch, Anthropic's Message
Batches, Gemini's batch mode, Bedrock's batch inference: half). Applied when the catalog has no batch
price for the model on the call's day; the cost is then marked estimated and says so."""


class Pricer:
    """Prices usage with the genai-prices catalog and an optional overrides file.

    Args:
        overrides: A TOML overrides file (docs/pricing.md), parsed and validated now.

    Raises:
        PricingError: The overrides file is unreadable or invalid (file, entry and field named).
    """

    def __init__(self, overrides: Path | None = None) -> None:
        self._overrides = overrides_file.load(overrides) if overrides is not None else Overrides()
        self._catalog = Catalog()
        self.catalog_version: str = self._catalog.version
        self._memo: dict[tuple[str | None, str, date | datetime, bool, str | None], Rates | Unpriced] = {}
        self._windows: dict[tuple[str | None, str, date], tuple[datetime, ...]] = {}
        """Per provider, model and UTC day, the instants its prices may change at (:meth:`_window_start`)."""
        self.asked: dict[tuple[str | None, str, date | datetime, bool, str | None], Rates | Unpriced] = {}
        """The same answers by the arguments as given (before the provider and tier are normalized):
        ``(provider, model, at, batch, service_tier)``. Read it, never write it; the gateway's build
        looks its day's Rates up here before it asks :meth:`price_on_day`."""

    def resolve(
        self,
        *,
        model: str,
        provider: str | None,
        at: date | datetime,
        batch: bool = False,
        service_tier: str | None = None,
    ) -> Rates | None:
        """The Rates for a call, or None when it cannot be priced (see :meth:`lookup` for why)."""
        found = self.lookup(model=model, provider=provider, at=at, batch=batch, service_tier=service_tier)
        return found if isinstance(found, Rates) else None

    def lookup(
        self,
        *,
        model: str,
        provider: str | None,
        at: date | datetime,
        batch: bool = False,
        service_tier: str | None = None,
    ) -> Rates | Unpriced:
        """The Rates for a call, or why there are none.

        Args:
            model: The model name as the call reported it.
            provider: The provider (any alias :func:`tokenomy.providers.canonical` knows), or None.
            at: A date (prices of that UTC day) or a datetime (the exact instant).
            batch: True for batch-API calls.
            service_tier: The service tier the call ran on (``flex``, ``priority``...).
        """
        if isinstance(at, datetime):  # the start of its price window: a few keys a day, not one a call
            at = self._window_start(provider, model, at)
        asked = (provider, model, at, batch, service_tier)
        found = self.asked.get(asked)
        if found is not None:
            return found
        tier = service_tier.strip().lower() if service_tier and service_tier.strip() else None
        if tier == "batch":
            batch, tier = True, None
        key = (canonical(provider), model, at, batch, tier)
        found = self._memo.get(key)
        if found is None:
            found = self._lookup(*key)
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()
            self._memo[key] = found
        if len(self.asked) >= _MEMO_MAX:
            self.asked.clear()
        self.asked[asked] = found
        return found

    def window_starts(self, provider: str | None, model: str, day: date) -> tuple[datetime, ...]:
        """The instants (UTC, aware) on ``day`` from which the model's prices may change, midnight
        first (one, midnight, for a model whose prices hold all day)."""
        key = (provider, model, day)
        starts = self._windows.get(key)
        if starts is None:
            starts = self._catalog.window_starts(canonical(provider), model, day)
            if len(self._windows) >= _MEMO_MAX:
                self._windows.clear()
            self._windows[key] = starts
        return starts

    def _window_start(self, provider: str | None, model: str, at: datetime) -> datetime:
        """The start (UTC, aware) of the price window ``at`` falls in: its prices are those of that
        instant (genai-prices' time-of-day windows; midnight for a model whose prices hold all day)."""
        instant = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
        return max(start for start in self.window_starts(provider, model, instant.date()) if start <= instant)

    def _lookup(
        self, provider: str | None, model: str, at: date | datetime, batch: bool, tier: str | None
    ) -> Rates | Unpriced:
        day = utc_day(at)
        ov = self._overrides
        targets = self._targets(model) if provider is None and ov.entries else [(provider, model)]
        custom_tier = tier if tier is not None and tier not in STANDARD_TIERS else None
        batch_mod = tier_mod = entry = None
        for target in reversed(targets):  # the name as given wins: looked up last
            batch_mod = (ov.batch_for(*target, day) if batch else None) or batch_mod
            tier_mod = (ov.tier_for(*target, day, custom_tier) if custom_tier else None) or tier_mod
            entry = ov.price_for(*target, day) or entry
        wants_batch = batch and batch_mod is None
        wants_tier = custom_tier if tier_mod is None else None
        if entry is not None:
            base: Rates | Unpriced = _from_override(
                entry, targets[0][0], model, day, batch=wants_batch, tier=wants_tier
            )
        else:
            base = self._from_catalog(provider, model, at, wants_batch, tier if tier_mod is None else None)
        if isinstance(base, Unpriced):
            return base
        tiers, sources = base.tiers, [base.source]
        for mod in (batch_mod, tier_mod):
            if mod is not None:
                tiers = tuple(t.scaled(mod[0]) for t in tiers)
                sources.append(mod[1])
        overhead = next((o for t in targets if (o := ov.overhead_for(*t, day))), NO_OVERHEAD)
        if overhead.source:
            sources.append(overhead.source)
        return dataclasses.replace(
            base, tiers=tiers, overhead=overhead, source="+".join(dict.fromkeys(sources))
        )

    def _targets(self, model: str) -> list[tuple[str | None, str]]:
        """What the overrides are matched against for a call that names no provider.

        The provider is the one the call is priced at: a routed name (``anthropic/claude-sonnet-4-5``)
        names it, otherwise the catalog picks it from the model name, as :meth:`_from_catalog` does
        (a model the catalog does not know keeps none: only entries for any provider match it). The
        model name is matched as given, then (a routed name) without its provider prefix.
        """
        routed_provider, routed_model = from_model_prefix(model)
        if routed_provider is not None and routed_model:
            return [(routed_provider, model), (routed_provider, routed_model)]
        found = self._catalog.find(None, model)
        return [(None if isinstance(found, str) else found.provider.id, model)]

    def _from_catalog(
        self, provider: str | None, model: str, at: date | datetime, batch: bool, tier: str | None
    ) -> Rates | Unpriced:
        catalog = self._catalog
        found = catalog.find(provider, model)
        if isinstance(found, str):
            return Unpriced(found)
        context = {"processing": "batch"} if batch else {}
        # Anthropic's fast mode (usage.speed "fast", read as the tier "fast") is the catalog's
        # speed=fast variant; any other tier is its service_tier variant.
        tier_key = (
            "speed" if tier == "fast" and catalog.has_variant(found, at, "speed", tier) else "service_tier"
        )
        if tier is not None:
            context[tier_key] = tier
        price, time_notes = catalog.model_price(found, at, context)
        units = other_units(price)
        if units:
            return Unpriced(
                f"{found.model.id} is priced per {' and per '.join(units)} in {catalog.version}, not per"
                " token: tokenomy meters tokens, so its calls are left unpriced (a price override per token"
                " would price them)"
            )
        notes = list(time_notes)
        discount = None
        if batch and not catalog.has_variant(found, at, "processing", "batch"):
            discount = PUBLISHED_BATCH_DISCOUNTS.get(found.provider.id)
            notes.append(
                f"{catalog.version} has no batch price for {found.model.id}: standard rates used"
                if discount is None
                else f"{catalog.version} has no batch price for {found.model.id}: {found.provider.id}'s "
                f"published batch discount applied ({discount:.0%} of the standard rates)"
            )
        if (
            tier is not None
            and tier not in STANDARD_TIERS
            and not catalog.has_variant(found, at, tier_key, tier)
        ):
            name = found.model.id
            notes.append(
                f"{catalog.version} has no '{tier}' service-tier price for {name}: standard rates used"
            )
        reduced = catalog.reduce(found, price)
        tiers = reduced.tiers if discount is None else tuple(t.scaled(discount) for t in reduced.tiers)
        return Rates(
            provider=found.provider.id,
            model=found.model.id,
            price_date=utc_day(at),
            source=catalog.version,
            tiers=tiers,
            context_window=reduced.context_window,
            assumed=reduced.assumed,
            notes=tuple(notes),
            remarks=reduced.remarks,
            by_time_of_day=bool(time_notes),
        )

    def price_usage(
        self,
        usage: Usage,
        *,
        model: str,
        provider: str | None = None,
        at: date | datetime | None = None,
        batch: bool = False,
        service_tier: str | None = None,
        latency_ms: float | None = None,
    ) -> Cost:
        """Price a usage.

        Args:
            usage: Token usage in exclusive buckets.
            model: The model name.
            provider: The provider, or None to let the catalog pick one from the model name.
            at: The date (or instant) whose prices apply; now when None.
            batch: True for batch-API calls.
            service_tier: The service tier the call ran on.
            latency_ms: The call's latency, for per-second overhead.

        Returns:
            The Cost; unpriced (total None, with the reason) when it cannot be priced.
        """
        when = at if at is not None else datetime.now(UTC)
        found = self.lookup(model=model, provider=provider, at=when, batch=batch, service_tier=service_tier)
        if isinstance(found, Unpriced):
            return Cost.unpriced(found.reason, price_date=utc_day(when))
        return cost_of(usage, found, latency_ms)

    def price_on_day(  # noqa: PLR0917  (positional on purpose: the gateway's every call)
        self,
        usage: Usage,
        model: str,
        provider: str | None,
        day: date,
        service_tier: str | None,
        latency_ms: float | None,
        *,
        started: datetime | None = None,
    ) -> Cost:
        """``price_usage(usage, model=model, provider=provider, at=day, service_tier=service_tier,
        latency_ms=latency_ms)`` for a date (not a datetime) and a call that is not a batch call; a
        model whose prices change during the day is priced at ``started`` (the call's start, on
        ``day``) when given.

        The same Cost in fewer steps, for the gateway's every call: the arguments positionally, the
        Rates straight from the memo of :meth:`lookup` (keyed by the model, provider, day and tier
        as given; cleared when full), priced by :func:`cost_of` as :meth:`price_usage` prices.
        """
        found = self.asked.get((provider, model, day, False, service_tier))
        if found is None:
            found = self.lookup(model=model, provider=provider, at=day, service_tier=service_tier)
        return self._cost(usage, found, model, provider, day, started, False, service_tier, latency_ms)

    def _cost(  # noqa: PLR0917  (positional, as price_on_day: both price calls one by one)
        self,
        usage: Usage,
        found: Rates | Unpriced,
        model: str,
        provider: str | None,
        day: date,
        started: datetime | None,
        batch: bool,
        tier: str | None,
        latency_ms: float | None,
    ) -> Cost:
        """The cost of ``usage`` from the day's lookup ``found``: at the rates of ``started`` when the
        day's change during it, through a subclass's own ``price_usage`` when it has one, else by
        :func:`cost_of` (as ``price_usage`` prices)."""
        at: date | datetime = day
        if started is not None and isinstance(found, Rates) and found.by_time_of_day:
            at = started  # the exact rate of its hour
            found = self.lookup(model=model, provider=provider, at=at, batch=batch, service_tier=tier)
        if type(self).price_usage is not Pricer.price_usage:  # a subclass's own pricing is always asked
            return self.price_usage(
                usage,
                model=model,
                provider=provider,
                at=at,
                batch=batch,
                service_tier=tier,
                latency_ms=latency_ms,
            )
        if isinstance(found, Unpriced):
            return Cost.unpriced(found.reason, price_date=utc_day(day))
        return cost_of(usage, found, latency_ms)

    def price(self, call: Call, *, at: date | None = None) -> Cost:
        """Price a call at the prices of its UTC start date (or of ``at``); a model whose prices
        change during the day (DeepSeek's off-peak hours) at those of its start time.

        The model is ``call.model`` (the response model, else the requested one); batch,
        service tier and latency come from the call.
        """
        if call.model is None:
            return Cost.unpriced(
                "the call names no model; record its request or response model", price_date=at
            )
        day: date | None = at
        note = None
        if day is None and call.started_at is not None:
            day = utc_day(call.started_at)
        if day is None:
            day = datetime.now(UTC).date()
            note = "the call has no start time: today's prices used"
        model, provider, batch, tier = call.model, call.provider, call.batch, call.service_tier
        found = self.lookup(model=model, provider=provider, at=day, batch=batch, service_tier=tier)
        started = call.started_at if at is None else None
        cost = self._cost(call.usage, found, model, provider, day, started, batch, tier, call.latency_ms)
        if note is None or not cost.priced:
            return cost
        reason = "; ".join(r for r in (note, cost.reason) if r)
        return dataclasses.replace(cost, estimated=True, reason=reason)

    def price_table(self, keys: Iterable[PriceKey]) -> pa.Table:
        """Per-token rates for many keys at once, as an Arrow table the store joins calls to.

        See :func:`tokenomy.pricing.table.price_table` for the columns and the join.
        """
        from tokenomy.pricing.table import price_table  # noqa: PLC0415  (pyarrow only when asked)

        return price_table(self, keys)


def _from_override(
    entry: PriceEntry, provider: str | None, model: str, day: date, *, batch: bool, tier: str | None
) -> Rates:
    source = entry.entry.source
    notes = []
    if batch:
        notes.append(f"no batch price or batch modifier for {source}: its standard rates used")
    if tier is not None:
        notes.append(f"no '{tier}' service-tier modifier for {source}: its standard rates used")
    assumed = {}
    if "cache_write_1h" not in entry.per_mtok:
        assumed["cache_write_1h"] = f"{source} has no 1h cache-write price: 1h writes priced at its 5m rate"
    return Rates(
        provider=provider or "*",
        model=model,
        price_date=day,
        source=source,
        tiers=(entry.tier(),),
        context_window=entry.context_window,
        assumed=assumed,
        notes=tuple(notes),
    )
