"""The savings plan adds fixes up without counting the same money twice."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests.analysis.waste.factory import Conversation, store_of
from tokenomy.analysis.audit import run_audit
from tokenomy.analysis.savings import build_plan, call_costs
from tokenomy.schema import Finding, FindingCall, Severity, WasteEffect, WasteRole

D = Decimal


def finding(
    fid: str, category: str, *calls: FindingCall, low: str | None = None, high: str | None = None
) -> Finding:
    """A finding whose wasted dollars are its calls' and whose monthly range is given."""
    return Finding(
        id=fid,
        category=category,
        severity=Severity.LOW,
        title=fid,
        fix="fix it",
        calls=calls,
        wasted_tokens=sum(c.tokens for c in calls),
        wasted_cost=sum((c.cost or D(0) for c in calls), D(0)),
        monthly_savings_low=None if low is None else D(low),
        monthly_savings_high=None if high is None else D(high),
    )


def part(
    call_id: str, effect: WasteEffect, cost: str | None, tokens: int = 0, role: WasteRole = WasteRole.PARTIAL
) -> FindingCall:
    return FindingCall(call_id, "s1", role, tokens, None if cost is None else D(cost), effect)


COSTS = {"a": (D("0.008"), D("0.002")), "b": (D("0.004"), D("0.001"))}


def test_a_call_that_goes_away_saves_nothing_more_from_trimming_it() -> None:
    retry = finding("retry", "retry_loop", part("a", WasteEffect.CALL, "0.01", 5_000, WasteRole.WASTED))
    bloat = finding("bloat", "bloated_system_prompt", part("a", WasteEffect.SYSTEM, "0.003", 1_000))
    plan = build_plan([bloat, retry], COSTS)
    assert plan.total == D("0.01")  # the whole call, once
    assert plan.standalone == D("0.013")
    assert plan.overlap == D("0.003")
    assert {e.finding.id: e.saving for e in plan.entries} == {"retry": D("0.01"), "bloat": D(0)}


def test_the_total_covers_every_fix_and_says_what_the_listed_ones_save() -> None:
    retry = finding("retry", "retry_loop", part("a", WasteEffect.CALL, "0.01", 5_000, WasteRole.WASTED))
    bloat = finding("bloat", "bloated_system_prompt", part("b", WasteEffect.SYSTEM, "0.003", 1_000))
    plan = build_plan([retry, bloat], COSTS, top=1)
    assert [e.finding.id for e in plan.entries] == ["retry"]
    assert (plan.fixes, plan.total, plan.listed) == (2, D("0.013"), D("0.01"))


def test_a_trimmed_system_prompt_leaves_less_prefix_to_cache() -> None:
    bloat = finding("bloat", "bloated_system_prompt", part("a", WasteEffect.SYSTEM, "0.003", 1_000))
    cache = finding("cache", "missed_caching", part("a", WasteEffect.PREFIX, "0.0045", 3_000))
    plan = build_plan([cache, bloat], COSTS)
    savings = {e.finding.id: e.saving for e in plan.entries}
    # the cache now covers 2,000 of its 3,000 prefix tokens
    assert savings == {"bloat": D("0.003"), "cache": D("0.003")}
    assert plan.total == D("0.006")


def test_two_repricings_apply_one_after_the_other() -> None:
    smaller = finding("model", "oversized_model", part("a", WasteEffect.PRICE, "0.009"))
    batched = finding("batch", "missed_batch", part("a", WasteEffect.PRICE, "0.005"))
    plan = build_plan([batched, smaller], COSTS)
    savings = {e.finding.id: e.saving for e in plan.entries}
    # the smaller model saves 90% of $0.01; batching then halves the $0.001 left
    assert savings == {"model": D("0.009"), "batch": D("0.0005")}
    assert plan.total == D("0.0095")


def test_trims_are_capped_by_what_is_left_of_their_side() -> None:
    filler = finding("filler", "filler", part("b", WasteEffect.OUTPUT, "0.0008", 80))
    planning = finding("plan", "over_planning", part("b", WasteEffect.OUTPUT, "0.0009", 90))
    plan = build_plan([filler, planning], COSTS)
    assert plan.total == D("0.001")  # call b's whole output side


def test_money_outside_the_call_counts_once_and_unpriced_waste_not_at_all() -> None:
    repeat = finding(
        "repeat",
        "redundant_tool_call",
        part("a", WasteEffect.EXTRA, "0.005", 900, WasteRole.WASTED),
        part("zz", WasteEffect.CALL, None, 400, WasteRole.WASTED),
    )
    retry = finding("retry", "retry_loop", part("a", WasteEffect.CALL, "0.01", 5_000, WasteRole.WASTED))
    plan = build_plan([repeat, retry], COSTS)
    assert plan.total == D("0.015")


def test_monthly_ranges_scale_with_the_marginal_share() -> None:
    retry = finding(
        "retry", "retry_loop", part("a", WasteEffect.CALL, "0.01", role=WasteRole.WASTED), low="5", high="10"
    )
    bloat = finding(
        "bloat", "bloated_system_prompt", part("a", WasteEffect.SYSTEM, "0.004"), low="2", high="4"
    )
    bloat_b = finding(
        "bloat-b", "bloated_system_prompt", part("b", WasteEffect.SYSTEM, "0.002"), low="1", high="2"
    )
    plan = build_plan([retry, bloat, bloat_b], COSTS, top=2)
    assert [(e.finding.id, e.monthly_low, e.monthly_high) for e in plan.entries] == [
        ("retry", D("5.000000000000"), D("10.000000000000")),
        ("bloat-b", D("1.000000000000"), D("2.000000000000")),
    ]
    assert (plan.monthly_low, plan.monthly_high) == (D("6.000000000000"), D("12.000000000000"))


def test_the_plan_of_a_real_audit_never_exceeds_its_findings(tmp_path: Path) -> None:
    chat = Conversation("s1", provider="anthropic", model="claude-sonnet-4-5", system=6_000)
    calls = [chat.ask("c1", ("question", 300))]
    calls.append(chat.ask("c2", ("results", 900)))
    calls.append(chat.reask("c3", ("follow the format", 40), kept=True))
    with store_of(tmp_path, calls) as store:
        result = run_audit(store)
        costs = call_costs(store, [c.call_id for f in result.findings for c in f.calls])
    assert set(costs) == {"c2", "c3"}
    assert costs["c2"] == (
        D(6_000 + 400 + 360 + 900) * D(3) / 1_000_000,
        D(60) * D(15) / 1_000_000,
    )
    plan = build_plan(result.findings, costs)
    assert {f.category for f in result.findings} == {"retry_loop", "missed_caching"}
    assert plan.total < plan.standalone  # c2 is both re-asked and a missed cache read: counted once
