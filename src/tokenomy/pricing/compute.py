"""Usage times Rates: the bucket rules that turn exclusive token buckets into a Cost.

Every amount is exact Decimal arithmetic (a high-precision local context) until each part is
rounded once, half away from zero, to 12 decimal places; the total is the sum of the rounded
parts, so that the store's SQL (``CAST(tokens * rate AS DECIMAL(38, 12))`` per part) gives the
very same numbers. The rules, in the order they are applied:

* usage with data-quality flags, or no usage at all, is unpriced, never $0;
* a side (input or output) whose total is known but some of whose buckets are not is priced
  bucket by bucket, and the remainder (total minus the known buckets) at the side's base rate
  (input or output), the way providers bill when they report no cache or reasoning split;
* the long-context tier is chosen by total input tokens (``input_total``, else the sum of the
  known input buckets), strictly greater than the tier's start, as genai-prices does;
* audio, image and video tokens inside a bucket (``Usage.modalities``) are priced at the tier's
  rate for that modality where the catalog has one, the rest of the bucket as text (audio with no
  rate of its own too, but the cost is then estimated: providers bill audio apart, images and video
  as text); a bucket holding fewer tokens than its modality counts is unpriced;
* server-tool uses are priced per use, the catalog's per-request fee goes to ``requests`` and
  the configured overhead (fixed + per second of latency) to ``overhead``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Final

from tokenomy.pricing.rates import MONEY_PLACES, MONEY_QUANTUM, RATE_PLACES, ZERO, Overhead, Rates, Tier
from tokenomy.schema import BUCKETS, INPUT_BUCKETS, MODAL_BUCKETS, OUTPUT_BUCKETS, Cost, Kind, Usage, new_cost

_PRECISION: Final = 80
"""Significant digits for intermediate money arithmetic: far beyond any token count times rate."""
_CONTEXT: Final = Context(prec=_PRECISION)
"""That precision as an explicit context (the fast path's arithmetic names it rather than entering it)."""


def money(value: Decimal) -> Decimal:
    """``value`` rounded half away from zero to 12 decimal places (as DuckDB casts to DECIMAL(38, 12))."""
    return value.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_UP)


def latency_microseconds(latency_ms: float | None) -> int | None:
    """Latency in whole microseconds: ``latency_ms * 1000`` (as a float) rounded half away from zero.

    The store computes ``CAST(ROUND(latency_ms * 1000) AS BIGINT)`` on the same double, which
    rounds the same way, so both sides agree on every input. A latency that is not a finite
    number (NaN, infinity) is no measurement: unknown, as None is.
    """
    if latency_ms is None or not math.isfinite(latency_ms):
        return None
    with localcontext(prec=_PRECISION):
        return int(Decimal(latency_ms * 1000).to_integral_value(rounding=ROUND_HALF_UP))


@dataclass(slots=True)
class _Side:
    """One side (input or output) of a usage, ready to price."""

    counts: dict[str, int] = field(default_factory=dict)
    """Billable tokens per bucket, the unreported remainder folded into the base bucket."""
    tokens: int = 0
    remainder: int = 0
    unknown: tuple[str, ...] = ()
    absent: bool = False
    notes: list[str] = field(default_factory=list)
    incomplete: bool = False


def _side(usage: Usage, buckets: tuple[str, ...], total: int | None, label: str) -> _Side | str:
    """Split one side into billable counts, or return why it does not add up."""
    known = {b: v for b in buckets if (v := getattr(usage, b)) is not None}
    unknown = tuple(b for b in buckets if b not in known)
    if any(v < 0 for v in known.values()) or (total is not None and total < 0):
        return f"usage does not add up: a negative {label} count"
    known_sum = sum(known.values())
    if total is None:
        if not known:
            return _Side(absent=True)
        side = _Side(dict(known), known_sum, unknown=unknown, incomplete=bool(unknown))
        if unknown:
            side.notes.append(
                f"{label}_total not reported and {', '.join(unknown)} unknown: those tokens not priced"
            )
        return side
    remainder = total - known_sum
    if remainder < 0 or (remainder and not unknown):
        return f"usage does not add up: {label} buckets sum to {known_sum}, {label}_total is {total}"
    counts = dict(known)
    if remainder:
        counts[buckets[0]] = counts.get(buckets[0], 0) + remainder
    side = _Side(counts, total, remainder, unknown)
    if remainder:
        missing = ", ".join(unknown)
        side.notes.append(
            f"{label} split not reported ({missing} unknown): {remainder} tokens at the {label} rate"
        )
    return side


def cost_of(usage: Usage, rates: Rates, latency_ms: float | None = None) -> Cost:
    """Price ``usage`` with ``rates``.

    ``latency_ms`` may be given by position: a compiled function called with a keyword takes the
    interpreter's slow road for its arguments (about 1,900 instructions, the gateway's every call).

    Args:
        usage: Token usage in exclusive buckets.
        rates: Resolved prices for the call's provider, model, day and context.
        latency_ms: The call's latency, for per-second overhead.

    Returns:
        The Cost, or an unpriced Cost that says why.
    """
    whole = whole_usage_cost(usage, rates, latency_ms)
    return whole if whole is not None else general_cost(usage, rates, latency_ms=latency_ms)


def general_cost(usage: Usage, rates: Rates, *, latency_ms: float | None = None) -> Cost:
    """:func:`cost_of` by the general bucket rules alone (every case; the tests compare the paths)."""
    if usage.quality:
        flags = ", ".join(q.value for q in usage.quality)
        return Cost.unpriced(f"usage does not add up: {flags}", price_date=rates.price_date)
    if (
        all(getattr(usage, b) is None for b in BUCKETS)
        and usage.input_total is None
        and usage.output_total is None
    ):
        return Cost.unpriced("no usage reported", price_date=rates.price_date)
    if (
        usage.input_total is None
        and usage.output_total is None
        and not usage.server_tools
        and not any(getattr(usage, b) for b in BUCKETS)
        and any(getattr(usage, b) is None for b in BUCKETS)
    ):  # only zeros beside unknowns (an OpenAI body's cache writes, its counts unreadable): a floor
        # of $0 would read as a free call, when its cost is not known
        return Cost.unpriced("no token count reported: only zeros and unknowns", price_date=rates.price_date)
    inputs = _side(usage, INPUT_BUCKETS, usage.input_total, "input")
    outputs = _side(usage, OUTPUT_BUCKETS, usage.output_total, "output")
    if isinstance(inputs, str) or isinstance(outputs, str):
        reason = inputs if isinstance(inputs, str) else str(outputs)
        return Cost.unpriced(reason, price_date=rates.price_date)
    if usage.modalities and (misfit := _modality_fits(usage, inputs, outputs)) is not None:
        return Cost.unpriced(misfit, price_date=rates.price_date)
    with localcontext(prec=_PRECISION):
        return _priced(usage, rates, inputs, outputs, latency_microseconds(latency_ms))


def _priced(usage: Usage, rates: Rates, inputs: _Side, outputs: _Side, latency_us: int | None) -> Cost:
    tier = rates.tier_for(inputs.tokens)
    notes: list[str] = [*rates.notes, *inputs.notes, *outputs.notes]
    estimated = usage.kind is not Kind.REPORTED or rates.estimated or inputs.incomplete or outputs.incomplete
    for label, side, other in (("input", inputs, "output"), ("output", outputs, "input")):
        if side.absent:
            notes.append(f"no {label} usage reported: only {other} tokens priced")
            estimated = True
    split_matters = tier.tokens["reasoning"] != tier.tokens["output_visible"]
    if outputs.remainder and "reasoning" in outputs.unknown and split_matters:
        notes.append("reasoning tokens have their own rate, so the unreported split changes the cost")
        estimated = True
    parts: dict[str, Decimal] = {}
    counts = {**inputs.counts, **outputs.counts}
    for bucket in BUCKETS:
        n = counts.get(bucket)
        if not n:
            continue
        parts[bucket] = money(_bucket_amount(usage, tier, bucket, n))
        if bucket in rates.assumed:
            notes.append(rates.assumed[bucket])
            estimated = True
    audio = _audio_as_text(usage, tier, rates) if usage.modalities else None
    if audio is not None:
        notes.append(audio)
        estimated = True
    tools, tool_notes = _server_tools(usage.server_tools, tier)
    if tools is not None:
        parts["server_tools"] = tools
    notes.extend(tool_notes)
    estimated = estimated or bool(tool_notes)
    if tier.request_fee:
        parts["requests"] = money(tier.request_fee)
    overhead, overhead_note = _overhead(rates, latency_us)
    if overhead:
        parts["overhead"] = overhead
    if overhead_note:
        notes.append(overhead_note)
        estimated = True
    notes.extend(r for r in rates.remarks if r not in notes)
    if usage.kind is not Kind.REPORTED:
        notes.append(KIND_NOTES[usage.kind])
    return Cost(
        total=money(sum(parts.values(), ZERO)),
        parts=parts,
        source=rates.source,
        price_date=rates.price_date,
        estimated=estimated,
        reason="; ".join(dict.fromkeys(notes)) or None,
    )


def _audio_as_text(usage: Usage, tier: Tier, rates: Rates) -> str | None:
    """Why the cost is estimated when audio tokens are priced at their bucket's text rate (the catalog
    lists no audio rate for the model), or None. Images and video are billed as text: no note."""
    buckets = [
        bucket
        for bucket in BUCKETS
        if usage.modalities.get(f"{bucket}.audio") and f"{bucket}.audio" not in tier.modal
    ]
    if not buckets:
        return None
    shown = " and ".join(buckets)
    return f"{rates.source} has no audio rate for {rates.model}: the audio tokens of {shown} priced as text"


def _bucket_amount(usage: Usage, tier: Tier, bucket: str, n: int) -> Decimal:
    """``n`` tokens of ``bucket``: its audio, image and video tokens at their rates, the rest as text."""
    modal = usage.modal_tokens(bucket) if usage.modalities else None
    if not modal:
        return n * tier.tokens[bucket]
    text = n - sum(modal.values())
    amount = text * tier.tokens[bucket]
    for modality, m in modal.items():
        amount += m * tier.modal_rate(f"{bucket}.{modality}")
    return amount


def _modality_fits(usage: Usage, inputs: _Side, outputs: _Side) -> str | None:
    """Why the usage's modality counts cannot be priced (more than their bucket holds), or None."""
    counts = {**inputs.counts, **outputs.counts}
    for bucket in MODAL_BUCKETS:
        modal, held = sum(usage.modal_tokens(bucket).values()), counts.get(bucket, 0)
        if modal > held:
            return (
                f"usage does not add up: {modal} audio, image or video tokens in {bucket}, which holds {held}"
            )
    return None


def _server_tools(uses: Mapping[str, int], tier: Tier) -> tuple[Decimal | None, list[str]]:
    amount: Decimal | None = None
    notes: list[str] = []
    for unit, n in sorted(uses.items()):
        if not n:
            continue
        rate = tier.server_tools.get(unit)
        if rate is None:
            notes.append(f"no price for server tool '{unit}': {n} uses not charged")
            continue
        amount = (amount or ZERO) + n * rate
    return (money(amount) if amount is not None else None), notes


def _overhead(rates: Rates, latency_us: int | None) -> tuple[Decimal, str | None]:
    overhead = rates.overhead
    note = None
    if overhead.per_second and latency_us is None:
        note = f"latency unknown: per-second overhead ({overhead.source}) not charged"
    return money(overhead.amount(latency_us)), note


def whole_usage_cost(usage: Usage, rates: Rates, latency_ms: float | None) -> Cost | None:  # noqa: PLR0912, PLR0915  (unrolled on purpose)
    """The Cost of a usage whose six buckets are all known, or None when the general rules apply.

    Almost every call a provider reports has all six buckets, no quality flag and no server tool;
    such a usage is priced here straight from the tier's per-token rates, with the same exact
    arithmetic, parts and notes as :func:`general_cost` (equal whenever this is not None), at a
    fraction of its cost: it is on the path of every metered call and budget settlement. For the
    usual rates (no assumed rate, no configured overhead) the parts are computed in integers from
    the rates' :class:`_Plan`, worked out once per Rates, bucket by bucket without a loop (a
    bucket without tokens costs one test); otherwise in an explicit high-precision context
    (:data:`_CONTEXT`) rather than a local one entered for each call.
    """
    a, b, c, d = usage.input_uncached, usage.cache_read, usage.cache_write_5m, usage.cache_write_1h
    e, f = usage.output_visible, usage.reasoning
    if a is None or b is None or c is None or d is None or e is None or f is None:
        return None
    if (
        usage.quality
        or usage.server_tools
        or usage.modalities
        or a < 0
        or b < 0
        or c < 0
        or d < 0
        or e < 0
        or f < 0
    ):
        return None
    inputs, outputs = a + b + c + d, e + f
    stated = usage.input_total
    if stated is not None and stated != inputs:
        return None
    stated = usage.output_total
    if stated is not None and stated != outputs:
        return None
    entry = _PLANS.get(id(rates))
    if entry is None or entry[0] is not rates:
        entry = _remember(rates)
    plan = entry[1]
    if plan is None or inputs + outputs >= _MOST_TOKENS:
        return _whole_in_decimal(usage, rates, latency_ms, (a, b, c, d, e, f), inputs)
    tiers = plan.tiers
    tier = tiers[0]
    if len(tiers) > 1:
        for higher in tiers[1:]:  # as Rates.tier_for: the last tier whose start is below the input
            if inputs > higher[0]:
                tier = higher
    qa, ra, qb, rb, qc, rc, qd, rd, qe, re, qf, rf = tier[1]
    parts: dict[str, Decimal] = {}
    total = 0
    # Each part: tokens times the rate (10^-18 units) rounded half away from zero (tokens and rate
    # are >= 0) to 10^-12 units, made a Decimal of exponent -12 exactly (_money_of). The rate is held
    # as its whole 10^-12 units q and the rest r (rate = q * 10^6 + r), so that (n * rate + half) //
    # 10^6 is n * q + (n * r + half) // 10^6, exactly: compiled, two integers below 2^30 multiply in
    # machine words, which the usual counts, q and r are; a rate in 10^-18 units is not, and its
    # product would go through Python's integers (about 1,100 instructions a part more).
    if a:
        total = a * qa + (a * ra + _HALF_CENT) // _RATE_TO_MONEY
        parts["input_uncached"] = _money_of(total, MONEY_QUANTUM)
    if b:
        part = b * qb + (b * rb + _HALF_CENT) // _RATE_TO_MONEY
        parts["cache_read"] = _money_of(part, MONEY_QUANTUM)
        total += part
    if c:
        part = c * qc + (c * rc + _HALF_CENT) // _RATE_TO_MONEY
        parts["cache_write_5m"] = _money_of(part, MONEY_QUANTUM)
        total += part
    if d:
        part = d * qd + (d * rd + _HALF_CENT) // _RATE_TO_MONEY
        parts["cache_write_1h"] = _money_of(part, MONEY_QUANTUM)
        total += part
    if e:
        part = e * qe + (e * re + _HALF_CENT) // _RATE_TO_MONEY
        parts["output_visible"] = _money_of(part, MONEY_QUANTUM)
        total += part
    if f:
        part = f * qf + (f * rf + _HALF_CENT) // _RATE_TO_MONEY
        parts["reasoning"] = _money_of(part, MONEY_QUANTUM)
        total += part
    if tier[3] is not None:
        parts["requests"] = tier[3]
        total += tier[2]
    reason, estimated = plan.reason, plan.estimated or usage.kind is not _REPORTED
    if plan.assumed:
        known = (a, b, c, d, e, f)
        for index, _ in plan.assumed:
            if known[index]:  # a bucket priced at an assumed rate has tokens: its note, in bucket order
                added = [note for at, note in plan.assumed if known[at]]
                reason, estimated = _reason(rates, (*rates.notes, *added)), True
                break
    if usage.kind is not _REPORTED:
        reason = with_kind_note(reason, usage.kind)
    return new_cost(  # Cost(...) with its fields in order (see tokenomy.schema.positional_maker)
        _money_of(total, MONEY_QUANTUM), parts, "USD", plan.source, plan.price_date, estimated, reason
    )


_REPORTED: Final = Kind.REPORTED
"""The member itself: ``Kind.REPORTED`` looked up on the enum costs as much as a function call."""
_money_of: Final = _CONTEXT.multiply
"""``_money_of(units, MONEY_QUANTUM)``: ``units * 10^-12`` as a Decimal of exponent -12, exact."""
_MOST_TOKENS: Final = 10**30
"""A usage with this many tokens or more takes the decimal path (whose 80 digits it could exceed)."""
_MOST_SCALED: Final = 10**40
"""A rate this large (times 10^18) takes the decimal path too: below both bounds, every product
has fewer than the context's 80 digits, so the decimal path computes it exactly as well."""
_RATE_TO_MONEY: Final = 10 ** (RATE_PLACES - MONEY_PLACES)
_HALF_CENT: Final = _RATE_TO_MONEY // 2
_PLANS_MAX: Final = 4096
_PLANS: dict[int, tuple[Rates, _Plan | None]] = {}
"""Plans by the id of their Rates (each entry holds its Rates, so the id is not reused while it is
kept); cleared when full. Rates are few: a Pricer resolves one per model, provider, day and tier."""

_PlanTier = tuple[int, tuple[int, ...], int, Decimal | None]
"""A tier as :func:`whole_usage_cost` uses it: its start, the six per-token rates times 10^18 (in
:data:`tokenomy.schema.BUCKETS` order), each as the pair (its 10^-12 units, the rest below them),
twelve integers in all, the request fee's money part times 10^12 and as a Decimal (None: no fee)."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """What :func:`whole_usage_cost` needs of one Rates, worked out once: its tiers in integers, and
    the reason and estimated flag of its costs whose usage has no tokens in an assumed bucket
    (no overhead: nothing else adds to them)."""

    tiers: tuple[_PlanTier, ...]
    source: str | None
    price_date: date | None
    """The rates' own (read from here: one look-up less each)."""
    reason: str | None
    estimated: bool
    assumed: tuple[tuple[int, str], ...]
    """The buckets whose rate was assumed (their index in BUCKETS) and the note each adds."""


def _remember(rates: Rates) -> tuple[Rates, _Plan | None]:
    if len(_PLANS) >= _PLANS_MAX:
        _PLANS.clear()
    entry = _PLANS[id(rates)] = (rates, _plan(rates))
    return entry


def _plan(rates: Rates) -> _Plan | None:
    """The integer plan of ``rates``, or None when the decimal path must price them: a configured
    overhead (its amount and note depend on the latency), or a rate that
    is not a non-negative amount of at most :data:`RATE_PLACES` decimal places (or is huge)."""
    overhead = rates.overhead
    if overhead.per_request or overhead.per_second:
        return None
    tiers: list[_PlanTier] = []
    for tier in rates.tiers:
        scaled = []
        for bucket in BUCKETS:
            rate = tier.tokens[bucket]
            if not rate.is_finite() or rate.is_signed() or rate.as_tuple().exponent < -RATE_PLACES:  # type: ignore[operator]  # finite: an int
                return None
            units = int(_CONTEXT.scaleb(rate, RATE_PLACES))
            if units >= _MOST_SCALED:
                return None
            scaled.extend(divmod(units, _RATE_TO_MONEY))
        fee = tier.request_fee
        if not fee:
            tiers.append((tier.start, tuple(scaled), 0, None))
            continue
        if not fee.is_finite():
            return None
        part = fee.quantize(MONEY_QUANTUM, ROUND_HALF_UP, _CONTEXT)
        tiers.append((tier.start, tuple(scaled), int(_CONTEXT.scaleb(part, MONEY_PLACES)), part))
    assumed = tuple((i, rates.assumed[b]) for i, b in enumerate(BUCKETS) if b in rates.assumed)
    reason = _reason(rates, rates.notes)
    return _Plan(tuple(tiers), rates.source, rates.price_date, reason, rates.estimated, assumed)


def _reason(rates: Rates, notes: tuple[str, ...]) -> str | None:
    """The reason of a cost with ``notes``, the rates' remarks added (as :func:`general_cost` words it)."""
    if rates.remarks:
        notes = (*notes, *(r for r in rates.remarks if r not in notes))
    return ("; ".join(dict.fromkeys(notes)) or None) if notes else None


KIND_NOTES: Final = {
    Kind.COUNTED: "usage counted locally, not reported by the provider",
    Kind.ESTIMATED: "usage estimated locally, not reported by the provider",
}
"""Why the cost of a usage the provider did not report is estimated: the last note of its reason
(the store's SQL pricing appends the same words, keyed by ``usage_kind``)."""


def with_kind_note(reason: str | None, kind: Kind) -> str:
    """``reason`` with the note of a usage of ``kind`` (not reported) appended."""
    note = KIND_NOTES[kind]
    return note if not reason else f"{reason}; {note}"


def _whole_in_decimal(
    usage: Usage, rates: Rates, latency_ms: float | None, known: tuple[int, ...], inputs: int
) -> Cost:
    """:func:`whole_usage_cost` in Decimal arithmetic, for the rates without a plan."""
    tiers = rates.tiers
    tier = tiers[0] if len(tiers) == 1 else rates.tier_for(inputs)
    notes = rates.notes
    estimated = usage.kind is not _REPORTED or rates.estimated
    parts: dict[str, Decimal] = {}
    rate_of, assumed, context = tier.tokens, rates.assumed, _CONTEXT
    total = ZERO
    for bucket, n in zip(BUCKETS, known, strict=True):
        if n:
            part = context.multiply(n, rate_of[bucket]).quantize(MONEY_QUANTUM, ROUND_HALF_UP, context)
            parts[bucket] = part
            total = context.add(total, part)
            if assumed and bucket in assumed:
                notes = (*notes, assumed[bucket])
                estimated = True
    if tier.request_fee:
        part = parts["requests"] = tier.request_fee.quantize(MONEY_QUANTUM, ROUND_HALF_UP, context)
        total = context.add(total, part)
    overhead = rates.overhead
    if overhead.per_request or overhead.per_second:
        added: list[str] = []
        estimated = _add_overhead(parts, added, overhead, latency_ms) or estimated
        notes = (*notes, *added)
        if "overhead" in parts:
            total = context.add(total, parts["overhead"])
    if rates.remarks:
        notes = (*notes, *(r for r in rates.remarks if r not in notes))
    if usage.kind is not _REPORTED:
        notes = (*notes, KIND_NOTES[usage.kind])
    return new_cost(  # Cost(...) with its fields in order (see tokenomy.schema.positional_maker)
        total.quantize(MONEY_QUANTUM, ROUND_HALF_UP, context),
        parts,
        "USD",
        rates.source,
        rates.price_date,
        estimated,
        ("; ".join(dict.fromkeys(notes)) or None) if notes else None,
    )


def _add_overhead(
    parts: dict[str, Decimal], notes: list[str], overhead: Overhead, latency_ms: float | None
) -> bool:
    """Add a configured overhead's part (and note) for :func:`whole_usage_cost`; True when estimated."""
    with localcontext(prec=_PRECISION):
        latency_us = latency_microseconds(latency_ms)
        amount = money(overhead.amount(latency_us))
        if amount:
            parts["overhead"] = amount
    if overhead.per_second and latency_us is None:
        notes.append(f"latency unknown: per-second overhead ({overhead.source}) not charged")
        return True
    return False
