"""What analyses group and filter by: attribution dimensions, time buckets and the selected period.

A dimension is a name people type (``team``, ``model``, ``tag:env``) and one SQL expression over
the ``calls`` table and one over the ``charges`` table. ``model`` is the model that served the call
(else the one requested); ``request_model`` the name it was asked by; a ``model`` filter matches
either. Charges carry the attribution fields but
no model or provider, so those are unattributed for non-LLM spend. A missing (or empty) value is
:data:`UNATTRIBUTED`, a row of its own: spend is never dropped because nobody was named.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Final

from tokenomy.errors import ConfigError
from tokenomy.schema import ATTRIBUTION_FIELDS
from tokenomy.store.base import TIME_UNITS, Dialect, TimeUnit

UNATTRIBUTED: Final = "(unattributed)"
"""The value shown for spend whose dimension is not known."""
TAG_PREFIX: Final = "tag:"
MODEL_SQL: Final = "coalesce(nullif({t}.response_model, ''), {t}.request_model)"
"""The model that served a call, else the one requested (as the first report names it)."""

_CALL_ONLY: Final = {"model": MODEL_SQL, "request_model": "{t}.request_model", "provider": "{t}.provider"}
DIMENSIONS: Final = (*ATTRIBUTION_FIELDS, "model", "request_model", "provider", "session")
"""Dimensions by name; ``tag:<key>`` adds one per tag key."""


@dataclass(frozen=True, slots=True)
class Dimension:
    """One dimension: its name and its SQL over calls (alias ``c``) and charges (alias ``g``)."""

    name: str
    calls_sql: str
    charges_sql: str


def dimension(name: str, dialect: Dialect) -> Dimension:
    """The dimension called ``name``.

    Raises:
        ConfigError: ``name`` is not a dimension (the message lists the known ones).
    """
    if name.startswith(TAG_PREFIX) and len(name) > len(TAG_PREFIX):
        key = name[len(TAG_PREFIX) :]
        return Dimension(name, dialect.map_value("c.tags", key), dialect.map_value("g.tags", key))
    if name in _CALL_ONLY:
        return Dimension(name, _CALL_ONLY[name].format(t="c"), "CAST(NULL AS VARCHAR)")
    if name == "session":  # calls: their session, else their trace's (see analysis.sources)
        return Dimension(name, "c._session", "g.session_id")
    if name in ATTRIBUTION_FIELDS:
        column = f'"{name}"'
        return Dimension(name, f"c.{column}", f"g.{column}")
    known = ", ".join((*DIMENSIONS, "tag:<key>"))
    raise ConfigError(f"unknown dimension {name!r}; use one of: {known}")


def parse_dimensions(text: str | Sequence[str] | None, *, option: str = "--by") -> tuple[str, ...]:
    """Dimension names from ``"team,feature"`` (or a list), checked, in order, without repeats.

    Raises:
        ConfigError: A name is unknown (the message names ``option``, where it was given).
    """
    if text is None:
        return ()
    parts = text.split(",") if isinstance(text, str) else list(text)
    names = tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))
    for name in names:
        if not (name.startswith(TAG_PREFIX) and len(name) > len(TAG_PREFIX)) and name not in DIMENSIONS:
            known = ", ".join((*DIMENSIONS, "tag:<key>"))
            raise ConfigError(f"unknown dimension {name!r} in {option}; use one of: {known}")
    return names


def parse_bucket(text: str | None) -> TimeUnit | None:
    """A time bucket name (hour, day, week, month), or None.

    Raises:
        ConfigError: The name is not a bucket.
    """
    if text is None:
        return None
    for unit in TIME_UNITS:
        if text == unit:
            return unit
    raise ConfigError(f"unknown time bucket {text!r}; use one of: {', '.join(TIME_UNITS)}")


@dataclass(frozen=True, slots=True)
class Scope:
    """Which calls and charges an analysis reads.

    ``since`` is inclusive and ``until`` exclusive, on the call's UTC start time (a charge's time).
    Calls with no start time are read only when neither bound is set. ``where`` keeps rows whose
    dimension has one of the values; :data:`UNATTRIBUTED` matches a missing value.
    """

    since: datetime | None = None
    until: datetime | None = None
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def between(self, since: datetime | None, until: datetime | None) -> Scope:
        """The same filters over another period."""
        return replace(self, since=since, until=until)

    def with_where(self, name: str, values: Iterable[str]) -> Scope:
        """These filters plus ``name`` in ``values``."""
        return replace(self, where=(*self.where, (name, tuple(values))))


def as_utc(value: datetime | date | None) -> datetime | None:
    """A naive UTC datetime (the store's convention) for a date, a naive or an aware datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return datetime(value.year, value.month, value.day)


def parse_where(items: Iterable[str], *, option: str = "--where") -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``--where dim=value`` filters; the same dimension twice keeps either value.

    Raises:
        ConfigError: An item is not ``dimension=value``, has an empty value (which no call has: a
            missing or empty value is ``(unattributed)``, so it would select nothing, silently), or
            names an unknown dimension (the message names ``option``, where it was given).
    """
    grouped: dict[str, list[str]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{option} {item!r}: expected dimension=value, for example team=search")
        (checked,) = parse_dimensions(name.strip(), option=option)
        if not value:
            raise ConfigError(
                f"{option} {item!r}: the value is empty; name one, or {checked}=(unattributed) for "
                f"records without a {checked}"
            )
        grouped.setdefault(checked, []).append(value)
    return tuple((name, tuple(values)) for name, values in grouped.items())


@dataclass(frozen=True, slots=True)
class Grouping:
    """The dimensions and time bucket rows are grouped by (both optional)."""

    by: tuple[str, ...] = ()
    bucket: TimeUnit | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """SQL aliases of the group columns: ``k0``, ``k1``... then ``bucket``."""
        return (*(f"k{i}" for i in range(len(self.by))), *(("bucket",) if self.bucket else ()))


@dataclass(frozen=True, slots=True)
class ScopeSQL:
    """A WHERE condition and its parameters."""

    condition: str
    params: list[Any] = field(default_factory=list)


def keyed(expr: str) -> str:
    """``expr`` with a missing or empty value shown as :data:`UNATTRIBUTED`."""
    return f"coalesce(nullif(CAST({expr} AS VARCHAR), ''), '{UNATTRIBUTED}')"


def scope_sql(scope: Scope, dialect: Dialect, *, charges: bool = False) -> ScopeSQL:
    """The condition selecting ``scope`` in the calls (alias ``c``) or charges (alias ``g``) table.

    Raises:
        ConfigError: A filter names an unknown dimension.
    """
    time_column = 'g."at"' if charges else "c.started_at"
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    for bound, op in ((scope.since, ">="), (scope.until, "<")):
        if bound is not None:
            clauses.append(f"{time_column} {op} ?::TIMESTAMP")
            params.append(as_utc(bound))
    for name, values in scope.where:
        dim = dimension(name, dialect)
        marks = ", ".join("?" for _ in values)
        clause = f"{keyed(dim.charges_sql if charges else dim.calls_sql)} IN ({marks})"
        if name == "model" and not charges:  # the model served, or the name it was asked by
            clause = f"({clause} OR c.request_model IN ({marks}))"
            params.extend(values)
        clauses.append(clause)
        params.extend(values)
    return ScopeSQL(" AND ".join(clauses), params)


def group_exprs(
    grouping: Grouping, dialect: Dialect, *, charges: bool = False, raw: bool = False
) -> list[str]:
    """The SQL of each group column (dimensions, then the bucket) over calls ``c`` or charges ``g``.

    With ``raw``, missing values stay NULL (or empty) instead of :data:`UNATTRIBUTED`: grouping on
    the plain column is cheaper, and :func:`label` names them afterwards (the caller then adds up
    the groups that share a label).
    """
    exprs = []
    for name in grouping.by:
        dim = dimension(name, dialect)
        expr = dim.charges_sql if charges else dim.calls_sql
        exprs.append(expr if raw else keyed(expr))
    if grouping.bucket is not None:
        time_column = 'g."at"' if charges else "c.started_at"
        exprs.append(dialect.time_bucket(time_column, grouping.bucket))
    return exprs


def group_columns(
    grouping: Grouping, dialect: Dialect, *, charges: bool = False, raw: bool = False
) -> list[str]:
    """``<expr> AS k0, ..., <bucket> AS bucket`` for the calls (or charges) table."""
    exprs = group_exprs(grouping, dialect, charges=charges, raw=raw)
    return [f"{expr} AS {key}" for expr, key in zip(exprs, grouping.keys, strict=True)]


def label(value: Any) -> str:
    """A dimension value for people: :data:`UNATTRIBUTED` when missing or empty."""
    return UNATTRIBUTED if value is None or value == "" else str(value)


def group_of(row: Mapping[str, Any], grouping: Grouping) -> dict[str, str]:
    """The group's dimension values from a result row with ``k0``, ``k1``... columns."""
    return {name: label(row[f"k{i}"]) for i, name in enumerate(grouping.by)}
