"""``tokenomy sessions --server`` and ``tokenomy session ID --server``: the same ranking and tree as
from the store, read through a running collector's API.

The API serves records, not the analyses: ``GET /api/v1/sessions/{id}`` answers a session's calls,
charges, outcomes and spans (``Store.session_records`` on the collector's side). Rather than a second
tree builder or a second ranking, those records are written to an in-memory store and the very
analyses the store path runs (:func:`tokenomy.analysis.session_tree.session_tree`,
:func:`tokenomy.analysis.sessions.top_sessions`) run on it, so both paths print the same thing.

Ranking needs only the top sessions' records: ``GET /api/v1/sessions`` (every page) gives each
session's calls' cost in the period and all its charges, so ``cost + charges`` is its exact spend
without a period and, with one, at least its spend in the period (charges are costs; when some
session's charges add up below zero that no longer holds, and every listed session is read).
Sessions are read in that order until no session left could enter the top. The list also gives
how many sessions there are, and ``GET /api/v1/report`` how many calls the period has, so the
calls that belong to no session are the difference.

What the API cannot give: its times have millisecond precision (JSON formats show them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from urllib.parse import quote

import click

from tokenomy.analysis import sessions as ranking
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.report_wire import money_from_json
from tokenomy.analysis.session_tree import SessionTree, unknown_session
from tokenomy.analysis.session_tree import session_tree as build_tree
from tokenomy.analysis.sessions import SessionList, SessionRow
from tokenomy.cli.collector_client import CollectorClient, CollectorError, NotFoundError
from tokenomy.native import call_from_native, charge_from_native, outcome_from_native, parse_time
from tokenomy.store import open_store
from tokenomy.store.duckdb import DuckDBStore
from tokenomy.store.events import spans_to_arrow

PAGE: Final = 1000
"""Sessions per page of ``GET /api/v1/sessions`` (the API's largest ``limit``)."""
_SPAN_TIMES: Final = ("started_at", "ended_at", "imported_at")
"""The ``spans`` columns the API writes as ISO 8601 text."""


def unserved(*, by: str | None = None, where: Sequence[str] = ()) -> None:
    """Refuse the options of ``tokenomy sessions`` the collector's API cannot serve, naming them.

    Raises:
        click.UsageError: ``--by`` or ``--where`` was given with ``--server``.
    """
    if by:
        raise refusal("--by", "/api/v1/sessions", "does not group sessions by dimension")
    if where:
        raise refusal("--where", "/api/v1/sessions", "filters by period only (--since, --until)")


def refusal(option: str, route: str, does: str, *, instead: str | None = None) -> click.UsageError:
    """The error for ``option`` given with ``--server``: what the collector's ``GET route`` does
    instead, and what to do (``instead``; by default, leave the option out)."""
    return click.UsageError(
        f"{option} cannot be used with --server: the collector's GET {route} {does}; "
        f"{instead or f'leave {option} out'}, or read the store with --db once the collector stops"
    )


def session_tree(client: CollectorClient, session_id: str) -> SessionTree:
    """Session ``session_id`` as a tree, from the collector's records of it.

    Raises:
        StoreError: Nothing belongs to the session (the store path's words).
        CollectorError: The collector could not be read, or its records do not read.
    """
    route = _session_route(session_id)
    try:
        body = client.get(route)
    except NotFoundError:
        raise unknown_session(session_id) from None
    with open_store(":memory:") as store:
        _load(store, client, session_id, body)
        return build_tree(store, session_id)


def top_sessions(client: CollectorClient, selection: Selection, *, top: int) -> SessionList:
    """The ``top`` most expensive sessions of ``selection``'s period, as the store path ranks them.

    ``selection`` may hold a period only (:func:`unserved` refuses the rest).

    Raises:
        CollectorError: The collector could not be read, or its answers do not read.
    """
    if selection.scope.where or selection.grouping.by:
        raise ValueError("the collector's API serves a period only: no where filter, no grouping")
    period = period_query(selection.scope.since, selection.scope.until)
    listed = list(_listed(client, period))
    report = client.get("/api/v1/report", period)
    try:
        in_period = int(report["total"]["calls"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CollectorError(
            f"the collector at {client.url} answered GET /api/v1/report without total.calls"
        ) from exc
    # without a period a bound is the spend itself; with one, charges below zero void the bounds
    whole = bool(period) and any(s.charges < 0 for s in listed)
    order = sorted(listed, key=lambda s: (-s.bound, s.session_id))
    with open_store(":memory:") as store:
        result = ranking.top_sessions(store, selection, top=top)
        read = 0
        while read < len(order):
            if not whole and len(result.rows) >= top and not _may_enter(order[read], result.rows[top - 1]):
                break
            for listed_session in order[read : read + top]:
                _load_session(store, client, listed_session.session_id)
            read += top
            result = ranking.top_sessions(store, selection, top=top)
    return dataclasses.replace(
        result,
        sessions=len(listed),
        no_session_calls=max(in_period - sum(s.calls for s in listed), 0),
    )


@dataclass(frozen=True, slots=True)
class _Listed:
    """A session as ``GET /api/v1/sessions`` lists it: enough to rank it and to count calls."""

    session_id: str
    calls: int
    cost: Decimal
    """Its priced calls' cost in the period."""
    charges: Decimal
    """All its charges (whatever the period)."""

    @property
    def bound(self) -> Decimal:
        """Its spend without a period; with one, at least its spend in the period."""
        return self.cost + self.charges


def _may_enter(candidate: _Listed, last: SessionRow) -> bool:
    """Could ``candidate`` rank before ``last`` (spend descending, then session id)?"""
    spend = last.cost or Decimal(0)
    return candidate.bound > spend or (candidate.bound == spend and candidate.session_id < last.session_id)


def period_query(since: datetime | None, until: datetime | None) -> dict[str, str]:
    """The API's ``since`` and ``until`` (UTC, as the store path reads ``--since`` and ``--until``)."""
    return {
        name: value.isoformat() + "Z"
        for name, value in (("since", since), ("until", until))
        if value is not None
    }


def _listed(client: CollectorClient, period: Mapping[str, str]) -> Iterator[_Listed]:
    """Every session of every page of ``GET /api/v1/sessions`` (each once, should pages overlap
    while the collector writes)."""
    seen: set[str] = set()
    offset = 0
    while True:
        page = client.get("/api/v1/sessions", {**period, "limit": str(PAGE), "offset": str(offset)})
        try:
            rows = page["sessions"]
            following = page["next_offset"]
            for row in rows:
                listed = _Listed(
                    session_id=str(row["session_id"]),
                    calls=int(row["calls"]),
                    cost=money_from_json(row.get("cost")) or Decimal(0),
                    charges=money_from_json(row.get("charges")) or Decimal(0),
                )
                if listed.session_id not in seen:
                    seen.add(listed.session_id)
                    yield listed
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise CollectorError(
                f"the collector at {client.url} answered GET /api/v1/sessions with a page that does not "
                f"read ({type(exc).__name__}: {exc})"
            ) from exc
        if following is None:
            return
        if not isinstance(following, int) or following <= offset:
            raise CollectorError(
                f"the collector at {client.url} answered GET /api/v1/sessions with next_offset "
                f"{following!r} after offset {offset}"
            )
        offset = following


def _session_route(session_id: str) -> str:
    """``/api/v1/sessions/{id}``, the id percent-encoded.

    Raises:
        CollectorError: The id holds a ``/``, which the collector's route cannot take (the path
            reaches it decoded).
    """
    if "/" in session_id:
        raise CollectorError(
            f"session {session_id!r} cannot be read through the collector's API (GET "
            "/api/v1/sessions/{id} takes no '/' in an id); read the store with --db once the collector stops"
        )
    return f"/api/v1/sessions/{quote(session_id, safe='')}"


def _load_session(store: DuckDBStore, client: CollectorClient, session_id: str) -> None:
    _load(store, client, session_id, client.get(_session_route(session_id)))


def _load(store: DuckDBStore, client: CollectorClient, session_id: str, body: Mapping[str, Any]) -> None:
    """Write a session's records, as ``GET /api/v1/sessions/{id}`` answers them, to ``store``.

    Calls keep the cost the collector stored (nothing is priced again), so the analyses see the
    collector's figures.
    """
    try:
        calls = [call_from_native(c) for c in body["calls"]]
        charges = [charge_from_native(c) for c in body["charges"]]
        outcomes = [outcome_from_native(o) for o in body["outcomes"]]
        spans = [
            {
                **span,
                **{name: parse_time(span[name], name) for name in _SPAN_TIMES if span.get(name) is not None},
            }
            for span in body["spans"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise CollectorError(
            f"the collector at {client.url} answered GET {_session_route(session_id)} with records that "
            f"do not read ({type(exc).__name__}: {exc})"
        ) from exc
    if calls:
        store.insert_calls(calls)
    if charges:
        store.insert_charges(charges)
    if outcomes:
        store.insert_outcomes(outcomes)
    if spans:
        store.insert_spans(spans_to_arrow(spans))
