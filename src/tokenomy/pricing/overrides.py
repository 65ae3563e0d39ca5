"""The local price overrides file (TOML): negotiated prices, modifiers and overhead, validated strictly.

Three kinds of entries, each an array of tables, each covering a provider and model (exact
names or globs) from an ``effective`` date to an optional ``until`` date (both inclusive):

* ``[[price]]``: full per-bucket prices in $/MTok for a model, winning over the catalog;
* ``[[modifier]]``: multipliers on token rates for batch calls and for service tiers
  (flex, priority...), applied to whatever prices the call gets;
* ``[[overhead]]``: per-request costs outside the provider's bill, for TCPR: a fixed $ per
  request, $ per second of latency (self-hosted models) and egress $ per request.

Money is parsed exactly: TOML numbers are read as Decimal (never through float), strings as
Decimal. Any problem raises :class:`PricingError` naming the file, the entry and the field.
When several entries of a kind match a call, the last one in the file wins.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from tokenomy.errors import PricingError
from tokenomy.pricing.rates import ZERO, Overhead, Tier, per_token, quantize_rate
from tokenomy.providers import canonical
from tokenomy.schema import MODALITIES

RATE_FIELDS: Final = ("input", "cache_read", "cache_write_5m", "cache_write_1h", "output", "reasoning")
"""Per-bucket prices of a [[price]] entry, in $/MTok."""
MODAL_RATE_FIELDS: Final = {
    f"{field}_{modality}": f"{bucket}.{modality}"
    for modality in MODALITIES
    for field, bucket in (
        ("input", "input_uncached"),
        ("cache_read", "cache_read"),
        ("cache_write_5m", "cache_write_5m"),
        ("cache_write_1h", "cache_write_1h"),
        ("output", "output_visible"),
    )
}
"""Optional audio, image and video prices of a [[price]] entry ($/MTok), by field: ``input_audio``
prices uncached audio input, ``output_image`` image output... A modality without a price is charged
as its bucket's tokens, except in a cache bucket without a price of its own (billed as input),
where it is charged its ``input_<m>`` price; ``cache_write_1h_<m>`` defaults to
``cache_write_5m_<m>``."""

_COMMON: Final = ("name", "provider", "model", "effective", "until")
_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "price": (*_COMMON, *RATE_FIELDS, *MODAL_RATE_FIELDS, "request", "context_window"),
    "modifier": (*_COMMON, "batch", "service_tiers"),
    "overhead": (*_COMMON, "per_request", "per_second", "egress_per_request"),
}
_MAX_PER_SECOND_PLACES: Final = 12  # so that $/microsecond fits the price table's 18 places
_MAX_PER_MTOK_PLACES: Final = 12  # so that $/token fits the price table's 18 places: kept exactly
MAX_NUMBER: Final = Decimal(1_000_000)
"""The largest price, fee or multiplier an entry may give: $1M per million tokens or per request,
a multiplier of a million. Far above any real price, and low enough that a rate times a batch and a
service-tier multiplier still fits the price table's DECIMAL(38, 18)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """What every entry has: where it is, what it covers and when."""

    source: str
    """``override:<file name>#<entry name, or kind-index>``."""
    provider: str
    model: str
    effective: date
    until: date | None

    def covers(self, provider: str | None, model: str, day: date) -> bool:
        """True when this entry applies to ``model`` at ``provider`` on ``day``."""
        if day < self.effective or (self.until is not None and day > self.until):
            return False
        if not fnmatch.fnmatchcase(model.lower(), self.model):
            return False
        return fnmatch.fnmatchcase((provider or "").lower(), self.provider)


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """A ``[[price]]`` entry: full prices for a model."""

    entry: Entry
    per_mtok: Mapping[str, Decimal]
    """$/MTok by rate field; cache and reasoning prices default as documented."""
    request: Decimal = ZERO
    context_window: int | None = None

    def tier(self) -> Tier:
        """The entry's prices as the base tier of a Rates."""
        p = self.per_mtok
        cw5 = p.get("cache_write_5m", p["input"])
        per_mtok = {
            "input_uncached": p["input"],
            "cache_read": p.get("cache_read", p["input"]),
            "cache_write_5m": cw5,
            "cache_write_1h": p.get("cache_write_1h", cw5),
            "output_visible": p["output"],
            "reasoning": p.get("reasoning", p["output"]),
        }
        modal = {key: per_token(p[field]) for field, key in MODAL_RATE_FIELDS.items() if field in p}
        for m in MODALITIES:
            given = p.get(f"input_{m}")
            write_5m = p.get(f"cache_write_5m_{m}")
            if write_5m is not None and f"cache_write_1h_{m}" not in p:
                modal[f"cache_write_1h.{m}"] = per_token(write_5m)
            if given is None:
                continue
            # a cache bucket without a price of its own bills as input: its modality as that input
            if "cache_read" not in p:
                modal.setdefault(f"cache_read.{m}", per_token(given))
            if "cache_write_5m" not in p:
                modal.setdefault(f"cache_write_5m.{m}", per_token(given))
            if "cache_write_5m" not in p and "cache_write_1h" not in p:
                modal.setdefault(f"cache_write_1h.{m}", per_token(given))
        return Tier(-1, {b: per_token(v) for b, v in per_mtok.items()}, {}, self.request, modal)


@dataclass(frozen=True, slots=True)
class Modifier:
    """A ``[[modifier]]`` entry: multipliers on token rates."""

    entry: Entry
    batch: Decimal | None = None
    service_tiers: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OverheadEntry:
    """An ``[[overhead]]`` entry: per-request costs outside the provider's bill."""

    entry: Entry
    overhead: Overhead


@dataclass(frozen=True, slots=True)
class Overrides:
    """A parsed overrides file (or none: every lookup then misses)."""

    prices: tuple[PriceEntry, ...] = ()
    modifiers: tuple[Modifier, ...] = ()
    overheads: tuple[OverheadEntry, ...] = ()

    @property
    def entries(self) -> bool:
        """True when there is any entry at all."""
        return bool(self.prices or self.modifiers or self.overheads)

    def price_for(self, provider: str | None, model: str, day: date) -> PriceEntry | None:
        """The last [[price]] entry covering the call, or None."""
        return next((p for p in reversed(self.prices) if p.entry.covers(provider, model, day)), None)

    def batch_for(self, provider: str | None, model: str, day: date) -> tuple[Decimal, str] | None:
        """(multiplier, source) of the last modifier with a batch multiplier for the call, or None."""
        for m in reversed(self.modifiers):
            if m.batch is not None and m.entry.covers(provider, model, day):
                return m.batch, m.entry.source
        return None

    def tier_for(self, provider: str | None, model: str, day: date, tier: str) -> tuple[Decimal, str] | None:
        """(multiplier, source) of the last modifier with a multiplier for service ``tier``, or None."""
        for m in reversed(self.modifiers):
            if tier in m.service_tiers and m.entry.covers(provider, model, day):
                return m.service_tiers[tier], m.entry.source
        return None

    def overhead_for(self, provider: str | None, model: str, day: date) -> Overhead | None:
        """The overhead of the last [[overhead]] entry covering the call, or None."""
        found = next((o for o in reversed(self.overheads) if o.entry.covers(provider, model, day)), None)
        return found.overhead if found else None


def load(path: Path) -> Overrides:
    """Read and validate an overrides file.

    Args:
        path: The TOML file.

    Returns:
        The parsed overrides.

    Raises:
        PricingError: The file cannot be read, is not TOML, or an entry is invalid; the message
            names the file, the entry and the field.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PricingError(f"{path}: cannot read the overrides file: {exc}") from exc
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise PricingError(f"{path}: not valid TOML: {exc}; fix the syntax (see docs/pricing.md)") from exc
    return parse(data, path.name)


def parse(data: Mapping[str, Any], file_name: str) -> Overrides:
    """Validate already-decoded overrides data (``file_name`` names it in errors and sources)."""
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise PricingError(
            f"{file_name}: unknown table(s) {', '.join(unknown)}; an overrides file has only "
            f"[[price]], [[modifier]] and [[overhead]] entries"
        )
    entries: dict[str, list[Any]] = {}
    names: set[str] = set()
    for kind in _FIELDS:
        raw = data.get(kind, [])
        if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
            raise PricingError(f"{file_name}: '{kind}' must be an array of tables, written [[{kind}]]")
        entries[kind] = [_Reader(file_name, kind, i, e, names).read() for i, e in enumerate(raw, start=1)]
    return Overrides(tuple(entries["price"]), tuple(entries["modifier"]), tuple(entries["overhead"]))


class _Reader:
    """Reads one entry, raising errors that name the file, entry and field."""

    def __init__(self, file_name: str, kind: str, index: int, raw: dict[str, Any], names: set[str]) -> None:
        self.file_name, self.kind, self.index, self.raw, self.names = file_name, kind, index, raw, names
        name = raw.get("name")
        self.label = f"[[{kind}]] entry {index}" + (f" ('{name}')" if isinstance(name, str) else "")

    def fail(self, field_name: str | None, message: str) -> PricingError:
        where = f"{self.file_name}: {self.label}" + (f", field '{field_name}'" if field_name else "")
        return PricingError(f"{where}: {message}; fix the overrides file (format in docs/pricing.md)")

    def read(self) -> PriceEntry | Modifier | OverheadEntry:
        unknown = sorted(set(self.raw) - set(_FIELDS[self.kind]))
        if unknown:
            raise self.fail(unknown[0], f"unknown field; allowed: {', '.join(_FIELDS[self.kind])}")
        entry = self._entry()
        if self.kind == "price":
            return self._price(entry)
        if self.kind == "modifier":
            return self._modifier(entry)
        return self._overhead(entry)

    def _entry(self) -> Entry:
        name = self.raw.get("name", f"{self.kind}-{self.index}")
        if not isinstance(name, str) or not name.strip():
            raise self.fail("name", "must be a non-empty string")
        if name in self.names:
            raise self.fail("name", f"'{name}' is used by another entry; names must be unique")
        self.names.add(name)
        effective = self._date("effective")
        if effective is None:
            raise self.fail("effective", "is required: a date such as 2025-01-01")
        until = self._date("until")
        if until is not None and until < effective:
            raise self.fail("until", f"{until} is before effective {effective}")
        return Entry(
            source=f"override:{self.file_name}#{name}",
            provider=self._pattern("provider", default="*", provider=True),
            model=self._pattern("model", default=None, provider=False),
            effective=effective,
            until=until,
        )

    def _pattern(self, key: str, *, default: str | None, provider: bool) -> str:
        value = self.raw.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "is required: an exact name or a glob such as 'gpt-4o*'")
        value = value.strip().lower()
        if provider and not any(c in value for c in "*?["):
            value = canonical(value) or value
        return value

    def _date(self, key: str) -> date | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, datetime):
            raise self.fail(key, "must be a date (2025-01-01), not a date-time")
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise self.fail(key, f"must be a date such as 2025-01-01, got {value!r}")

    def decimal(self, key: str, *, places: int | None = None) -> Decimal | None:
        value = self.raw.get(key)
        if value is None:
            return None
        return self._to_decimal(key, value, places)

    def _to_decimal(self, key: str, value: Any, places: int | None) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
            raise self.fail(key, f"must be a number or a decimal string, got {value!r}")
        try:
            number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
        except InvalidOperation:
            raise self.fail(key, f"must be a decimal number, got {value!r}") from None
        if not number.is_finite() or number < 0:
            raise self.fail(key, f"must be a finite number >= 0, got {value!r}")
        if number > MAX_NUMBER:
            raise self.fail(key, f"must be at most {MAX_NUMBER:,}, got {value!r}")
        exponent = number.normalize().as_tuple().exponent
        if places is not None and isinstance(exponent, int) and -exponent > places:
            raise self.fail(key, f"has more than {places} decimal places")
        return number

    def _price(self, entry: Entry) -> PriceEntry:
        per_mtok: dict[str, Decimal] = {}
        for key in (*RATE_FIELDS, *MODAL_RATE_FIELDS):
            value = self.decimal(key, places=_MAX_PER_MTOK_PLACES)
            if value is not None:
                per_mtok[key] = value
        for key in ("input", "output"):
            if key not in per_mtok:
                raise self.fail(key, "is required ($ per million tokens; use 0 for none)")
        window = self.raw.get("context_window")
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window <= 0):
            raise self.fail("context_window", f"must be a positive whole number of tokens, got {window!r}")
        return PriceEntry(entry, per_mtok, self.decimal("request") or ZERO, window)

    def _modifier(self, entry: Entry) -> Modifier:
        tiers_raw = self.raw.get("service_tiers", {})
        if not isinstance(tiers_raw, dict):
            raise self.fail("service_tiers", "must be a table such as { flex = 0.5, priority = 1.75 }")
        tiers = {
            str(k).lower(): self._to_decimal(f"service_tiers.{k}", v, None) for k, v in tiers_raw.items()
        }
        batch = self.decimal("batch")
        if batch is None and not tiers:
            raise self.fail(None, "a modifier needs 'batch' or 'service_tiers'")
        return Modifier(entry, batch, tiers)

    def _overhead(self, entry: Entry) -> OverheadEntry:
        per_request = self.decimal("per_request") or ZERO
        egress = self.decimal("egress_per_request") or ZERO
        per_second = self.decimal("per_second", places=_MAX_PER_SECOND_PLACES) or ZERO
        if not (per_request or egress or per_second):
            raise self.fail(None, "an overhead needs 'per_request', 'per_second' or 'egress_per_request'")
        return OverheadEntry(entry, Overhead(quantize_rate(per_request + egress), per_second, entry.source))
