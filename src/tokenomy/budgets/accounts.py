"""Ledger accounts: which account of which policy a request is charged to.

An account is one policy, one value of its scope and one window: ``team-monthly:search:m2026-03``
(:func:`account_key`; a session window's key ends in ``s`` and the session id: ``chat:search:sa1b2``).
A policy with ``match`` has one value; without it each value has its own account, and requests
that do not name one (no team header) share the ``(unattributed)`` account, so leaving the field
out does not escape a per-team budget. A session window without a session id is charged as a
request of its own (the budget caps that one request).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from tokenomy.budgets.admission import BudgetRequest
from tokenomy.budgets.policy import CALENDAR_WINDOWS, Policy, Scope, Window
from tokenomy.budgets.windows import Span, SpanCache

UNATTRIBUTED: Final = "(unattributed)"
SESSION_IDLE: Final = 7 * 24 * 3600
"""Seconds a session window's account lives after its last reservation."""
NO_MATCH: Final = object()
_CACHE_MAX: Final = 100_000


@dataclass(frozen=True, slots=True)
class Account:
    """One account: a policy, a scope value, and a window (calendar span or session).

    Attributes:
        key: The ledger key.
        policy: The policy.
        value: The scope value (None for global policies).
        span: The calendar window, for day, week and month policies.
        session: The session id, for session windows.
    """

    key: str
    policy: Policy
    value: str | None
    span: Span | None = None
    session: str | None = None

    def expire_at(self, now: float) -> int:
        """Unix seconds after which the ledger may drop the account."""
        if self.span is not None:
            return self.span.expire_at
        return int(now) + SESSION_IDLE

    @property
    def resets_at(self) -> datetime | None:
        """When the window resets (None for session windows)."""
        return self.span.end if self.span is not None else None


def session_window(session_id: str) -> str:
    """The window part of a session-window account's key (:func:`account_key`)."""
    return f"s{session_id}"


def account_key(policy: str, value: str | None, window: str) -> str:
    """The ledger key of an account: ``policy:value:window`` (``*`` for a global policy's value; the
    window is a calendar span's id or ``s`` and the session id).

    Scope values and session ids are free text, so a ``:`` in them made keys collide (team ``x:sy``
    in session ``z`` and team ``x`` in session ``y:sz`` both gave ``p:x:sy:sz``, and the sorted set
    of a Redis account's open reservations, its key plus ``:x``, could be another account's key).
    When no part holds a ``:`` the key is as it always was, so the accounts of such values live on
    in a Redis ledger across an upgrade. Otherwise each part is percent-escaped (``%`` and ``:``)
    and an empty part follows the policy name: ``p::x%3Asy:sz``. A plain key holds two ``:``, an
    escaped one three and its parts none, so no two accounts share a key; nor is an escaped key a
    plain one's sorted set, whose last part is ``x`` where an escaped key has a window.
    """
    shown = "*" if value is None else value
    if ":" in policy or ":" in shown or ":" in window:
        return f"{_escaped(policy)}::{_escaped(shown)}:{_escaped(window)}"
    return f"{policy}:{shown}:{window}"


def _escaped(part: str) -> str:
    return part.replace("%", "%25").replace(":", "%3A")


def _getter(scope: Scope) -> Callable[[BudgetRequest], str | None]:
    if scope is Scope.SESSION:
        return operator.attrgetter("session_id")
    return operator.attrgetter(f"attribution.{scope.value}")


class Matcher:
    """Finds a policy's account for a request (precomputed once per policy)."""

    __slots__ = ("_cache", "_get", "_spans", "policy")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._get = None if policy.scope is Scope.GLOBAL else _getter(policy.scope)
        self._spans = SpanCache(policy.window, policy.zone) if policy.window in CALENDAR_WINDOWS else None
        # scope value -> (window start, window end, account): the current window's account, found
        # without building a key while the clock stays inside the window
        self._cache: dict[str | None, tuple[float, float, Account]] = {}

    @property
    def getter(self) -> Callable[[BudgetRequest], str | None] | None:
        """What reads the policy's raw scope value from a request (None for a global policy)."""
        return self._get

    def value(self, request: BudgetRequest) -> str | object | None:
        """The scope value charged, None for global, or :data:`NO_MATCH` when the policy does not apply."""
        if self._get is None:
            return None
        value = self._get(request) or None
        match = self.policy.match
        if match is not None:
            return value if value == match else NO_MATCH
        return UNATTRIBUTED if value is None else value

    def account(self, request: BudgetRequest, now: float) -> Account | object | None:
        """The request's account; None: the policy caps the request alone; NO_MATCH: it does not apply."""
        # :meth:`value` inlined: this runs for every policy on every admission
        get = self._get
        scope_value: str | None = None
        if get is not None:
            found = get(request) or None
            match = self.policy.match
            if match is not None:
                if found != match:
                    return NO_MATCH
                scope_value = found
            else:
                scope_value = UNATTRIBUTED if found is None else found
        if self._spans is not None:
            cached = self._cache.get(scope_value)
            if cached is not None and cached[0] <= now < cached[1]:
                return cached[2]
            return self._calendar_account(self._spans, scope_value, now)
        if self.policy.window is Window.SESSION and request.session_id:
            key = account_key(self.policy.name, scope_value, session_window(request.session_id))
            return Account(key, self.policy, scope_value, session=request.session_id)
        return None

    def _calendar_account(self, spans: SpanCache, scope_value: str | None, now: float) -> Account:
        """The account of the calendar window holding ``now`` (cached until the window ends)."""
        span = spans.at(now)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        account = Account(
            account_key(self.policy.name, scope_value, span.id), self.policy, scope_value, span=span
        )
        self._cache[scope_value] = (span.start.timestamp(), span.end.timestamp(), account)
        return account
