"""Latency and time to first token are plausible for the model, the prompt and the output."""

from __future__ import annotations

import itertools

import numpy as np

from tests.simulate import patterns
from tests.simulate.conftest import Sim
from tokenomy.schema import Status
from tokenomy.simulate import catalog, company


def test_streamed_calls_record_first_token_before_the_end(default_sim: Sim) -> None:
    streamed_agents = {a.name for a in company.AGENTS if a.streamed}
    for call in default_sim.calls:
        if call.status is Status.OK and call.attribution.agent in streamed_agents:
            assert call.streamed
            assert call.ttft_ms is not None
            assert 0 < call.ttft_ms < (call.latency_ms or 0)
        else:
            assert call.ttft_ms is None


def test_latency_grows_with_output_for_each_model(default_sim: Sim) -> None:
    for spec in catalog.MODELS:
        calls = [c for c in default_sim.calls if c.request_model == spec.name and c.status is Status.OK]
        out = np.array([c.usage.output_total or 0 for c in calls], dtype=float)
        latency = np.array([c.latency_ms or 0 for c in calls])
        assert latency.min() > 0.3 * spec.ttft_ms
        assert np.corrcoef(out, latency)[0, 1] > 0.6, spec.name
        seconds_per_token = np.median((latency - spec.ttft_ms) / np.maximum(out, 1)) / 1000
        assert 0.2 / spec.output_tps < seconds_per_token < 5 / spec.output_tps


def test_failures_are_quick_and_timeouts_wait_for_the_client_limit(default_sim: Sim) -> None:
    for call in default_sim.calls:
        if call.status is Status.ERROR:
            assert 150 <= (call.latency_ms or 0) <= 1800
        elif call.status is Status.TIMEOUT:
            assert call.latency_ms in (60_000.0, 120_000.0)


def test_humans_make_chat_sessions_last_longer_than_agent_loops(default_sim: Sim) -> None:
    def gaps(intent: str) -> list[float]:
        out = []
        for calls in default_sim.sessions.values():
            main = [c for c in calls if patterns.is_main(c) and c.attribution.intent == intent]
            out += [(b.started_at - a.ended_at).total_seconds() for a, b in itertools.pairwise(main)]  # type: ignore[operator]
        return out

    chat, research = np.median(gaps("chat_support")), np.median(gaps("web_research"))
    assert chat > 10
    assert research < chat
    assert all(g >= 0 for g in gaps("code_review"))


def test_no_two_calls_of_a_run_start_5_to_10_minutes_apart(default_sim: Sim) -> None:
    gaps = []
    for calls in default_sim.sessions.values():
        for run in patterns.runs(calls):
            gaps += [(b.started_at - a.started_at).total_seconds() for a, b in itertools.pairwise(run)]  # type: ignore[operator]
    assert not [g for g in gaps if 270 < g <= 630]
    assert any(g > 630 for g in gaps), "long pauses exist, past every automatic cache lifetime"
