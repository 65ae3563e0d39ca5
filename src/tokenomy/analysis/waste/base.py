"""What a waste detector is: a rule over the audited calls that returns instances of waste (hits).

A detector reads the store through a :class:`Context` (SQL over the audited calls, the pricer for
"what would it cost instead", the thresholds in :class:`AuditOptions`) and returns a
:class:`Detection`: one :class:`Hit` per instance (one session, one category), each listing its calls
with their role, wasted tokens and dollars, the effect a fix has on them, and a one-line reason.
The audit groups hits into findings by route; the savings plan reads the effects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, Protocol

from tokenomy.analysis.dimensions import ScopeSQL
from tokenomy.analysis.sources import Sources
from tokenomy.analysis.waste.money import day_of
from tokenomy.pricing import Pricer, Rates
from tokenomy.schema import WasteEffect, WasteRole
from tokenomy.store.base import Dialect, Store

ROUTE_KEYS: Final = ("team", "feature", "agent", "intent", "provider", "model")
"""The attribution of a finding: the calls of one route share a fix."""


@dataclass(frozen=True, slots=True)
class AuditOptions:
    """Thresholds of the detectors (docs/audit.md explains each one). The defaults favour precision."""

    min_baseline: int = 10
    """Fewest peers (sessions or calls, see each detector) a baseline needs before it is used."""
    bloat_ratio: float = 3.0
    """A session's system prompt this many times its route's typical one is bloated..."""
    bloat_min_excess: int = 500
    """...when it is also at least this many tokens longer."""
    reasoning_ratio: float = 8.0
    """Reasoning this many times the route's median for the same kind of step is over-planning..."""
    reasoning_min_excess: int = 1_000
    """...when it is also at least this many tokens above the route's 90th percentile."""
    reasoning_z: float = 4.5
    """...and its reasoning per visible output token this many robust standard deviations above its peers'."""
    reasoning_min_calls: int = 30
    """Calls with reasoning a (task, model, step kind) route needs for its baseline."""
    reasoning_run_ratio: float = 3.0
    """A run whose calls together reach ``reasoning_z`` over-plans when its reasoning is also this many
    times its peers' medians added up (and ``reasoning_min_excess`` above their 90th percentiles)."""
    oversized_ratio: float = 25.0
    """A simple request on a model this many times the price per token of the intent's cheapest model."""
    oversized_min_share: float = 0.05
    """Share of an intent's calls a model needs to be a reference for it."""
    simple_intents: frozenset[str] = frozenset(
        {"classify", "classification", "extract", "extraction", "route", "routing", "tag", "tagging"}
        | {"moderate", "moderation", "detect_language", "language_detection", "spam", "sentiment"}
    )
    """Intents a small model answers well (compared in lower case)."""
    history_drop: float = 0.7
    """History shrinking below this share of the previous call's history is a compaction."""
    history_min_compactions: int = 5
    """Compactions a route needs before its compaction threshold is trusted."""
    history_margin: float = 1.01
    """History above this multiple of the route's compaction threshold is unpruned."""
    batch_share: float = 0.5
    """A route with at least this share of batch calls is background work (its other calls could batch)."""
    background_tags: tuple[str, ...] = ("background", "batchable")
    """Tags whose value true/yes/1 marks a call as background work."""
    tool_ratio: float = 5.0
    """A run with this many times its route's median tool calls proliferates..."""
    tool_p90_ratio: float = 2.5
    """...and this many times its route's 90th percentile..."""
    tool_min: int = 20
    """...and at least this many tool calls."""


@dataclass(frozen=True, slots=True)
class Route:
    """Who and what the calls of a hit belong to."""

    team: str | None = None
    feature: str | None = None
    agent: str | None = None
    intent: str | None = None
    provider: str | None = None
    model: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Route:
        """The route of a result row that has the :data:`ROUTE_KEYS` columns."""
        return cls(*(row.get(key) for key in ROUTE_KEYS))

    def as_dict(self) -> dict[str, str | None]:
        """The route as a mapping with the :data:`ROUTE_KEYS`."""
        return {key: getattr(self, key) for key in ROUTE_KEYS}


@dataclass(frozen=True, slots=True)
class HitCall:
    """One call of a hit: its role, the waste on it, and what a fix saves there."""

    call_id: str
    role: WasteRole
    tokens: int = 0
    cost: Decimal | None = None
    """Dollars wasted on the call (the conservative figure); None when unpriced."""
    cost_high: Decimal | None = None
    """The upper estimate when the fix could save more than ``cost`` (None: the same as ``cost``)."""
    effect: WasteEffect = WasteEffect.CALL
    note: str | None = None
    started_at: datetime | None = None

    @property
    def unpriced(self) -> bool:
        """True when the call carries waste but no price."""
        return self.role is not WasteRole.CONTEXT and self.cost is None and self.tokens > 0

    @property
    def high(self) -> Decimal | None:
        """The upper estimate of the dollars a fix saves on this call."""
        return self.cost if self.cost_high is None else self.cost_high


@dataclass(frozen=True, slots=True)
class Hit:
    """One instance of waste: a category in one session, with its calls in order."""

    category: str
    session_id: str
    route: Route
    calls: tuple[HitCall, ...]
    note: str
    """Why, in one line (shown in the session walk-through)."""

    @property
    def tokens(self) -> int:
        """Wasted tokens over the hit's calls."""
        return sum(c.tokens for c in self.calls)


@dataclass(frozen=True, slots=True)
class Detection:
    """What one detector returned: its hits, what it measured, and notes on what it could not judge."""

    hits: list[Hit] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    """Thresholds and baselines, shared by the detector's findings (JSON-ready)."""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Context:
    """What detectors read: the audited calls of one scope in one store, and the pricer."""

    store: Store
    scope: ScopeSQL
    pricer: Pricer
    options: AuditOptions = AuditOptions()
    memo: dict[str, list[dict[str, Any]]] = field(default_factory=dict, compare=False, repr=False)
    """Results of queries several detectors share (:meth:`shared_rows`)."""

    @property
    def dialect(self) -> Dialect:
        """The store's SQL dialect."""
        return self.store.dialect

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run ``sql`` after ``WITH audited AS (<the audited calls>)`` and return its rows.

        ``sql`` continues the WITH clause: it starts with ``, name AS (...)`` or with ``SELECT``.
        """
        from tokenomy.analysis.waste.sql import audited_sql  # noqa: PLC0415  (sql imports this module)

        condition = self.scope.condition
        trace = None
        if "c._session" in condition:  # a session filter: the reports' session of each call
            trace = Sources(spans=self.store.table_columns("spans")).trace_sessions_sql()
        head = f"WITH audited AS ({audited_sql(condition, self.dialect, trace_sessions=trace)})"
        joined = f"{head}{sql}" if sql.lstrip().startswith(",") else f"{head} {sql}"
        return list(self.store.query(joined, [*self.scope.params, *params]).to_pylist())

    def shared_rows(self, sql: str) -> list[dict[str, Any]]:
        """:meth:`rows` of a query without parameters, run once per context (detectors may share it)."""
        if sql not in self.memo:
            self.memo[sql] = self.rows(sql)
        return self.memo[sql]

    def rates(self, provider: str | None, model: str | None, at: datetime | date | None) -> Rates | None:
        """The catalog's (or overrides') rates for a model on a day, or None when it cannot be priced."""
        day = day_of(at)
        if model is None or day is None:
            return None
        return self.pricer.resolve(model=model, provider=provider, at=day)


class Detector(Protocol):
    """A waste rule. Implementations are plain classes registered in :mod:`.registry`."""

    @property
    def category(self) -> str:
        """The finding category (``retry_loop``...)."""
        ...

    @property
    def version(self) -> int:
        """The rule's version: it changes when the rule does."""
        ...

    @property
    def title(self) -> str:
        """A short name for people."""
        ...

    @property
    def fix(self) -> str:
        """The concrete fix, shown with every finding of the category."""
        ...

    @property
    def fix_share(self) -> tuple[Decimal, Decimal]:
        """The share of the waste a fix is assumed to remove: (low, high)."""
        ...

    @property
    def assumption(self) -> str:
        """What the savings range assumes, in one sentence."""
        ...

    def detect(self, ctx: Context) -> Detection:
        """Find the category's waste among the audited calls."""
        ...
