"""Token utilization per budget: the numbers the metrics module needs (productive tokens / budgeted tokens).

:func:`tokenomy.analysis.metrics.token_utilization` computes ``Σ tokens of succeeded, unwasted
calls / budget_tokens`` over a selection. For a token budget, this module says what to give it:
the budgeted tokens, the current window's bounds (UTC) and the scope filter, e.g.::

    found = utilization_inputs(policy, "search")
    token_utilization(store, found.budget_tokens,
                      Selection.of(since=found.since, until=found.until, where=found.where))

A dollar budget has no token count of its own; it is converted only when a caller gives the
average dollars per token (``usd_per_token``) to convert with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal

from tokenomy.budgets.policy import CALENDAR_WINDOWS, Policy, Scope, Unit
from tokenomy.budgets.windows import span_of
from tokenomy.errors import ConfigError

_DIMENSION = {
    Scope.TEAM: "team",
    Scope.USER: "user",
    Scope.KEY: "api_key_id",
    Scope.SESSION: "session",
    Scope.FEATURE: "feature",
    Scope.AGENT: "agent",
}


@dataclass(frozen=True, slots=True)
class UtilizationInputs:
    """What token utilization against one budget account is computed from.

    Attributes:
        policy: The policy's name.
        budget_tokens: The budgeted tokens of the window.
        since: The window's start (UTC, naive like the store's times), or None.
        until: The window's end (exclusive), or None.
        where: The analyses' filter selecting the scope value (dimension, values).
    """

    policy: str
    budget_tokens: int
    since: datetime | None
    until: datetime | None
    where: tuple[tuple[str, tuple[str, ...]], ...]


def utilization_inputs(
    policy: Policy,
    value: str | None = None,
    *,
    now: datetime | None = None,
    usd_per_token: Decimal | None = None,
) -> UtilizationInputs:
    """The budgeted tokens, window and scope filter of one account of ``policy``.

    Args:
        policy: A calendar (day, week, month) policy.
        value: The scope value (None: the policy's ``match``, or every value for a global policy).
        now: The instant whose window is meant (default: now).
        usd_per_token: For a dollar policy, the dollars per token to convert its limit with.

    Raises:
        ConfigError: The window is not a calendar window, or a dollar policy has no conversion.
    """
    if policy.window not in CALENDAR_WINDOWS:
        raise ConfigError(f"budget '{policy.name}': token utilization needs a day, week or month window")
    if policy.unit is Unit.TOKENS:
        tokens = int(policy.limit)
    elif usd_per_token is not None and usd_per_token > 0:
        tokens = int((policy.limit / usd_per_token).to_integral_value(rounding=ROUND_FLOOR))
    else:
        raise ConfigError(
            f"budget '{policy.name}' is in dollars: pass usd_per_token to convert it to budgeted tokens"
        )
    span = span_of(policy.window, policy.zone, now or datetime.now(UTC))
    chosen = value if value is not None else policy.match
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()
    if policy.scope is not Scope.GLOBAL and chosen is not None:
        where = ((_DIMENSION[policy.scope], (chosen,)),)
    return UtilizationInputs(
        policy=policy.name,
        budget_tokens=tokens,
        since=span.start.astimezone(UTC).replace(tzinfo=None),
        until=span.end.astimezone(UTC).replace(tzinfo=None),
        where=where,
    )
