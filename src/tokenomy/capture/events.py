"""Outcomes and charges: what a call or session achieved, and what non-LLM work cost.

``tokenomy.record_outcome`` attaches an outcome to a call or a session after the fact; the
server (or the store) keeps it next to the call or session it names. ``tokenomy.charge``
records a cost that is not an LLM call (a search API, a tool's fee, GPU seconds) under the
current scope's session and attribution, so that session costs include it. Both go through the
process's sink like calls do, and are dropped silently (nothing to record them) when capture is
not configured.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Final

from tokenomy.capture.ids import new_trace_id
from tokenomy.capture.runtime import RUNTIME
from tokenomy.capture.scope import Scope, current, text_or_none
from tokenomy.schema import (
    ATTRIBUTION_FIELDS,
    OUTCOME_TARGETS,
    Attribution,
    Call,
    Charge,
    OutcomeEvent,
    OutcomeTarget,
    not_usd,
    utc_now,
)
from tokenomy.usage.ids import distinct_id

_MAX_AMOUNT: Final = Decimal(10) ** 26
"""Amounts the stores keep exactly (DECIMAL(38, 12): 26 digits before the point, 12 after)."""
_PLACES: Final = Decimal(1).scaleb(-12)
"""The places an amount is kept to, rounded half away from zero as the stores round."""
_WIDE: Final = Context(prec=38)
"""Digits enough to round any amount the stores keep (the default context holds 28)."""


def record_outcome(
    session_or_call: Any,
    success: bool | None = None,
    score: float | Decimal | Fraction | None = None,
    action: str | None = None,
    *,
    target: OutcomeTarget | None = None,
) -> OutcomeEvent:
    """Attach an outcome to a call or a session.

    Args:
        session_or_call: What the outcome is for: an SDK response object or a Call (its ``id``:
            a call), a :class:`Scope` (its session), or an id string.
        success: Whether the work succeeded.
        score: A quality score (any scale you use consistently).
        action: The unit of business work it completed (``ticket_resolved``...).
        target: ``"call"`` or ``"session"``, for an id string. When None, a string is a session
            if this process opened a ``tokenomy.context(session=...)`` with that id, else a call.

    Returns:
        The outcome event (sent to the sink when one is configured).

    Raises:
        ValueError: The target cannot be told, a value has the wrong type, or none of success,
            score and action is given.
    """
    kind, ident = _target_of(session_or_call, target)
    if success is not None and not isinstance(success, bool):
        raise ValueError(f"record_outcome: success must be True, False or None, got {success!r}")
    score = _finite_or_none("score", score, "record_outcome")
    text_or_none("action", action, where="record_outcome")
    if success is None and score is None and not action:
        raise ValueError(
            "record_outcome: nothing to record; give success, score or action (an outcome replaces the "
            "one before it whole, so an empty one would erase it)"
        )
    event = OutcomeEvent(
        target=kind,
        id=ident,
        at=utc_now(),
        success=success,
        score=score,
        action=action,
    )
    sink = RUNTIME.sink
    if sink is not None:
        sink.submit(event)
    return event


def _target_of(value: Any, target: OutcomeTarget | None) -> tuple[OutcomeTarget, str]:
    if target is not None and target not in OUTCOME_TARGETS:
        raise ValueError(f"record_outcome: target must be 'call' or 'session', got {target!r}")
    if isinstance(value, Scope):
        if value.session_id is None:
            raise ValueError(
                "record_outcome: this scope has no session; open it with tokenomy.context(session=...)"
            )
        return "session", value.session_id
    if isinstance(value, str):
        if not value:
            raise ValueError("record_outcome: the id is empty")
        if target is not None:
            return target, value
        return ("session" if RUNTIME.steps.knows(value) else "call"), value
    ident = getattr(value, "id", None)
    if isinstance(ident, str) and ident:
        if not isinstance(value, Call) and distinct_id(ident) is None:
            raise ValueError(
                f"record_outcome: this response's id {ident!r} is too short to tell calls apart, so its "
                "call is stored under its trace and span ids; record the outcome on the session instead"
            )
        return target or "call", ident
    raise ValueError(
        f"record_outcome: a {type(value).__name__} carries no call id (an embeddings answer, a stream "
        "or a raw response has none tokenomy stores its call under); pass the session (its id, or the "
        "tokenomy.context scope), a call id with target=..., a completion response or a Call"
    )


def charge(
    amount: Decimal | int | float | str,
    kind: str,
    *,
    quantity: float | Decimal | Fraction | None = None,
    unit: str | None = None,
    description: str | None = None,
    session: str | None = None,
    currency: str = "USD",
    **attribution: Any,
) -> Charge:
    """Record a non-LLM cost under the current scope.

    Args:
        amount: What it cost (a float is read through its decimal string: 0.1 stays 0.1), kept to 12
            decimal places (rounded half away from zero, as the stores keep it: the charge returned
            is the one kept).
        kind: What kind of cost (``search_api``, ``gpu_seconds``...).
        quantity: How much of it (``3`` searches, ``12.5`` seconds).
        unit: The quantity's unit.
        description: Free text.
        session: The session to charge (default: the current scope's).
        currency: ``USD`` (any case), the currency of every cost tokenomy keeps; another is refused.
        **attribution: ``user``, ``team``, ``project``, ``feature``, ``intent``, ``environment``,
            ``agent``, ``api_key_id`` or ``tags``; they override the current scope's.

    Returns:
        The charge (sent to the sink when one is configured).

    Raises:
        ValueError: The amount is not a finite number (of 0 or more) the stores can keep, or another
            argument has the wrong type (checked here: a bad record sent on would be refused by the
            target later, with the batch it travels in).
    """
    unknown = sorted(set(attribution) - {*ATTRIBUTION_FIELDS, "tags"})
    if unknown:
        raise ValueError(
            f"charge: unknown attribution {', '.join(unknown)}; use {', '.join(ATTRIBUTION_FIELDS)}, tags"
        )
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"charge: kind must be a non-empty string (search_api...), got {kind!r}")
    if not isinstance(currency, str) or not currency:
        raise ValueError(f"charge: currency must be a currency code (USD), got {currency!r}")
    if (problem := not_usd(currency)) is not None:
        raise ValueError(f"charge: currency {problem}")
    quantity = _finite_or_none("quantity", quantity, "charge")
    if quantity is not None and quantity < 0:  # how much was used: 3 searches, 12.5 seconds
        raise ValueError(f"charge: quantity {quantity!r} is negative; it says how much was used (0 or more)")
    for name, value in (("unit", unit), ("description", description), ("session", session)):
        text_or_none(name, value, where="charge")
    for name in ATTRIBUTION_FIELDS:
        text_or_none(name, attribution.get(name), where="charge")
    raw_tags = attribution.pop("tags", None)
    if raw_tags is not None and not isinstance(raw_tags, Mapping):
        raise ValueError(f"charge: tags must be a mapping, got {raw_tags!r}")
    scope = current()
    tags = {str(k): str(v) for k, v in (raw_tags or {}).items() if v is not None}  # None: no value
    own = Attribution(**{k: (v or None) for k, v in attribution.items()}, tags=tags)
    record = Charge(
        id=f"chg_{new_trace_id()}",
        amount=_amount(amount),
        kind=kind,
        at=_now_ms(),
        currency="USD",
        session_id=session or (scope.session_id if scope else None),
        quantity=quantity,
        unit=unit,
        description=description,
        attribution=scope.attribution.merged(own) if scope else own,
        source="sdk",
    )
    sink = RUNTIME.sink
    if sink is not None:
        sink.submit(record)
    return record


def _amount(value: Decimal | int | float | str) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"charge: amount {value!r} is not a number")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"charge: amount {value!r} is not a number") from exc
    if not amount.is_finite():
        raise ValueError(f"charge: amount {value!r} is not a finite number")
    if amount < 0:  # a refund is no charge: the stores refuse negative amounts
        raise ValueError(f"charge: amount {value!r} is negative; a charge is a cost of 0 or more")
    if abs(amount) >= _MAX_AMOUNT:
        raise ValueError(
            f"charge: amount {value!r} is too large to store (at most 26 digits before the point)"
        )
    kept = amount.quantize(_PLACES, rounding=ROUND_HALF_UP, context=_WIDE)  # what the stores keep
    return kept.copy_abs() if kept.is_zero() else kept  # -0 is kept as 0, and returned as kept


def _now_ms() -> datetime:
    """Now, naive UTC, to the millisecond (the native form's precision for a charge's time), rounded
    up: a charge made right after a call is never placed before that call's end (kept to the
    microsecond), where a session's steps and running totals would hang it under the call before."""
    now = utc_now()
    up = -(-now.microsecond // 1000) * 1000
    return now.replace(microsecond=0) + timedelta(microseconds=up)


def _finite_or_none(name: str, value: object, where: str) -> float | None:
    """``value`` as a float when it is a finite number (an int, float, ``Decimal`` or ``Fraction``;
    not a bool), None for None; anything else raises ValueError naming it."""
    if value is None:
        return None
    if not isinstance(value, bool) and isinstance(value, int | float | Decimal | Fraction):
        with contextlib.suppress(ValueError, OverflowError):  # a signalling NaN, a Decimal past float's range
            number = float(value)
            if math.isfinite(number):
                return number
    raise ValueError(f"{where}: {name} must be a finite number or None, got {value!r}")
