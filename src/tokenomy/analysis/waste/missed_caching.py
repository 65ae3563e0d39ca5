"""Missed prompt caching: a cacheable stable prefix re-sent within the cache lifetime, never read from it.

Rule. Only providers whose cache the caller must ask for (:mod:`.cache_rules`: Anthropic, Claude on
Bedrock): on automatic caches a miss is the provider's, not something to fix in the app, and the
cache advisor explains those. Within one agent run, a successful call whose stable prefix (system
prompt plus tool definitions: the same first prefix hash and the same token counts) equals the
previous successful call's, on the same model, at least the model's minimum cacheable length, sent
within the cache lifetime after it (5 minutes; 1 hour on a route that writes 1-hour entries
elsewhere), reads nothing from the cache (``cache_read`` known to be 0). Each such call re-bought
the prefix. A call whose ``cache_read`` is unknown is not judged.

Waste: the stable prefix on every such call. Dollars, from the catalog's rates for the model: what
each of those calls paid for the prefix minus what reading it would have cost. A call that did not
write the cache paid the input rate (caching is off on the route); a call that wrote it (caching is
on but never hits) paid the write rate (5-minute or 1-hour, whichever it wrote) for the written
part. Less one cache write premium (write rate minus input rate) per stretch of such calls whose
previous call wrote nothing (a run whose entry would expire between two stretches writes it again;
where the previous call already wrote the entry, that write is in the bill); a session where caching
would not pay for its writes is not reported.

Why a writing call read nothing, in its note: the first prefix hash that differs from the previous
call's (the hashes are cut after the tools and system, then after message 1, 2, 4...: something
inside the cached part, a time or an id, changes on every call), or, when they do not differ, an
entry that was written but never matched (the breakpoint covers content that changes, or the calls
ran before the write completed).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis import cacheable
from tokenomy.analysis.waste import money
from tokenomy.analysis.waste.base import Context, Detection, Hit, HitCall, Route
from tokenomy.analysis.waste.cache_rules import RULES, explicit_sql, ttl_sql
from tokenomy.analysis.waste.sql import ROUTE_COLUMNS, RUN_WINDOW
from tokenomy.schema import WasteEffect, WasteRole


def missed_sql(ctx: Context) -> str:
    """Calls that re-sent a cacheable stable prefix within the lifetime and read nothing."""
    gap = ctx.dialect.seconds_between("prev_at", "started_at")
    return f"""
        , ok AS (
            SELECT id, session, run, agent, step, started_at, {ROUTE_COLUMNS}, ph_first, cache_read,
                   cache_write_1h, input_total, prefix_hashes,
                   coalesce(cache_write_5m, 0) AS write_5m, coalesce(cache_write_1h, 0) AS write_1h,
                   coalesce(system_tokens, 0) + coalesce(tool_def_tokens, 0) AS stable,
                   {cacheable.minimum_sql("audited")} AS min_cache, coalesce(agent, feature, '') AS owner
            FROM audited WHERE status = 'ok' AND {explicit_sql()})
        , routes AS (
            SELECT owner, model, bool_or(coalesce(cache_write_1h, 0) > 0) AS long FROM ok GROUP BY ALL)
        , p AS (
            SELECT ok.*, r.long, lag(id) OVER w AS prev_id, lag(started_at) OVER w AS prev_at,
                   lag(ph_first) OVER w AS prev_first, lag(stable) OVER w AS prev_stable,
                   lag(model) OVER w AS prev_model, lag(prefix_hashes) OVER w AS prev_hashes,
                   lag(write_5m + write_1h) OVER w AS prev_written
            FROM ok JOIN routes r USING (owner, model) WINDOW w AS ({RUN_WINDOW}))
        SELECT id, prev_id, session, run, started_at, {ROUTE_COLUMNS}, stable, min_cache, long, input_total,
               write_5m, write_1h, prev_written, prefix_hashes, prev_hashes, {gap} AS gap, {ttl_sql()} AS ttl
        FROM p
        WHERE prev_id IS NOT NULL AND model = prev_model AND ph_first = prev_first
          AND stable = prev_stable AND stable >= min_cache AND cache_read = 0
          AND {gap} <= {ttl_sql()}
        ORDER BY session, run, started_at NULLS FIRST, step NULLS FIRST, id
    """


class MissedCaching:
    """Missed prompt caching (see the module docstring)."""

    category: Final = "missed_caching"
    version: Final = 1
    title: Final = "Missed prompt caching"
    fix: Final = (
        "If the route writes nothing to the cache, turn on prompt caching: mark the end of the system "
        "prompt and tool definitions with a cache_control breakpoint (Bedrock: a cachePoint). If it "
        "writes the cache on every call but never reads it (the examples say so), caching is on and "
        "the entry never matches: the examples name the prefix position where consecutive calls "
        "differ. Either way keep everything before the breakpoint byte-identical between calls and put "
        "per-request values (times, ids) after it."
    )
    fix_share: Final = (Decimal("0.9"), Decimal(1))
    assumption: Final = (
        "the stable prefix cached at the catalog's read and write rates; up to 10% of calls still miss"
    )

    def detect(self, ctx: Context) -> Detection:
        """Find explicit-cache calls that re-bought a prefix they could have read."""
        by_session: dict[str, list[dict[str, Any]]] = {}
        for row in ctx.rows(missed_sql(ctx)):
            by_session.setdefault(row["session"], []).append(row)
        hits = [hit for rows in by_session.values() if (hit := self._hit(ctx, rows)) is not None]
        return Detection(hits, {"lifetimes_seconds": {r.provider: r.ttl_seconds for r in RULES.values()}})

    def _hit(self, ctx: Context, rows: list[dict[str, Any]]) -> Hit | None:
        gross: list[Decimal | None] = []
        premium = Decimal(0)
        missed = {row["id"] for row in rows}
        for row in rows:
            rates = ctx.rates(row["provider"], row["model"], row["started_at"])
            if rates is None:
                gross.append(None)
                continue
            tier = rates.tier_for(int(row["input_total"] or 0)).tokens
            gross.append(money.quantize(_paid_over_read(row, tier)))
            # a new stretch of misses: caching it would write once more, unless the call before it wrote
            if row["prev_id"] not in missed and not row["prev_written"]:
                write = tier["cache_write_1h"] if row["long"] else tier["cache_write_5m"]
                premium += int(row["stable"]) * max(write - tier["input_uncached"], Decimal(0))
        known = money.total(gross)
        if known is not None and known - premium <= 0:
            return None  # caching would not pay for its write here
        scale = None if known is None or known == 0 else (known - premium) / known
        calls = tuple(_call(row, g, scale) for row, g in zip(rows, gross, strict=True))
        first = rows[0]
        written = [row for row in rows if _written(row)]
        stable, ttl = f"{int(first['stable']):,}", int(first["ttl"])
        if written:
            note = (
                f"{len(written)} of {len(rows)} call(s) wrote their {stable}-token prefix to the cache and"
                f" none read it within {ttl} s: caching is on but never hits; " + _why(written[0])
            )
        else:
            note = (
                f"{len(rows)} call(s) re-sent a {stable}-token prefix within {ttl} s without reading it"
                f" from the cache (minimum {int(first['min_cache']):,})"
            )
        return Hit(self.category, first["session"], Route.of(first), calls, note)


def _written(row: Mapping[str, Any]) -> int:
    """Tokens the call wrote to the cache (either lifetime)."""
    return int(row["write_5m"]) + int(row["write_1h"])


def _paid_over_read(row: Mapping[str, Any], tier: Mapping[str, Decimal]) -> Decimal:
    """What the call paid for its stable prefix minus what reading it from the cache would have cost:
    the written part at the write rates it paid (1-hour writes, then 5-minute ones), the rest at the
    input rate (as the cache advisor prices its misses)."""
    stable, read = int(row["stable"]), tier["cache_read"]
    long = min(int(row["write_1h"]), stable)
    short = min(int(row["write_5m"]), stable - long)
    fresh = stable - long - short
    return (
        long * (tier["cache_write_1h"] - read)
        + short * (tier["cache_write_5m"] - read)
        + fresh * (tier["input_uncached"] - read)
    )


def _drift(row: Mapping[str, Any]) -> int | None:
    """The first prefix position (1-based) at which the call's prefix hashes differ from the previous
    call's, None when they do not (or either is unknown)."""
    mine, before = row["prefix_hashes"] or [], row["prev_hashes"] or []
    for position, (a, b) in enumerate(zip(mine, before, strict=False), start=1):
        if a != b:
            return position
    return None


def _where(position: int) -> str:
    """Where the prompt changed, from the first prefix hash that differs (the hashes are cut after the
    tools and system messages, then after message 1, 2, 4, 8...)."""
    if position == 1:
        return "the system prompt or tool definitions"
    last = 2 ** (position - 2)
    first = last // 2 + 1
    return f"message {last}" if first == last else f"messages {first}-{last}"


def _why(row: Mapping[str, Any]) -> str:
    """Why a call that wrote the cache read nothing from the previous call's entry."""
    position = _drift(row)
    if position is not None:
        return (
            f"the prompt differs from the previous call's at prefix hash {position} ({_where(position)}):"
            " a per-request value inside the cached part; move it after the breakpoint"
        )
    return (
        "the recorded prefix is the same: the breakpoint covers content that changes, or the calls "
        "were sent before the previous write completed"
    )


def _call(row: Mapping[str, Any], gross: Decimal | None, scale: Decimal | None) -> HitCall:
    cost = None if gross is None or scale is None else money.quantize(gross * scale)
    wrote = "written to the cache again, " if _written(row) else ""
    return HitCall(
        row["id"],
        WasteRole.PARTIAL,
        int(row["stable"]),
        cost,
        effect=WasteEffect.PREFIX,
        note=(
            f"{int(row['stable']):,}-token prefix re-sent {float(row['gap']):.0f} s after the previous call, "
            f"{wrote}no cache read"
        ),
        started_at=row["started_at"],
    )
