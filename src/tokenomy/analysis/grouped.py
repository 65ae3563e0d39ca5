"""Aggregates over the selected calls or charges, per group and in total, in one query each.

Every analysis says *what* to sum (SQL aggregates over the columns of
:meth:`tokenomy.analysis.sources.Sources.calls_sql`, or of ``charges`` with alias ``g``) and a
:class:`Selection` says *over what*: a scope (period and filters) and a grouping (dimensions and
a time bucket). The query runs inside the store's engine with ``GROUPING SETS``, so the groups
and their grand total come from one scan; when every aggregate is a sum or a count (``additive``)
it groups on the plain columns instead, which is cheaper, and the total is added up in Python.
Rows come back as dicts keyed by the aggregate names, with ``group`` (dimension -> value) and
``bucket``. An additive grouping may also split the calls by :class:`Facets` (boolean flags) in
the same scan, for figures that would otherwise need filtered aggregates in a pass of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from tokenomy.analysis.dimensions import Grouping, Scope, group_columns, group_exprs, group_of, scope_sql
from tokenomy.analysis.sources import Sources
from tokenomy.store.base import Store, TimeUnit


@dataclass(frozen=True, slots=True)
class Selection:
    """Which rows an analysis reads (``scope``) and how it groups them (``grouping``)."""

    scope: Scope = field(default_factory=Scope)
    grouping: Grouping = field(default_factory=Grouping)

    @classmethod
    def of(
        cls,
        *,
        by: Sequence[str] = (),
        bucket: TimeUnit | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        where: Sequence[tuple[str, tuple[str, ...]]] = (),
    ) -> Selection:
        """A selection from plain values (``by`` dimension names, ``bucket`` a time unit or None)."""
        return cls(Scope(since, until, tuple(where)), Grouping(tuple(by), bucket))

    def regrouped(self, by: Sequence[str]) -> Selection:
        """The same scope and bucket, grouped by ``by`` instead."""
        return Selection(self.scope, Grouping(tuple(by), self.grouping.bucket))


@dataclass(frozen=True, slots=True)
class Facets:
    """Boolean splits of the calls, and extra additive aggregates, for an additive grouping.

    The query groups on each flag too, so one scan yields the groups' aggregates and, per
    combination of flag values, the same aggregates (with ``sums``) over every group: figures that
    would otherwise take a second pass with a ``FILTER`` per aggregate (which costs DuckDB more
    than a few extra groups of plain sums).
    """

    flags: Mapping[str, str]
    """Name -> boolean SQL over the calls (alias ``c``; the derived columns of
    :meth:`~tokenomy.analysis.sources.Sources.calls_sql` may be used). NULL counts as false."""
    sums: Mapping[str, str] = field(default_factory=dict)
    """Name -> an additive aggregate (a sum or a count) to compute beside the caller's."""
    per_row: tuple[str, ...] = ()
    """Aggregates each row also keeps per combination of flags (under :data:`FACETS_KEY`), for figures
    a row needs from its own facets; none by default (a grouping by session has millions of rows)."""


@dataclass(frozen=True, slots=True)
class Grouped:
    """Aggregated rows per group, and the same aggregates over everything selected."""

    rows: list[dict[str, Any]]
    total: dict[str, Any]
    facets: list[dict[str, Any]] = field(default_factory=list)
    """With :class:`Facets`: one dict per combination of flag values present, holding the flags
    (name -> bool) and every aggregate added up over all groups."""


def _select(
    grouping: Grouping, aggregates: Mapping[str, str], source: str, total: bool = True, flags: int = 0
) -> str:
    aggs = ", ".join(f"{expr} AS {name}" for name, expr in aggregates.items())
    keys = [*grouping.keys, *_flag_keys(flags)]
    if not keys:  # one row: the total, or (when the caller adds rows up itself) the only group
        return f"SELECT {'TRUE' if total else 'FALSE'} AS _total, {aggs} FROM ({source}) c"
    listed = ", ".join(keys)
    if not total:
        return f"SELECT {listed}, FALSE AS _total, {aggs} FROM ({source}) c GROUP BY {listed}"
    return (
        f"SELECT {listed}, grouping({keys[0]}) = 1 AS _total, {aggs} FROM ({source}) c "
        f"GROUP BY GROUPING SETS (({listed}), ()) ORDER BY _total, {listed}"
    )


def _split(table_rows: list[dict[str, Any]], grouping: Grouping, names: Sequence[str]) -> Grouped:
    rows: list[dict[str, Any]] = []
    total: dict[str, Any] | None = None
    for raw in table_rows:
        row = {name: raw[name] for name in names}
        row["group"] = group_of(raw, grouping) if not raw["_total"] else {}
        row["bucket"] = raw.get("bucket") if not raw["_total"] else None
        if raw["_total"]:
            total = row
        else:
            rows.append(row)
    if total is None:  # no rows at all: aggregates over nothing
        total = dict.fromkeys(names) | {"group": {}, "bucket": None}
    return Grouped(rows, total)


FACETS_KEY: Final = "_facets"
"""Where a row of an additive grouping with :class:`Facets` holds its own facets."""


def grouped_calls(
    store: Store,
    sources: Sources,
    selection: Selection,
    aggregates: Mapping[str, str],
    *,
    columns: Sequence[str] = (),
    total: bool = True,
    additive: bool = False,
    facets: Facets | None = None,
) -> Grouped:
    """``aggregates`` over the selected calls, per group of ``selection`` and in total.

    Args:
        store: The store to query.
        sources: The optional tables (see :func:`tokenomy.analysis.sources.detect`).
        selection: Scope and grouping.
        aggregates: Output name -> SQL aggregate over the calls columns (alias ``c``).
        columns: Extra ``<expr> AS <name>`` columns computed per call before aggregating.
        total: Also aggregate over everything selected (``GROUPING SETS``); when False, the
            returned total is empty and the caller adds the rows up itself.
        additive: Every aggregate is a sum or a count: group on the plain columns (cheaper), and
            add up in Python the groups that share a label and the total (exact for integers and
            decimals).
        facets: Also split the calls by these flags (needs ``additive``); their aggregates come
            back in :attr:`Grouped.facets`, the rows and total are as without them (but for the
            aggregates a row keeps of its own facets when they ask for it: ``per_row``).

    Raises:
        ValueError: ``facets`` without ``additive``.
    """
    if facets is not None and not additive:
        raise ValueError("facets need an additive grouping (sums and counts only)")
    dialect = store.dialect
    scope = scope_sql(selection.scope, dialect)
    keys = group_columns(selection.grouping, dialect, raw=additive)
    flags = list(facets.flags.values()) if facets is not None else []
    flagged = [
        f"coalesce({expr}, FALSE) AS {key}" for expr, key in zip(flags, _flag_keys(len(flags)), strict=True)
    ]
    base = sources.calls_sql(dialect, scope, [*keys, *flagged, *columns])
    if facets is not None:
        aggregates = {**aggregates, **facets.sums}
    sql = _select(selection.grouping, aggregates, base, total and not additive, len(flags))
    table = store.query(sql, scope.params)
    if additive:
        return _added(table.to_pylist(), selection.grouping, list(aggregates), facets)
    return _split(table.to_pylist(), selection.grouping, list(aggregates))


def _flag_keys(count: int) -> list[str]:
    return [f"_f{i}" for i in range(count)]


def grouped_charges(
    store: Store,
    selection: Selection,
    aggregates: Mapping[str, str],
    *,
    total: bool = True,
    additive: bool = False,
) -> Grouped:
    """``aggregates`` over the selected charges (alias ``c`` outside, ``g`` for the table), as above."""
    dialect = store.dialect
    scope = scope_sql(selection.scope, dialect, charges=True)
    keys = group_columns(selection.grouping, dialect, charges=True, raw=additive)
    base = f"SELECT {', '.join(['g.*', *keys])} FROM charges g WHERE {scope.condition}"
    table = store.query(_select(selection.grouping, aggregates, base, total and not additive), scope.params)
    if additive:
        return _added(table.to_pylist(), selection.grouping, list(aggregates))
    return _split(table.to_pylist(), selection.grouping, list(aggregates))


def add(a: Any, b: Any) -> Any:
    """``a + b`` where None is "nothing" (so None + None stays None)."""
    if a is None:
        return b
    return a if b is None else a + b


def _added(
    table_rows: list[dict[str, Any]], grouping: Grouping, names: Sequence[str], facets: Facets | None = None
) -> Grouped:
    """Rows grouped on plain columns, labelled, with equal labels, the total and the facets added up;
    with facets that ask for it (``per_row``), each row also holds those aggregates of its own
    (``FACETS_KEY``: one dict per combination of flags, with the flags)."""
    merged: dict[Any, dict[str, Any]] = {}
    own: dict[Any, dict[tuple[bool, ...], dict[str, Any]]] = {}
    total: dict[str, Any] = dict.fromkeys(names) | {"group": {}, "bucket": None}
    flag_names = list(facets.flags) if facets is not None else []
    per_row = facets.per_row if facets is not None else ()
    split: dict[tuple[bool, ...], dict[str, Any]] = {}
    for raw, flags in zip(
        _split(table_rows, grouping, names).rows,
        ([bool(r[k]) for k in _flag_keys(len(flag_names))] for r in table_rows),
        strict=True,
    ):
        key = group_key(raw)
        row = merged.setdefault(key, dict.fromkeys(names) | {"group": raw["group"], "bucket": raw["bucket"]})
        facet = split.setdefault(
            tuple(flags), dict(zip(flag_names, flags, strict=True)) | dict.fromkeys(names)
        )
        for name in names:
            row[name] = add(row[name], raw[name])
            total[name] = add(total[name], raw[name])
            facet[name] = add(facet[name], raw[name])
        if per_row:
            mine = own.setdefault(key, {}).setdefault(
                tuple(flags), dict(zip(flag_names, flags, strict=True)) | dict.fromkeys(per_row)
            )
            for name in per_row:
                mine[name] = add(mine[name], raw[name])
    if per_row:
        for key, row in merged.items():
            row[FACETS_KEY] = list(own[key].values())
    return Grouped(list(merged.values()), total, list(split.values()) if facets is not None else [])


def spend_sql(
    store: Store, sources: Sources, selection: Selection, columns: Mapping[str, tuple[str, str]]
) -> tuple[str, list[Any]]:
    """The selected calls and charges as one relation, and its parameters.

    Each row has ``kind`` (``call`` or ``charge``), ``id``, ``session_id``, ``cost`` (a call's
    cost, None when unpriced; a charge's amount), the group columns, and ``columns``: name ->
    (expression over calls ``c``, expression over charges ``g``).
    """
    dialect = store.dialect
    call_scope = scope_sql(selection.scope, dialect)
    charge_scope = scope_sql(selection.scope, dialect, charges=True)
    names = ["kind", "id", "session_id", "cost", *selection.grouping.keys, *columns]
    call_keys = group_exprs(selection.grouping, dialect)
    charge_keys = group_exprs(selection.grouping, dialect, charges=True)
    from_calls = [
        "'call'",
        "c.id",
        "c._session",
        "c.cost_total",
        *call_keys,
        *(v[0] for v in columns.values()),
    ]
    from_charges = [
        "'charge'",
        "g.id",
        "g.session_id",
        "g.amount",
        *charge_keys,
        *(v[1] for v in columns.values()),
    ]
    calls = sources.calls_sql(dialect, call_scope)
    sql = (
        f"SELECT {', '.join(f'{e} AS {n}' for e, n in zip(from_calls, names, strict=True))} FROM ({calls}) c "
        f"UNION ALL SELECT {', '.join(f'{e} AS {n}' for e, n in zip(from_charges, names, strict=True))} "
        f"FROM charges g WHERE {charge_scope.condition}"
    )
    return sql, [*call_scope.params, *charge_scope.params]


def grouped_spend(
    store: Store,
    sources: Sources,
    selection: Selection,
    aggregates: Mapping[str, str],
    columns: Mapping[str, tuple[str, str]] | None = None,
) -> Grouped:
    """``aggregates`` over the selected calls and charges together (see :func:`spend_sql`)."""
    sql, params = spend_sql(store, sources, selection, columns or {})
    table = store.query(_select(selection.grouping, aggregates, sql), params)
    return _split(table.to_pylist(), selection.grouping, list(aggregates))


def group_key(row: Mapping[str, Any]) -> tuple[tuple[tuple[str, str], ...], Any]:
    """A hashable key for a row's group and bucket (to merge calls with charges)."""
    return tuple(row["group"].items()), row["bucket"]
