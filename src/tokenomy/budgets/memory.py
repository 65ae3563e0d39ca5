"""The in-process ledger: accounts in a dict, every change under one lock.

For one gateway process or one SDK process. A reservation checks and changes every account it
touches while holding the lock, so concurrent threads (and asyncio tasks, which never yield
inside it) cannot both take the last of a budget. Unsettled reservations are released when their
time is up: expiries sit in a heap, and every reserve first pops the ones that are due. Accounts
whose window has long ended are dropped the same way; an account whose expiry a later reservation
pushed back (a session window lives a week after its *last* reservation) is kept until then. A
heap entry is only (time, id): the lines of a reservation still open sit in a dict that its
settlement empties, so a settled reservation leaves nothing behind that the garbage collector has
to walk while it waits for its expiry time.

A reservation whose request is still running is not released when it comes due: the guard that
holds it registers a check (:meth:`MemoryLedger.keep_alive`), asked only for a reservation that is
due and still open, and such a reservation's expiry is pushed back by the guard's TTL instead.
A reservation whose holder was dropped unsettled (a leak, an abandoned request) is still released.
A check that is a bound method is kept by a weak reference (:class:`weakref.WeakMethod`), so that a
ledger shared by many guards does not keep each one's state alive: a dead one is dropped.
"""

from __future__ import annotations

import heapq
import inspect
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence

from tokenomy.budgets.ledger import Granted, LedgerUnavailable, Line, Missing, Outcome, grant

_FORKS: list[int] = [0]
"""How many forks led to this process (a child counts one more than its parent): no system call
to tell, on admission's path, whether a ledger was made in another process."""


_WARNED: list[bool] = []
"""Not empty once this process logged that it refuses a ledger made before its fork."""


def _forked() -> None:
    _FORKS[0] += 1
    _WARNED.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


class _Account:
    __slots__ = ("expire_at", "holds", "reserved", "spent")

    def __init__(self, spent: int, expire_at: int) -> None:
        self.spent = spent
        self.reserved = 0
        self.holds: dict[str, int] = {}
        self.expire_at = expire_at


class _Strong:
    """A strong reference with the call shape of a weak one (for a ``keep_alive`` plain function)."""

    __slots__ = ("_alive",)

    def __init__(self, alive: Callable[[str], bool]) -> None:
        self._alive = alive

    def __call__(self) -> Callable[[str], bool]:
        return self._alive


class MemoryLedger:
    """An atomic in-memory ledger (see the module docstring).

    Args:
        create_missing: True creates unknown accounts at zero spend instead of reporting them
            missing (for a guard with no store to rebuild spend from).
        clock: Seconds since the epoch (injectable for tests).
    """

    def __init__(self, *, create_missing: bool = False, clock: Callable[[], float] = time.time) -> None:
        self._forks = _FORKS[0]  # the process it was made in (the count of forks its line went through)
        self._lock = threading.Lock()
        self._accounts: dict[str, _Account] = {}
        self._expiries: list[tuple[float, str]] = []
        self._lines_of: dict[str, Sequence[Line]] = {}
        self._drops: list[tuple[int, str]] = []
        self._create_missing = create_missing
        self._clock = clock
        self._keepers: tuple[tuple[Callable[[], Callable[[str], bool] | None], float], ...] = ()
        """(check's reference, its TTL): a weak one for a bound method, else one that always returns it."""

    def keep_alive(self, alive: Callable[[str], bool], ttl: float) -> None:
        """Keep a due reservation for ``ttl`` more seconds while ``alive(rid)`` says its request runs.

        Called once by each guard using this ledger; ``alive`` is asked under the ledger's lock,
        only for reservations that are due and unsettled, so it must be quick and never block. A
        bound method is kept weakly (its object, the guard's holds, is not kept alive by the ledger:
        once it is collected the check is dropped); a plain function is kept.
        """
        if ttl <= 0:
            raise ValueError(f"keep_alive: ttl must be positive, got {ttl!r}")
        ref: Callable[[], Callable[[str], bool] | None]
        ref = weakref.WeakMethod(alive) if inspect.ismethod(alive) else _Strong(alive)
        with self._lock:
            live = tuple(k for k in self._keepers if k[0]() is not None)
            self._keepers = (*live, (ref, ttl))

    def reserve(self, rid: str, lines: Sequence[Line], want: int, least: int, ttl: float) -> Outcome:
        """Reserve on every line at once, or on none (see :class:`tokenomy.budgets.ledger.Ledger`).

        Raises:
            LedgerUnavailable: The ledger was made before this process was forked from its maker:
                every process would count its own copy of every budget (four workers forked from
                one that made it took four times the limit); the guard's fail mode answers.
        """
        if self._forks != _FORKS[0]:
            if not _WARNED:
                _WARNED.append(True)  # once a process: every refusal says it too
                logging.getLogger("tokenomy.budgets").warning(
                    "tokenomy budget: an in-process ledger made before this process was forked is "
                    "refused in it (each process would count its own copy of every budget); make "
                    "the guard after the fork, or use a Redis ledger"
                )
            raise LedgerUnavailable(
                "this in-process ledger was made before the process forked, and each process would "
                "count its own copy of every budget; make the guard in each process after the fork, "
                'or share the budgets through a Redis ledger ([budgets] ledger = "redis://...")'
            )
        now = self._clock()
        # plain loops, no comprehension, zip or ``with``: this is the admission's critical section
        lock = self._lock
        lock.acquire()
        try:
            if (self._expiries and self._expiries[0][0] <= now) or (self._drops and self._drops[0][0] <= now):
                self._expire(now)
            accounts = self._accounts_of(lines)
            if isinstance(accounts, Missing):
                return accounts
            usage = []
            for account in accounts:
                usage.append((account.spent, account.reserved))
            decision = grant(lines, usage, want, least)
            if type(decision) is Granted:
                for i, account in enumerate(accounts):
                    amount = decision.amounts[i]
                    account.reserved += amount
                    account.holds[rid] = amount
                    if account.expire_at and lines[i].expire_at > account.expire_at:
                        account.expire_at = lines[i].expire_at  # the drop already queued moves later
                # the guard passes the same tuple of lines for the same accounts: kept as is
                self._lines_of[rid] = lines if type(lines) is tuple else tuple(lines)
                heapq.heappush(self._expiries, (now + ttl, rid))
            return decision
        finally:
            lock.release()

    def _accounts_of(self, lines: Sequence[Line]) -> list[_Account] | Missing:
        """The lines' accounts (the usual case: all exist), else :meth:`_accounts_for`."""
        found = []
        get = self._accounts.get
        for line in lines:
            account = get(line.key)
            if account is None:
                return self._accounts_for(lines)
            found.append(account)
        return found

    def _accounts_for(self, lines: Sequence[Line]) -> list[_Account] | Missing:
        accounts, missing = [], []
        for i, line in enumerate(lines):
            account = self._accounts.get(line.key)
            if account is None:
                if not self._create_missing:
                    missing.append(i)
                    continue
                account = self._open(line.key, 0, line.expire_at)
            accounts.append(account)
        return Missing(tuple(missing)) if missing else accounts

    def _open(self, key: str, spent: int, expire_at: int) -> _Account:
        account = self._accounts[key] = _Account(spent, expire_at)
        if expire_at:
            heapq.heappush(self._drops, (expire_at, key))
        return account

    def _expire(self, now: float) -> None:
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            _, rid = heapq.heappop(expiries)
            if self._keepers and rid in self._lines_of:
                ttl = self._kept(rid)
                if ttl:  # its request still runs: hold on (ttl > 0, so this loop ends)
                    heapq.heappush(expiries, (now + ttl, rid))
                    continue
            for line in self._lines_of.pop(rid, ()):
                account = self._accounts.get(line.key)
                amount = account.holds.pop(rid, None) if account is not None else None
                if account is not None and amount is not None:
                    account.reserved -= amount
        drops = self._drops
        while drops and drops[0][0] <= now:
            _, key = heapq.heappop(drops)
            account = self._accounts.get(key)
            if account is not None and account.expire_at > now:
                heapq.heappush(drops, (account.expire_at, key))
            else:
                self._accounts.pop(key, None)

    def _kept(self, rid: str) -> float:
        """The TTL of the first guard saying ``rid``'s request still runs (0: none does); the checks of
        guards collected meanwhile are dropped (called under the lock)."""
        found, dead = 0.0, False
        for ref, ttl in self._keepers:
            alive = ref()
            if alive is None:
                dead = True
            elif not found and alive(rid):
                found = ttl
        if dead:
            self._keepers = tuple(k for k in self._keepers if k[0]() is not None)
        return found

    def settle(self, rid: str, keys: Sequence[str], actual: Sequence[int]) -> None:
        """Replace reservation ``rid`` by the actual units on each account that exists."""
        if len(keys) != len(actual):
            raise ValueError(f"settle({rid!r}): {len(keys)} accounts but {len(actual)} amounts")
        lock = self._lock
        lock.acquire()
        try:
            self._lines_of.pop(rid, None)
            get = self._accounts.get
            for i, key in enumerate(keys):
                account = get(key)
                if account is not None:
                    amount = account.holds.pop(rid, None)
                    if amount is not None:
                        account.reserved -= amount
                    account.spent += actual[i]
        finally:
            lock.release()

    def seed(self, key: str, spent: int, expire_at: int) -> None:
        """Create account ``key`` with ``spent`` units unless it exists."""
        with self._lock:
            if key not in self._accounts:
                self._open(key, spent, expire_at)

    def usage(self, keys: Sequence[str]) -> list[tuple[int, int] | None]:
        """``(spent, reserved)`` of each account (None: it does not exist)."""
        with self._lock:
            self._expire(self._clock())
            found = [self._accounts.get(key) for key in keys]
            return [None if a is None else (a.spent, a.reserved) for a in found]

    async def areserve(self, rid: str, lines: Sequence[Line], want: int, least: int, ttl: float) -> Outcome:
        """:meth:`reserve` (it never waits on I/O)."""
        return self.reserve(rid, lines, want, least, ttl)

    async def asettle(self, rid: str, keys: Sequence[str], actual: Sequence[int]) -> None:
        """:meth:`settle`."""
        self.settle(rid, keys, actual)

    async def aseed(self, key: str, spent: int, expire_at: int) -> None:
        """:meth:`seed`."""
        self.seed(key, spent, expire_at)

    async def ausage(self, keys: Sequence[str]) -> list[tuple[int, int] | None]:
        """:meth:`usage`."""
        return self.usage(keys)

    def close(self) -> None:
        """Nothing to release."""
