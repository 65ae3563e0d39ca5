"""Admission plans: what a request of one shape reserves, kept while its windows and its price day last.

Most requests a guard sees repeat a few shapes: the same model, sizes and attribution. For a shape
whose every applicable policy has a calendar account (no soft policy, no per-request cap, no
session window), everything admission computes before the ledger call is fixed until one of those
windows ends or the UTC day of the prices changes: the accounts, the price card, the ledger lines,
the output tokens asked for and the fewest worth granting. A :class:`Plan` keeps them with the
instants it holds between; :class:`Plans` finds one by the request's shape (model, provider, input
tokens, max_tokens, reasoning effort, choices, and the raw value each scoped policy reads). A new set of
policies starts a new :class:`Plans`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from tokenomy.budgets.accounts import Account
from tokenomy.budgets.admission import BudgetRequest
from tokenomy.budgets.asks import Ask
from tokenomy.budgets.ledger import Line
from tokenomy.budgets.prices import Card

_MAX: Final = 65_536
"""Most shapes remembered; past it the plans start over."""
Shape = tuple[object, ...]


class Plan:
    """A request priced and turned into ledger lines (``want``: after per-request caps).

    ``since`` and ``until`` bound the instants it holds for (0 and infinity: not kept).
    """

    __slots__ = ("accounts", "ask", "card", "least", "lines", "since", "until", "want")

    def __init__(
        self,
        accounts: list[Account],
        ask: Ask,
        card: Card | str,
        lines: tuple[Line, ...],
        *,
        want: int,
        least: int,
    ) -> None:
        self.accounts, self.ask, self.card, self.lines = accounts, ask, card, lines
        self.want, self.least = want, least
        self.since, self.until = 0.0, float("inf")


class Plans:
    """Plans by request shape (see the module docstring).

    Args:
        getters: For each scoped policy, what reads its raw value from a request (the shape).
    """

    __slots__ = ("_found", "_getters")

    def __init__(self, getters: Sequence[Callable[[BudgetRequest], object]]) -> None:
        self._getters = tuple(getters)
        self._found: dict[Shape, Plan] = {}

    def find(self, request: BudgetRequest, now: float) -> tuple[Shape, Plan | None]:
        """The request's shape, and its plan when one is kept that holds at ``now``."""
        shape: list[object] = [request.model, request.provider, request.input_tokens, request.max_tokens]
        shape += (request.reasoning_effort, request.choices, request.min_tokens, request.stored_input)
        for get in self._getters:
            shape.append(get(request))
        key = tuple(shape)
        plan = self._found.get(key)
        if plan is not None and plan.since <= now < plan.until:
            return key, plan
        return key, None

    def keep(self, shape: Shape, plan: Plan, since: float, until: float) -> None:
        """Keep ``plan`` for requests of ``shape`` between ``since`` (inclusive) and ``until``."""
        plan.since, plan.until = since, until
        if len(self._found) >= _MAX:
            self._found.clear()
        self._found[shape] = plan
