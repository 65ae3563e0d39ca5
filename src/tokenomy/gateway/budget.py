"""Budget admission on the gateway's request path: reserve before the upstream call, settle after.

Before a metered request goes upstream, :class:`GatewayBudget` counts its input offline, asks the
guard for the worst case (counted input + ``max_tokens``) and either refuses (the gateway answers
429 ``budget_exceeded`` in the provider's format, with ``Retry-After``) or rewrites the body as
admitted: the granted ``max_tokens`` (always sent: it bounds the spend), and for a soft downgrade
the cheaper model and reasoning effort, in the API's own field names. When the exchange ends,
whichever way (completed, upstream error, cut stream, client gone), it is settled with the usage
the gateway metered (:func:`settled_usage`): a request that never left releases its reservation,
and one that left and got no answer is charged it in full.

Embeddings reserve their counted input with no output (a spent hard budget refuses them too).
When the input cannot be counted, the reservation uses a safe upper bound (the UTF-8 byte length
of the request's text) and :attr:`Admitted.bounded` says so. Other ``/v1/`` paths cannot be
metered: :meth:`GatewayBudget.hard_applies` tells the app to refuse them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokenomy.budgets.admission import BudgetRequest, Downgrade, Rejection, Reservation
from tokenomy.budgets.guard import BudgetGuard
from tokenomy.budgets.sdk import (
    API_FIELDS,
    budget_request,
    changes,
    cut_short,
    refused_limit,
    settled_output,
)
from tokenomy.capture.sdk.base import request_tools
from tokenomy.gateway.metering import Exchange
from tokenomy.providers import thinks_unseen
from tokenomy.schema import Attribution, Call, Usage

log = logging.getLogger("tokenomy.gateway")
_WARN_EVERY = 60.0
MALFORMED = "upstream_malformed"
"""The error type of an answer that is not the provider's JSON (a web page, say)."""


@dataclass(frozen=True, slots=True)
class Admitted:
    """A reservation and the body fields to set before sending."""

    admission: Reservation | Downgrade
    changes: Mapping[str, Any]
    bounded: bool = False
    """True when the input could not be counted and its upper bound was reserved."""


class GatewayBudget:
    """Admission and settlement through a :class:`BudgetGuard` (see the module docstring)."""

    def __init__(self, guard: BudgetGuard) -> None:
        self.guard = guard
        self.bounded = 0
        """Requests whose input could not be counted (reserved at their upper bound)."""
        self._warned = -_WARN_EVERY

    def hard_applies(self, attribution: Attribution, session_id: str | None) -> bool:
        """True when a hard policy applies to requests of this attribution (whatever their model)."""
        return self.guard.applies(
            BudgetRequest(model="", attribution=attribution, session_id=session_id), hard=True
        )

    async def admit(
        self,
        api: str,
        body: Mapping[str, Any],
        *,
        provider: str,
        attribution: Attribution,
        session_id: str | None,
    ) -> Admitted | Rejection | None:
        """Reserve for one request (embeddings: their input only); None for an API with no fields."""
        fields = API_FIELDS.get(api)
        if fields is None or not isinstance(body.get("model"), str):
            return None
        request, bounded = budget_request(
            body,
            fields,
            request_tools(body),
            provider=provider,
            attribution=attribution,
            session_id=session_id,
        )
        if bounded:
            self._bounded(request.model, request.input_tokens)
        refused = refused_limit(self.guard, body, fields, request)
        if refused is not None:
            return refused  # a bad request (400), refused before anything is reserved
        answer = await self.guard.areserve(request)
        if isinstance(answer, Rejection):
            return answer
        return Admitted(answer, changes(body, fields, answer), bounded)

    def render_metrics(self) -> bytes:
        """Prometheus lines for the budget step (appended to ``/metrics``)."""
        return (
            "# HELP tokenomy_gateway_budget_input_bounds_total Requests whose input could not be counted "
            "and was reserved at its upper bound.\n"
            "# TYPE tokenomy_gateway_budget_input_bounds_total counter\n"
            f"tokenomy_gateway_budget_input_bounds_total {self.bounded}\n"
        ).encode()

    def _bounded(self, model: str, counted: int) -> None:
        self.bounded += 1
        now = time.monotonic()
        if now - self._warned >= _WARN_EVERY:
            self._warned = now
            log.warning(
                "tokenomy gateway: could not count the input of a %s request; reserved its upper bound "
                "(%d tokens, the UTF-8 bytes of its text); %d such request(s) so far",
                model,
                counted,
                self.bounded,
            )

    async def settle(self, admitted: Admitted, usage: Usage | int | None) -> None:
        """Settle with the metered usage (an int: that many output tokens after the counted input);
        None (nothing can have been billed) releases the reservation."""
        if usage is None:
            await self.guard.arelease(admitted.admission)
        else:
            await self.guard.asettle(admitted.admission, usage)


def settled_usage(exchange: Exchange, call: Call) -> Usage | int | None:
    """What an exchange's reservation is settled with (:meth:`GatewayBudget.settle`).

    * no answer (no status): released when the request never left (no connection); a web page
      answered in the provider's place (a misrouted host: no provider billed an answer) is charged
      its counted input (0 output); else (timed out, connection lost after the request left) its
      reservation in full: the provider has the prompt and may answer it to the end, and bill that;
    * a stream whose usage never arrived (cut by the upstream, an error event, the client gone, an
      upstream that ignores ``include_usage``) of a request that may think unseen
      (:func:`tokenomy.providers.thinks_unseen`): its output at its bound, since the text that
      came says nothing of the thinking before it;
    * a stream left by its client, cut by the upstream or failed before its output ended (no
      finish reason), whose usage never arrived: its output at its bound too, since the provider
      bills what it generated, which the client did not read and which can be all of it;
    * otherwise the metered usage (a plain answer that began and broke has an unknown usage: its
      reservation is charged in full; a stream read to its end whose usage never arrived, what came).
    """
    if exchange.status is None:
        if exchange.unsent:
            return None
        return 0 if exchange.error_type == MALFORMED else Usage()
    unseen = exchange.streamed and thinks_unseen(exchange.request or {})
    return settled_output(call.usage, streamed=exchange.streamed, unseen=unseen, cut=cut_short(call))
