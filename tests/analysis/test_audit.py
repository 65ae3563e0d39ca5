"""The audit: findings grouped by route, priced, projected to a month, rated, ranked, stored."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.analysis.waste.factory import PRICER, T0, Conversation, store_of
from tests.conftest import real_data_path
from tokenomy.analysis.audit import DAYS_PER_MONTH, run_audit, save_audit, severity
from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.sources import detect
from tokenomy.analysis.waste.redundant_tool_call import RedundantToolCall
from tokenomy.analysis.waste.registry import DETECTORS
from tokenomy.analysis.waste.retry_loop import RetryLoop
from tokenomy.importers import import_paths
from tokenomy.schema import Call, Charge, Severity, WasteRole
from tokenomy.simulate import SimulationConfig, WasteRates, records, run
from tokenomy.store import DuckDBStore, open_store
from tokenomy.store.events import spans_to_arrow


def _retry_session(session: str, after: float = 5.0) -> list[Call]:
    chat = Conversation(session)
    chat.clock += timedelta(seconds=after)
    first = chat.ask(f"{session}-1", ("question", 300))
    bad = chat.ask(f"{session}-2", ("tool-results", 900))
    kept = chat.reask(f"{session}-3", ("follow the format", 40), kept=True)
    return [first, bad, kept]


def _caching_session(session: str, after: float = 5.0) -> list[Call]:
    chat = Conversation(
        session, provider="anthropic", model="claude-sonnet-4-5", agent="coder", feature="review"
    )
    chat.clock += timedelta(seconds=after)
    return [chat.ask(f"{session}-{i}", (f"turn-{i}", 200)) for i in range(4)]


@pytest.fixture
def two_days(tmp_path: Path) -> DuckDBStore:
    """Two retry loops and two sessions that never cache, spread over two days."""
    calls = [*_retry_session("r1"), *_retry_session("r2", after=86_400 * 2)]
    calls += [*_caching_session("k1", after=60), *_caching_session("k2", after=86_400)]
    return store_of(tmp_path, calls)


def test_findings_group_hits_by_route_and_rank_by_dollars(two_days: DuckDBStore) -> None:
    with two_days as store:
        result = run_audit(store)
    assert [f.category for f in result.findings] == ["missed_caching", "retry_loop"]
    caching, retry = result.findings
    assert caching.wasted_cost is not None
    assert retry.wasted_cost is not None
    assert caching.wasted_cost > retry.wasted_cost
    assert caching.scope == {
        "team": "support",
        "feature": "review",
        "agent": "coder",
        "intent": "chat_support",
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
    }
    assert caching.session_ids == ("k1", "k2")
    assert retry.call_ids(WasteRole.WASTED) == ("r1-2", "r2-2")
    assert retry.call_ids(WasteRole.CONTEXT) == ("r1-3", "r2-3")
    assert retry.wasted_tokens == 2 * 2_920
    assert caching.detector == "missed_caching/1"
    assert caching.evidence["instances"] == 2


def test_monthly_savings_scale_the_period_by_the_fix_share(two_days: DuckDBStore) -> None:
    with two_days as store:
        result = run_audit(store)
    days = result.period.days
    assert days is not None
    assert days > 2
    factor = DAYS_PER_MONTH / Decimal(str(round(days, 6)))
    retry = next(f for f in result.findings if f.category == "retry_loop")
    assert retry.wasted_cost is not None
    assert retry.monthly_savings_low == (retry.wasted_cost * Decimal("0.5") * factor).quantize(
        Decimal("1e-12")
    )
    assert retry.monthly_savings_high == (retry.wasted_cost * factor).quantize(Decimal("1e-12"))
    assert any(a.startswith("volume: the audited 3.0 days") for a in retry.assumptions)  # calls on 3 UTC days


def test_a_period_that_runs_past_its_calls_is_projected_from_its_days_with_calls(
    two_days: DuckDBStore,
) -> None:
    """Asked for 30 days around three days of traffic, the month is projected from those days, not
    spread over 27 days without a call (which read 10 times too small)."""
    with two_days as store:
        whole = run_audit(store)
        wide = run_audit(store, scope=Scope(since=T0 - timedelta(days=20), until=T0 + timedelta(days=10)))
    assert whole.period.days is not None
    assert wide.period.days == pytest.approx(whole.period.days)
    assert wide.period.asked_days == pytest.approx(30.0)
    assert (wide.period.start, wide.period.end) == (T0 - timedelta(days=20), T0 + timedelta(days=10))
    retry = next(f for f in wide.findings if f.category == "retry_loop")
    same = next(f for f in whole.findings if f.category == "retry_loop")
    assert retry.monthly_savings_high == same.monthly_savings_high
    assert any(
        a.startswith("volume: the audited 3.0 days (the UTC days with calls, of the 30.0 asked)")
        for a in retry.assumptions
    )


@pytest.mark.parametrize("days", [2, 3, 8])
def test_a_daily_job_projects_the_same_month_however_many_days_it_was_seen(tmp_path: Path, days: int) -> None:
    """The span between the first and last start is a day short for traffic that comes in runs: a
    job seen on 2 days spans 1.0 and read twice the month it makes."""
    calls = [c for d in range(days) for c in _retry_session(f"r{d}", after=86_400 * d)]
    with store_of(tmp_path, calls) as store:
        result = run_audit(store)
    assert result.period.days == pytest.approx(days)
    (retry,) = result.findings
    assert retry.wasted_cost is not None
    per_day = retry.wasted_cost / days
    assert retry.monthly_savings_high == (per_day * DAYS_PER_MONTH).quantize(Decimal("1e-12"))


def test_an_audit_of_one_session_reads_its_calls_and_those_of_its_trace(tmp_path: Path) -> None:
    """``--where session=r2`` audits that session alone, as the reports select it: its own calls and a
    call of its trace that names no session (a sub-agent's), not session r1's. It failed before
    ("no column _session"): the audit read the calls without the reports' session."""
    r1, r2 = _retry_session("r1"), _retry_session("r2", after=60)
    trace = "7" * 32
    r2 = [c.replace(trace_id=trace) for c in r2]
    helper = r2[0].replace(
        id="r2-helper",
        session_id=None,
        started_at=r2[-1].started_at,
        attribution=dataclasses.replace(r2[0].attribution, agent="helper"),  # a sub-agent: a run of its own
    )
    with store_of(tmp_path, [*r1, *r2, helper]) as store:
        one = run_audit(store, scope=Scope(where=(("session", ("r2",)),)))
        every = run_audit(store)
    assert (one.period.calls, one.period.sessions) == (4, 1)
    assert every.period.calls == 7
    (retry,) = one.findings
    assert {c.session_id for c in retry.calls} == {"r2"}


def test_an_audit_of_a_session_named_only_by_its_root_span_reads_its_calls(tmp_path: Path) -> None:
    """OTLP-style data: the calls of trace T name no session, its root span names session S. The
    reports select them for ``session=S``; the audit does too (it read only the calls' sessions)."""
    trace = "a" * 32
    calls = [c.replace(session_id=None, trace_id=trace) for c in _retry_session("x")]
    root = {
        "trace_id": trace,
        "span_id": "r0",
        "name": "invoke_agent main",
        "kind": "internal",
        "started_at": T0,
        "ended_at": T0 + timedelta(minutes=5),
        "session_id": "S",
    }
    with store_of(tmp_path, calls) as store:
        store.insert_spans(spans_to_arrow([root]))
        one = run_audit(store, scope=Scope(where=(("session", ("S",)),)))
    assert (one.period.calls, one.period.sessions) == (3, 1)
    (retry,) = one.findings
    assert retry.session_ids == ("S",)


def test_a_period_shorter_than_a_day_is_not_extrapolated(tmp_path: Path) -> None:
    with store_of(tmp_path, _retry_session("r1")) as store:
        result = run_audit(store)
    (retry,) = result.findings
    assert (retry.monthly_savings_low, retry.monthly_savings_high) == (None, None)
    assert "the audited calls span 0.0 hours (under a day): monthly savings are not estimated" in result.notes


def test_a_whole_day_asked_for_is_projected_though_its_calls_span_less(tmp_path: Path) -> None:
    """A day's traffic asked for by its day spans 23.8 hours, say: it is that day's, not too short."""
    day = T0.replace(hour=0, minute=0, second=0, microsecond=0)
    calls = [*_retry_session("r1"), *_retry_session("r2", after=(day - T0).total_seconds() + 85_000)]
    with store_of(tmp_path, calls) as store:
        loose = run_audit(store)
        asked = run_audit(store, scope=Scope(since=day, until=day + timedelta(days=1)))
    assert loose.period.days is not None
    assert loose.period.days < 1
    assert all(f.monthly_savings_high is None for f in loose.findings)
    assert asked.period.days == pytest.approx(1.0)
    (retry,) = asked.findings
    assert retry.wasted_cost is not None
    assert retry.monthly_savings_high == (retry.wasted_cost * DAYS_PER_MONTH).quantize(Decimal("1e-12"))


def test_an_hour_of_traffic_in_an_asked_month_is_not_projected_as_a_day(tmp_path: Path) -> None:
    """67 minutes of calls audited with --since/--until around October were stretched to their whole
    day and projected 30 times over; they stay 67 minutes, too short to extrapolate."""
    day = T0.replace(hour=0, minute=0, second=0, microsecond=0)
    calls = [*_retry_session("r1"), *_retry_session("r2", after=4_000)]
    with store_of(tmp_path, calls) as store:
        month = run_audit(store, scope=Scope(since=day - timedelta(days=4), until=day + timedelta(days=27)))
    assert month.period.days is not None
    assert month.period.days < 0.1
    assert all(f.monthly_savings_high is None for f in month.findings)
    with store_of(tmp_path / "day", calls) as store:  # the same hour asked for by its day is that day's
        by_day = run_audit(store, scope=Scope(since=day, until=day + timedelta(days=1)))
    assert by_day.period.days == pytest.approx(1.0)


def test_severity_follows_share_of_route_spend_and_monthly_dollars() -> None:
    assert severity(Decimal("0.25"), Decimal(1)) is Severity.HIGH
    assert severity(Decimal("0.01"), Decimal(1500)) is Severity.HIGH
    assert severity(Decimal("0.06"), None) is Severity.MEDIUM
    assert severity(None, Decimal(150)) is Severity.MEDIUM
    assert severity(Decimal("0.01"), Decimal(5)) is Severity.LOW


def test_scope_filters_the_audited_calls(two_days: DuckDBStore) -> None:
    with two_days as store:
        only_review = run_audit(store, scope=Scope(where=(("feature", ("review",)),)))
        first_day = run_audit(store, scope=Scope(until=T0 + timedelta(hours=12)))
    assert {f.category for f in only_review.findings} == {"missed_caching"}
    assert [f.session_ids for f in first_day.findings] == [("k1",), ("r1",)]


def test_saved_findings_come_back_and_mark_the_wasted_calls(two_days: DuckDBStore) -> None:
    with two_days as store:
        result = run_audit(store)
        assert save_audit(store, result) == 0
        loaded = store.load_findings()
        assert [(f.id, f.wasted_cost, f.calls) for f in loaded] == [
            (f.id, f.wasted_cost, f.calls) for f in result.findings
        ]
        wasted = (
            store.query(detect(store).wasted_sql or "SELECT NULL AS call_id").column("call_id").to_pylist()
        )
        assert sorted(wasted) == ["r1-2", "r2-2"]  # the superseded attempts, not the kept ones
        again = run_audit(store)
        assert save_audit(store, again) == 1  # the same period: the earlier audit is replaced
        assert store.query("SELECT count(DISTINCT audit_id) AS n FROM findings").column("n")[0].as_py() == 1


def test_a_clean_simulation_has_no_findings(tmp_path: Path) -> None:
    zero = WasteRates(**dict.fromkeys(WasteRates.__dataclass_fields__, 0.0))
    made = list(records(SimulationConfig(calls=3_000, days=2, seed=9, waste=zero)))
    calls = [r.replace(cost=PRICER.price(r)) for r in made if isinstance(r, Call)]
    charges = [r for r in made if isinstance(r, Charge)]
    with store_of(tmp_path, calls, charges) as store:
        result = run_audit(store)
    assert result.period.calls == 3_000
    assert result.hits == ()
    assert result.findings == ()


@pytest.mark.realdata
def test_real_agent_trajectories_show_one_missed_cache(tmp_path: Path) -> None:
    folder = real_data_path("trajectories")
    with open_store(tmp_path / "real.duckdb") as store:
        import_paths([folder], store=store, pricer=PRICER)
        result = run_audit(store)
    # OpenHands on claude-sonnet-4 re-sends a 4,786-token system prompt and tool list every 3 to 5
    # seconds with no cache_control; everything else in these runs is clean (or unpriced)
    (finding,) = result.findings
    assert finding.category == "missed_caching"
    assert finding.scope["model"] == "claude-sonnet-4-20250514"
    assert [c.tokens for c in finding.calls] == [4_786] * 5
    # $3.00 - $0.30 per million on 5 x 4,786 tokens, less one 5-minute write premium ($0.75 per million)
    assert finding.wasted_cost == Decimal("0.061021500000")


LOOPS = ("retry_loop", "redundant_tool_call")


def test_simulated_loops_are_found_with_their_calls_and_clean_sessions_are_not(tmp_path: Path) -> None:
    # default waste rates: loops after unusable answers (waste) next to retries after provider
    # errors that billed nothing (the tricky negative), and repeated tool calls
    data, truth = tmp_path / "sim.jsonl", tmp_path / "sim.truth.jsonl"
    with data.open("wb") as out, truth.open("wb") as truth_out:
        run(SimulationConfig(calls=6_000, days=2, seed=21), out, truth_out)
    expected: dict[tuple[str, str], list[str]] = {}
    for line in truth.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("type") == "waste" and entry["category"] in LOOPS and entry["wasted_tokens"] > 0:
            expected[(entry["category"], entry["session_id"])] = entry["call_ids"]
    with open_store(tmp_path / "sim.duckdb") as store:
        import_paths([data], store=store, pricer=PRICER)
        result = run_audit(store, detectors=[RetryLoop(), RedundantToolCall()])
    found = {(h.category, h.session_id): [c.call_id for c in h.calls] for h in result.hits}
    assert set(found) <= set(expected)  # no clean session is flagged
    loops = {key: calls for key, calls in expected.items() if key[0] == "retry_loop"}
    assert len(loops) >= 40
    assert {key: found.get(key) for key in loops} == loops  # every loop, every attempt in order
    repeats = {key for key in expected if key[0] == "redundant_tool_call"}
    assert len(repeats & set(found)) >= 0.8 * len(repeats)
    for key in repeats & set(found):
        assert set(found[key]) <= set(expected[key])
    evidence = result.evidence["retry_loop"]
    assert evidence["links_seen"]["resend"] > 0  # the error retries were there, and judged benign


@pytest.mark.realdata
def test_recorded_requests_repeated_on_purpose_are_not_loops(tmp_path: Path) -> None:
    # the cassettes of an SDK's test suite, each one session (the strictest grouping): three of them
    # send the same request twice to exercise a prompt cache; the trajectories are real agent runs
    folder = real_data_path("provider-responses", "pydantic-ai-cassettes")
    calls: list[Call] = []
    with open_store(tmp_path / "raw.duckdb") as raw:
        for cassette in sorted(folder.glob("*.yaml")):
            import_paths([cassette], store=raw, pricer=PRICER)
            known = {c.id for c in calls}
            calls += [
                c.replace(session_id=f"cassette:{cassette.stem}")
                for c in raw.iter_calls()
                if c.id not in known
            ]
    with store_of(tmp_path / "audit", calls) as store:
        import_paths([real_data_path("trajectories")], store=store, pricer=PRICER)
        result = run_audit(store, detectors=[RetryLoop(), RedundantToolCall()])
    assert len({c.session_id for c in calls}) == len(list(folder.glob("*.yaml")))
    assert result.hits == ()
    assert result.evidence["retry_loop"]["independent_repeats"] == 3


def test_each_detector_is_told_to_a_progress_bar_as_it_starts(two_days: DuckDBStore) -> None:
    steps: list[str] = []
    with two_days as store:
        quiet = run_audit(store)
        told = run_audit(store, progress=steps.append)
    assert steps == [d.category.replace("_", " ") for d in DETECTORS]
    assert steps[0] == "retry loop"
    same = [(f.category, f.wasted_cost) for f in quiet.findings]
    assert [(f.category, f.wasted_cost) for f in told.findings] == same  # the same audit


def test_unpriced_calls_and_findings_are_counted_in_the_period_and_a_note(tmp_path: Path) -> None:
    """A retry loop on a model the catalog cannot price: its finding ranks after the priced one, and
    the report says so; the period counts the unpriced calls it leaves out of its spend."""
    house = Conversation("h1", model="house-model-7")
    house.clock += timedelta(seconds=5)
    calls = [
        house.ask("h1-1", ("question", 300)),
        house.ask("h1-2", ("tool-results", 900)),
        house.reask("h1-3", ("follow the format", 40), kept=True),
        *_retry_session("r1", after=60),
    ]
    with store_of(tmp_path, calls) as store:
        result = run_audit(store)
    assert [(f.category, f.wasted_cost is None) for f in result.findings] == [
        ("retry_loop", False),
        ("retry_loop", True),
    ]
    assert result.period.unpriced == 3
    assert result.period.spend_text.endswith(" of LLM spend (3 unpriced calls left out of it)")
    assert (
        "1 finding(s) could not be priced (2,920 wasted tokens): they rank after every priced one, by "
        "wasted tokens (a larger --top shows them)"
    ) in result.notes


def test_a_plain_audit_assesses_the_plain_metrics_until_newer_calls_come(tmp_path: Path) -> None:
    """`tokenomy audit` with no bounds stores its first and last call's start as its period: the
    metrics of every call are then assessed, and those of calls stored after it are not."""
    from tokenomy.analysis import metrics as m
    from tokenomy.analysis.grouped import Selection

    calls = [*_retry_session("r1"), *_retry_session("r2", after=86_400 * 2)]
    with store_of(tmp_path, calls) as store:
        save_audit(store, run_audit(store))
        plain = m.token_efficiency(store)
        assert plain.total.details["waste_assessed"] is True
        assert not any("waste" in note for note in plain.notes)
        # a later week's selection was audited too (its calls lie in the audit's period)
        later = Selection(Scope(since=T0 + timedelta(days=1)))
        assert m.token_efficiency(store, later).total.details["waste_assessed"] is True
        # an audit of one team covers that team's selections, with more filters too, not the others
        narrow = Scope(where=(("team", ("support",)),))
        save_audit(store, run_audit(store, scope=narrow))
        both = Selection(Scope(where=(("feature", ("chat",)), ("team", ("support",)))))
        assert m.token_efficiency(store, both).total.details["waste_assessed"] is True
        store.insert_calls(_retry_session("r3", after=86_400 * 5))  # stored after the audits
        newer = m.token_efficiency(store)
        assert newer.total.details["waste_assessed"] is False
        assert any(note.startswith("waste assessed in part only") for note in newer.notes)
