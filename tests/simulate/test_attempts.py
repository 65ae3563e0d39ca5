"""Natural failures: about the configured share of calls fail, and a failure ends its session."""

from __future__ import annotations

from tests.simulate import patterns
from tests.simulate.conftest import Sim, simulate
from tokenomy.schema import Status
from tokenomy.simulate import SimulationConfig, WasteRates


def test_failure_rates_follow_the_configuration(clean_sim: Sim) -> None:
    calls = clean_sim.calls
    errors = sum(c.status is Status.ERROR for c in calls) / len(calls)
    timeouts = sum(c.status is Status.TIMEOUT for c in calls) / len(calls)
    assert 0.005 < errors < 0.015
    assert 0.0005 < timeouts < 0.006


def test_without_waste_a_failure_always_ends_its_session(clean_sim: Sim) -> None:
    for calls in clean_sim.sessions.values():
        main = [c for c in calls if patterns.is_main(c)]
        failed = [c for c in main if c.status is not Status.OK]
        assert len(failed) <= 1
        if failed:
            assert failed[0] is main[-1]
            assert main[-1].outcome is not None
            assert main[-1].outcome.success is False


def test_failure_rates_can_be_switched_off() -> None:
    sim = simulate(
        SimulationConfig(calls=2000, days=1, seed=8, waste=WasteRates.none(), error_rate=0, timeout_rate=0)
    )
    assert all(c.status is Status.OK for c in sim.calls)


def test_errors_name_the_provider_error(default_sim: Sim) -> None:
    expected = {
        "openai": {"rate_limit_exceeded", "server_error", "service_unavailable"},
        "anthropic": {"overloaded_error", "rate_limit_error", "api_error"},
        "google": {"RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL"},
        "deepseek": {"server_overloaded", "rate_limit_reached", "server_error"},
    }
    seen: dict[str, set[str]] = {}
    for call in default_sim.calls:
        if call.status is Status.ERROR:
            assert call.error_type in expected[call.provider or ""]
            seen.setdefault(call.provider or "", set()).add(call.error_type or "")
    assert set(seen) == set(expected)
