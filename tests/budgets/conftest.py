"""Fixtures for the budget tests: a settable clock and policies (the redis-server is tests/conftest.py's)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tokenomy.budgets.policy import Policy, parse_policy

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
"""A Tuesday noon, UTC."""


class Clock:
    """A clock tests move by hand (seconds since the epoch)."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    """A clock at :data:`T0`."""
    return Clock()


def policy(**fields: Any) -> Policy:
    """A policy from ``[[budget]]`` fields (name ``p`` and a $1 daily limit unless given)."""
    table: dict[str, Any] = {"name": "p", "limit_usd": "1.00"}
    table.update(fields)
    if "limit_tokens" in fields:
        table.pop("limit_usd")
    return parse_policy(table, "test")


def usd(text: str) -> Decimal:
    """A Decimal from text."""
    return Decimal(text)
