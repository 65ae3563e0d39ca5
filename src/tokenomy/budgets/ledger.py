"""What a budget ledger is: accounts of spent and reserved units, changed atomically, all or nothing.

A ledger knows nothing of policies, prices or time zones. It holds *accounts* (one per policy,
scope value and window, named by a string key), each with ``spent`` and ``reserved`` integer
units (nano-dollars for dollar budgets, tokens for token budgets), and the open reservations
with their expiry. The guard (:mod:`tokenomy.budgets.guard`) turns a request into one
:class:`Line` per account, and the ledger does, atomically across all of them:

* **reserve**: for every hard line, the most output tokens that still fit
  (``fixed + ceil(n * per_token_milli / 1000) <= limit - spent - reserved``); the grant is the
  smallest of these and the requested max_tokens; below ``min_tokens`` nothing is reserved and
  the tightest line is reported; otherwise every line reserves its cost of the granted tokens;
* **settle**: each account's reservation is replaced by the actual units (a reservation that
  expired meanwhile was already released; the actual units are still added);
* **seed**: an account that does not exist is created with a known spend (rebuilt from the
  store), never overwriting one that does.

An account that does not exist is reported (:class:`Missing`) instead of being created at zero,
so that a restarted ledger (a Redis restart, a new process) never forgets recorded spend.
Two implementations: :mod:`tokenomy.budgets.memory` (one process) and
:mod:`tokenomy.budgets.redis_ledger` (many processes sharing Redis).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(slots=True)
class Line:
    """One account's part of a reservation.

    Attributes:
        key: The account.
        limit: The account's limit, in units.
        fixed: Units the request costs whatever its output (its input, per-request fees).
        per_token_milli: Units per 1000 output tokens (so sub-unit prices stay integers).
        hard: Whether the line can refuse or shrink the request (soft lines only record).
        expire_at: Unix seconds after which the account may be dropped (0: never).
    """

    key: str
    limit: int
    fixed: int
    per_token_milli: int
    hard: bool
    expire_at: int = 0

    def cost(self, tokens: int) -> int:
        """Units of a request producing ``tokens`` output tokens (rounded up)."""
        return self.fixed + -(-tokens * self.per_token_milli // 1000)

    def fit(self, spent: int, reserved: int, want: int) -> int:
        """The most output tokens (at most ``want``) that fit the room left; -1 when not even zero."""
        room = self.limit - spent - reserved
        if room < self.fixed:
            return -1
        if self.per_token_milli <= 0:
            return want
        return min(want, (room - self.fixed) * 1000 // self.per_token_milli)


@dataclass(slots=True)
class Granted:
    """A reservation was made for ``max_tokens`` output tokens.

    Attributes:
        max_tokens: The output tokens granted (at most the requested ones).
        amounts: Units reserved on each line, in line order.
        usage: ``(spent, reserved)`` of each account right after the reservation.
    """

    max_tokens: int
    amounts: tuple[int, ...]
    usage: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Refused:
    """Nothing was reserved: line ``index`` leaves room for only ``fit`` output tokens (-1: none)."""

    index: int
    spent: int
    reserved: int
    fit: int


@dataclass(frozen=True, slots=True)
class Missing:
    """Nothing was reserved: the accounts of these lines do not exist (seed them, then retry)."""

    indexes: tuple[int, ...]


Outcome = Granted | Refused | Missing


class LedgerUnavailable(Exception):  # noqa: N818  (a condition the guard handles, not a user error)
    """The ledger's backing service did not answer; the guard applies its fail mode."""


class Ledger(Protocol):
    """An atomic ledger of budget accounts (see the module docstring)."""

    def reserve(self, rid: str, lines: Sequence[Line], want: int, least: int, ttl: float) -> Outcome:
        """Reserve on every line at once, or on none.

        Args:
            rid: The reservation's id (unique).
            lines: One per account.
            want: The output tokens asked for.
            least: The fewest output tokens worth granting (a smaller grant is a refusal).
            ttl: Seconds after which an unsettled reservation is released.

        Raises:
            LedgerUnavailable: The ledger's backing service did not answer.
        """
        ...

    def settle(self, rid: str, keys: Sequence[str], actual: Sequence[int]) -> None:
        """Replace reservation ``rid`` on each account by the actual units (0: a release)."""
        ...

    def seed(self, key: str, spent: int, expire_at: int) -> None:
        """Create account ``key`` with ``spent`` units, unless it exists."""
        ...

    def usage(self, keys: Sequence[str]) -> list[tuple[int, int] | None]:
        """``(spent, reserved)`` of each account, None for one that does not exist."""
        ...

    async def areserve(self, rid: str, lines: Sequence[Line], want: int, least: int, ttl: float) -> Outcome:
        """:meth:`reserve` for asyncio code."""
        ...

    async def asettle(self, rid: str, keys: Sequence[str], actual: Sequence[int]) -> None:
        """:meth:`settle` for asyncio code."""
        ...

    async def aseed(self, key: str, spent: int, expire_at: int) -> None:
        """:meth:`seed` for asyncio code."""
        ...

    async def ausage(self, keys: Sequence[str]) -> list[tuple[int, int] | None]:
        """:meth:`usage` for asyncio code."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def grant(
    lines: Sequence[Line], usage: Sequence[tuple[int, int]], want: int, least: int
) -> Granted | Refused:
    """Decide a reservation from the accounts' current usage (the rule every ledger applies).

    Args:
        lines: The lines, one per account.
        usage: ``(spent, reserved)`` of each account, in line order.
        want: The output tokens asked for.
        least: The fewest output tokens worth granting.
    """
    # plain loops with Line.fit and Line.cost inlined: this runs under the ledger's lock
    tokens, tightest = want, -1
    for i, line in enumerate(lines):
        if line.hard:
            spent, reserved = usage[i]
            room = line.limit - spent - reserved - line.fixed
            if room < 0:
                fit = -1
            elif line.per_token_milli <= 0:
                fit = want
            else:
                fit = room * 1000 // line.per_token_milli
                fit = want if fit > want else fit
            if fit < tokens:
                tokens, tightest = fit, i
    if tokens < least:
        spent, reserved = usage[tightest]
        return Refused(tightest, spent, reserved, tokens)
    amounts = []
    after = []
    for i, line in enumerate(lines):
        amount = line.fixed + -(-tokens * line.per_token_milli // 1000)
        amounts.append(amount)
        spent, reserved = usage[i]
        after.append((spent, reserved + amount))
    return Granted(tokens, tuple(amounts), tuple(after))
