"""Budget admission on the gateway's request path: reserve before the upstream call, settle after.

Before a metered request goes upstream, :class:`GatewayBudget` counts its input offline, asks the
guard for the worst case (counted input + ``max_tokens``) and either refuses (the gateway answers
429 ``budget_exceeded`` in the provider's format, with ``Retry-After``) or rewrites the body as
admitted: the granted ``max_tokens`` (always sent: it bounds the spend), and for a soft downgrade
the cheaper model and reasoning effort, in the API's own field names. When the exchange ends,
whichever way (completed, upstream error, cut stream, client gone), it is settled with the usage
the gateway metered; an exchange that got no answer at all releases its reservation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokenomy.budgets.admission import BudgetRequest, Downgrade, Rejection, Reservation
from tokenomy.budgets.guard import BudgetGuard
from tokenomy.budgets.sdk import API_FIELDS, changes, input_tokens, requested
from tokenomy.errors import TokenomyError
from tokenomy.schema import Attribution, Usage


@dataclass(frozen=True, slots=True)
class Admitted:
    """A reservation and the body fields to set before sending."""

    admission: Reservation | Downgrade
    changes: Mapping[str, Any]


class GatewayBudget:
    """Admission and settlement through a :class:`BudgetGuard` (see the module docstring)."""

    def __init__(self, guard: BudgetGuard) -> None:
        self.guard = guard

    async def admit(
        self,
        api: str,
        body: Mapping[str, Any],
        *,
        provider: str,
        attribution: Attribution,
        session_id: str | None,
    ) -> Admitted | Rejection | None:
        """Reserve for one request; None when its API has no output to bound (embeddings)."""
        fields = API_FIELDS.get(api)
        model = body.get("model")
        if fields is None or not isinstance(model, str):
            return None
        max_tokens, effort = requested(body, fields)
        raw_tools = body.get("tools")
        tools = [t for t in raw_tools if isinstance(t, Mapping)] if isinstance(raw_tools, list) else []
        try:
            counted = input_tokens(body, tools, model)
        except TokenomyError:
            counted = 0
        answer = await self.guard.areserve(
            BudgetRequest(
                model=model,
                provider=provider,
                input_tokens=counted,
                max_tokens=max_tokens,
                reasoning_effort=effort,
                attribution=attribution,
                session_id=session_id,
            )
        )
        if isinstance(answer, Rejection):
            return answer
        return Admitted(answer, changes(body, fields, answer))

    async def settle(self, admitted: Admitted, usage: Usage | None) -> None:
        """Settle with the metered usage; None (no answer came) releases the reservation."""
        if usage is None:
            await self.guard.arelease(admitted.admission)
        else:
            await self.guard.asettle(admitted.admission, usage)
