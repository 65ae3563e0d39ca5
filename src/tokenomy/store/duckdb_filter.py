"""A :class:`~tokenomy.store.base.CallFilter` as a SQL condition on the calls or charges table.

Bounds are UTC: an aware time is converted to UTC and stored without its zone, as the tables
store times; a date starts at its midnight.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tokenomy.store.base import CallFilter


def filter_sql(
    filters: CallFilter | None, *, time_column: str = "started_at", with_model: bool = True
) -> tuple[str, list[Any]]:
    """A SQL condition and its parameters for ``filters`` over the ``calls`` (or ``charges``) table.

    Args:
        filters: What to select; None selects everything.
        time_column: The column the bounds apply to (``'"at"'`` for charges).
        with_model: Whether the provider and model apply (charges have neither).

    Returns:
        The condition (``TRUE`` when nothing is filtered) and its ``?`` parameters in order.
    """
    f = filters or CallFilter()
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    for bound, op in ((f.since, ">="), (f.until, "<")):
        if bound is not None:
            clauses.append(f"{time_column} {op} ?::TIMESTAMP")
            params.append(_as_datetime(bound))
    if f.session_id is not None:
        clauses.append("session_id = ?")
        params.append(f.session_id)
    if with_model and f.provider is not None:
        clauses.append("provider = ?")
        params.append(f.provider)
    if with_model and f.model is not None:
        # the model that served the call, or the name it was asked by (as `--where model=` matches)
        clauses.append("(coalesce(nullif(response_model, ''), request_model) = ? OR request_model = ?)")
        params += [f.model, f.model]
    return " AND ".join(clauses), params


def _as_datetime(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return datetime(value.year, value.month, value.day)
