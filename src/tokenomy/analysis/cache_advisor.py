"""The prompt-cache advisor: per route, the stable prefix, how it repeats, and what caching it would save.

A route is a (feature, agent, provider, model). Its *stable prefix* is the system prompt plus the
tool definitions, the part of a prompt that can be cached across calls. For each route the advisor
reports the prefix's median length against the provider's minimum cacheable length, how often the
next call of a run repeats it (same first prefix hash, same size), the time between consecutive
calls (median and 90th percentile, seconds), the cache-hit ratio already achieved, and, for every
call after the first of a run that read nothing from the cache, why:

* ``model_switch``: the previous call used another model (caches are per model);
* ``below_minimum``: the stable prefix is shorter than the model's minimum cacheable length;
* ``expired``: the call came after the cache lifetime (:mod:`.waste.cache_rules`);
* ``tools_changed``: the tool definitions changed size between the calls;
* ``prefix_drift``: the prefix has the same size but a different hash: something early in the
  prompt (a timestamp, a request id) changes on every call;
* ``rewritten``: the same prefix, within the lifetime, above the minimum, and the call wrote the
  cache again instead of reading the previous call's entry: caching is on but never hits (something
  inside the cached part changes; the audit's ``missed_caching`` examples name where);
* ``not_cached``: the same prefix, within the lifetime, above the minimum, nothing read and nothing
  written: on a provider where caching is explicit, nobody asked for it; on an automatic cache, the
  provider missed.

Dollars use the catalog's rates for the route's model: a miss costs what it paid for its prefix minus
what a read would have cost: the input rate, or, for a call that wrote the cache, the write rate
(the route's lifetime), minus the cache-read rate. This is the pricing of the audit's
``missed_caching`` findings. The expected saving counts the misses an application can fix
(``not_cached`` on explicit caches, ``rewritten``, ``prefix_drift``, ``tools_changed``) net of one
cache write premium per stretch of consecutive misses of a run whose previous call wrote nothing (an
entry that expires between two stretches is written again). It is the same money as those
findings, not more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis import cacheable
from tokenomy.analysis.dimensions import Scope, scope_sql
from tokenomy.analysis.waste.base import AuditOptions, Context
from tokenomy.analysis.waste.cache_rules import CacheRule, rule_for, ttl_sql
from tokenomy.analysis.waste.money import ZERO, quantize
from tokenomy.analysis.waste.sql import RUN_WINDOW
from tokenomy.pricing import Pricer, default_pricer
from tokenomy.store.base import Store

REASONS: Final = (
    "model_switch",
    "below_minimum",
    "expired",
    "tools_changed",
    "prefix_drift",
    "rewritten",
    "not_cached",
)
"""Why a call read nothing from the cache, in the order they are tested."""
_KEYS: Final = ("feature", "agent", "provider", "model")


def pairs_sql(ctx: Context) -> str:
    """Every successful call with its run's previous successful call, the gap, and why it missed."""
    gap = ctx.dialect.seconds_between("prev_at", "started_at")
    reason = f"""CASE
        WHEN model IS DISTINCT FROM prev_model THEN 'model_switch'
        WHEN min_cache IS NULL OR stable < min_cache THEN 'below_minimum'
        WHEN {gap} > ttl THEN 'expired'
        WHEN tool_def_tokens IS DISTINCT FROM prev_tools THEN 'tools_changed'
        WHEN stable = prev_stable AND ph_first IS DISTINCT FROM prev_first THEN 'prefix_drift'
        WHEN stable = prev_stable AND written > 0 THEN 'rewritten'
        WHEN stable = prev_stable THEN 'not_cached'
        END"""
    return f"""
        , ok AS (
            SELECT id, session, run, agent, step, started_at, feature, provider, model, ph_first,
                   tool_def_tokens, cache_read, cache_write_1h, input_total,
                   coalesce(system_tokens, 0) + coalesce(tool_def_tokens, 0) AS stable,
                   coalesce(cache_write_5m, 0) + coalesce(cache_write_1h, 0) AS written,
                   coalesce(cache_write_1h, 0) AS written_1h,
                   {cacheable.minimum_sql("audited")} AS min_cache
            FROM audited WHERE status = 'ok')
        , lived AS (
            SELECT ok.*,
                   bool_or(coalesce(cache_write_1h, 0) > 0) OVER (PARTITION BY {", ".join(_KEYS)}) AS long
            FROM ok)
        , timed AS (SELECT lived.*, {ttl_sql()} AS ttl FROM lived)
        , p AS (
            SELECT timed.*, lag(id) OVER w AS prev_id, lag(started_at) OVER w AS prev_at,
                   lag(model) OVER w AS prev_model, lag(stable) OVER w AS prev_stable,
                   lag(ph_first) OVER w AS prev_first, lag(tool_def_tokens) OVER w AS prev_tools,
                   lag(written) OVER w AS prev_written
            FROM timed WINDOW w AS ({RUN_WINDOW}))
        , r AS (
            SELECT p.*, {gap} AS gap,
                   CASE WHEN prev_id IS NOT NULL AND cache_read = 0 THEN {reason} END AS reason,
                   prev_id IS NOT NULL AND ph_first = prev_first AND stable = prev_stable AS repeat
            FROM p)
        , s AS (SELECT r.*, lag(reason) OVER w AS prev_reason FROM r WINDOW w AS ({RUN_WINDOW}))
    """


_STRETCH: Final = (
    "reason IS NOT NULL AND prev_reason IS DISTINCT FROM reason AND coalesce(prev_written, 0) = 0"
)
"""A call that starts a stretch of misses of one reason (caching it would write the prefix once)."""


def routes_sql(ctx: Context) -> str:
    """Per route (``whole``), and per route and reason of a miss: volume, prefix, repetition, gaps, hits.

    One pass over the calls with ``GROUPING SETS``: the route rows carry the route's figures, the
    (route, reason) rows the misses of that reason.
    """
    q = ctx.dialect.quantile
    route = ", ".join(_KEYS)
    return f"""{pairs_sql(ctx)}
        SELECT {route}, reason, GROUPING(reason) = 1 AS whole, count(*) AS calls,
               {q("stable", 0.5)} AS prefix, max(stable) AS largest, sum(stable) AS tokens,
               count(DISTINCT run) AS runs, max(min_cache) AS min_cache,
               count(*) FILTER (WHERE {_STRETCH}) AS stretches,
               sum(stable) FILTER (WHERE {_STRETCH}) AS stretch_tokens,
               sum(least(written, stable)) FILTER (WHERE reason IS NOT NULL) AS written_tokens,
               sum(least(written_1h, stable)) FILTER (WHERE reason IS NOT NULL) AS written_1h,
               count(*) FILTER (WHERE stable >= min_cache) AS cacheable,
               count(*) FILTER (WHERE prev_id IS NOT NULL) AS followers,
               count(*) FILTER (WHERE repeat) AS repeats,
               {q("gap", 0.5)} AS gap_p50, {q("gap", 0.9)} AS gap_p90,
               sum(cache_read) AS cache_read, sum(input_total) FILTER (WHERE cache_read IS NOT NULL) AS input,
               count(*) FILTER (WHERE cache_read > 0) AS reading,
               avg(input_total) AS mean_input,
               bool_or(long) AS long, max(started_at) AS last
        FROM s GROUP BY GROUPING SETS (({route}), ({route}, reason))
    """


@dataclass(frozen=True, slots=True)
class Miss:
    """Calls of a route that read nothing from the cache for one reason."""

    reason: str
    calls: int
    tokens: int
    runs: int
    cost: Decimal | None
    """What they paid for their prefix (input rate, or write rate for the part they wrote to the cache)
    minus the cache-read rate (None when the model is unpriced)."""
    written_tokens: int = 0
    """Of :attr:`tokens`, those the calls wrote to the cache (paid at the write rate, never read)."""


@dataclass(frozen=True, slots=True)
class RouteCache:
    """The cache picture of one route."""

    route: Mapping[str, str | None]
    rule: CacheRule | None
    min_tokens: int | None
    calls: int
    prefix_tokens: int
    cacheable_share: float
    repeat_share: float | None
    """Share of calls (after a run's first) that repeat the previous call's stable prefix."""
    gap_p50_s: float | None
    gap_p90_s: float | None
    hit_ratio: float | None
    """Cache reads over input tokens, where cache reads are reported."""
    misses: tuple[Miss, ...]
    expected_saving: Decimal | None
    """Over the audited period, fixable misses only, net of cache writes: the same money as the audit's
    ``missed_caching`` findings on the route (and its prompt drift), not an addition to them."""
    advice: str = ""

    def miss(self, reason: str) -> Miss | None:
        """The misses of one reason, if any."""
        return next((m for m in self.misses if m.reason == reason), None)


@dataclass(frozen=True, slots=True)
class CacheAdvice:
    """The advisor's routes, by expected saving."""

    routes: tuple[RouteCache, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def expected_saving(self) -> Decimal:
        """The expected saving over every route, for the audited period."""
        return sum((r.expected_saving or ZERO for r in self.routes), ZERO)


def advise(
    store: Store,
    *,
    scope: Scope | None = None,
    pricer: Pricer | None = None,
    options: AuditOptions | None = None,
) -> CacheAdvice:
    """The prompt-cache advice for the calls ``scope`` selects (see the module docstring)."""
    scope = scope or Scope()
    ctx = Context(
        store, scope_sql(scope, store.dialect), pricer or default_pricer(), options or AuditOptions()
    )
    wholes: list[dict[str, Any]] = []
    misses: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in ctx.rows(routes_sql(ctx)):
        if row["whole"]:
            if (row["largest"] or 0) > 0:
                wholes.append(row)
        elif row["reason"] is not None:
            misses.setdefault(tuple(row[k] for k in _KEYS), []).append(row)
    routes = [_route(ctx, row, misses.get(tuple(row[k] for k in _KEYS), [])) for row in wholes]
    routes.sort(
        key=lambda r: (-(r.expected_saving or ZERO), -r.calls, tuple(str(v) for v in r.route.values()))
    )
    notes = []
    if any(r.rule is None for r in routes):
        notes.append("routes on providers without a cache rule show no lifetime or expected saving")
    return CacheAdvice(tuple(routes), tuple(notes))


def _route(ctx: Context, row: Mapping[str, Any], missed: list[dict[str, Any]]) -> RouteCache:
    rule = rule_for(row["provider"], row["model"])
    rates = ctx.rates(row["provider"], row["model"], row["last"])
    over_read: tuple[Decimal, Decimal, Decimal] | None = None
    per_token = None
    write = ZERO
    if rates is not None:
        # the long-context tier of the route's mean input: a route of 250k-token calls is billed at
        # its long-context rates, and was priced at the base tier's, half what its finding said
        tier = rates.tier_for(int(row["mean_input"] or 0)).tokens
        read = tier["cache_read"]
        over_read = (
            tier["input_uncached"] - read,
            tier["cache_write_5m"] - read,
            tier["cache_write_1h"] - read,
        )
        per_token = over_read[0]
        write_rate = tier["cache_write_1h" if row["long"] else "cache_write_5m"]
        write = max(write_rate - tier["input_uncached"], ZERO)
    found = tuple(_miss(m, over_read) for m in sorted(missed, key=lambda m: REASONS.index(m["reason"])))
    followers = int(row["followers"])
    return RouteCache(
        route={k: row[k] for k in _KEYS},
        rule=rule,
        min_tokens=row["min_cache"],
        calls=int(row["calls"]),
        prefix_tokens=int(row["prefix"] or 0),
        cacheable_share=int(row["cacheable"]) / int(row["calls"]),
        repeat_share=int(row["repeats"]) / followers if followers else None,
        gap_p50_s=row["gap_p50"],
        gap_p90_s=row["gap_p90"],
        hit_ratio=float(row["cache_read"]) / float(row["input"]) if row["input"] else None,
        misses=found,
        expected_saving=_expected(rule, found, missed, per_token, write),
        advice=_advice(rule, found, row),
    )


def _miss(row: Mapping[str, Any], over_read: tuple[Decimal, Decimal, Decimal] | None) -> Miss:
    """A reason's misses, priced as the missed-caching finding prices them: each prefix token at what
    it paid (input, 5-minute or 1-hour write rate, each call's own) minus the cache-read rate."""
    tokens, written = int(row["tokens"] or 0), int(row["written_tokens"] or 0)
    long = min(int(row["written_1h"] or 0), written)
    cost = None
    if over_read is not None:
        fresh, short_write, long_write = over_read
        cost = quantize(fresh * (tokens - written) + short_write * (written - long) + long_write * long)
    return Miss(row["reason"], int(row["calls"]), tokens, int(row["runs"]), cost, written)


def _fixable(rule: CacheRule | None, reason: str) -> bool:
    if reason in ("prefix_drift", "tools_changed", "rewritten"):
        return True
    return reason == "not_cached" and rule is not None and rule.mode == "explicit"


def _expected(
    rule: CacheRule | None,
    found: tuple[Miss, ...],
    rows: list[dict[str, Any]],
    per_token: Decimal | None,
    write: Decimal,
) -> Decimal | None:
    if rule is None or per_token is None:
        return None
    fixable = [m for m in found if _fixable(rule, m.reason)]
    gross = sum((m.cost or ZERO for m in fixable), ZERO)
    # each stretch's write premium on its own prefix, as the missed_caching findings count it (the
    # route's median prefix times the stretches was off by the prefixes' spread)
    writes = sum(
        (write * int(r["stretch_tokens"] or 0) for r in rows if _fixable(rule, r["reason"])),
        ZERO,
    )
    return quantize(max(gross - writes, ZERO))


def _advice(rule: CacheRule | None, found: tuple[Miss, ...], row: Mapping[str, Any]) -> str:
    if rule is None:
        return "no cache rule for this provider"
    minimum = row["min_cache"]
    if int(row["cacheable"]) == 0:
        below = (
            f"the stable prefix ({int(row['prefix'] or 0):,} tokens) is below the {minimum:,}-token minimum"
        )
        read = float(row["cache_read"] or 0) / float(row["input"]) if row["input"] else 0.0
        return f"the conversation is cached ({read:.0%} of input read); {below}" if read > 0 else below
    worst = max((m for m in found if _fixable(rule, m.reason)), key=lambda m: m.cost or ZERO, default=None)
    expired = next((m for m in found if m.reason == "expired"), None)
    if worst is None and expired is not None and expired.written_tokens and not row["long"]:
        return (
            "the cache is written but expires before the next call (gaps past the lifetime): use the "
            "1-hour cache for this route, or stop writing entries nothing reads"
        )
    if worst is None:
        return "caching works where it can (remaining misses are lifetime, size or model switches)"
    reading = int(row["reading"] or 0)
    if worst.reason == "not_cached" and reading:  # on for some calls: code paths that send no breakpoint
        read = float(row["cache_read"] or 0) / float(row["input"]) if row["input"] else 0.0
        return (
            f"{reading:,} of {int(row['calls']):,} calls read from the cache ({read:.0%} of the input), but"
            f" {worst.calls:,} call(s) in {worst.runs:,} run(s) send the prefix with no breakpoint: find"
            f" the code paths that set none ({rule.how})"
        )
    return {
        "not_cached": f"turn caching on: {rule.how}",
        "rewritten": (
            "caching is on but never hits: each call writes the prefix again instead of reading it; "
            "something inside the cached part changes (the missed_caching examples name where): keep "
            "it byte-identical and put per-request values after the breakpoint"
        ),
        "prefix_drift": "the prefix changes on every call: move per-request values (times, ids) after it",
        "tools_changed": "tool definitions change between calls: send the same tools in the same order",
    }[worst.reason]


def route_name(route: Mapping[str, str | None]) -> str:
    """``feature / agent on provider model`` for a route."""
    who = " / ".join(v for v in (route.get("feature"), route.get("agent")) if v)
    what = " ".join(v for v in (route.get("provider"), route.get("model")) if v)
    return " on ".join(v for v in (who, what) if v) or "unattributed"
