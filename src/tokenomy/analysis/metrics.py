"""The efficiency metrics of DESIGN section 6: one function per metric, one definition each.

Every ratio is a quotient of token-weighted (or dollar) sums over the selected calls, never an
average of per-call ratios. Every result row carries its ``coverage``, the share of the group's
calls whose inputs to the metric were known (a bucket reported, a price found); calls with
unknown inputs are left out of both sides of the ratio. A metric with nothing to compute it from
has ``value=None`` and a ``reason``, never 0. Every metric groups by any dimension and time bucket
of its :class:`~tokenomy.analysis.grouped.Selection`. docs/metrics.md works an example of each.

Shared terms: a call *succeeded* when its status is ``ok`` and no outcome (its own, or one
recorded for its session) says it failed. A call is *wasted* when the waste audit listed it as a
superseded retry, a loop, a redundant call or a truncated attempt; without audit findings the
waste is "not assessed" (a note says so). *Cost* is the priced calls' cost (unpriced calls are
counted, never $0) plus, where the metric says so, the charges (non-LLM costs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Final

from tokenomy.analysis import cacheable
from tokenomy.analysis.grouped import Selection, grouped_calls, grouped_spend
from tokenomy.analysis.metric_rows import (
    build_result,
    count_if,
    metric_row,
    money_sum,
    parent_key,
    parent_sums,
    parity_row,
    quotient,
    quotient_metric,
    sum_int,
    unpriced_notes,
    with_details,
)
from tokenomy.analysis.results import MetricResult, MetricRow, per_unit, share
from tokenomy.analysis.sources import Sources, detect
from tokenomy.store.base import Store

ALL: Final = Selection()
OVERFLOW_RISK: Final = 0.9
"""Context window utilization above this share is an overflow risk."""
_BOTH_SIDES: Final = "c.input_total IS NOT NULL AND c.output_total IS NOT NULL"
EFFICIENCY_KNOWN: Final = f"{_BOTH_SIDES} AND c.output_visible IS NOT NULL"
"""A call whose token efficiency inputs are known."""
USEFUL_OUTPUT: Final = "c.output_visible - coalesce(c.filler_tokens, 0)"
"""A call's useful output tokens, counted where :data:`USEFUL_WHERE` holds."""
USEFUL_WHERE: Final = f"{EFFICIENCY_KNOWN} AND c._succeeded AND NOT c._wasted"
EFFICIENCY_SUMS: Final = {
    "efficiency_known": count_if(EFFICIENCY_KNOWN),
    "useful": sum_int(USEFUL_OUTPUT, USEFUL_WHERE),
    "processed": sum_int("c.input_total + c.output_total", EFFICIENCY_KNOWN),
}
"""The sums token efficiency is made of (additive: a report may add them up over groups)."""
CACHE_KNOWN: Final = "c.cache_read IS NOT NULL AND c.input_total IS NOT NULL"
"""A call whose cache-hit ratio inputs are known."""
CACHE_SUMS: Final = {
    "cache_known": count_if(CACHE_KNOWN),
    "cache_read_tokens": sum_int("c.cache_read", CACHE_KNOWN),
    "cache_input_tokens": sum_int("c.input_total", CACHE_KNOWN),
}
"""The sums the cache-hit ratio is made of (additive)."""


def token_efficiency(
    store: Store, selection: Selection = ALL, *, sources: Sources | None = None
) -> MetricResult:
    """Useful output tokens over all tokens processed.

    ``useful = Σ (output_visible − filler_tokens)`` over calls that succeeded and are not wasted;
    ``processed = Σ (input_total + output_total)``; ``token efficiency = useful / processed``.
    Both sums run over calls whose input_total, output_total and output_visible are known
    (coverage). Filler not measured counts as 0 (a note gives the share measured).
    """
    src = sources or detect(store)
    aggs = {
        "calls": "count(*)",
        **EFFICIENCY_SUMS,
        "failed": count_if("NOT c._succeeded"),
        "wasted": count_if("c._wasted"),
        "filler_known": count_if("c.filler_tokens IS NOT NULL"),
    }
    grouped = grouped_calls(store, src, selection, aggs)

    def compute(raw: Mapping[str, Any]) -> MetricRow:
        scope = selection.scope  # a row's group narrows it: an audit of team a assesses team a's row
        for name, value in raw["group"].items():
            scope = scope.with_where(name, (str(value),))
        row = quotient(
            raw,
            "useful",
            "processed",
            known="efficiency_known",
            missing="no call reports its tokens",
            zero="no tokens",
        )
        details = {
            "failed_calls": raw["failed"],
            "wasted_calls": raw["wasted"],
            "waste_assessed": src.waste_assessed and src.assessed(scope),
        }
        details["filler_measured"] = share(raw["filler_known"], raw["calls"])
        return with_details(row, details)

    notes = src.waste_notes(selection.scope)
    total = grouped.total
    if total["calls"] and total["filler_known"] < total["calls"]:
        notes.append(
            f"filler measured on {total['filler_known']:,} of {total['calls']:,} calls (others count 0)"
        )
    formula = "Σ(output_visible − filler) of succeeded, unwasted calls / Σ(input_total + output_total)"
    return build_result(("token_efficiency", "ratio", formula), selection, grouped, compute, notes)


def output_to_input_ratio(
    store: Store, selection: Selection = ALL, *, sources: Sources | None = None
) -> MetricResult:
    """Output tokens per input token: ``Σ output_total / Σ input_total`` (calls reporting both)."""
    spec = ("output_to_input_ratio", "ratio", _BOTH_SIDES, "c.output_total", "c.input_total")
    return quotient_metric(store, selection, sources, spec)


def input_token_density(
    store: Store, selection: Selection = ALL, *, sources: Sources | None = None
) -> MetricResult:
    """The share of input that is task content: ``1 − Σ (system_tokens + tool_def_tokens) / Σ input_total``.

    Over calls whose system_tokens, tool_def_tokens and input_total are known. A call's system and
    tool tokens (counted locally, maybe with another family's tokenizer) count at most its input
    total, so the share stays between 0 and 1.
    """
    known = "c.system_tokens IS NOT NULL AND c.tool_def_tokens IS NOT NULL AND c.input_total IS NOT NULL"
    fixed = "least(c.system_tokens + c.tool_def_tokens, c.input_total)"
    spec = ("input_token_density", "ratio", known, fixed, "c.input_total")
    return quotient_metric(store, selection, sources, spec, complement=True)


def prompt_bloat(store: Store, selection: Selection = ALL, *, sources: Sources | None = None) -> MetricResult:
    """System prompt per token of the user's turn: ``Σ system_tokens / Σ user_tokens`` (a multiple).

    2,000 system tokens for a 50-token question is 40x. Over calls reporting both.
    """
    known = "c.system_tokens IS NOT NULL AND c.user_tokens IS NOT NULL"
    return quotient_metric(
        store, selection, sources, ("prompt_bloat", "x", known, "c.system_tokens", "c.user_tokens")
    )


def completion_efficiency(
    store: Store, selection: Selection = ALL, *, sources: Sources | None = None
) -> MetricResult:
    """The share of visible output that was needed: ``1 − (Σ filler + Σ wasted output) / Σ output_visible``.

    Wasted output is the whole visible output of wasted calls (their filler is not counted again).
    Over calls whose output_visible and filler_tokens are known.
    """
    src = sources or detect(store)
    known = "c.output_visible IS NOT NULL AND c.filler_tokens IS NOT NULL"
    aggs = {
        "calls": "count(*)",
        "known": count_if(known),
        "num": sum_int("CASE WHEN c._wasted THEN c.output_visible ELSE c.filler_tokens END", known),
        "den": sum_int("c.output_visible", known),
    }
    grouped = grouped_calls(store, src, selection, aggs)

    def compute(raw: Mapping[str, Any]) -> MetricRow:
        missing = "filler not measured (no call reports filler_tokens)"
        return quotient(raw, "num", "den", missing=missing, zero="no visible output", complement=True)

    notes = src.waste_notes(selection.scope)
    formula = "1 − (Σ filler + Σ output_visible of wasted calls) / Σ output_visible"
    return build_result(("completion_efficiency", "ratio", formula), selection, grouped, compute, notes)


def context_window_utilization(
    store: Store, selection: Selection = ALL, *, sources: Sources | None = None
) -> MetricResult:
    """How full the context window is: per call ``input_total / context_window``.

    The value is the median (p50); details hold p95, the share of calls above 90% (overflow risk)
    and the token-weighted ``Σ input_total / Σ context_window``. Over calls reporting both.
    """
    dialect = store.dialect
    known = "c.input_total IS NOT NULL AND c.context_window > 0"
    use = "CAST(c.input_total AS DOUBLE) / c.context_window"
    aggs = {
        "calls": "count(*)",
        "known": count_if(known),
        "p50": f"{dialect.quantile(use, 0.5)} FILTER (WHERE {known})",
        "p95": f"{dialect.quantile(use, 0.95)} FILTER (WHERE {known})",
        "above": count_if(f"{known} AND {use} > {OVERFLOW_RISK}"),
        "num": sum_int("c.input_total", known),
        "den": sum_int("c.context_window", known),
    }
    grouped = grouped_calls(store, sources or detect(store), selection, aggs)

    def compute(raw: Mapping[str, Any]) -> MetricRow:
        row = quotient(raw, "num", "den", missing="no call reports its context window", zero="no context")
        if row.value is None:
            return row
        details = {
            "p50": raw["p50"],
            "p95": raw["p95"],
            "share_above_90": share(raw["above"], raw["known"]),
            "weighted": row.value,
        }
        return dataclasses.replace(row, value=raw["p50"], details=details)

    formula = "p50 of input_total / context_window per call (also p95, share above 90%)"
    return build_result(("context_window_utilization", "ratio", formula), selection, grouped, compute, [])


def cache_hit_ratio(
    store: Store, selection: Selection = ALL, *, sources: Sources | None = None
) -> MetricResult:
    """Input served from the prompt cache: ``Σ cache_read / Σ input_total``.

    Over calls whose cache_read and input_total are known. Details hold the same ratio over
    *cacheable* calls only: those whose prompt reaches their provider's minimum cacheable length
    (:mod:`tokenomy.analysis.cacheable`), and the share of input tokens in such calls.
    """
    cacheable_known = f"{CACHE_KNOWN} AND c.input_total >= {cacheable.minimum_sql()}"
    aggs = {
        "calls": "count(*)",
        **CACHE_SUMS,
        "c_num": sum_int("c.cache_read", cacheable_known),
        "c_den": sum_int("c.input_total", cacheable_known),
        "no_rule": count_if(f"{CACHE_KNOWN} AND {cacheable.minimum_sql()} IS NULL"),
    }
    grouped = grouped_calls(store, sources or detect(store), selection, aggs)

    def compute(raw: Mapping[str, Any]) -> MetricRow:
        row = quotient(
            raw,
            "cache_read_tokens",
            "cache_input_tokens",
            known="cache_known",
            missing="no call reports cache reads",
            zero="no input tokens",
        )
        details = {
            "cacheable_hit_ratio": share(raw["c_num"], raw["c_den"]),
            "cacheable_input_share": share(raw["c_den"], raw["cache_input_tokens"]),
            "calls_without_cache_rule": raw["no_rule"],
        }
        return with_details(row, details)

    notes = []
    if grouped.total["no_rule"]:
        notes.append(
            f"{grouped.total['no_rule']:,} call(s) of providers without a known cache rule are not cacheable"
        )
    formula = (
        "Σ cache_read / Σ input_total (also over calls at or above the provider's minimum cacheable prompt)"
    )
    return build_result(("cache_hit_ratio", "ratio", formula), selection, grouped, compute, notes)


_INPUT_PARTS: Final = ("input_uncached", "cache_read", "cache_write_5m", "cache_write_1h")
_OUTPUT_PARTS: Final = ("output_visible", "reasoning")


def tcpr(store: Store, selection: Selection = ALL, *, sources: Sources | None = None) -> MetricResult:
    """Total cost per request: ``(Σ input-side + Σ output-side + Σ fees and overhead) / priced calls``.

    Input side: uncached input, cache reads and writes; output side: visible output and
    reasoning; fees and overhead: per-request fees, server-side tools and the overhead configured
    in the price overrides (fixed per request, per second of latency). Over priced calls; the
    amounts per call are rounded to the stored 12 places.
    """
    priced = "c.cost_total IS NOT NULL"
    aggs = {
        "calls": "count(*)",
        "known": count_if(priced),
        "cost": f"sum(c.cost_total) FILTER (WHERE {priced})",
        "input": money_sum(_INPUT_PARTS, priced),
        "output": money_sum(_OUTPUT_PARTS, priced),
        "fees": money_sum(("requests", "server_tools"), priced),
        "overhead": money_sum(("overhead",), priced),
    }
    grouped = grouped_calls(store, sources or detect(store), selection, aggs)

    def compute(raw: Mapping[str, Any]) -> MetricRow:
        known = int(raw["known"] or 0)
        if not raw["calls"]:
            return metric_row(raw, None, None, None, 0, reason="no calls")
        if known == 0:
            return metric_row(raw, None, None, None, 0, reason="no call is priced")
        per = {k: per_unit(raw[k], known) for k in ("input", "output", "fees", "overhead")}
        return metric_row(raw, per_unit(raw["cost"], known), raw["cost"], known, known, details=per)

    formula = "(Σ input-side + Σ output-side + Σ fees and overhead) / priced calls"
    return build_result(("tcpr", "USD", formula), selection, grouped, compute, unpriced_notes(grouped))


_SPEND_COLUMNS: Final = {
    "call_success": ("c._call_success", "CAST(NULL AS BOOLEAN)"),
    "call_action": ("c._call_action", "CAST(NULL AS VARCHAR)"),
    "session_success": ("c._session_success", "CAST(NULL AS BOOLEAN)"),
    "session_action": ("c._session_action", "CAST(NULL AS VARCHAR)"),
    "intent": ('c."intent"', 'g."intent"'),
}
_SPEND_AGGS: Final = {
    "calls": "count(*) FILTER (WHERE c.kind = 'call')",
    "known": "count(*) FILTER (WHERE c.kind = 'call' AND c.cost IS NOT NULL)",
    "cost": "sum(c.cost)",
    "charges": "count(*) FILTER (WHERE c.kind = 'charge')",
}
_PRICED: Final = "c.cost IS NOT NULL"
"""A row whose cost is known: the units of a cost per unit are counted over these alone (an unpriced
call's success, or a session with no priced call, is left out of both sides, never costed at $0)."""
_SUCCESSES: Final = (
    f"count(*) FILTER (WHERE c.call_success AND {_PRICED})"
    f" + count(DISTINCT c.session_id) FILTER (WHERE c.session_success AND {_PRICED})"
)
_ACTIONS: Final = (
    f"count(*) FILTER (WHERE c.call_action IS NOT NULL AND c.call_success IS NOT FALSE AND {_PRICED})"
    " + count(DISTINCT c.session_id)"
    f" FILTER (WHERE c.session_action IS NOT NULL AND c.session_success IS NOT FALSE AND {_PRICED})"
)


def _per_unit(
    store: Store,
    selection: Selection,
    sources: Sources | None,
    *,
    name: str,
    units: str,
    empty: str,
    formula: str,
) -> MetricResult:
    """Σ cost (priced calls and charges) divided by a count of units (sessions, actions...)."""
    aggs = {**_SPEND_AGGS, "units": units}
    grouped = grouped_spend(store, sources or detect(store), selection, aggs, _SPEND_COLUMNS)

    def compute(raw: Mapping[str, Any]) -> MetricRow:
        units_n = int(raw["units"] or 0)
        if not raw["calls"] and not raw["charges"]:
            return metric_row(raw, None, None, None, 0, reason="no calls or charges")
        if raw["cost"] is None:
            return metric_row(raw, None, None, units_n, int(raw["known"] or 0), reason="no call is priced")
        if units_n == 0:
            return metric_row(raw, None, raw["cost"], 0, int(raw["known"] or 0), reason=empty)
        value = per_unit(raw["cost"], units_n)
        return metric_row(
            raw, value, raw["cost"], units_n, int(raw["known"] or 0), details={"charges": raw["charges"]}
        )

    return build_result((name, "USD", formula), selection, grouped, compute, unpriced_notes(grouped))


def cost_per_session(
    store: Store, selection: Selection = ALL, *, sources: Sources | None = None
) -> MetricResult:
    """``Σ cost of the calls and charges of sessions / number of sessions``.

    Calls and charges with no session are left out; a session counts in every group (and time
    bucket) it has calls or charges in.
    """
    grouped = grouped_spend(store, sources or detect(store), selection, SESSION_SUMS, _SPEND_COLUMNS)
    formula = "Σ cost (LLM + charges) of sessions / sessions with a priced call or a charge"
    notes = unpriced_notes(grouped)
    unknown = int(grouped.total["sessions"] or 0) - int(grouped.total["units"] or 0)
    if unknown:
        notes.append(f"{unknown:,} session(s) with no priced call or charge left out (their cost is unknown)")
    return build_result(("cost_per_session", "USD", formula), selection, grouped, session_cost_row, notes)


_IN_SESSION: Final = "c.session_id IS NOT NULL"
SESSION_SUMS: Final = {
    "calls": f"count(*) FILTER (WHERE c.kind = 'call' AND {_IN_SESSION})",
    "known": f"count(*) FILTER (WHERE c.kind = 'call' AND {_IN_SESSION} AND c.cost IS NOT NULL)",
    "cost": f"sum(c.cost) FILTER (WHERE {_IN_SESSION})",
    "charges": f"count(*) FILTER (WHERE c.kind = 'charge' AND {_IN_SESSION})",
    "sessions": "count(DISTINCT c.session_id)",
    "units": f"count(DISTINCT c.session_id) FILTER (WHERE {_PRICED})",
}
"""What cost per session is made of, over calls and charges together (not additive: distinct).
``units`` are the sessions with a priced call or a charge: one with neither is left out of both
sides (its cost is unknown, not $0)."""


def session_cost_row(raw: Mapping[str, Any]) -> MetricRow:
    """Cost per session from :data:`SESSION_SUMS` (a reason instead of a value when there is none)."""
    if not raw["sessions"]:
        return metric_row(raw, None, raw["cost"], 0, int(raw["known"] or 0), reason="no sessions")
    if raw["cost"] is None or not raw["units"]:
        return metric_row(raw, None, None, raw["units"], 0, reason="no call is priced")
    value = per_unit(raw["cost"], int(raw["units"]))
    return metric_row(raw, value, raw["cost"], int(raw["units"]), int(raw["known"] or 0))


def cost_per_action(
    store: Store, selection: Selection = ALL, *, sources: Sources | None = None
) -> MetricResult:
    """``Σ cost (priced calls and charges) / completed actions``.

    An action is completed when an outcome (of a call, or of a session) names it and does not
    say it failed.
    """
    formula = "Σ cost (LLM + charges) / completed actions"
    return _per_unit(
        store,
        selection,
        sources,
        name="cost_per_action",
        units=_ACTIONS,
        empty="no completed action",
        formula=formula,
    )


def cost_per_successful_inference(
    store: Store, selection: Selection = ALL, *, sources: Sources | None = None
) -> MetricResult:
    """``Σ cost (priced calls and charges) / successful outcomes``.

    Every recorded successful outcome (of a call, or of a session) counts once; so a cheaper
    model that fails more often shows up as more expensive per success.
    """
    formula = "Σ cost (LLM + charges) / successful outcomes"
    return _per_unit(
        store,
        selection,
        sources,
        name="cost_per_successful_inference",
        units=_SUCCESSES,
        empty="no successful outcome recorded",
        formula=formula,
    )


def token_utilization(
    store: Store, budget_tokens: int, selection: Selection = ALL, *, sources: Sources | None = None
) -> MetricResult:
    """Productive tokens against a budget: ``Σ (input_total + output_total) of productive calls / budget``.

    A call is productive when it succeeded and is not wasted. ``budget_tokens`` applies to each
    group and time bucket, so the total is measured against one budget per row (the rows' budgets
    added up). Details hold ``consumed / budget`` over all calls with known totals.
    """
    if budget_tokens <= 0:
        raise ValueError(f"budget_tokens must be positive, got {budget_tokens}")
    src = sources or detect(store)
    aggs = {
        "calls": "count(*)",
        "known": count_if(_BOTH_SIDES),
        "productive": sum_int(
            "c.input_total + c.output_total", f"{_BOTH_SIDES} AND c._succeeded AND NOT c._wasted"
        ),
        "consumed": sum_int("c.input_total + c.output_total", _BOTH_SIDES),
    }
    grouped = grouped_calls(store, src, selection, aggs)
    budgets = max(len(grouped.rows), 1)  # one budget per group and bucket; the total has them all

    def compute(raw: Mapping[str, Any]) -> MetricRow:
        budget = budget_tokens * budgets if raw is grouped.total else budget_tokens
        known = int(raw["known"] or 0)
        if not known:
            return metric_row(raw, None, None, budget, 0, reason="no call reports its tokens")
        productive = int(raw["productive"] or 0)
        details = {"consumed": raw["consumed"], "consumed_share": raw["consumed"] / budget}
        return metric_row(raw, productive / budget, productive, budget, known, details=details)

    notes = src.waste_notes(selection.scope)
    if budgets > 1:
        notes.append(
            f"the total is measured against the {budgets:,} rows' budgets: {budget_tokens * budgets:,}"
        )
    formula = f"Σ tokens of succeeded, unwasted calls / {budget_tokens:,} budgeted tokens"
    return build_result(("token_utilization", "ratio", formula), selection, grouped, compute, notes)


def cost_to_utility_by_intent(
    store: Store, selection: Selection = ALL, *, sources: Sources | None = None
) -> MetricResult:
    """Each intent's share of cost against its share of calls and of successes.

    Within each group (and bucket), for each intent: ``cost share = Σ cost / group Σ cost``,
    ``call share``, ``success share``; the value is ``cost share / success share`` (above 1: the
    intent costs more than its share of the work that succeeded). Cost includes charges.
    """
    by = tuple(dict.fromkeys((*selection.grouping.by, "intent")))
    inner = selection.regrouped(by)
    aggs = {**_SPEND_AGGS, "successes": _SUCCESSES}
    grouped = grouped_spend(store, sources or detect(store), inner, aggs, _SPEND_COLUMNS)
    parents = parent_sums(grouped.rows, ("cost", "calls", "successes"), "intent")

    def compute(raw: Mapping[str, Any]) -> MetricRow:
        parent = parents[parent_key(raw, "intent")]
        shares = {
            "cost_share": share(raw["cost"], parent["cost"]),
            "call_share": share(raw["calls"], parent["calls"]),
            "success_share": share(raw["successes"], parent["successes"]),
        }
        value = share(shares["cost_share"], shares["success_share"])
        reason = None if value is not None else "no cost or no successful outcome to compare"
        return metric_row(
            raw,
            value,
            shares["cost_share"],
            shares["success_share"],
            int(raw["known"] or 0),
            reason=reason,
            details=shares,
        )

    formula = "intent's share of cost / its share of successful outcomes (also its share of calls)"
    rows = tuple(compute(r) for r in grouped.rows)
    whole = grouped.total
    total = metric_row(whole, None, None, None, int(whole["known"] or 0), reason="compared per intent (rows)")
    return MetricResult(
        "cost_to_utility_by_intent",
        "x",
        formula,
        rows,
        total,
        by,
        selection.grouping.bucket,
        tuple(unpriced_notes(grouped)),
    )


def latency_cost_parity(
    store: Store, model_a: str, model_b: str, selection: Selection = ALL, *, sources: Sources | None = None
) -> MetricResult:
    """Extra dollars per 100 ms saved by the faster of two models, intent by intent.

    For each intent (within each group and bucket) served by both models:
    ``mean latency = Σ latency_ms / calls`` and ``mean cost = Σ cost / priced calls`` per model, and
    ``parity = (mean cost of the faster − mean cost of the slower) / ((slower − faster latency) / 100 ms)``.
    Negative: the faster model is also cheaper. Over calls that succeeded (status ``ok`` and no outcome
    saying they failed) with a latency and a price. Money is rounded to the stored 12 places.
    A model is named as requested or as served (``gpt-4.1-mini`` matches ``gpt-4.1-mini-2025-04-14``).
    """
    models = Selection(selection.scope.with_where("model", (model_a, model_b)), selection.grouping)
    outer = tuple(dict.fromkeys((*selection.grouping.by, "intent")))
    inner = models.regrouped(tuple(dict.fromkeys((*outer, "request_model", "model"))))
    known = "c.latency_ms IS NOT NULL AND c.cost_total IS NOT NULL AND c._succeeded"
    aggs = {
        "calls": "count(*)",
        "known": count_if(known),
        "latency": f"sum(c.latency_ms) FILTER (WHERE {known})",
        "cost": f"sum(c.cost_total) FILTER (WHERE {known})",
    }
    grouped = grouped_calls(store, sources or detect(store), inner, aggs)
    pairs: dict[Any, dict[str, dict[str, Any]]] = {}
    for raw in grouped.rows:
        names = (raw["group"]["model"], raw["group"]["request_model"])
        alias = model_a if model_a in names else model_b
        key = (
            tuple((k, v) for k, v in raw["group"].items() if k not in ("model", "request_model")),
            raw["bucket"],
        )
        sums = pairs.setdefault(key, {}).setdefault(alias, dict.fromkeys(aggs, 0))
        for name in aggs:
            sums[name] += raw[name] or 0
    rows = tuple(parity_row(key, by_model, model_a, model_b) for key, by_model in pairs.items())
    total = MetricRow({}, None, None, calls=int(grouped.total["calls"] or 0), reason="parity is per intent")
    formula = "(mean cost of faster − mean cost of slower) / ((slower − faster mean latency) / 100 ms)"
    return MetricResult(
        "latency_cost_parity",
        "USD/100ms",
        formula,
        rows,
        total,
        tuple(k for k in outer if k not in ("model", "request_model")),
        selection.grouping.bucket,
    )


METRICS: Final[dict[str, Callable[..., MetricResult]]] = {
    f.__name__: f
    for f in (
        token_efficiency,
        output_to_input_ratio,
        input_token_density,
        prompt_bloat,
        completion_efficiency,
        context_window_utilization,
        cache_hit_ratio,
        tcpr,
        cost_per_session,
        cost_per_action,
        cost_per_successful_inference,
        cost_to_utility_by_intent,
    )
}
"""The metrics that need nothing but a selection, by name (token utilization needs a budget,
latency-cost parity two models)."""
