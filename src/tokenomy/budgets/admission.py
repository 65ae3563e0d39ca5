"""The admission API's records: what is asked (BudgetRequest) and what is answered.

``BudgetGuard.reserve(request)`` answers with one of:

* :class:`Reservation`: go ahead, with ``max_tokens`` (possibly lowered to fit what is left);
  settle it with the real usage when the answer is complete (or cut), or release it;
* :class:`Downgrade`: go ahead, but with the cheaper request a soft policy's chain asked for
  (``model``, ``max_tokens``, ``reasoning_effort``); it carries its Reservation;
* :class:`Rejection`: do not call upstream; it has what an HTTP 429 error needs (``status``,
  ``type``, the scope, limit, spent and reset time, and a message saying all of it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from tokenomy.budgets.policy import DowngradeStep, Policy, Unit
from tokenomy.budgets.prices import Card
from tokenomy.schema import Attribution

BUDGET_EXCEEDED: Final = "budget_exceeded"
BUDGET_UNAVAILABLE: Final = "budget_unavailable"
BUDGET_UNPRICED: Final = "budget_unpriced_model"


@dataclass(frozen=True, slots=True)
class BudgetRequest:
    """One request about to be sent upstream.

    Attributes:
        model: The model asked for.
        provider: Its provider (any name :func:`tokenomy.providers.canonical` knows), or None.
        input_tokens: The counted input tokens (prompt, system, tool definitions).
        max_tokens: The requested output limit; None means the model's maximum (bounded by its
            context window minus the input, else the guard's ``default_max_tokens``).
        reasoning_effort: The requested reasoning effort, if any.
        attribution: Team, user, key (hashed), feature, agent...
        session_id: The session (conversation or agent run), if any.
        choices: How many answers the request asks for (OpenAI's ``n``, a completion's
            ``best_of``): each may write max_tokens, so the worst case holds that many.
        min_tokens: The fewest output tokens the request can be sent with, when it needs more than
            the smallest useful answer (an Anthropic extended-thinking request: above 1,024).
        stored_input: The provider adds input the request does not carry (a Responses request
            continuing a stored conversation, or naming a stored prompt): its input is reserved at
            the model's context window, the most any request's input can be billed.
    """

    model: str
    provider: str | None = None
    input_tokens: int = 0
    max_tokens: int | None = None
    reasoning_effort: str | None = None
    attribution: Attribution = field(default_factory=Attribution)
    session_id: str | None = None
    choices: int = 1
    min_tokens: int = 0
    stored_input: bool = False

    def __post_init__(self) -> None:
        """Refuse counts no request can have (a negative input would be reserved as room given back)."""
        if self.input_tokens < 0 or self.min_tokens < 0 or self.choices < 1:
            raise ValueError(
                f"BudgetRequest: input_tokens and min_tokens must be 0 or more and choices 1 or more, got "
                f"{self.input_tokens}, {self.min_tokens} and {self.choices}"
            )


@dataclass(slots=True)
class Held:
    """One account a reservation holds units on."""

    key: str
    policy: str
    unit: Unit
    amount: int


@dataclass(eq=False, slots=True)
class Reservation:
    """Admitted: send the request with these values, then settle or release.

    Attributes:
        id: Unique id of the reservation.
        model: The model to call.
        provider: The provider.
        max_tokens: The output limit to send upstream (always send it: it bounds the spend), per
            answer when the request asks for several (``choices``).
        requested_max_tokens: What the request asked for (None: the model's maximum).
        reasoning_effort: The reasoning effort to send (None: as requested, i.e. none).
        input_tokens: The counted input tokens.
        enforced: False when the ledger was unreachable and the guard fails open.
        held: The accounts and units reserved (an unenforced reservation names its accounts with
            0 units, so that its settlement still adds what was used once the ledger answers).
        card: The worst-case prices used (None: unpriced).
        choices: The answers asked for (each may write ``max_tokens``).
    """

    id: str
    model: str
    provider: str | None
    max_tokens: int
    requested_max_tokens: int | None
    reasoning_effort: str | None
    input_tokens: int
    enforced: bool = True
    held: tuple[Held, ...] = ()
    card: Card | None = None
    choices: int = 1
    _open: bytearray = field(default_factory=lambda: bytearray(b"\x01"), repr=False)

    @property
    def worst_case_usd(self) -> Decimal | None:
        """The dollars the worst case costs at the reserved max_tokens (None: unpriced)."""
        card = self.card
        return None if card is None else card.worst_case(self.input_tokens, self.max_tokens * self.choices)

    @property
    def lowered(self) -> bool:
        """True when max_tokens is below what the request asked for (a request that asked for none
        gets the model's maximum, or less: send ``max_tokens`` in every case)."""
        return self.requested_max_tokens is not None and self.max_tokens < self.requested_max_tokens

    def close(self) -> bool:
        """Mark it settled; False when it already was (settling twice counts once).

        ``bytearray.pop`` is atomic, so two threads settling at once cannot both get True (a
        bytearray, unlike a list, is not tracked by the garbage collector: admission allocates
        fewer objects that trigger collections).
        """
        try:
            return self._open.pop() == 1
        except IndexError:
            return False


@dataclass(frozen=True, slots=True)
class Downgrade:
    """Admitted in a cheaper form that soft policies asked for (see :class:`Reservation`).

    Attributes:
        reservation: The reservation made for the downgraded request.
        steps: The downgrade steps applied, with the policy that asked for each.
    """

    reservation: Reservation
    steps: tuple[tuple[str, DowngradeStep], ...]

    @property
    def model(self) -> str:
        """The model to call instead."""
        return self.reservation.model

    @property
    def max_tokens(self) -> int:
        """The output limit to send."""
        return self.reservation.max_tokens

    @property
    def reasoning_effort(self) -> str | None:
        """The reasoning effort to send."""
        return self.reservation.reasoning_effort


@dataclass(frozen=True, slots=True)
class Rejection:
    """Refused before calling upstream (HTTP 429 ``budget_exceeded``, or 503 when unavailable).

    Attributes:
        message: What happened, where, and what to do next.
        policy: The policy that refused (None: the ledger was unreachable).
        scope: The scope it covers (``team 'search'``, ``global``).
        limit: Its limit, in ``unit``.
        unit: Dollars or tokens.
        spent: What was already spent in the window.
        reserved: What requests in flight hold.
        resets_at: When the window resets (None: a request or session window).
        status: The HTTP status to answer with.
        type: The error type (``budget_exceeded``, ``budget_unavailable``, ``budget_unpriced_model``).
        in_flight: True when the budget was held by requests in flight (not spent) for the whole
            wait: a retry in a moment may fit, so :meth:`retry_after` says one second.
    """

    message: str
    policy: str | None = None
    scope: str | None = None
    limit: Decimal | None = None
    unit: Unit | None = None
    spent: Decimal | None = None
    reserved: Decimal | None = None
    resets_at: datetime | None = None
    status: int = 429
    type: str = BUDGET_EXCEEDED
    in_flight: bool = False

    def retry_after(self, now: datetime | None = None) -> int | None:
        """Seconds until the window resets (for a ``Retry-After`` header), or None; 1 when the
        budget is only held by requests in flight."""
        if self.in_flight:
            return 1
        if self.resets_at is None:
            return None
        now = now or datetime.now(UTC)
        return max(0, int((self.resets_at - now).total_seconds()) + 1)

    def error_fields(self) -> dict[str, Any]:
        """The fields a gateway puts in its provider-shaped error body."""
        out: dict[str, Any] = {"type": self.type, "message": self.message}
        for name in ("policy", "scope", "unit"):
            value = getattr(self, name)
            if value is not None:
                out[name] = str(value)
        for name in ("limit", "spent", "reserved"):
            value = getattr(self, name)
            if value is not None:
                out[name] = str(value)
        if self.resets_at is not None:
            out["resets_at"] = self.resets_at.isoformat()
        return out


Admission = Reservation | Downgrade | Rejection


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a settlement charged: dollars (None: no price) and tokens."""

    cost: Decimal | None
    tokens: int


def unpriced(policy: Policy, message: str) -> Rejection:
    """The refusal of a request whose model ``policy`` cannot price (HTTP 400, ``budget_unpriced_model``)."""
    return Rejection(
        message,
        policy=policy.name,
        scope=policy.describe_scope(),
        limit=policy.limit,
        unit=policy.unit,
        status=400,
        type=BUDGET_UNPRICED,
    )
