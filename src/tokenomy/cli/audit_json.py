"""The audit's report as data: one object holding findings, plan, cache advice and samples, and its JSON.

:class:`AuditReport` is what ``tokenomy audit`` shows in every format; :func:`report_json` turns it
into JSON-ready data (money as decimal strings, unknown amounts as null, times in ISO 8601). Each
finding names its sessions and its calls by role (``wasted``, ``partial``, ``context``); the per-call
tokens, dollars and reasons stay in the store (``finding_calls``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.audit import AuditResult
from tokenomy.analysis.cache_advisor import CacheAdvice, RouteCache
from tokenomy.analysis.formats import money_short
from tokenomy.analysis.results import jsonable
from tokenomy.analysis.savings import PlanEntry, SavingsPlan
from tokenomy.analysis.waste.walkthrough import SessionWalk, Step
from tokenomy.native import money_text
from tokenomy.schema import Finding, WasteRole


@dataclass(frozen=True, slots=True)
class ByRow:
    """Findings of one category summed for one value of the ``--by`` dimension."""

    value: str
    category: str
    findings: int
    sessions: int
    wasted_cost: Decimal | None
    monthly_low: Decimal | None
    monthly_high: Decimal | None


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Everything ``tokenomy audit`` reports."""

    result: AuditResult
    plan: SavingsPlan
    advice: CacheAdvice
    walks: tuple[SessionWalk, ...] = ()
    by: str | None = None
    top: int = 15
    replaced: int | None = None
    """Earlier audits replaced when the findings were saved; None when they were not saved."""
    by_rows: tuple[ByRow, ...] = field(default_factory=tuple)


def cache_overlap(report: AuditReport) -> tuple[int, Decimal | None]:
    """The ``missed_caching`` findings the cache advisor's expected saving repeats: how many, and
    their wasted dollars (None when none is priced)."""
    found = [f for f in report.result.findings if f.category == "missed_caching"]
    priced = [f.wasted_cost for f in found if f.wasted_cost is not None]
    return len(found), (sum(priced, Decimal(0)) if priced else None)


def cache_overlap_note(report: AuditReport) -> str:
    """One sentence saying that the advisor's expected saving is the same money as the
    ``missed_caching`` findings (which the savings plan counts), not more."""
    count, wasted = cache_overlap(report)
    drift = any(
        m.reason in ("prefix_drift", "tools_changed") and m.cost
        for r in report.advice.routes
        for m in r.misses
    )
    extra = (
        "; it also counts prompts that drift or tools that change, which no finding prices" if drift else ""
    )
    if count:
        amount = "" if wasted is None else f" ({money_short(wasted)})"
        return (
            f"the expected saving is the same money as the {count:,} missed_caching finding(s){amount},"
            f" which the savings plan already counts: do not add it to them{extra}"
        )
    return (
        "the expected saving is the money of missed prompt caching, the missed_caching findings' "
        f"category: it is not in addition to the savings plan{extra}"
    )


def group_by(findings: Sequence[Finding], dimension: str) -> tuple[ByRow, ...]:
    """The findings summed per value of ``dimension`` and category, by wasted dollars."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        value = finding.scope.get(dimension) or "(unattributed)"
        groups.setdefault((value, finding.category), []).append(finding)
    rows = [
        ByRow(
            value=value,
            category=category,
            findings=len(items),
            sessions=sum(len(f.session_ids) for f in items),
            wasted_cost=_sum([f.wasted_cost for f in items]),
            monthly_low=_sum([f.monthly_savings_low for f in items]),
            monthly_high=_sum([f.monthly_savings_high for f in items]),
        )
        for (value, category), items in groups.items()
    ]
    return tuple(sorted(rows, key=lambda r: (-(r.wasted_cost or 0), r.value, r.category)))


def _sum(values: list[Decimal | None]) -> Decimal | None:
    known = [v for v in values if v is not None]
    return sum(known, Decimal(0)) if known else None


def money(value: Decimal | None) -> str | None:
    """Money as a plain decimal string (``0.000000000000``, never ``0E-12``), or None."""
    return None if value is None else money_text(value)


def when(value: datetime | None) -> str | None:
    """A time in ISO 8601 UTC with a ``Z`` (the store's naive times are UTC), or None."""
    return None if value is None else str(jsonable(value))


NAMED: Final = 100
"""The sessions, and the calls of each role, a finding names in the JSON at most (its counts are
whole; the full lists are in the store's ``findings`` and ``finding_calls``): a finding on a large
store can hold hundreds of thousands of calls."""


def finding_json(finding: Finding) -> dict[str, Any]:
    """One finding: its figures, and the sessions and calls it names, so an engineer can open them."""
    return {
        "id": finding.id,
        "category": finding.category,
        "severity": finding.severity.value,
        "title": finding.title,
        "scope": dict(finding.scope),
        "sessions": len(finding.session_ids),
        "wasted_calls": len(finding.call_ids(WasteRole.WASTED)),
        "partial_calls": len(finding.call_ids(WasteRole.PARTIAL)),
        "session_ids": list(finding.session_ids[:NAMED]),
        "call_ids": {role.value: list(finding.call_ids(role)[:NAMED]) for role in WasteRole},
        "wasted_tokens": finding.wasted_tokens,
        "wasted_cost": money(finding.wasted_cost),
        "unpriced_calls": finding.unpriced_calls,
        "monthly_savings": {
            "low": money(finding.monthly_savings_low),
            "high": money(finding.monthly_savings_high),
        },
        "assumptions": list(finding.assumptions),
        "fix": finding.fix,
        "evidence": dict(finding.evidence),
        "detector": finding.detector,
    }


def plan_entry_json(entry: PlanEntry) -> dict[str, Any]:
    """One fix of the savings plan."""
    return {
        "finding_id": entry.finding.id,
        "category": entry.finding.category,
        "title": entry.finding.title,
        "fix": entry.finding.fix,
        "saving": money(entry.saving),
        "overlap_removed": money(entry.overlap),
        "monthly_savings": {"low": money(entry.monthly_low), "high": money(entry.monthly_high)},
        "assumptions": list(entry.finding.assumptions),
    }


def plan_json(plan: SavingsPlan) -> dict[str, Any]:
    """The savings plan with its totals."""
    return {
        "fixes": [plan_entry_json(e) for e in plan.entries],
        "fixes_in_total": plan.fixes,
        "total": money(plan.total),
        "listed_total": money(plan.listed),
        "monthly_savings": {"low": money(plan.monthly_low), "high": money(plan.monthly_high)},
        "standalone_total": money(plan.standalone),
        "overlap_removed": money(plan.overlap),
        "notes": list(plan.notes),
    }


def route_cache_json(route: RouteCache) -> dict[str, Any]:
    """One route of the cache advice."""
    rule = route.rule
    return {
        "route": dict(route.route),
        "cache": None
        if rule is None
        else {
            "mode": rule.mode,
            "lifetime_seconds": rule.ttl_seconds,
            "long_lifetime_seconds": rule.long_ttl_seconds,
        },
        "minimum_tokens": route.min_tokens,
        "calls": route.calls,
        "prefix_tokens": route.prefix_tokens,
        "cacheable_share": round(route.cacheable_share, 4),
        "repeat_share": None if route.repeat_share is None else round(route.repeat_share, 4),
        "gap_seconds": {"p50": route.gap_p50_s, "p90": route.gap_p90_s},
        "hit_ratio": None if route.hit_ratio is None else round(route.hit_ratio, 4),
        "misses": [
            {
                "reason": m.reason,
                "calls": m.calls,
                "tokens": m.tokens,
                "written_tokens": m.written_tokens,
                "runs": m.runs,
                "cost": money(m.cost),
            }
            for m in route.misses
        ],
        "expected_saving": money(route.expected_saving),
        "advice": route.advice,
    }


def step_json(step: Step) -> dict[str, Any]:
    """One call of a walked session."""
    return {
        "call_id": step.call_id,
        "step": step.step,
        "started_at": when(step.started_at),
        "agent": step.agent,
        "model": step.model,
        "status": step.status,
        "finish_reason": step.finish_reason,
        "input_tokens": step.input_tokens,
        "output_tokens": step.output_tokens,
        "cache_read": step.cache_read,
        "cost": money(step.cost),
        "waste": [
            {
                "category": w.category,
                "role": w.role.value,
                "tokens": w.tokens,
                "cost": money(w.cost),
                "why": w.why,
            }
            for w in step.wastes
        ],
    }


def walk_json(walk: SessionWalk) -> dict[str, Any]:
    """One sampled session."""
    return {
        "session_id": walk.session_id,
        "stratum": walk.stratum,
        "cost": money(walk.cost),
        "unpriced_calls": walk.unpriced_calls,
        "wasted_cost": money(walk.wasted_cost),
        "findings": list(walk.findings),
        "steps": [step_json(s) for s in walk.steps],
    }


def report_json(report: AuditReport) -> dict[str, Any]:
    """The whole report as JSON-ready data."""
    result, period = report.result, report.result.period
    overlap = cache_overlap(report)
    return {
        "audit_id": result.audit_id,
        "created_at": when(result.created_at),
        "scope": {
            "since": when(result.scope.since),
            "until": when(result.scope.until),
            "where": {name: list(values) for name, values in result.scope.where},
        },
        "period": {
            "start": when(period.start),
            "end": when(period.end),
            "days": period.days,  # of traffic: the period narrowed to its calls' first and last start
            "asked_days": period.asked_days,
            "calls": period.calls,
            "sessions": period.sessions,
            "cost": money(period.cost),
            "unpriced_calls": period.unpriced,  # left out of cost
        },
        "saved": None if report.replaced is None else {"replaced_audits": report.replaced},
        "findings": [finding_json(f) for f in result.findings],
        "by": None
        if report.by is None
        else {"dimension": report.by, "rows": [by_row_json(r) for r in report.by_rows]},
        "plan": plan_json(report.plan),
        "cache": {
            "expected_saving": money(report.advice.expected_saving),
            "same_money_as": {
                "category": "missed_caching",
                "findings": overlap[0],
                "wasted_cost": money(overlap[1]),
            },
            "same_money_note": cache_overlap_note(report),
            "routes": [route_cache_json(r) for r in report.advice.routes],
            "notes": list(report.advice.notes),
        },
        "samples": [walk_json(w) for w in report.walks],
        "notes": list(result.notes),
    }


def by_row_json(row: ByRow) -> dict[str, Any]:
    """One row of the ``--by`` summary."""
    return {
        "value": row.value,
        "category": row.category,
        "findings": row.findings,
        "sessions": row.sessions,
        "wasted_cost": money(row.wasted_cost),
        "monthly_savings": {"low": money(row.monthly_low), "high": money(row.monthly_high)},
    }
