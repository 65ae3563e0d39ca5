"""Prompt caching follows each provider's rule: writes then reads, blocks, minimums and lifetimes."""

from __future__ import annotations

import itertools

from tests.simulate import patterns
from tests.simulate.conftest import Sim
from tokenomy.schema import Call, Status
from tokenomy.simulate import catalog


def _billed(sim: Sim) -> list[Call]:
    return [c for c in sim.calls if c.status is Status.OK]


def test_automatic_caches_bill_no_writes_and_count_in_blocks(default_sim: Sim) -> None:
    reads = 0
    for call in _billed(default_sim):
        rule = catalog.provider_rule(call.provider or "")
        if rule.explicit_cache:
            continue
        assert call.usage.cache_write_5m == 0
        assert call.usage.cache_write_1h == 0
        read = call.usage.cache_read or 0
        if read:
            reads += 1
            assert read % rule.cache_granularity == 0
            assert read >= catalog.model(call.request_model or "").min_cache_tokens
    assert reads > 500


def test_a_read_never_exceeds_what_the_previous_call_sent(default_sim: Sim) -> None:
    for calls in default_sim.sessions.values():
        for run in patterns.runs(calls):
            ok = [c for c in run if c.status is Status.OK]
            if ok:
                assert ok[0].usage.cache_read == 0, "nothing to read before the run's first call"
            for a, b in itertools.pairwise(ok):
                assert (b.usage.cache_read or 0) <= (a.usage.input_total or 0)


def test_anthropic_writes_first_then_reads_within_the_lifetime(default_sim: Sim) -> None:
    missed = {e["session_id"] for e in default_sim.waste("missed_caching")}
    hits = writes = 0
    for sid, calls in default_sim.sessions.items():
        if sid in missed:
            continue
        for run in patterns.runs(calls):
            ok = [c for c in run if c.status is Status.OK and c.provider == "anthropic"]
            for a, b in itertools.pairwise(ok):
                gap = (b.started_at - a.started_at).total_seconds() * 1000  # type: ignore[operator]
                stable = (b.system_tokens or 0) + (b.tool_def_tokens or 0)
                if (
                    gap <= patterns.cache_ttl_ms(b)
                    and stable >= catalog.model(b.request_model or "").min_cache_tokens
                ):
                    assert (b.usage.cache_read or 0) >= stable
                    hits += 1
            for call in ok:
                written = (call.usage.cache_write_5m or 0) + (call.usage.cache_write_1h or 0)
                writes += written > 0
                if written:
                    assert (call.usage.input_total or 0) >= catalog.model(
                        call.request_model or ""
                    ).min_cache_tokens
    assert hits > 100
    assert writes > 100


def test_one_hour_writes_only_on_routes_that_ask_for_them(default_sim: Sim) -> None:
    long_writes = [c for c in _billed(default_sim) if (c.usage.cache_write_1h or 0) > 0]
    assert long_writes
    for call in long_writes:
        assert patterns.cache_ttl_ms(call) == catalog.LONG_CACHE_TTL_MS
        assert call.usage.cache_write_5m == 0
    short = [c for c in _billed(default_sim) if (c.usage.cache_write_5m or 0) > 0]
    assert short
    assert all(patterns.cache_ttl_ms(c) == catalog.PROVIDERS["anthropic"].cache_ttl_ms for c in short)


def test_agent_traffic_is_mostly_served_from_cache(default_sim: Sim) -> None:
    agents = [
        c for c in _billed(default_sim) if c.attribution.intent in {"code_review", "web_research", "analyze"}
    ]
    read = sum(c.usage.cache_read or 0 for c in agents)
    total = sum(c.usage.input_total or 0 for c in agents)
    assert 0.4 < read / total < 0.95


def test_prefix_hashes_are_shared_within_a_run_and_never_across_sessions(default_sim: Sim) -> None:
    owners: dict[str, str] = {}
    for sid, calls in default_sim.sessions.items():
        for run in patterns.runs(calls):
            assert len({c.prefix_hashes[:2] for c in run}) == 1
        for call in calls:
            assert len(call.prefix_hashes) == 4
            for h in call.prefix_hashes[:2]:
                assert owners.setdefault(h, sid) == sid
