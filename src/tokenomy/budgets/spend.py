"""Recorded spend from the store: what a budget's scope spent in a window, by the calls stored.

The ledger holds live spend; the store holds every recorded call. When a ledger account is
missing (Redis restarted, or a gateway process started) its spend is rebuilt from here before
anything is admitted on it, so a restart never lowers recorded spend. ``tokenomy budgets
status`` reads spend from here too, with the burn rate that projects when a budget runs out.

Spend is the calls' priced cost (``cost_total``; unpriced calls add nothing and are counted) or
their tokens (``input_total + output_total``), over calls that started in the window (UTC
bounds) and belong to the scope value; the ``(unattributed)`` value selects calls that name none.
Charges (non-LLM costs, table ``charges``) are not read: a budget bounds the LLM requests the guard
admits and settles, so its recorded spend is theirs alone, and it is less than the spend of
``tokenomy report``, which adds the charges, whenever any were recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Protocol

from tokenomy.budgets.accounts import UNATTRIBUTED, Account
from tokenomy.budgets.policy import Policy, Scope, Unit
from tokenomy.store.base import Store

_COLUMNS: Final = {
    Scope.TEAM: "team",
    Scope.USER: '"user"',
    Scope.KEY: "api_key_id",
    Scope.SESSION: "session_id",
    Scope.FEATURE: "feature",
    Scope.AGENT: "agent",
}


class SpendSource(Protocol):
    """Where a missing account's spend is rebuilt from."""

    def spent(self, account: Account) -> Decimal:
        """The account's recorded spend, in its policy's unit (dollars or tokens)."""
        ...


@dataclass(frozen=True, slots=True)
class Spend:
    """Recorded spend of one scope value in a window."""

    value: str | None
    usd: Decimal
    tokens: int
    calls: int
    unpriced: int
    first: datetime | None

    def amount(self, unit: Unit) -> Decimal:
        """The spend in ``unit``."""
        return self.usd if unit is Unit.USD else Decimal(self.tokens)


def _naive(when: datetime | None) -> datetime | None:
    if when is None or when.tzinfo is None:
        return when
    return when.astimezone(UTC).replace(tzinfo=None)


def _where(
    policy: Policy, since: datetime | None, until: datetime | None, value: str | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    for bound, op in ((since, ">="), (until, "<")):
        if bound is not None:
            clauses.append(f"started_at {op} ?::TIMESTAMP")
            params.append(_naive(bound))
    column = _COLUMNS.get(policy.scope)
    if column is not None and value is not None:
        if value == UNATTRIBUTED:
            clauses.append(f"({column} IS NULL OR {column} = '')")
        else:
            clauses.append(f"{column} = ?")
            params.append(value)
    return " AND ".join(clauses), params


_SUMS: Final = (
    "coalesce(sum(cost_total), 0) AS usd, "
    # a cut reasoning stream's output total is unknown, its counted visible output known: that counts
    "coalesce(sum(coalesce(input_total, 0) + coalesce(output_total, output_visible, 0)), 0)::BIGINT "
    "AS tokens, "
    "count(*) AS calls, count(*) FILTER (WHERE cost_total IS NULL) AS unpriced, min(started_at) AS first"
)


class StoreSpend:
    """Spend recorded in a :class:`tokenomy.store.Store` (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def spent(self, account: Account) -> Decimal:
        """The account's recorded spend in its policy's unit."""
        policy, span = account.policy, account.span
        if account.session is not None:
            found = self._session_spend(policy, account.session, account.value)
        elif span is not None:
            found = self.window(policy, span.start, span.end, account.value)
        else:
            found = self.window(policy, None, None, account.value)
        return found.amount(policy.unit)

    def window(
        self, policy: Policy, since: datetime | None, until: datetime | None, value: str | None
    ) -> Spend:
        """Spend of one scope value (None: every call) between ``since`` and ``until``."""
        where, params = _where(policy, since, until, value)
        table = self.store.query(f"SELECT {_SUMS} FROM calls WHERE {where}", params)
        return _spend(value, table.to_pylist()[0])

    def _session_spend(self, policy: Policy, session: str, value: str | None) -> Spend:
        where, params = _where(policy, None, None, value)
        sql = f"SELECT {_SUMS} FROM calls WHERE {where} AND session_id = ?"
        return _spend(value, self.store.query(sql, [*params, session]).to_pylist()[0])

    def by_value(self, policy: Policy, since: datetime | None, until: datetime | None) -> list[Spend]:
        """Spend per scope value in a window, largest first (one row for a global policy)."""
        column = _COLUMNS.get(policy.scope)
        if column is None:
            return [self.window(policy, since, until, None)]
        where, params = _where(policy, since, until, None)
        key = f"coalesce(nullif(CAST({column} AS VARCHAR), ''), '{UNATTRIBUTED}')"
        sql = f"SELECT {key} AS value, {_SUMS} FROM calls WHERE {where} GROUP BY 1 ORDER BY usd DESC, 3 DESC"
        return [_spend(str(row["value"]), row) for row in self.store.query(sql, params).to_pylist()]

    def by_session(
        self, policy: Policy, since: datetime, until: datetime | None = None, limit: int = 20
    ) -> list[tuple[str, Spend]]:
        """Spend per (scope value, session) of the sessions with a call between ``since`` and
        ``until``, largest first: each session's whole spend before ``until`` (as its session-window
        account counted it then), of the policy's ``match`` only when it has one; the value is None
        for a global policy."""
        column = _COLUMNS.get(policy.scope)
        key = (
            "NULL" if column is None else f"coalesce(nullif(CAST({column} AS VARCHAR), ''), '{UNATTRIBUTED}')"
        )
        where, params = _where(policy, None, until, policy.match)
        recent, between = _where(policy, since, until, None)
        sql = (
            f"SELECT {key} AS value, session_id AS session, {_SUMS} FROM calls WHERE {where} "
            f"AND session_id IN (SELECT DISTINCT session_id FROM calls WHERE {recent}) AND session_id <> '' "
            f"GROUP BY 1, 2 ORDER BY usd DESC, tokens DESC, 2 LIMIT {int(limit)}"
        )
        rows = self.store.query(sql, [*params, *between]).to_pylist()
        return [(str(r["session"]), _spend(None if r["value"] is None else str(r["value"]), r)) for r in rows]


def _spend(value: str | None, row: dict[str, Any]) -> Spend:
    return Spend(
        value=value,
        usd=Decimal(row["usd"] or 0),
        tokens=int(row["tokens"] or 0),
        calls=int(row["calls"] or 0),
        unpriced=int(row["unpriced"] or 0),
        first=row["first"],
    )
