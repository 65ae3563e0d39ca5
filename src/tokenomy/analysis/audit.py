"""The token audit: run every waste detector over a period and turn their hits into ranked findings.

:func:`run_audit` runs the detectors of :mod:`tokenomy.analysis.waste` over the calls a
:class:`~tokenomy.analysis.dimensions.Scope` selects, groups their hits by category and route
(team, feature, agent, intent, provider, model) into :class:`~tokenomy.schema.Finding` records,
prices each finding's waste, projects a monthly savings range at the period's volume, rates its
severity and ranks the findings by dollars. :func:`save_audit` stores them (``findings`` and
``finding_calls``) for the dashboard, alerts and the efficiency metrics.

Monthly savings: the period's waste times 30.4375 days (365.25 / 12) over the period's length, times the
detector's ``fix_share`` (the share of the waste its fix is assumed to remove). A period shorter
than a day is not extrapolated: its findings carry no monthly figure and say why.

Severity: high when the finding wastes at least 20% of its route's spend or could save $1,000 a
month; medium from 5% or $100 a month; low otherwise.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final

from tokenomy.analysis.dimensions import Scope, as_utc, scope_sql
from tokenomy.analysis.formats import money_short
from tokenomy.analysis.waste import money
from tokenomy.analysis.waste.base import ROUTE_KEYS, AuditOptions, Context, Detector, Hit, Route
from tokenomy.analysis.waste.registry import DETECTORS
from tokenomy.native import money_text
from tokenomy.pricing import Pricer, default_pricer
from tokenomy.schema import Finding, FindingCall, Severity, WasteRole, utc_now
from tokenomy.store.base import Store
from tokenomy.store.findings import AuditRecord

DAYS_PER_MONTH: Final = Decimal("30.4375")
"""An average month (365.25 / 12 days)."""
_HIGH_SHARE: Final = Decimal("0.2")
_MEDIUM_SHARE: Final = Decimal("0.05")
_HIGH_MONTHLY: Final = Decimal(1000)
_MEDIUM_MONTHLY: Final = Decimal(100)
_EXAMPLES: Final = 3
_DAY: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Period:
    """What the audit covered: its time bounds and the volume in them."""

    calls: int
    sessions: int
    cost: Decimal | None
    first: datetime | None = None
    last: datetime | None = None
    """The first and last audited call's start (None: no call with a start time)."""
    since: datetime | None = None
    until: datetime | None = None
    """The bounds asked for (``--since``, ``--until``; None: not given)."""
    unpriced: int = 0
    """Audited calls without a price: left out of :attr:`cost` (and of any finding's dollars)."""

    @property
    def spend_text(self) -> str:
        """``$70.58 of LLM spend``, and the calls it leaves out when some could not be priced."""
        left = f" ({self.unpriced:,} unpriced calls left out of it)" if self.unpriced else ""
        return f"{money_short(self.cost)} of LLM spend{left}"

    @property
    def start(self) -> datetime | None:
        """The period's start: the one asked for, else the first call's."""
        return self.since if self.since is not None else self.first

    @property
    def end(self) -> datetime | None:
        """The period's end: the one asked for, else the last call's start."""
        return self.until if self.until is not None else self.last

    @property
    def days(self) -> float | None:
        """The days of traffic the audit saw, for the monthly projection (None: unknown).

        The whole UTC days from the first audited call's to the last's, within the bounds asked
        for: waste spread over days before the first call or after the last would read smaller
        than the traffic makes, and the span between two starts alone is a day short for traffic
        that comes in runs (a daily job seen on 2 days spans 1.0). Calls that span less than a
        day count as that span (too short to extrapolate), unless a period of a day or more was
        asked for (``--since``/``--until``) of two days at most, or of more and they span half a day
        or more: a day's traffic asked for by its day (a workday's 8.5 hours, say) is that day's,
        while an hour of traffic in an asked month stays an hour (stretched to its day, it was
        projected 30 times over).
        """
        first = self.first if self.first is not None else self.start
        last = self.last if self.last is not None else self.end
        if first is None or last is None:
            return None
        lo, hi = first, last
        asked = None
        if self.since is not None and self.until is not None and self.until - self.since >= _DAY:
            asked = self.until - self.since
        # a day or two asked for by their days are those days, whatever their calls span; in a longer
        # period asked for, calls spanning under half a day stay their span (an hour of calls in a
        # month was stretched to its day, and projected 30 times over)
        stretch = asked is not None and (asked <= 2 * _DAY or last - first >= _DAY / 2)
        if last - first >= _DAY or stretch:
            lo = datetime.combine(first.date(), time.min)
            hi = datetime.combine(last.date(), time.min) + timedelta(days=1)
        lo = max(lo, self.since) if self.since is not None else lo
        hi = min(hi, self.until) if self.until is not None else hi
        return max(0.0, (hi - lo).total_seconds() / 86_400)

    @property
    def asked_days(self) -> float | None:
        """The period's own length in days (None when a bound is unknown)."""
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).total_seconds() / 86_400

    @property
    def monthly_factor(self) -> Decimal | None:
        """What a month is in periods (None below one day: too short to extrapolate)."""
        days = self.days
        if days is None or days < 1:
            return None
        return DAYS_PER_MONTH / Decimal(str(round(days, 6)))


@dataclass(frozen=True, slots=True)
class AuditResult:
    """An audit: its findings ranked by wasted dollars, the hits behind them, and what it covered."""

    audit_id: str
    created_at: datetime
    scope: Scope
    period: Period
    findings: tuple[Finding, ...]
    hits: tuple[Hit, ...]
    notes: tuple[str, ...] = ()
    evidence: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """What each detector measured (thresholds, baselines), by category."""

    @property
    def wasted_cost(self) -> Decimal:
        """Wasted dollars over every finding (categories may overlap; the savings plan does not)."""
        return sum((f.wasted_cost or Decimal(0) for f in self.findings), Decimal(0))

    def record(self) -> AuditRecord:
        """What the store needs to know about this audit to keep its findings."""
        return AuditRecord(
            audit_id=self.audit_id,
            created_at=self.created_at,
            scope=scope_text(self.scope),
            period_start=self.period.start,
            period_end=self.period.end,
        )


def scope_text(scope: Scope) -> str:
    """The audit's filters as text (``team=search;feature=chat``), empty for all calls."""
    return ";".join(f"{name}={','.join(values)}" for name, values in scope.where)


def run_audit(
    store: Store,
    *,
    scope: Scope | None = None,
    pricer: Pricer | None = None,
    options: AuditOptions | None = None,
    detectors: Sequence[Detector] = DETECTORS,
    now: datetime | None = None,
    progress: Callable[[str], object] | None = None,
) -> AuditResult:
    """Run the waste detectors over the calls ``scope`` selects and rank what they find.

    Args:
        store: The store to read.
        scope: The period and filters (all calls when None).
        pricer: Prices what-ifs (another model, batch, cache rates); the catalog alone when None.
        options: The detectors' thresholds.
        detectors: Which detectors to run (all of them by default).
        now: The audit's timestamp (now in UTC when None).
        progress: Told each detector's category as it starts, for people ("retry loop"): a progress
            bar's step.

    Returns:
        The findings ranked by wasted dollars, with their hits and the audited period.
    """
    scope = scope or Scope()
    ctx = Context(
        store, scope_sql(scope, store.dialect), pricer or default_pricer(), options or AuditOptions()
    )
    created = now or utc_now()
    audit_id = uuid.uuid4().hex[:16]
    period = _period(ctx, scope)
    spend = _route_spend(ctx)
    findings: list[Finding] = []
    hits: list[Hit] = []
    notes: list[str] = []
    evidence: dict[str, Mapping[str, Any]] = {}
    for detector in detectors:
        if progress is not None:
            progress(detector.category.replace("_", " "))
        detection = detector.detect(ctx)
        hits += detection.hits
        notes += detection.notes
        evidence[detector.category] = detection.evidence
        for route, group in _by_route(detection.hits).items():
            findings.append(
                _finding(detector, route, group, detection.evidence, _Run(period, spend, audit_id, created))
            )
    if period.monthly_factor is None and findings:
        notes.append(_short_period_note(period))
    unpriced = [f for f in findings if f.wasted_cost is None]
    if unpriced:  # ranked after every priced finding: a short --top would hide them without a word
        tokens = sum(f.wasted_tokens for f in unpriced)
        notes.append(
            f"{len(unpriced):,} finding(s) could not be priced ({tokens:,} wasted tokens): they rank after "
            "every priced one, by wasted tokens (a larger --top shows them)"
        )
    return AuditResult(
        audit_id, created, scope, period, tuple(rank(findings)), tuple(hits), tuple(notes), evidence
    )


def save_audit(store: Store, result: AuditResult) -> int:
    """Store an audit's findings; returns how many earlier audits they replaced."""
    return store.save_findings(result.findings, result.record())


def rank(findings: Iterable[Finding]) -> list[Finding]:
    """Findings by wasted dollars (unpriced last), then wasted tokens, then id."""
    return sorted(
        findings, key=lambda f: (f.wasted_cost is None, -(f.wasted_cost or 0), -f.wasted_tokens, f.id)
    )


def _period(ctx: Context, scope: Scope) -> Period:
    row = ctx.rows(
        "SELECT min(started_at) AS first, max(started_at) AS last, count(*) AS calls, "
        "count(DISTINCT session) AS sessions, sum(cost_total) AS cost, "
        "count(*) FILTER (WHERE cost_total IS NULL) AS unpriced FROM audited"
    )[0]
    calls, sessions, cost = int(row["calls"]), int(row["sessions"]), row["cost"]
    since, until = as_utc(scope.since), as_utc(scope.until)
    return Period(calls, sessions, cost, row["first"], row["last"], since, until, int(row["unpriced"] or 0))


def _route_spend(ctx: Context) -> dict[tuple[str | None, ...], Decimal]:
    keys = ", ".join(ROUTE_KEYS)
    rows = ctx.rows(f"SELECT {keys}, sum(cost_total) AS cost FROM audited GROUP BY ALL")
    return {tuple(r[k] for k in ROUTE_KEYS): r["cost"] for r in rows if r["cost"] is not None}


def _by_route(hits: Iterable[Hit]) -> dict[Route, list[Hit]]:
    grouped: dict[Route, list[Hit]] = {}
    for hit in hits:
        grouped.setdefault(hit.route, []).append(hit)
    return grouped


@dataclass(frozen=True, slots=True)
class _Run:
    """What every finding of one audit shares."""

    period: Period
    spend: Mapping[tuple[str | None, ...], Decimal]
    audit_id: str
    created: datetime


def _finding(
    detector: Detector, route: Route, hits: list[Hit], evidence: Mapping[str, Any], run: _Run
) -> Finding:
    period = run.period
    calls = tuple(_finding_call(hit, call) for hit in hits for call in hit.calls)
    charged = [c for hit in hits for c in hit.calls if c.role is not WasteRole.CONTEXT]
    wasted = money.total([c.cost for c in charged])
    low, high = _monthly(detector, charged, period)
    route_spend = run.spend.get(tuple(route.as_dict().values()))
    share = None if wasted is None or not route_spend else wasted / route_spend
    sessions = len({h.session_id for h in hits})
    return Finding(
        id=_finding_id(detector.category, route, period),
        category=detector.category,
        severity=severity(share, high),
        title=f"{detector.title}: {sessions:,} session(s) on {route_label(route)}",
        fix=detector.fix,
        calls=calls,
        wasted_tokens=sum(c.tokens for c in charged),
        wasted_cost=wasted,
        unpriced_calls=sum(1 for c in charged if c.unpriced),
        monthly_savings_low=low,
        monthly_savings_high=high,
        assumptions=_assumptions(detector, period, charged),
        scope=route.as_dict(),
        evidence={
            **evidence,
            "instances": len(hits),
            "sessions": sessions,
            "route_spend": None if route_spend is None else money_text(route_spend),
            "share_of_route_spend": None if share is None else round(float(share), 4),
            "examples": [h.note for h in hits[:_EXAMPLES]],
        },
        period_start=period.start,
        period_end=period.end,
        detector=f"{detector.category}/{detector.version}",
        audit_id=run.audit_id,
        created_at=run.created,
    )


def _finding_call(hit: Hit, call: Any) -> FindingCall:
    return FindingCall(
        call_id=call.call_id,
        session_id=hit.session_id,
        role=call.role,
        tokens=call.tokens,
        cost=call.cost,
        effect=call.effect,
        note=call.note,
    )


def _monthly(detector: Detector, charged: list[Any], period: Period) -> tuple[Decimal | None, Decimal | None]:
    factor = period.monthly_factor
    wasted = money.total([c.cost for c in charged])
    upper = money.total([c.high for c in charged])
    if factor is None or wasted is None or upper is None:
        return None, None
    low_share, high_share = detector.fix_share
    return money.quantize(wasted * low_share * factor), money.quantize(upper * high_share * factor)


def severity(share: Decimal | None, monthly_high: Decimal | None) -> Severity:
    """High from 20% of the route's spend or $1,000 a month; medium from 5% or $100; else low."""
    if (share is not None and share >= _HIGH_SHARE) or (
        monthly_high is not None and monthly_high >= _HIGH_MONTHLY
    ):
        return Severity.HIGH
    if (share is not None and share >= _MEDIUM_SHARE) or (
        monthly_high is not None and monthly_high >= _MEDIUM_MONTHLY
    ):
        return Severity.MEDIUM
    return Severity.LOW


def _assumptions(detector: Detector, period: Period, charged: list[Any]) -> tuple[str, ...]:
    out = [f"fix: {detector.assumption}"]
    days, asked = period.days, period.asked_days
    if period.monthly_factor is not None and days is not None:
        narrowed = (
            f" (the UTC days with calls, of the {asked:.1f} asked)"
            if asked is not None and asked - days >= 0.05
            else ""
        )
        volume = f"the audited {days:.1f} days{narrowed} ({period.calls:,} calls)"
        out.append(f"volume: {volume} stand for a typical month")
    unpriced = sum(1 for c in charged if c.unpriced)
    if unpriced:
        out.append(f"{unpriced:,} involved call(s) are unpriced: their waste is counted in tokens only")
    return tuple(out)


def _short_period_note(period: Period) -> str:
    if period.days is None:
        return "the audited calls have no start times: monthly savings are not estimated"
    hours = period.days * 24
    return f"the audited calls span {hours:.1f} hours (under a day): monthly savings are not estimated"


def route_label(route: Route) -> str:
    """``feature / agent on provider model`` (whatever is known), for titles."""
    who = " / ".join(v for v in (route.team, route.feature, route.agent) if v)
    what = " ".join(v for v in (route.provider, route.model) if v)
    return " on ".join(v for v in (who, what) if v) or "unattributed calls"


def _finding_id(category: str, route: Route, period: Period) -> str:
    parts = [category, *(v or "" for v in route.as_dict().values())]
    parts += [period.start.isoformat() if period.start else "", period.end.isoformat() if period.end else ""]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]
