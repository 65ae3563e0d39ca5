"""``tokenomy sessions --server`` and ``tokenomy session ID --server``: the same ranking and tree as
from the store, read through a running collector's API.

The ranking is computed by the collector: ``GET /api/v1/sessions?view=top`` runs
:func:`tokenomy.analysis.sessions.top_sessions` over one snapshot of its store and answers the JSON
``tokenomy sessions --format json`` prints, which :mod:`tokenomy.analysis.sessions_wire` reads back
into the same :class:`~tokenomy.analysis.sessions.SessionList` (one request, ``--by`` and
``--where`` included).

A session's tree is built here: ``GET /api/v1/sessions/{id}`` answers the session's calls, charges,
outcomes and spans (``Store.session_records`` on the collector's side), which are written to an
in-memory store where the store path's :func:`tokenomy.analysis.session_tree.session_tree` runs on
them, so both paths print the same thing (the records' times come to the microsecond, as stored).

:func:`read_analysis` reads an analysis the collector computes (the report's forms too,
cli/collector_report.py) and tells a collector older than this CLI apart in its message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import InvalidOperation
from typing import Any, Final, TypeVar
from urllib.parse import quote

from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.session_tree import SessionTree, unknown_session
from tokenomy.analysis.session_tree import session_tree as build_tree
from tokenomy.analysis.sessions import SessionList
from tokenomy.analysis.sessions_wire import sessions_from_json
from tokenomy.cli.collector_client import (
    BadRequestError,
    CollectorClient,
    CollectorError,
    NotFoundError,
    shown,
)
from tokenomy.native import call_from_native, charge_from_native, outcome_from_native, parse_time
from tokenomy.store import open_store
from tokenomy.store.duckdb import DuckDBStore
from tokenomy.store.events import spans_to_arrow

SESSIONS: Final = "/api/v1/sessions"
RECENT: Final = "is the collector's tokenomy as recent as this one?"
_OLDER: Final = (
    "unknown query parameter",
    "query parameter view=",
    "query parameter where is given more than once",
)
"""What a collector older than this CLI says of a parameter this CLI sends: it does not know it, nor
the view it asks for, or (before the sessions' ranking) it refuses the ``where`` that repeats."""
_SPAN_TIMES: Final = ("started_at", "ended_at", "imported_at")
"""The ``spans`` columns the API writes as ISO 8601 text."""
T = TypeVar("T")
Query = list[tuple[str, str]]


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
    """The ``top`` most expensive sessions of ``selection`` (period, where filters, ranked within
    each group of its dimensions; the bucket is not used), as the store path ranks them.

    Raises:
        CollectorError: The collector could not be read, or its answer does not read.
    """
    scope = selection.scope
    query = [*period_query(scope.since, scope.until).items(), *where_query(scope)]
    query += [("view", "top"), ("top", str(top))]
    if selection.grouping.by:
        query.append(("by", ",".join(selection.grouping.by)))
    return read_analysis(client, SESSIONS, query, sessions_from_json, what="a ranking")


def period_query(since: datetime | None, until: datetime | None) -> dict[str, str]:
    """The API's ``since`` and ``until`` (UTC, as the store path reads ``--since`` and ``--until``)."""
    return {
        name: value.isoformat() + "Z"
        for name, value in (("since", since), ("until", until))
        if value is not None
    }


def where_query(scope: Scope) -> Query:
    """The API's ``where`` items, one per value (the same dimension twice keeps either value)."""
    return [("where", f"{name}={value}") for name, values in scope.where for value in values]


def read_analysis(
    client: CollectorClient,
    route: str,
    query: Sequence[tuple[str, str]] | Mapping[str, str],
    read: Callable[[Any], T],
    *,
    what: str,
) -> T:
    """``GET route?query`` read by ``read``; a collector older than this CLI (it refuses a parameter
    this CLI sent by name, or answers another shape) is told apart in the message.

    Raises:
        CollectorError: The collector could not be read, or refused the query (its message), or its
            answer does not read (``what`` names the answer).
    """
    try:
        body = client.get(route, query)
    except BadRequestError as exc:
        # a 400 about a parameter the CLI sent by itself (not a value the user gave): the collector's age
        if not any(sign in exc.reason for sign in _OLDER):
            raise
        raise CollectorError(f"{exc}; {RECENT}") from exc
    try:
        return read(body)
    except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation) as exc:
        raise CollectorError(
            f"the collector at {client.url} answered GET {shown(route)} with {what} that does not read "
            f"({type(exc).__name__}: {exc}); {RECENT}"
        ) from exc


def _session_route(session_id: str) -> str:
    """``/api/v1/sessions/{id}``, the id percent-encoded (a ``/`` in it too: the collector reads the
    id from the path as sent)."""
    return f"/api/v1/sessions/{quote(session_id, safe='')}"


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
            f"the collector at {client.url} answered GET {shown(_session_route(session_id))} with records "
            f"that do not read ({type(exc).__name__}: {exc})"
        ) from exc
    if calls:
        store.insert_calls(calls)
    if charges:
        store.insert_charges(charges)
    if outcomes:
        store.insert_outcomes(outcomes)
    if spans:
        store.insert_spans(spans_to_arrow(spans))
