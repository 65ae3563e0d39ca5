"""The sentences a budget answers with: a refusal that says which budget, how much, and when it resets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

from tokenomy.budgets.accounts import Account
from tokenomy.budgets.policy import DowngradeStep, Policy, Unit

NANO: Final = Decimal(10) ** 9


def amount(units: int, unit: Unit) -> Decimal:
    """Ledger units as dollars (nano-dollars / 1e9) or tokens."""
    return Decimal(units) / NANO if unit is Unit.USD else Decimal(units)


def shown(value: Decimal, unit: Unit) -> str:
    """``$12.3456`` (four decimals), ``-$0.0009`` (overspent) or ``12,345 tokens``.

    An amount under $0.0001 that is not zero keeps four significant digits, in plain decimals
    (``$0.00001235``, ``$0.000000001``): four decimals would show it as ``$0.0000``, and a fixed
    eight, trimmed of its zeros, wrote an amount under $0.00000001 as ``$0.``.
    """
    if unit is Unit.TOKENS:
        return f"{int(value):,} tokens"
    sign, size = ("-" if value < 0 else ""), abs(value)
    if size != 0 and size < Decimal("0.0001"):
        digits = size.quantize(Decimal(1).scaleb(size.adjusted() - 3), rounding=ROUND_HALF_EVEN)
        return f"{sign}${digits:f}".rstrip("0")  # nonzero decimals remain: never a trailing dot
    return f"{sign}${size:,.4f}"


def reset_text(policy: Policy, resets_at: datetime | None) -> str:
    """``it resets at 2026-04-01 00:00 Europe/Berlin (2026-03-31T22:00Z)`` or the session/request wording."""
    if resets_at is None:
        return "it covers the whole session and does not reset; start a new session"
    local = resets_at.astimezone(policy.zone)
    utc = resets_at.astimezone(UTC)
    return f"it resets at {local:%Y-%m-%d %H:%M} {policy.timezone} ({utc:%Y-%m-%dT%H:%MZ})"


def refused(account: Account, spent: int, reserved: int, needed: int, least: int) -> str:
    """The message of a hard refusal on a ledger account."""
    policy, unit = account.policy, account.policy.unit
    return (
        f"budget '{policy.name}' ({policy.describe_scope(account.value)}, {policy.describe_limit()}) "
        f"is exhausted: spent {shown(amount(spent, unit), unit)}, "
        f"{shown(amount(reserved, unit), unit)} reserved by requests in flight, "
        f"{shown(amount(needed, unit), unit)} needed for the smallest useful answer ({least} output tokens); "
        f"{reset_text(policy, account.resets_at)}. "
        f"{'Wait for the reset, ask' if account.resets_at is not None else 'Ask'} for less, "
        f"or raise the limit (`tokenomy budgets set {policy.name} ...`, or its [[budget]] table "
        f"when tokenomy.toml defines it)."
    )


def held_in_flight(
    account: Account, spent: int, reserved: int, needed: int, least: int, *, waited: float
) -> str:
    """The message of a hard refusal after waiting in vain for reservations in flight to settle."""
    policy, unit = account.policy, account.policy.unit
    return (
        f"budget '{policy.name}' ({policy.describe_scope(account.value)}, {policy.describe_limit()}) "
        f"is held by requests in flight: spent {shown(amount(spent, unit), unit)}, "
        f"{shown(amount(reserved, unit), unit)} reserved by requests in flight, "
        f"{shown(amount(needed, unit), unit)} needed for the smallest useful answer ({least} output tokens); "
        f"{_waited(waited)}. Retry in a moment, "
        f"ask for less (a lower max_tokens), or raise the limit (`tokenomy budgets set {policy.name} ...`, "
        f"or its [[budget]] table when tokenomy.toml defines it)."
    )


def _waited(seconds: float) -> str:
    """How long the guard waited for the requests in flight ([budgets] contention_wait: 0, not at all)."""
    if seconds:
        return f"they did not settle within {seconds:g} s ([budgets] contention_wait)"
    return "they hold it for now ([budgets] contention_wait = 0: no wait)"


def too_big(policy: Policy, value: str | None, needed: int, least: int) -> str:
    """The message of a per-request cap the request cannot fit under."""
    unit = policy.unit
    return (
        f"budget '{policy.name}' ({policy.describe_scope(value)}, {policy.describe_limit()}) "
        "caps each request: "
        f"this one needs {shown(amount(needed, unit), unit)} for its input and the smallest useful answer "
        f"({least} output tokens). Send a shorter prompt or use a cheaper model."
    )


def unpriced(policy: Policy, model: str, reason: str) -> str:
    """The message when a dollar budget cannot bound a request because its model has no price."""
    advice = "" if "[[price]]" in reason else "; add a [[price]] entry for it to the overrides file"
    return (
        f"budget '{policy.name}' ({policy.describe_scope()}) is in dollars but model '{model}' "
        f"cannot be priced ({reason}){advice}, or use a priced model."
    )


def unavailable(url: str, detail: str) -> str:
    """The message when the shared ledger did not answer and the guard fails closed."""
    return (
        f"budget ledger {url} is unreachable ({detail}); requests are refused until it answers "
        '(fail = "closed"). Check the Redis server, or set fail = "open" in [budgets] to admit unmetered.'
    )


def downgraded(policy: Policy, value: str | None, share: float, taken: Sequence[DowngradeStep]) -> str:
    """The alert of a soft budget whose used ``share`` now sends requests with its ``taken`` steps.

    Steps apply cumulatively, so the alert names every step taken (``model=gpt-4o-mini, then
    max_tokens<=512``), not only the last: the last alone hid the model a request now goes to.
    """
    return (
        f"budget '{policy.name}' ({policy.describe_scope(value)}) is at {share:.0%} of "
        f"{policy.describe_limit()}: requests now go out with "
        f"{', then '.join(step.describe() for step in taken)} (step {len(taken)} of {len(policy.downgrade)})"
    )
