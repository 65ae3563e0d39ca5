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

from tokenomy.analysis.baselines import DEFAULT_THRESHOLD
from tokenomy.analysis.dimensions import Grouping, Scope, as_utc, parse_bucket, parse_dimensions, parse_where
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.overview import overview
from tokenomy.analysis.overview_wire import overview_json
from tokenomy.analysis.periods import check_compare
from tokenomy.analysis.report import daily_totals
from tokenomy.analysis.report_analyses import Analyses, analysis_report, parity_pair
from tokenomy.analysis.report_wire import analysis_json, report_row_json, summary_json
from tokenomy.analysis.serialize import sessions_json
from tokenomy.analysis.sessions import top_sessions
from tokenomy.analysis.summary import summary
from tokenomy.budgets.accounts import Account
from tokenomy.budgets.policy import Policy, Unit
from tokenomy.budgets.policy import Scope as BudgetScope
from tokenomy.budgets.spend import StoreSpend
from tokenomy.errors import ConfigError, PayloadError
from tokenomy.native import call_to_native, charge_to_native, format_time, money_text
from tokenomy.store.arrow import call_from_row, charge_from_row
from tokenomy.store.base import TIME_UNITS, CallFilter, Store, TimeUnit
from tokenomy.store.snapshot import snapshot

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
MAX_OFFSET: Final = 2**63 - 1 - (MAX_LIMIT + 1)
"""The largest ``offset`` the store's 64-bit ``LIMIT ... OFFSET`` takes (a larger one was a 500)."""
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
    single, where = _split(query, REPORT_PARAMS)
    view = single.get("view") or "totals"
    if view not in REPORT_VIEWS:
        raise PayloadError(400, f"query parameter view={view!r} is not one of {', '.join(REPORT_VIEWS)}")
    charges, metrics, parts = _flag(single, "charges"), _flag(single, "metrics"), _flag(single, "parts")
    given = {name for name, value in single.items() if value and name != "view"} | (
        {"where"} if where else set()
    )
    given -= {name for name, on in (("charges", charges), ("metrics", metrics), ("parts", parts)) if not on}
    grouped = _combination(given, view)
    filters = _call_filter(single)
    selection = _selection(single, where, bucket=True)
    analyses = Analyses(
        compare=_compare(single),
        threshold=_threshold(single),
        metrics=metrics,
        budget_tokens=_positive(single, "budget_tokens"),
        parity=_parity(single),
        parts=parts,
    )
    return _ReportRequest(
        form=view if view != "totals" else ("grouped" if grouped else "totals"),
        filters=filters,
        selection=selection,
        analyses=analyses,
        charges=charges,
        top=_positive(single, "top") or TOP_SESSIONS,
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


def _split(
    query: Mapping[str, str] | Sequence[tuple[str, str]], allowed: Sequence[str]
) -> tuple[dict[str, str], list[str]]:
    """A route's parameters among ``allowed``: each but ``where`` once, and the ``where`` items in order."""
    pairs = list(query.items()) if isinstance(query, Mapping) else list(query)
    unknown = sorted({name for name, _ in pairs} - set(allowed))
    if unknown:
        raise PayloadError(
            400, f"unknown query parameter(s) {', '.join(unknown)}; this route takes {', '.join(allowed)}"
        )
    single: dict[str, str] = {}
    where: list[str] = []
    for name, value in pairs:
        if name == "where":
            where.append(value)
        elif name in single:
            raise PayloadError(400, f"query parameter {name} is given more than once (only where repeats)")
        else:
            single[name] = value
    return single, where


def _selection(query: Mapping[str, str], where: Sequence[str], *, bucket: bool) -> Selection:
    """The period, ``where`` filters, ``by`` dimensions (and with ``bucket`` the time bucket) of a
    query, checked as the CLI checks its options."""
    since, until = _period(query)
    try:
        scope = Scope(as_utc(since), as_utc(until), parse_where(where, option="query parameter where"))
        by = parse_dimensions(query.get("by") or None, option="query parameter by")
    except ConfigError as exc:
        raise PayloadError(400, str(exc)) from exc
    return Selection(scope, Grouping(by, _bucket(query) if bucket else None))


def _compare(query: Mapping[str, str]) -> str | None:
    """The baseline period, checked as ``--compare`` is (before anything is read)."""
    value = query.get("compare") or None
    if value is not None:
        try:
            check_compare(value, option="query parameter compare")
        except ConfigError as exc:
            raise PayloadError(400, str(exc)) from exc
    return value


def _threshold(query: Mapping[str, str]) -> float:
    """The regression threshold: a number of 0 or more, as ``--threshold`` takes it."""
    value = query.get("threshold")
    if not value:
        return DEFAULT_THRESHOLD
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number < 0:
        raise PayloadError(
            400, f"query parameter threshold={value!r} is not a number of 0 or more (0.25 is a rise of 25%)"
        )
    return number


def _positive(query: Mapping[str, str], name: str) -> int | None:
    """A whole number of 1 or more, or None when not given."""
    if not query.get(name):
        return None
    number = _int(query, name, 0)
    if number < 1:
        raise PayloadError(400, f"query parameter {name}={number} must be 1 or more")
    return number


def _parity(query: Mapping[str, str]) -> tuple[str, str] | None:
    value = query.get("parity")
    if not value:
        return None
    try:
        return parity_pair(value)
    except ValueError as exc:
        raise PayloadError(400, f"query parameter parity: {exc}") from exc


def _bucket(query: Mapping[str, str]) -> TimeUnit | None:
    try:
        return parse_bucket(query.get("bucket") or None)
    except ConfigError as exc:
        raise PayloadError(
            400, f"query parameter bucket={query['bucket']!r} is not one of {', '.join(TIME_UNITS)}"
        ) from exc


def _flag(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name, "")
    if value.lower() not in ("", "true", "false"):
        raise PayloadError(400, f"query parameter {name}={value!r} is not true or false")
    return value.lower() == "true"


def calls(store: Store, query: Mapping[str, str]) -> Answer:
    """``GET /api/v1/calls``: calls newest first, filtered by time, session, provider and model."""
    filters = _filters(
        query, allowed=("since", "until", "session_id", "provider", "model", "limit", "offset")
    )
    limit, offset = _page(query)
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
    single, where = _split(query, SESSIONS_PARAMS)
    if _sessions_view(single, where) == "top":
        selection = _selection(single, where, bucket=False)
        top = _positive(single, "top") or TOP_RANKED
        with snapshot(store) as moment:  # the ranking and its counts from one moment
            return 200, sessions_json(top_sessions(moment, selection, top=top))
    filters = _call_filter(single)
    limit, offset = _page(single)
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
    _split(query, ("scope", "value", "since", "until", "session"))
    try:
        scope = BudgetScope(query.get("scope", "global"))
    except ValueError as exc:
        names = ", ".join(s.value for s in BudgetScope)
        raise PayloadError(400, f"query parameter scope={query['scope']!r} is not one of {names}") from exc
    since, until = _period(query)
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


def _filters(query: Mapping[str, str], *, allowed: tuple[str, ...]) -> CallFilter:
    _split(query, allowed)
    return _call_filter(query)


def _call_filter(query: Mapping[str, str]) -> CallFilter:
    """The period, session, provider and model of a query."""
    since, until = _period(query)
    return CallFilter(
        since=since,
        until=until,
        session_id=query.get("session_id") or None,
        provider=query.get("provider") or None,
        model=query.get("model") or None,
    )


def _period(query: Mapping[str, str]) -> tuple[datetime | date | None, datetime | date | None]:
    """``since`` and ``until`` from the query, refusing an ``until`` that is not after ``since``
    (it would select nothing, silently), as ``--since``/``--until`` are refused by the CLI.

    Raises:
        PayloadError: 400 for a malformed time, or for ``until`` not after ``since`` (naming both).
    """
    since, until = _time(query, "since"), _time(query, "until")
    start, end = as_utc(since), as_utc(until)
    if start is not None and end is not None and end <= start:
        raise PayloadError(
            400,
            f"query parameter until={query['until']!r} is not after since={query['since']!r}: "
            "the period would select nothing",
        )
    return since, until


def _time(query: Mapping[str, str], name: str) -> datetime | date | None:
    value = query.get(name)
    if not value:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PayloadError(
            400,
            f"query parameter {name}={value!r} is not a date (2026-03-01) or a time (2026-03-01T09:30:00Z)",
        ) from exc


def _page(query: Mapping[str, str]) -> tuple[int, int]:
    limit = _int(query, "limit", DEFAULT_LIMIT)
    offset = _int(query, "offset", 0)
    if not 1 <= limit <= MAX_LIMIT:
        raise PayloadError(400, f"query parameter limit={limit} must be between 1 and {MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise PayloadError(400, f"query parameter offset={offset} must be between 0 and {MAX_OFFSET}")
    return limit, offset


def _int(query: Mapping[str, str], name: str, default: int) -> int:
    value = query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise PayloadError(400, f"query parameter {name}={value!r} is not a whole number") from exc


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"status": status, "message": message}}
