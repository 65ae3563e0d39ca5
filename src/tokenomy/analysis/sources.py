"""The calls analyses read, joined with what other parts of tokenomy may have recorded about them.

Beyond ``calls`` and ``charges``, a store may hold (depending on its migrations):

* ``outcomes``: outcomes that arrived after the call, for a call or a whole session
  (``target`` = ``call`` | ``session``); the latest one per target wins;
* ``findings``: the waste audit's findings; ``call_ids`` lists the calls wasted as a whole
  (superseded retries, truncated attempts, repeated tool calls), while calls that wasted only
  part of their tokens (filler, a bloated prompt, a missed cache) are listed elsewhere and stay
  useful;
* ``audits``: each stored audit's filters and period, one that found nothing included (a store
  made before that table has the audits whose findings it holds);
* ``spans``: non-LLM trace spans (agents, tools), for session trees.

:func:`detect` looks at the store's tables once; :meth:`Sources.calls_sql` is the ``calls``
table with a few derived columns every analysis uses (``_succeeded``, ``_wasted``...). When a
table is missing, the derived columns fall back to what the calls carry themselves, and
:attr:`Sources.waste_assessed` says whether "wasted" means anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from tokenomy.analysis.dimensions import Scope, ScopeSQL, as_utc
from tokenomy.store.base import Dialect, Store, trace_sessions_sql

WASTE_NOT_ASSESSED: Final = "waste not assessed: no audit is stored (run `tokenomy audit`)"
WASTE_PARTLY_ASSESSED: Final = (
    "waste assessed in part only: no stored audit covers this period and these filters, so calls outside"
    " the audits' scope count as not wasted (run `tokenomy audit` with the same --since, --until and --where)"
)

ESTIMATED: Final = "(c.cost_estimated OR c.usage_kind <> 'reported')"
"""A call (alias ``c``) with estimated figures: tokens counted locally rather than reported, or a
cost whose price was assumed; NULL for an unpriced call that reported its usage."""

_WASTE_NOTES: Final = {
    "waste not assessed": WASTE_NOT_ASSESSED,
    "waste assessed in part": WASTE_PARTLY_ASSESSED,
}
"""Each caveat of :meth:`Sources.waste_caveat` as a metric's note says it."""


@dataclass(frozen=True, slots=True)
class Audited:
    """The scope of one stored audit: its filters (``team=search`` each, none for all calls) and period."""

    filters: frozenset[str]
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Where the ``outcomes`` table keeps the target id and the time of an outcome."""

    id_column: str
    time_column: str | None


@dataclass(frozen=True, slots=True)
class Sources:
    """Which optional tables the store holds, and how to read them."""

    outcomes: Outcomes | None = None
    wasted_sql: str | None = None
    """A query giving one ``call_id`` per wasted call, or None when no stored audit found any."""
    spans: tuple[str, ...] = ()
    """Columns of the ``spans`` table (empty when there is none)."""
    trace_sessions: bool = False
    """Some calls have a trace but no session: they take the session of their trace."""
    audits: tuple[Audited, ...] = ()
    """The scopes of the stored audits."""
    calls_span: tuple[datetime | None, datetime | None] = (None, None)
    """The first and the last call's start in the store (read only when audits are stored)."""

    @property
    def waste_assessed(self) -> bool:
        """True when an audit is stored (whether or not it found waste)."""
        return bool(self.audits) or self.wasted_sql is not None

    def assessed(self, scope: Scope) -> bool:
        """True when a stored audit covers ``scope``: one run over all calls, or with filters the
        scope's include, whose period (its ``--since``/``--until``, else its first and last call's
        start) holds the scope's calls. An audit of one team, or of a later week, or one run before
        newer calls came, leaves the other calls unassessed, not free of waste."""
        wanted = {f"{name}={','.join(values)}" for name, values in scope.where}  # as audits store them
        first, last = self.calls_span
        since, until = as_utc(scope.since), as_utc(scope.until)
        since = first if since is None or (first is not None and first > since) else since
        end_in = last if until is None or (last is not None and last < until) else until
        return any(
            audit.filters <= wanted
            and (audit.start is None or (since is not None and since >= audit.start))
            and (audit.end is None or (end_in is not None and end_in <= audit.end))
            for audit in self.audits
        )

    def waste_caveat(self, scope: Scope) -> str | None:
        """The caveat on waste over ``scope`` in a few words (a KPI tile's): ``waste not assessed`` (no
        stored audit), ``waste assessed in part`` (none covers it), or None."""
        if not self.waste_assessed:
            return "waste not assessed"
        return None if self.assessed(scope) else "waste assessed in part"

    def waste_notes(self, scope: Scope) -> list[str]:
        """The note a metric that reads waste carries for ``scope`` (none when an audit covers it)."""
        caveat = self.waste_caveat(scope)
        return [] if caveat is None else [_WASTE_NOTES[caveat]]

    def calls_sql(self, dialect: Dialect, scope: ScopeSQL, columns: Sequence[str] = ()) -> str:
        """The selected calls (alias ``c``) with derived columns and ``columns`` appended.

        Derived columns: ``_session`` (the call's session, else the session of another call or
        span of its trace), ``_call_success`` and ``_call_action`` (the call's own outcome),
        ``_session_success`` and ``_session_action`` (an outcome recorded for its session),
        ``_succeeded`` (status ok and no outcome says it failed) and ``_wasted`` (an audit listed
        it as waste). ``scope`` and ``columns`` may use them.
        """
        joins: list[str] = []
        session = "c.session_id"
        if self.trace_sessions:
            on = "c.session_id IS NULL AND ts.trace_id = c.trace_id"
            joins.append(f"LEFT JOIN ({self.trace_sessions_sql()}) ts ON {on}")
            session = "coalesce(c.session_id, ts.session_id)"
        call_success, call_action = "c.success", "c.action"
        session_success, session_action = "CAST(NULL AS BOOLEAN)", "CAST(NULL AS VARCHAR)"
        if self.outcomes is not None:
            joins.append(f"LEFT JOIN ({self.latest(dialect, 'call')}) o ON o.target_id = c.id")
            joins.append(f"LEFT JOIN ({self.latest(dialect, 'session')}) so ON so.target_id = {session}")
            call_success, call_action = "coalesce(o.success, c.success)", "coalesce(o.action, c.action)"
            session_success, session_action = "so.success", "so.action"
        wasted = "FALSE"
        if self.wasted_sql is not None:
            joins.append(f"LEFT JOIN ({self.wasted_sql}) w ON w.call_id = c.id")
            wasted = "(w.call_id IS NOT NULL)"
        derived = [
            f"{session} AS _session",
            f"{call_success} AS _call_success",
            f"{call_action} AS _call_action",
            f"{session_success} AS _session_success",
            f"{session_action} AS _session_action",
            f"(c.status = 'ok' AND coalesce({call_success}, {session_success}, TRUE)) AS _succeeded",
            f"{wasted} AS _wasted",
        ]
        inner = f"SELECT {', '.join(['c.*', *derived])} FROM calls c {' '.join(joins)}"
        return f"SELECT {', '.join(['c.*', *columns])} FROM ({inner}) c WHERE {scope.condition}"

    def trace_sessions_sql(self) -> str:
        """One session per trace (:func:`tokenomy.store.base.trace_sessions_sql`), from the spans too
        when the store has them."""
        return trace_sessions_sql(spans={"trace_id", "session_id"} <= set(self.spans))

    def latest(self, dialect: Dialect, target: str) -> str:
        """The outcome last recorded for each ``target`` (``call`` or ``session``): ``target_id``,
        ``success``, ``action``."""
        assert self.outcomes is not None
        ident = self.outcomes.id_column
        time = self.outcomes.time_column
        if time is None:
            success, action = "bool_or(success)", "max(action)"
        else:
            success, action = dialect.arg_max("success", time), dialect.arg_max("action", time)
        return (
            f"SELECT {ident} AS target_id, {success} AS success, {action} AS action "
            f"FROM outcomes WHERE target = '{target}' GROUP BY {ident}"
        )


def detect(store: Store) -> Sources:
    """What the store holds beyond calls and charges (see the module docstring)."""
    orphans = store.query(
        "SELECT count(*) AS n FROM calls WHERE session_id IS NULL AND trace_id IS NOT NULL"
    ).to_pylist()[0]["n"]
    outcomes = _outcomes(store.table_columns("outcomes"))
    if outcomes is not None and _empty(store, "outcomes"):
        outcomes = None  # joining an empty table costs a pass over every call for nothing
    wasted = _wasted(store)
    audits = _audits(store)
    return Sources(
        outcomes=outcomes,
        wasted_sql=wasted,
        spans=store.table_columns("spans"),
        trace_sessions=bool(orphans),
        audits=audits,
        calls_span=_calls_span(store) if audits else (None, None),
    )


def _calls_span(store: Store) -> tuple[datetime | None, datetime | None]:
    row = store.query("SELECT min(started_at) AS first, max(started_at) AS last FROM calls").to_pylist()[0]
    return as_utc(row["first"]), as_utc(row["last"])


def _audits(store: Store) -> tuple[Audited, ...]:
    """The distinct scopes of the stored audits (of those whose findings are stored, in a store with
    no ``audits`` table)."""
    table = "audits"
    if not {"audit_scope", "period_start", "period_end"} <= set(store.table_columns(table)):
        table = "findings"
        if not {"audit_scope", "period_start", "period_end"} <= set(store.table_columns(table)):
            return ()
    rows = store.query(
        f"SELECT DISTINCT coalesce(audit_scope, '') AS w, period_start AS s, period_end AS e FROM {table}"
    ).to_pylist()
    # the audit's filters as it stored them: ``team=search;feature=chat``, one item a filter
    return tuple(
        Audited(frozenset(f for f in r["w"].split(";") if f), as_utc(r["s"]), as_utc(r["e"])) for r in rows
    )


def _empty(store: Store, table: str) -> bool:
    return not store.query(f"SELECT count(*) AS n FROM (SELECT 1 FROM {table} LIMIT 1) t").to_pylist()[0]["n"]


def _outcomes(columns: tuple[str, ...]) -> Outcomes | None:
    needed = {"target", "success", "action"}
    ident = next((c for c in ("target_id", "id") if c in columns), None)
    if not needed <= set(columns) or ident is None:
        return None
    time = next((c for c in ("at", "recorded_at", "created_at") if c in columns), None)
    return Outcomes(id_column=ident, time_column=f'"{time}"' if time else None)


def _wasted(store: Store) -> str | None:
    """SQL listing wasted call ids, when an audit has stored findings."""
    columns = store.table_columns("findings")
    if "call_ids" not in columns:
        return None
    if _empty(store, "findings"):
        return None
    return f"SELECT DISTINCT {store.dialect.unnest('call_ids')} AS call_id FROM findings"
