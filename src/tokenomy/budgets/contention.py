"""Waiting out contention: a hard budget blocked only by reservations in flight waits for them.

A reservation holds the worst case of a request (its ``max_tokens``) until the request settles,
usually far below it. With many requests in flight against a small budget, the room left can be
held entirely by them while the budget itself is far from spent: refusing then would refuse
requests the budget can pay for. So when an account refuses a request *only* because of open
reservations (without them the smallest useful answer would fit), the guard waits for them to
settle and asks again, with a backoff (5 ms doubling to 100 ms, so a shared ledger is not asked
in a busy loop), until the request fits, the reservations are gone, or ``[budgets]
contention_wait`` seconds have passed; then it refuses as before, saying the budget is held by
requests in flight. An account whose *spent* units leave no room refuses at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from typing import Any, Final

from tokenomy.budgets.accounts import Account
from tokenomy.budgets.ledger import Granted, LedgerUnavailable, Line, Missing, Outcome, Refused
from tokenomy.budgets.settings import BudgetSettings

FIRST_DELAY: Final = 0.005
"""Seconds before the first retry."""
MAX_DELAY: Final = 0.1
"""The longest pause between two retries."""


def held_only(line: Line, refused: Refused, least: int) -> bool:
    """True when ``line`` refused only because of open reservations.

    Args:
        line: The account's line that refused.
        refused: The ledger's answer (the account's spent and reserved units).
        least: The fewest output tokens worth granting.

    Returns:
        Whether the smallest useful answer would fit if nothing were reserved.
    """
    return refused.reserved > 0 and line.fit(refused.spent, 0, least) >= least


class Backoff:
    """The pauses of one wait: doubling from :data:`FIRST_DELAY` to :data:`MAX_DELAY`, bounded.

    Args:
        limit: Seconds the whole wait may last (0 or less: no wait at all).
        clock: Monotonic seconds (injectable for tests).
    """

    def __init__(self, limit: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._deadline: float | None = None
        self._delay = FIRST_DELAY
        self.waited = False

    def pause(self) -> float | None:
        """Seconds to sleep before the next retry, or None when the wait is over."""
        if self._limit <= 0:
            return None
        now = self._clock()
        if self._deadline is None:
            self._deadline = now + self._limit
        left = self._deadline - now
        if left <= 0:
            return None
        pause = min(self._delay, left)
        self._delay = min(self._delay * 2, MAX_DELAY)
        self.waited = True
        return pause


def retried(
    accounts: list[Account],
    rid: str,
    lines: Sequence[Line],
    asked: tuple[int, int],
    outcome: Outcome,
    *,
    settings: BudgetSettings,
) -> Generator[tuple[Any, ...], Any, tuple[Granted | Refused, bool]]:
    """After a first ``outcome`` that is not a grant: rebuild missing accounts, then, while only open
    reservations block a hard account, wait and reserve again.

    It yields the guard's ledger operations (``("rebuild", accounts)``, ``("wait", seconds)``,
    ``("reserve", rid, lines, want, least, ttl)``) and returns the last outcome and whether a wait
    was spent on it; a refused attempt reserves nothing, so retries reuse the id.

    Raises:
        LedgerUnavailable: The accounts were missing again right after being rebuilt.
    """
    want, least = asked
    backoff: Backoff | None = None
    ttl = settings.reservation_ttl
    while True:
        if isinstance(outcome, Missing):
            yield ("rebuild", [accounts[i] for i in outcome.indexes])
            outcome = yield ("reserve", rid, lines, want, least, ttl)
            if isinstance(outcome, Missing):
                raise LedgerUnavailable("accounts vanished while being rebuilt")
        if isinstance(outcome, Granted) or not held_only(lines[outcome.index], outcome, least):
            return outcome, False
        if backoff is None:
            backoff = Backoff(settings.contention_wait)
        pause = backoff.pause()
        if pause is None:
            return outcome, backoff.waited
        yield ("wait", pause)
        outcome = yield ("reserve", rid, lines, want, least, ttl)
