"""Settlement: a reservation replaced by what its request used, or released when it used nothing.

:class:`Settling` is the half of :class:`~tokenomy.budgets.guard.BudgetGuard` that ends a request
(settling twice counts once, and a settled reservation is no longer kept alive past its TTL:
:mod:`tokenomy.budgets.renewal`); the guard's admission is the other half.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from tokenomy.budgets.admission import Downgrade, Reservation, Settlement
from tokenomy.budgets.charges import Actual, charged
from tokenomy.budgets.ledger import Ledger
from tokenomy.budgets.prices import PriceCards


class Settling:
    """Settlement of the reservations a guard granted (the guard sets the attributes below)."""

    ledger: Ledger
    _cards: PriceCards
    _live: dict[str, Any]
    _utc_date: Callable[[], date]

    def settle(self, reservation: Reservation | Downgrade, actual: Actual) -> Settlement:
        """Replace a reservation by what the request used (settling twice counts once).

        Args:
            reservation: What :meth:`reserve` returned.
            actual: A :class:`Usage` (priced here), a :class:`Cost` or dollars, or the output tokens
                produced (an int; the input is the counted input). A cut stream settles what it used.
        """
        res = reservation.reservation if isinstance(reservation, Downgrade) else reservation
        settlement, units = charged(res, actual, self._cards, self._utc_date)
        if self._closed(res):
            self.ledger.settle(res.id, [h.key for h in res.held], units)
        return settlement

    async def asettle(self, reservation: Reservation | Downgrade, actual: Actual) -> Settlement:
        """:meth:`settle` for asyncio code."""
        res = reservation.reservation if isinstance(reservation, Downgrade) else reservation
        settlement, units = charged(res, actual, self._cards, self._utc_date)
        if self._closed(res):
            await self.ledger.asettle(res.id, [h.key for h in res.held], units)
        return settlement

    def release(self, reservation: Reservation | Downgrade) -> None:
        """Free a reservation whose request used nothing (refused upstream, never sent)."""
        res = reservation.reservation if isinstance(reservation, Downgrade) else reservation
        if self._closed(res):
            self.ledger.settle(res.id, [h.key for h in res.held], [0] * len(res.held))

    async def arelease(self, reservation: Reservation | Downgrade) -> None:
        """:meth:`release` for asyncio code."""
        res = reservation.reservation if isinstance(reservation, Downgrade) else reservation
        if self._closed(res):
            await self.ledger.asettle(res.id, [h.key for h in res.held], [0] * len(res.held))

    def _closed(self, res: Reservation) -> bool:
        """Mark it settled and stop keeping it; True when the ledger has something to settle."""
        if not res.close():
            return False
        self._live.pop(res.id, None)
        return bool(res.held)
