"""The read-only REST API (``/api/v1/...``): the report, calls, sessions, as JSON.

Records are shown in their native JSON form (:mod:`tokenomy.native`: calls as ``tokenomy
export`` writes them, charges and outcomes with their ``type``), money as decimal strings, times
as ISO 8601 UTC with a ``Z``. Lists are pages: ``limit`` (1 to 1000, default 100) and ``offset``;
``next_offset`` is null on the last page. The report and the session ranking are the CLI's own
analyses over one snapshot of the store, answered in the JSON its ``--format json`` prints. Bad query
parameters are a 400 that names them.
Every function here runs on the server's reader thread and returns ``(status, body)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.overview import overview
from tokenomy.analysis.overview_wire import overview_json
from tokenomy.analysis.report import daily_totals
from tokenomy.analysis.report_analyses import Analyses, analysis_report
from tokenomy.analysis.report_wire import analysis_json, report_row_json, summary_json
from tokenomy.analysis.results import jsonable
from tokenomy.analysis.serialize import sessions_json
from tokenomy.analysis.sessions import top_sessions
from tokenomy.analysis.summary import summary
from tokenomy.budgets.accounts import Account
from tokenomy.budgets.policy import Policy, Unit
from tokenomy.budgets.policy import Scope as BudgetScope
from tokenomy.budgets.spend import StoreSpend
from tokenomy.errors import ConfigError, PayloadError
from tokenomy.native import call_to_native, charge_to_native, format_time, money_text
from tokenomy.server.query import (
    call_filter_of,
    compare_of,
    filters_of,
    flag_of,
    page_of,
    parity_of,
    period_of,
    positive_of,
    selection_of,
    split_query,
    threshold_of,
)
from tokenomy.store.arrow import call_from_row, charge_from_row
from tokenomy.store.base import CallFilter, Store
from tokenomy.store.snapshot import snapshot

Answer = tuple[int, dict[str, Any]]
REPORT_PARAMS: Final = (
    "since",
    "until",
    "provider",
    "model",
    "by",
    "bucket",
    "where",
    "view",
    "charges",
    "compare",
    "threshold",
    "metrics",
    "budget_tokens",
    "parity",
    "parts",
    "top",
)
"""The query parameters of ``GET /api/v1/report``."""
REPORT_VIEWS: Final = ("totals", "summary", "overview")
_ANALYSIS: Final = ("by", "bucket", "where", "compare", "metrics", "budget_tokens", "parity", "parts")
"""The parameters that turn the totals into the grouped report (``tokenomy report --by...``)."""
_OVERVIEW: Final = ("since", "until", "where", "by", "compare", "top", "threshold")
"""What ``view=overview`` takes (``threshold`` is read with ``compare`` by the grouped form only)."""
TOP_SESSIONS: Final = 10
"""Sessions in the overview without ``top``, as ``tokenomy report --top``."""
_RANKING: Final = ("top", "by", "where")
"""The parameters that turn the list of sessions into their ranking (``tokenomy sessions``)."""
_LISTING: Final = ("provider", "model", "limit", "offset")
"""The parameters of the list only."""
SESSIONS_PARAMS: Final = ("since", "until", *_LISTING, "view", *_RANKING)
"""The query parameters of ``GET /api/v1/sessions``."""
SESSIONS_VIEWS: Final = ("list", "top")
TOP_RANKED: Final = 20
"""Sessions ranked (per group) without ``top``, as ``tokenomy sessions --top``."""


@dataclass(frozen=True, slots=True)
class _ReportRequest:
    """The report's parameters, read and checked: which form, over what, with what."""

    form: str
    """``totals``, ``grouped``, ``summary`` or ``overview``."""
    filters: CallFilter
    selection: Selection
    analyses: Analyses
    charges: bool
    top: int


def report(store: Store, query: Mapping[str, str] | Sequence[tuple[str, str]]) -> Answer:
    """``GET /api/v1/report``: the report ``tokenomy report`` prints, in one of four forms.

    * By default, totals by UTC day, provider and model (``since``, ``until``, ``provider``,
      ``model``); ``charges=true`` adds each day's charges (a row with no provider and no model)
      and every row's ``charges``, ``charge_cost`` and ``spend``.
    * ``by``, ``bucket``, ``where`` (repeatable ``dim=value``), ``compare`` (with ``threshold``),
      ``metrics``, ``budget_tokens``, ``parity`` or ``parts``: the attribution table and its KPIs,
      with the cost drivers, intent baselines, metrics and cost split by part those add
      (:func:`tokenomy.analysis.report_analyses.analysis_report`), as ``tokenomy report --by...``.
    * ``view=summary``: the default report (:func:`tokenomy.analysis.summary.summary`; with
      ``parts=true``, the cost split by part too).
    * ``view=overview``: the HTML report's data (:func:`tokenomy.analysis.overview.overview`; ``by``
      default ``team``, ``compare``, ``top`` sessions).

    Every form runs its queries over one snapshot of the store. ``query`` is the parameters as
    pairs (``where`` may repeat) or as a mapping.

    Raises:
        PayloadError: 400 for an unknown, repeated or malformed parameter, for parameters that
            do not go together, or for a period the comparison cannot use.
    """
    request = _report_request(query)
    with snapshot(store) as moment:  # one transaction: the parts of the answer add up (docs/server.md)
        try:
            return 200, _report_body(moment, request)
        except ConfigError as exc:  # a period the data leaves empty (--since after the last call...)
            raise PayloadError(400, str(exc)) from exc


def _report_body(store: Store, request: _ReportRequest) -> dict[str, Any]:
    """The report's answer from ``store`` (a snapshot)."""
    selection, analyses = request.selection, request.analyses
    if request.form == "grouped":
        return analysis_json(analysis_report(store, selection, analyses))
    if request.form == "summary":
        return summary_json(summary(store, selection.scope, parts=analyses.parts))
    if request.form == "overview":
        by = selection.grouping.by or ("team",)
        found = overview(store, selection.scope, by=by, compare=analyses.compare, top=request.top)
        return overview_json(found)
    filters, charges = request.filters, request.charges
    result = daily_totals(store, filters, charges=charges)
    return {
        "since": _iso(filters.since),
        "until": _iso(filters.until),
        "rows": [report_row_json(r, with_keys=True, charges=charges) for r in result.rows],
        "total": report_row_json(result.total, with_keys=False, charges=charges),
    }


def _report_request(query: Mapping[str, str] | Sequence[tuple[str, str]]) -> _ReportRequest:
    """The report's parameters checked in order: names, the view, what goes together, each value."""
    single, where = split_query(query, REPORT_PARAMS)
    view = single.get("view") or "totals"
    if view not in REPORT_VIEWS:
        raise PayloadError(400, f"query parameter view={view!r} is not one of {', '.join(REPORT_VIEWS)}")
    charges, metrics, parts = flag_of(single, "charges"), flag_of(single, "metrics"), flag_of(single, "parts")
    given = {name for name, value in single.items() if value and name != "view"} | (
        {"where"} if where else set()
    )
    given -= {name for name, on in (("charges", charges), ("metrics", metrics), ("parts", parts)) if not on}
    grouped = _combination(given, view)
    filters = call_filter_of(single)
    selection = selection_of(single, where, bucket=True)
    analyses = Analyses(
        compare=compare_of(single),
        threshold=threshold_of(single),
        metrics=metrics,
        budget_tokens=positive_of(single, "budget_tokens"),
        parity=parity_of(single),
        parts=parts,
    )
    return _ReportRequest(
        form=view if view != "totals" else ("grouped" if grouped else "totals"),
        filters=filters,
        selection=selection,
        analyses=analyses,
        charges=charges,
        top=positive_of(single, "top") or TOP_SESSIONS,
    )


def _combination(given: set[str], view: str) -> bool:
    """Refuse parameters that do not go together (given: those with a value, flags that are on);
    True when the parameters make the grouped report."""
    grouping = [name for name in _ANALYSIS if name in given and not (name == "parts" and view == "summary")]
    if view == "overview":
        refused = [name for name in REPORT_PARAMS if name in given and name not in _OVERVIEW]
        if refused:
            raise PayloadError(
                400,
                f"query parameter {' and '.join(refused)} cannot be combined with view=overview: "
                "the overview takes since, until, where, by, compare and top",
            )
        return False
    narrowed = [name for name in ("provider", "model") if name in given]
    others = narrowed + (["charges"] if "charges" in given else [])
    if grouping and (others or view != "totals"):
        extra = others + (["view"] if view != "totals" else [])
        hint = "; the grouped report filters with where (where=provider=openai)" if narrowed else ""
        raise PayloadError(
            400,
            f"query parameter {' and '.join(extra)} cannot be combined with {' and '.join(grouping)}{hint}",
        )
    if view == "summary" and others:
        raise PayloadError(
            400,
            f"query parameter {' and '.join(others)} cannot be combined with view=summary: "
            "the summary takes since, until and parts only",
        )
    return bool(grouping)


def calls(store: Store, query: Mapping[str, str]) -> Answer:
    """``GET /api/v1/calls``: calls newest first, filtered by time, session, provider and model."""
    filters = filters_of(
        query, allowed=("since", "until", "session_id", "provider", "model", "limit", "offset")
    )
    limit, offset = page_of(query)
    table = store.calls_page(filters, limit=limit + 1, offset=offset)
    rows = [call_json(r) for r in table.slice(0, limit).to_pylist()]
    return 200, {"calls": rows, "next_offset": offset + limit if table.num_rows > limit else None}


def call(store: Store, call_id: str) -> Answer:
    """``GET /api/v1/calls/{id}``: one call with the outcomes recorded for it later."""
    table = store.call_by_id(call_id)
    if table.num_rows == 0:
        return 404, _error(404, f"no call with id {call_id!r} in the store")
    body = call_json(table.to_pylist()[0])
    body["outcomes"] = outcomes_json(store.outcomes_table("call", [call_id]))
    return 200, body


def sessions(store: Store, query: Mapping[str, str] | Sequence[tuple[str, str]]) -> Answer:
    """``GET /api/v1/sessions``: sessions with their totals, in one of two forms.

    * By default, the list, most recently active first, a page at a time (``since``, ``until``,
      ``provider``, ``model``, ``limit``, ``offset``).
    * ``view=top`` (or ``top``, ``by``, ``where``): the ``top`` most expensive sessions (per group of
      ``by``), as ``tokenomy sessions`` ranks them (:func:`tokenomy.analysis.sessions.top_sessions`,
      over one snapshot of the store), in the JSON ``tokenomy sessions --format json`` prints.

    ``query`` is the parameters as pairs (``where`` may repeat) or as a mapping.

    Raises:
        PayloadError: 400 for an unknown, repeated or malformed parameter, or for parameters of
            both forms.
    """
    single, where = split_query(query, SESSIONS_PARAMS)
    if _sessions_view(single, where) == "top":
        selection = selection_of(single, where, bucket=False)
        top = positive_of(single, "top") or TOP_RANKED
        with snapshot(store) as moment:  # the ranking and its counts from one moment
            return 200, sessions_json(top_sessions(moment, selection, top=top))
    filters = call_filter_of(single)
    limit, offset = page_of(single)
    table = store.sessions_page(filters, limit=limit + 1, offset=offset)
    rows = [_plain(r) for r in table.slice(0, limit).to_pylist()]
    return 200, {"sessions": rows, "next_offset": offset + limit if table.num_rows > limit else None}


def _sessions_view(single: Mapping[str, str], where: Sequence[str]) -> str:
    """``list`` or ``top``: the view asked for, else ``top`` when a ranking parameter is given;
    parameters of the other form are refused."""
    view = single.get("view") or ""
    if view and view not in SESSIONS_VIEWS:
        raise PayloadError(400, f"query parameter view={view!r} is not one of {', '.join(SESSIONS_VIEWS)}")
    ranking = [name for name in _RANKING if single.get(name) or (name == "where" and where)]
    listing = [name for name in _LISTING if single.get(name)]
    if view == "list" and ranking:
        raise PayloadError(
            400,
            f"query parameter {' and '.join(ranking)} cannot be combined with view=list: "
            "top, by and where rank the sessions (view=top)",
        )
    if (view == "top" or ranking) and listing:
        narrowed = any(name in ("provider", "model") for name in listing)
        raise PayloadError(
            400,
            f"query parameter {' and '.join(listing)} cannot be combined with "
            f"{'view=top' if view == 'top' else ' and '.join(ranking)}: the ranking takes since, until, "
            f"by, where and top{'; it filters with where (where=provider=openai)' if narrowed else ''}",
        )
    return view or ("top" if ranking else "list")


def session(store: Store, session_id: str) -> Answer:
    """``GET /api/v1/sessions/{id}``: the session's calls, charges, outcomes and spans, with totals:
    ``calls``, ``unpriced``, ``cost`` (the priced calls'), ``charges`` (the charges' amount) and
    ``spend`` (both: the cost ``tokenomy session ID`` shows); each amount null when nothing makes it.
    Times are to the microsecond, as stored (``tokenomy session ID --server`` builds the tree from them)."""
    records = store.session_records(session_id)
    if (
        records.calls.num_rows + records.charges.num_rows + records.spans.num_rows + records.outcomes.num_rows
        == 0
    ):
        return 404, _error(404, f"nothing is stored for session {session_id!r}")
    # times at full precision (the native form writes milliseconds), so a tree built from these
    # records is the store's: the order of steps and the running total keep microseconds apart
    calls_json = [_precise(call_json(r), r, ("started_at", "ended_at")) for r in records.calls.to_pylist()]
    charges_json = [
        _precise(charge_to_native(charge_from_row(r)), r, ("at",)) for r in records.charges.to_pylist()
    ]
    costs = [
        Decimal(c["cost"]["total"]) for c in calls_json if c.get("cost") and c["cost"]["total"] is not None
    ]
    charged = [Decimal(c["amount"]) for c in charges_json]
    return 200, {
        "session_id": session_id,
        "totals": {
            "calls": len(calls_json),
            "unpriced": len(calls_json) - len(costs),
            "cost": money_text(sum(costs, Decimal(0))) if costs else None,
            "charges": money_text(sum(charged, Decimal(0))) if charged else None,
            # what `tokenomy session ID` and the ranking call the session's cost: calls and charges
            "spend": money_text(sum((*costs, *charged), Decimal(0))) if costs or charged else None,
        },
        "calls": calls_json,
        "charges": charges_json,
        "outcomes": outcomes_json(records.outcomes),
        "spans": [_plain(r, timespec="microseconds") for r in records.spans.to_pylist()],
    }


def virtual_keys(store: Store, query: Mapping[str, str]) -> Answer:
    """``GET /api/v1/virtual_keys``: the gateway's issued keys (hashes, never keys), for gateways
    whose calls come here. Needs the server token (the app refuses it on a server without one)."""
    if query:
        raise PayloadError(
            400, f"/api/v1/virtual_keys takes no query parameters, got {', '.join(sorted(query))}"
        )
    load = getattr(store, "virtual_keys", None)
    if load is None:
        return 404, _error(404, "this store keeps no virtual keys")
    keys = [
        {
            "key_hash": k.key_hash,
            "name": k.name,
            "attribution": json.loads(k.attribution),
            "created_at": format_time(k.created_at, timespec="microseconds"),
            "expires_at": None
            if k.expires_at is None
            else format_time(k.expires_at, timespec="microseconds"),
            "revoked_at": None
            if k.revoked_at is None
            else format_time(k.revoked_at, timespec="microseconds"),
        }
        for k in load()
    ]
    return 200, {"keys": keys}


def spend(store: Store, query: Mapping[str, str]) -> Answer:
    """``GET /api/v1/spend``: recorded spend of one budget scope value in a window (``scope``,
    ``value``, ``since``, ``until`` or ``session``), what a gateway rebuilds a missing budget account
    from. Needs the server token (the app refuses it on a server without one)."""
    split_query(query, ("scope", "value", "since", "until", "session"))
    try:
        scope = BudgetScope(query.get("scope", "global"))
    except ValueError as exc:
        names = ", ".join(s.value for s in BudgetScope)
        raise PayloadError(400, f"query parameter scope={query['scope']!r} is not one of {names}") from exc
    since, until = period_of(query)
    value = query.get("value") or None
    session = query.get("session") or None
    totals: dict[str, str] = {}
    for unit in (Unit.USD, Unit.TOKENS):
        account = Account("", Policy("spend", Decimal(1), unit, scope), value, session=session)
        if session is None:
            found = StoreSpend(store).window(account.policy, _bound(since), _bound(until), value)
            totals[unit.value] = money_text(found.amount(unit))
        else:
            totals[unit.value] = money_text(StoreSpend(store).spent(account))
    return 200, {
        "scope": scope.value,
        "value": value,
        "usd": totals[Unit.USD.value],
        "tokens": totals[Unit.TOKENS.value],
    }


def _bound(found: datetime | date | None) -> datetime | None:
    if isinstance(found, datetime) or found is None:
        return found
    return datetime(found.year, found.month, found.day)


def call_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored call row in the native JSON form."""
    return call_to_native(call_from_row(row))


def outcomes_json(table: pa.Table) -> list[dict[str, Any]]:
    """Outcome rows in the native JSON form (``"type": "outcome"``)."""
    return [
        {
            "type": "outcome",
            "target": r["target"],
            "id": r["id"],
            "success": r["success"],
            "score": r["score"],
            "action": r["action"],
            "at": format_time(r["at"], timespec="microseconds"),
        }
        for r in table.to_pylist()
    ]


def _precise(record: dict[str, Any], row: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """A native record with the times ``names`` of its stored ``row`` to the microsecond."""
    for name in names:
        if row.get(name) is not None:
            record[name] = format_time(row[name], timespec="microseconds")
    return record


def _plain(row: Mapping[str, Any], *, timespec: str = "milliseconds") -> dict[str, Any]:
    """A row with times as ISO 8601 UTC (to ``timespec``) and amounts as plain decimal strings."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            out[key] = format_time(value, timespec=timespec)
        elif isinstance(value, Decimal):
            out[key] = money_text(value)
        else:
            out[key] = value
    return out


def _iso(value: date | datetime | None) -> str | None:
    """A bound in ISO 8601: a time in UTC with a ``Z`` (as ``tokenomy report --format json`` and every
    other time of the API: it was ``+00:00`` here), a day as itself."""
    if value is None:
        return None
    return str(jsonable(value)) if isinstance(value, datetime) else value.isoformat()


def _error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"status": status, "message": message}}
