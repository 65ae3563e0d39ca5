"""Budget status: limit, spent, reserved, remaining, and when the budget runs out at the current burn rate.

For a calendar policy (day, week, month) there is one row per scope value that spent in the
current window (one row for a global policy). A per-value policy (no ``match``) none of whose values
spent yet has one row with no value: a row per value is only known once the value spends, and
showing it as ``(unattributed)`` named an account nobody had charged. ``spent`` is the recorded
spend in the store of the LLM calls that started between the window's start and ``now`` (calls
recorded with a later start do not count, so a status ``--at`` a past time is the status then);
charges (non-LLM costs recorded with ``tokenomy.charge``) are not in it: the guard admits and
settles LLM requests only, and a budget's account is rebuilt from the same calls. ``reserved`` is
what requests in flight hold in the live ledger, when one is reachable (a Redis ledger; an
in-process ledger lives in the gateway's memory and is not visible here); it is the ledger's state
when asked, whatever ``now`` is.

Projection: the burn rate is the window's spend over the time elapsed since the window started,
``rate = spent / (now - start)``; at that rate what remains lasts ``remaining / rate``, so the
projected exhaustion is ``now + remaining / rate``. It is None when nothing was spent yet, and
flagged when it falls after the window resets (the budget will not run out this window).
Session and request windows have no calendar and no projection. A session window has one row per
scope value and session with a call in the day before ``now`` (the 20 that spent most): the
session's whole spend by that scope value until ``now``, which is what its ledger account counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

from tokenomy.budgets.accounts import account_key, session_window
from tokenomy.budgets.ledger import Ledger, LedgerUnavailable
from tokenomy.budgets.messages import amount
from tokenomy.budgets.policy import CALENDAR_WINDOWS, Policy, Scope, Window
from tokenomy.budgets.spend import Spend, StoreSpend
from tokenomy.budgets.windows import Span, span_of

SESSION_LOOKBACK: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class StatusRow:
    """One budget account's status.

    Attributes:
        policy: The policy.
        value: The scope value (None: global, a request window, or the one row of a per-value policy
            none of whose values spent yet).
        span: The current window (None: session and request windows).
        spent: Recorded spend of the LLM calls from the window's start until ``now`` (in the policy's
            unit; charges are not in it).
        reserved: Held by requests in flight (None: not known here).
        remaining: ``limit - spent - reserved`` (reserved taken as 0 when unknown).
        calls: The recorded calls ``spent`` sums.
        unpriced: Of those, calls without a price (they add nothing to dollar spend).
        burn_per_day: Spend per day so far in the window (None: nothing elapsed or spent).
        exhausted_at: Projected exhaustion (None: nothing spent yet).
        session: The session id, for a session window's row (its account is the scope value's
            spend in that session).
    """

    policy: Policy
    value: str | None
    span: Span | None
    spent: Decimal
    reserved: Decimal | None
    remaining: Decimal
    calls: int
    unpriced: int
    burn_per_day: Decimal | None
    exhausted_at: datetime | None
    session: str | None = None

    @property
    def none_spent(self) -> bool:
        """True for the one row of a per-value policy none of whose values spent in the window yet."""
        return self.value is None and self.policy.scope is not Scope.GLOBAL and self.policy.match is None

    @property
    def used_share(self) -> float:
        """(spent + reserved) / limit."""
        return float((self.spent + (self.reserved or 0)) / self.policy.limit)

    @property
    def exhausts_this_window(self) -> bool:
        """True when the projected exhaustion falls before the window resets."""
        if self.exhausted_at is None:
            return False
        return self.span is None or self.exhausted_at < self.span.end


def project(
    spent: Decimal, remaining: Decimal, start: datetime, now: datetime
) -> tuple[Decimal | None, datetime | None]:
    """Burn rate per day and projected exhaustion (see the module docstring).

    Args:
        spent: Spend so far in the window.
        remaining: What is left.
        start: When the window started.
        now: The time of the projection.
    """
    elapsed = Decimal((now - start).total_seconds())
    if elapsed <= 0 or spent <= 0:
        return None, None
    per_second = spent / elapsed
    if remaining <= 0:
        return per_second * 86_400, now
    return per_second * 86_400, now + timedelta(seconds=float(remaining / per_second))


def status(
    policies: Sequence[Policy],
    spend: StoreSpend,
    *,
    now: datetime | None = None,
    ledger: Ledger | None = None,
) -> list[StatusRow]:
    """The status of every account of ``policies`` (see the module docstring)."""
    now = now or datetime.now(UTC)
    rows: list[StatusRow] = []
    for policy in policies:
        if policy.window in CALENDAR_WINDOWS:
            span = span_of(policy.window, policy.zone, now)
            found = _selected(policy, spend.by_value(policy, span.start, now))  # now: inside the span
            rows += [_row(policy, s, span, now, ledger) for s in found]
        elif policy.window is Window.SESSION:
            rows += _sessions(policy, spend, now, ledger)
        else:
            rows.append(_row(policy, Spend(policy.match, Decimal(0), 0, 0, 0, None), None, now, None))
    return rows


def _selected(policy: Policy, found: list[Spend]) -> list[Spend]:
    if policy.scope is Scope.GLOBAL:
        return found
    if policy.match is not None:
        mine = [s for s in found if s.value == policy.match]
        return mine or [Spend(policy.match, Decimal(0), 0, 0, 0, None)]
    return found or [Spend(None, Decimal(0), 0, 0, 0, None)]


def _row(
    policy: Policy,
    found: Spend,
    span: Span | None,
    now: datetime,
    ledger: Ledger | None,
    *,
    session: str | None = None,
) -> StatusRow:
    value = None if policy.scope is Scope.GLOBAL else found.value
    spent = found.amount(policy.unit)
    window = span.id if span is not None else None if session is None else session_window(session)
    if value is None and policy.scope is not Scope.GLOBAL:
        ledger = None  # the row standing for every value (none spent yet) has no account of its own
    reserved = _reserved(policy, value, window, ledger)
    remaining = policy.limit - spent - (reserved or 0)
    burn, exhausted = project(spent, remaining, span.start, now) if span is not None else (None, None)
    return StatusRow(
        policy, value, span, spent, reserved, remaining, found.calls, found.unpriced, burn, exhausted, session
    )


def _reserved(policy: Policy, value: str | None, window: str | None, ledger: Ledger | None) -> Decimal | None:
    if ledger is None or window is None:
        return None
    key = account_key(policy.name, value, window)  # the key the gateway's guard charges
    try:
        found = ledger.usage([key])[0]
    except LedgerUnavailable:
        return None
    return amount(found[1], policy.unit) if found is not None else Decimal(0)


def _sessions(policy: Policy, spend: StoreSpend, now: datetime, ledger: Ledger | None) -> list[StatusRow]:
    """The session accounts with a call in the day before ``now``: one per scope value and session (a
    session's spend counts against each scope value's own account, as the guard charges it)."""
    found = spend.by_session(policy, now - SESSION_LOOKBACK, now)
    if not found:
        return [_row(policy, Spend(policy.match, Decimal(0), 0, 0, 0, None), None, now, None)]
    return [_row(policy, s, None, now, ledger, session=sid) for sid, s in found]
