"""Keep the reservations of requests still running: only one whose holder died is released by its TTL.

A reservation is released ``reservation_ttl`` seconds after it was made unless it is settled,
so that the worst case of a process that died mid-request does not hold a budget forever. A
request that runs longer than that (a long stream, a slow reasoning model) must not lose its hold
meanwhile, or what others are admitted against the freed room can take a hard budget past its
limit. :class:`Holds` knows the reservations this process holds for requests in flight (each
:class:`Reservation`, put in a dict when it is granted and popped when it is settled or released:
one dict entry per request, no object allocated) and keeps them. A reservation its holder dropped
unsettled (a leak, an abandoned request) must not be kept forever: when the dict holds the only
reference left to it (``sys.getrefcount`` at the floor measured when the dict was made, so after
the holder and any garbage cycle it sat in are gone), it is forgotten and expires. Keeping them:

* in-process ledger (:class:`~tokenomy.budgets.memory.MemoryLedger`): the ledger asks
  :meth:`Holds.alive` when a reservation comes due, under its lock, and pushes a live one back by
  the TTL; no thread, and a process that stalls (a laptop asleep) loses nothing;
* Redis (any ledger with a ``renew`` method): one daemon thread per guard, started with the first
  reservation it holds, renews every live reservation every ``min(ttl / 3, 60)`` seconds, in
  batches of :data:`BATCH` per script call. A renewal that fails (Redis down) follows the fail
  mode: it is retried at the next tick, and a reservation Redis released meanwhile is held again
  when it answers with ``fail = "closed"`` (never overspend: others are refused until it settles),
  or left released with ``fail = "open"`` (its request runs unchecked, like one admitted while the
  ledger was down; its settlement still adds what it used), with an alert either way. A batch
  Redis refuses (an error reply: out of memory, a read-only replica) counts as a failed renewal
  too, and the next batches are still sent.

Nothing here keeps a guard alive: the renewal thread holds its :class:`Holds` by a weak reference
only and ends once it is gone (or closed: the guard closes it when collected), the in-process
ledger keeps the :meth:`Holds.alive` check weakly, and one fork hook for the whole module walks a
weak set of the :class:`Holds` that exist. A guard dropped without ``close()`` leaves no thread,
ledger or connection pool behind.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Final, Protocol

from tokenomy.budgets.admission import Reservation
from tokenomy.budgets.alerts import LOG, Alert, Alerter
from tokenomy.budgets.ledger import Ledger, LedgerUnavailable
from tokenomy.budgets.memory import MemoryLedger
from tokenomy.budgets.settings import BudgetSettings, FailMode

BATCH: Final = 32
"""Reservations renewed per script call: about 0.3 ms of Redis time, which runs one script at a time,
so a renewal never holds up others' admissions for long."""
MAX_INTERVAL: Final = 60.0
"""Longest pause between renewals, so that a Redis outage shorter than ``ttl - 60`` costs nothing."""


class Renewable(Protocol):
    """A ledger whose reservations another process could release: it renews them on request."""

    def renew(
        self, held: Sequence[tuple[str, Sequence[tuple[str, int]]]], ttl: float, *, restore: bool
    ) -> list[str]:
        """Push back the expiry of ``held``; the ids already released (held again when ``restore``)."""
        ...


class Holds:
    """The reservations this process holds for requests in flight, kept alive (module docstring).

    Args:
        ledger: The guard's ledger.
        settings: Its TTL and fail mode.
        alerts: Where renewal failures and lost holds are reported.
    """

    def __init__(self, ledger: Ledger, settings: BudgetSettings, alerts: Alerter) -> None:
        self.live: dict[str, Reservation] = {}
        """Reservation id -> the reservation (the guard adds and pops entries on its hot path)."""
        self.live[""] = Reservation("", "", None, 0, None, None, 0)  # held by the dict alone
        self._floor = 0
        self._floor = self._refs("")[1]
        del self.live[""]
        self.ttl = settings.reservation_ttl
        self.interval = min(self.ttl / 3, MAX_INTERVAL)
        self.restore = settings.fail is FailMode.CLOSED
        self.renewed = 0
        """Renewals sent (one per reservation and tick)."""
        self.lost = 0
        """Reservations the ledger had released before a renewal reached it."""
        self.failures = 0
        """Renewal ticks that failed (the ledger did not answer)."""
        self._alerts = alerts
        self._url = str(getattr(ledger, "url", "ledger"))
        self._renewable: Renewable | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._start_lock = threading.Lock()
        if isinstance(ledger, MemoryLedger):
            ledger.keep_alive(self.alive, self.ttl)  # kept weakly by the ledger
        elif callable(getattr(ledger, "renew", None)):
            self._renewable = ledger  # type: ignore[assignment]  # checked just above
        _ALL.add(self)  # for the module's one fork hook (a hook per instance would never be freed)
        self.needs_thread = self._renewable is not None
        """True until the renewal thread is started (the guard checks it after each grant)."""

    def _refs(self, rid: str) -> tuple[Reservation | None, int]:
        """Reservation ``rid`` and its reference count (always read through here: the count
        includes this frame's, which :attr:`_floor` was measured with)."""
        res = self.live.get(rid)
        return res, (sys.getrefcount(res) if res is not None else 0)

    def held(self, rid: str) -> Reservation | None:
        """Reservation ``rid`` while its request holds it; None once settled, released, or dropped
        by its holder (then forgotten here, so that it expires)."""
        res, refs = self._refs(rid)
        if res is not None and refs <= self._floor:
            self.live.pop(rid, None)
            return None
        return res

    def alive(self, rid: str) -> bool:
        """True while reservation ``rid`` is held (see :meth:`held`)."""
        return self.held(rid) is not None

    def start(self) -> None:
        """Start the renewal thread (once per process; the guard calls it with its first hold)."""
        with self._start_lock:
            if self._thread is not None or self._renewable is None or self._stop.is_set():
                self.needs_thread = False
                return
            stop = self._stop
            # the thread gets a weak reference alone (a bound method would keep these holds, their
            # ledger and its pools alive for good), and is woken to end as soon as they are freed
            weakref.finalize(self, stop.set)
            self._thread = threading.Thread(
                target=_run,
                args=(weakref.ref(self), stop, self.interval),
                name="tokenomy-budget-renewal",
                daemon=True,
            )
            self._thread.start()
            self.needs_thread = False

    def renew_now(self) -> int:
        """Renew every live reservation now; the number renewed (0 when the ledger did not answer)."""
        ledger = self._renewable
        if ledger is None:
            return 0
        batch: list[tuple[str, Sequence[tuple[str, int]]]] = []
        for rid in list(self.live):
            res = self.held(rid)
            if res is None:  # settled meanwhile, or dropped unsettled: let its reservation expire
                continue
            batch.append((rid, tuple((h.key, h.amount) for h in res.held)))
        done, missed = 0, 0
        error: LedgerUnavailable | None = None
        for start in range(0, len(batch), BATCH):
            part = batch[start : start + BATCH]
            try:
                gone = ledger.renew(part, self.ttl, restore=self.restore)
            except LedgerUnavailable as exc:  # the next batch is still tried (an error reply may be
                missed += len(part)  # about one batch's keys; a Redis down fails the rest at once)
                error = exc
                continue
            done += len(part)
            if gone:
                self._gone(gone)
        if error is not None:
            self._failed(missed, error)
        self.renewed += done
        return done

    def _failed(self, count: int, exc: LedgerUnavailable) -> None:
        self.failures += 1
        minute = int(time.time() // 60)
        if self.restore:
            note = (
                f"budget ledger {self._url} did not answer a renewal of {count} reservation(s) in flight "
                f"({exc}); retried every {self.interval:g} s, and one released meanwhile is held again when "
                'it answers (fail = "closed")'
            )
            self._alerts.raise_once(Alert("renewal_failed", None, None, note, minute))
        else:
            note = (
                f"budget ledger {self._url} did not answer a renewal of {count} reservation(s) in flight "
                f"({exc}); one released meanwhile stays released and its request runs unchecked "
                '(fail = "open")'
            )
            self._alerts.raise_once(Alert("enforcement_off", None, None, note, minute))

    def _gone(self, gone: list[str]) -> None:
        self.lost += len(gone)
        minute = int(time.time() // 60)
        if self.restore:
            note = (
                f"{len(gone)} reservation(s) in flight had been released by {self._url} before a renewal "
                'reached it; held again (fail = "closed")'
            )
            self._alerts.raise_once(Alert("renewal_failed", None, None, note, minute))
            return
        for rid in gone:  # not held any more: not renewed again
            self.live.pop(rid, None)
        note = (
            f"{len(gone)} reservation(s) in flight had been released by {self._url} before a renewal "
            'reached it; their requests run unchecked (fail = "open"), their settlements still count'
        )
        self._alerts.raise_once(Alert("enforcement_off", None, None, note, minute))

    def _forked(self) -> None:
        """A forked child holds none of its parent's requests and has no renewal thread."""
        self.live.clear()  # the same dict: the guard keeps a reference to it
        self._thread = None
        self._stop = threading.Event()
        self._start_lock = threading.Lock()
        self.needs_thread = self._renewable is not None

    def close(self, *, wait: bool = True) -> None:
        """Stop renewing (the guard is closing): what is still held expires after the TTL.

        Args:
            wait: Wait (up to 5 s) for a renewal under way to end; False when the guard is being
                collected (a finalizer must not block whichever thread runs the collection).
        """
        self._stop.set()
        self.needs_thread = False
        self.live.clear()
        thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)


_ALL: Final[weakref.WeakSet[Holds]] = weakref.WeakSet()
"""Every :class:`Holds` of this process, weakly: the fork hook's list."""


def _run(ref: weakref.ref[Holds], stop: threading.Event, interval: float) -> None:
    """The renewal thread: renew each tick while the holds exist and are not closed."""
    while not stop.wait(interval):
        holds = ref()
        if holds is None:
            return
        try:
            holds.renew_now()
        except Exception as exc:  # never let the thread die: the next tick tries again
            LOG.warning("tokenomy budget: renewing reservations failed (%r)", exc)
        del holds  # no strong reference while waiting


def _after_fork() -> None:
    """A forked child runs none of its parent's requests (their holders may sit in frames of threads
    it does not have): each :class:`Holds` forgets them, and their copies expire after the TTL."""
    for holds in list(_ALL):
        holds._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
