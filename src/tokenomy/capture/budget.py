"""SDK-side budget enforcement: the hook an instrumented client calls before a request leaves the process.

``tokenomy.instrument(client, budget=enforcer)`` makes every LLM call ask ``enforcer`` first.
The enforcer (``tokenomy.budgets.sdk.SdkBudget``, one layer up, implements these protocols
without capture importing it) either raises :class:`tokenomy.errors.BudgetExceeded` (a hard
budget refused: the call is recorded as ``rejected_budget`` and never sent) or returns a
:class:`Ticket` whose ``changes`` are applied to the request body (a soft downgrade: another
model, a lower max_tokens, a lower reasoning effort; or max_tokens lowered to fit). The ticket is
settled with the finished :class:`Call` when the sink's thread builds it (so a cut or failed
stream settles what it used), or with None when it could not be read (the reservation is then
charged in full). A client with a budget but no capture sink gets a sink that builds calls to
settle them and keeps nothing.

A ticket holds its reservation for as long as the call runs, however long (a stream longer than
``reservation_ttl`` included): the guard keeps the reservation of a ticket still referenced alive
(``tokenomy.budgets.renewal``). So the capture layer keeps each ticket referenced until it settles
it (``Captured.ticket``); a ticket dropped unsettled lets its reservation expire after the TTL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tokenomy.capture.records import Record
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import SinkSettings
from tokenomy.schema import Attribution, Call


@dataclass(frozen=True, slots=True)
class AdmitRequest:
    """What the enforcer is shown of a call about to be sent.

    Attributes:
        provider: The provider the call is billed by.
        api: The API surface (``chat``, ``responses``, ``messages``, ``completions``, ``embeddings``).
        body: The JSON body the SDK built.
        tools: Its tool definitions, in the shape token counting reads.
        attribution: The scope's attribution (with the client's key hash).
        session_id: The scope's session, if any.
    """

    provider: str
    api: str
    body: Mapping[str, Any]
    tools: Sequence[Mapping[str, Any]]
    attribution: Attribution
    session_id: str | None


class Ticket(Protocol):
    """An admitted call: body changes to apply now, and a settlement to make when it ends."""

    @property
    def changes(self) -> Mapping[str, Any]:
        """Top-level body fields to set before sending (empty: send as is)."""
        ...

    def settle(self, call: Call | None) -> None:
        """Settle with the finished call (None: it could not be read). Never raises."""
        ...


class Enforcer(Protocol):
    """Decides, before each call, whether it may be sent and in which form."""

    def admit(self, request: AdmitRequest) -> Ticket | None:
        """A ticket (None: no budget applies). Raises BudgetExceeded to refuse."""
        ...

    async def aadmit(self, request: AdmitRequest) -> Ticket | None:
        """:meth:`admit` for async clients."""
        ...


class DiscardTarget:
    """A sink target that keeps nothing (calls are built only to settle their budget tickets)."""

    description = "budget settlement only (nothing recorded)"

    def prepare(self, records: list[Record]) -> list[Record]:
        """Nothing to prepare."""
        return records

    def send(self, records: Sequence[Record]) -> None:
        """Drop the batch."""

    def close(self) -> None:
        """Nothing to release."""

    def after_fork(self) -> None:
        """Nothing inherited."""


def settling_sink() -> Sink:
    """The sink of a client that enforces a budget without recording (builds calls every 50 ms)."""
    return Sink(DiscardTarget(), SinkSettings(flush_interval=0.05))
