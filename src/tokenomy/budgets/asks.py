"""What a request asks for once soft policies had their say: model, max_tokens, effort, steps taken.

A soft policy past a threshold of its limit applies the downgrade steps up to that threshold, in
order and cumulatively: a step's model and reasoning effort replace the request's, its max_tokens
lowers the request's (never raises it). :func:`stepped` applies every soft policy's share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from tokenomy.budgets.policy import DowngradeStep, Policy


@dataclass(slots=True)
class Ask:
    """The request as the soft policies leave it (``steps``: each step with its policy's name)."""

    model: str
    max_tokens: int | None
    effort: str | None
    steps: tuple[tuple[str, DowngradeStep], ...] = ()


def applied(ask: Ask, policy: str, step: DowngradeStep) -> Ask:
    """``ask`` with one downgrade ``step`` of ``policy`` applied."""
    max_tokens = ask.max_tokens
    if step.max_tokens is not None:
        max_tokens = step.max_tokens if max_tokens is None else min(max_tokens, step.max_tokens)
    return Ask(
        model=step.model or ask.model,
        max_tokens=max_tokens,
        effort=step.reasoning_effort or ask.effort,
        steps=(*ask.steps, (policy, step)),
    )


def stepped(ask: Ask, shares: Sequence[tuple[Policy, Decimal]]) -> Ask:
    """``ask`` with the steps each soft policy's used share (of its limit) has reached."""
    for policy, share in shares:
        level = sum(1 for mark in policy.thresholds if share >= mark)
        for step in policy.downgrade[:level]:
            ask = applied(ask, policy.name, step)
    return ask
