"""Budget test helpers: requests, calls with a known cost, an alerter that remembers, a dead ledger."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from tokenomy.budgets import BudgetRequest, Reservation
from tokenomy.budgets.alerts import Alert, Alerter
from tokenomy.budgets.ledger import LedgerUnavailable, Line, Outcome
from tokenomy.schema import Attribution, Call, Cost, Usage


def ask(
    input_tokens: int = 1000,
    max_tokens: int | None = 1024,
    team: str | None = None,
    session: str | None = None,
) -> BudgetRequest:
    """A gpt-4o-mini request of ``input_tokens`` that may write ``max_tokens``."""
    return BudgetRequest(
        model="gpt-4o-mini",
        provider="openai",
        input_tokens=input_tokens,
        max_tokens=max_tokens,
        attribution=Attribution(team=team),
        session_id=session,
    )


def admitted(found: object) -> Reservation:
    """``found``, which must be a reservation."""
    assert isinstance(found, Reservation), found
    return found


def recorded_call(
    call_id: str,
    at: datetime,
    cost: str,
    *,
    tokens: int = 1000,
    session: str | None = None,
    team: str | None = None,
) -> Call:
    """A stored-looking call at ``at`` (naive UTC) costing ``cost`` dollars and ``tokens`` tokens."""
    return Call(
        id=call_id,
        provider="openai",
        request_model="gpt-4o-mini",
        started_at=at.replace(tzinfo=None),
        session_id=session,
        usage=Usage.of(
            input_uncached=tokens // 2,
            cache_read=0,
            cache_write_5m=0,
            cache_write_1h=0,
            output_visible=tokens - tokens // 2,
            reasoning=0,
        ),
        attribution=Attribution(team=team),
        cost=Cost(total=Decimal(cost), currency="USD", source="test"),
    )


class RecordingAlerter(Alerter):
    """Keeps every alert it was asked to send (nothing is logged or posted)."""

    def __init__(self) -> None:
        super().__init__(quiet=True)
        self.sent: list[Alert] = []

    def send(self, alert: Alert) -> None:
        """Remember the alert."""
        self.sent.append(alert)


class DeadLedger:
    """A ledger whose backing service never answers; settlements are kept, as Redis's are."""

    url = "redis://127.0.0.1:1/0"

    def __init__(self) -> None:
        self.kept: list[tuple[str, list[str], list[int]]] = []

    def reserve(self, rid: str, lines: Sequence[Line], want: int, least: int, ttl: float) -> Outcome:
        raise LedgerUnavailable("connection refused")

    def settle(self, rid: str, keys: Sequence[str], actual: Sequence[int]) -> None:
        self.kept.append((rid, list(keys), list(actual)))

    def seed(self, key: str, spent: int, expire_at: int) -> None:
        raise LedgerUnavailable("connection refused")

    def usage(self, keys: Sequence[str]) -> list[tuple[int, int] | None]:
        raise LedgerUnavailable("connection refused")

    async def areserve(self, rid: str, lines: Sequence[Line], want: int, least: int, ttl: float) -> Outcome:
        raise LedgerUnavailable("connection refused")

    async def asettle(self, rid: str, keys: Sequence[str], actual: Sequence[int]) -> None:
        self.settle(rid, keys, actual)

    async def aseed(self, key: str, spent: int, expire_at: int) -> None:
        raise LedgerUnavailable("connection refused")

    async def ausage(self, keys: Sequence[str]) -> list[tuple[int, int] | None]:
        raise LedgerUnavailable("connection refused")

    def close(self) -> None:
        """Nothing to close."""
