"""SDK admission for embeddings (input only, nothing added to the body) and uncountable inputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from tokenomy.budgets import BudgetGuard, Policy, Scope, SdkBudget, Unit, Window, sdk
from tokenomy.budgets.admission import Reservation
from tokenomy.budgets.alerts import Alerter
from tokenomy.errors import BudgetExceeded, TokenomyError
from tokenomy.schema import Attribution


@dataclass(frozen=True)
class Shown:
    api: str
    body: Mapping[str, Any]
    provider: str = "openai"
    tools: Sequence[Mapping[str, Any]] = ()
    attribution: Attribution = field(default_factory=Attribution)
    session_id: str | None = None


def _budget(limit: int) -> SdkBudget:
    policy = Policy("e", Decimal(limit), Unit.TOKENS, Scope.GLOBAL, window=Window.DAY)
    return SdkBudget(BudgetGuard([policy], alerter=Alerter(quiet=True)))


def test_embeddings_reserve_their_counted_input_and_change_nothing() -> None:
    budget = _budget(100)
    ticket = budget.admit(
        Shown("embeddings", {"model": "text-embedding-3-small", "input": ["a b", [1, 2, 3]]})
    )
    assert ticket is not None
    assert ticket.changes == {}
    res = ticket.admitted
    assert isinstance(res, Reservation)
    assert res.input_tokens == 5  # "a b" is 2 tokens, the token ids 3
    assert res.max_tokens == 0


def test_a_spent_budget_refuses_embeddings() -> None:
    with pytest.raises(BudgetExceeded):
        _budget(1).admit(Shown("embeddings", {"model": "text-embedding-3-small", "input": "a b c"}))


def test_an_uncountable_input_reserves_its_utf8_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(*_args: object) -> int:
        raise TokenomyError("no tokenizer")

    monkeypatch.setattr(sdk, "input_tokens", fails)
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "日本"}], "max_tokens": 4}
    counted, bounded = sdk.counted_input(body, [], "gpt-4o")
    assert bounded is True
    assert counted == len('{"messages":[{"role":"user","content":"日本"}]}'.encode())
    ticket = _budget(10_000).admit(Shown("chat", body))
    assert ticket is not None
    res = ticket.admitted
    assert isinstance(res, Reservation)
    assert res.input_tokens == counted  # was 0
