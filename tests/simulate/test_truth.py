"""The ground truth names exactly the waste the records show, at the configured rates."""

from __future__ import annotations

import io
import itertools
import json
import math
from typing import Any

import pytest

from tests.simulate import patterns
from tests.simulate.conftest import Sim
from tokenomy.schema import Call, Status
from tokenomy.simulate import SimulationConfig, WasteRates, catalog, company, run
from tokenomy.simulate.options import CATEGORIES


def _truth_instances(sim: Sim, category: str) -> set[patterns.Instance]:
    return {(e["session_id"], tuple(e["call_ids"])) for e in sim.waste(category)}


@pytest.mark.parametrize("category", sorted(patterns.FINDERS))
def test_truth_matches_the_pattern_found_in_the_records(wasteful_sim: Sim, category: str) -> None:
    found = patterns.FINDERS[category](wasteful_sim.sessions)
    truth = _truth_instances(wasteful_sim, category)
    assert len(truth) >= 20, f"too few {category} instances to test: {len(truth)}"
    assert truth - found == set(), f"{category}: truth entries whose calls do not show the pattern"
    assert found - truth == set(), f"{category}: patterns in the records that the truth does not list"


@pytest.mark.parametrize("category", sorted(patterns.FINDERS))
def test_default_rates_truth_matches_records_too(default_sim: Sim, category: str) -> None:
    found = patterns.FINDERS[category](default_sim.sessions)
    assert _truth_instances(default_sim, category) == found


@pytest.mark.parametrize("category", CATEGORIES)
def test_clean_run_shows_no_waste_pattern(clean_sim: Sim, category: str) -> None:
    assert clean_sim.waste(category) == []
    if category in patterns.FINDERS:
        assert patterns.FINDERS[category](clean_sim.sessions) == set()
    assert clean_sim.summary["categories"][category]["instances"] == 0


def test_every_category_but_over_planning_has_an_exact_finder() -> None:
    assert set(CATEGORIES) - set(patterns.FINDERS) == {"over_planning"}


def _summary(config: SimulationConfig) -> dict[str, Any]:
    truth = io.BytesIO()
    run(config, io.BytesIO(), truth)
    summary: dict[str, Any] = json.loads(truth.getvalue().splitlines()[-1])
    return summary


@pytest.fixture(scope="module")
def large_runs() -> dict[str, dict[str, Any]]:
    """Summaries of two larger runs (their truth is checked against records by the tests above)."""
    wasteful = WasteRates(**dict.fromkeys(CATEGORIES, 0.25))
    return {
        "wasteful": _summary(SimulationConfig(calls=60_000, days=14, seed=31, waste=wasteful)),
        "default": _summary(SimulationConfig(calls=60_000, days=14, seed=37)),
    }


@pytest.mark.parametrize("run_name", ["wasteful", "default"])
@pytest.mark.parametrize("category", CATEGORIES)
def test_injected_rates_are_within_tolerance(
    large_runs: dict[str, dict[str, Any]], run_name: str, category: str
) -> None:
    rate = (
        WasteRates(**dict.fromkeys(CATEGORIES, 0.25)) if run_name == "wasteful" else WasteRates()
    ).as_dict()[category]
    counts = large_runs[run_name]["categories"][category]
    eligible, instances = counts["eligible"], counts["instances"]
    assert eligible >= 500, f"{category}: only {eligible} eligible sessions"
    observed = instances / eligible
    sigma = math.sqrt(rate * (1 - rate) / eligible)
    if category == "tool_call_proliferation":
        # a long session is more often the one that overflows its hour's budget and is replaced by
        # fill sessions (docs/simulate.md): fewer survive than drawn, at this size about two thirds
        assert 0.5 * rate <= observed <= rate + 4 * sigma + 0.005, f"{observed:.3f} vs configured {rate}"
        return
    assert abs(observed - rate) <= 4 * sigma + 0.005, f"{category}: {observed:.3f} vs configured {rate}"


def test_every_entry_names_existing_calls_of_its_session(wasteful_sim: Sim) -> None:
    for entry in wasteful_sim.truth:
        calls = [wasteful_sim.by_id[i] for i in entry["call_ids"]]
        assert calls, entry
        assert {c.session_id for c in calls} == {entry["session_id"]}
        steps = [c.step or 0 for c in calls]
        assert steps == sorted(steps), "call ids are listed in order"
        assert entry["wasted_tokens"] >= 0


def test_summary_counts_the_entries(wasteful_sim: Sim) -> None:
    for category in CATEGORIES:
        entries = wasteful_sim.waste(category)
        counts = wasteful_sim.summary["categories"][category]
        assert counts["instances"] == len(entries)
        assert counts["wasted_tokens"] == sum(e["wasted_tokens"] for e in entries)


def test_retry_loops_waste_the_superseded_attempts(wasteful_sim: Sim) -> None:
    for entry in wasteful_sim.waste("retry_loop"):
        calls = [wasteful_sim.by_id[i] for i in entry["call_ids"]]
        assert 2 <= len(calls) <= 4
        assert entry["detail"]["attempts"] == len(calls)
        assert calls[-1].status is Status.OK
        first = calls[0]
        assert entry["detail"]["trigger"] == "invalid_output"
        assert all(c.status is Status.OK for c in calls)
        assert all(c.prefix_hashes[2] == first.prefix_hashes[3] for c in calls[1:])
        # near-identical input: the earlier prompt plus a short correction note
        assert all(0 < (c.usage.input_total or 0) - (first.usage.input_total or 0) <= 70 for c in calls[1:])
        assert entry["wasted_tokens"] == sum(c.usage.total or 0 for c in calls[:-1])


def test_truncation_reruns_double_the_limit(wasteful_sim: Sim) -> None:
    for entry in wasteful_sim.waste("truncation_rerun"):
        cut, rerun = (wasteful_sim.by_id[i] for i in entry["call_ids"])
        assert cut.finish_reason == "length"
        assert rerun.finish_reason != "length"
        assert cut.usage.output_total == cut.max_output_tokens
        assert rerun.max_output_tokens == 2 * (cut.max_output_tokens or 0)
        assert (rerun.usage.output_total or 0) > (cut.max_output_tokens or 0)
        assert entry["wasted_tokens"] == cut.usage.total


def test_redundant_tool_calls_share_name_and_arguments(wasteful_sim: Sim) -> None:
    charges = {c.id: c for c in wasteful_sim.charges}
    paid = 0
    for entry in wasteful_sim.waste("redundant_tool_call"):
        first, repeat = (wasteful_sim.by_id[i] for i in entry["call_ids"])
        used = {(u.name, u.args_hash) for u in first.tool_uses} & {
            (u.name, u.args_hash) for u in repeat.tool_uses
        }
        assert (entry["detail"]["tool"], entry["detail"]["args_hash"]) in used
        assert (first.step or 0) < (repeat.step or 0)
        following = wasteful_sim.sessions[entry["session_id"]][repeat.step or 0]
        assert 0 < entry["wasted_tokens"] <= (following.user_tokens or 0), "the repeated result is re-read"
        for charge_id in entry["charge_ids"]:
            assert charges[charge_id].session_id == entry["session_id"]
            assert charges[charge_id].description == entry["detail"]["tool"]
            paid += 1
    assert paid > 0, "some repeated tools are paid ones (web searches, sandbox runs)"


def test_token_waste_adds_up_from_the_records(wasteful_sim: Sim) -> None:
    medians = {a.name: a.system for a in company.AGENTS}
    for entry in wasteful_sim.truth:
        calls = [wasteful_sim.by_id[i] for i in entry["call_ids"]]
        ok = [c for c in calls if c.status is Status.OK]
        expected = {
            "filler": sum(c.filler_tokens or 0 for c in calls),
            "bloated_system_prompt": sum(
                (c.system_tokens or 0) - medians[c.attribution.agent or ""] for c in ok
            ),
            "missed_caching": sum((c.system_tokens or 0) + (c.tool_def_tokens or 0) for c in calls),
            "oversized_model": sum(c.usage.total or 0 for c in ok),
        }.get(entry["category"])
        if expected is not None:
            assert entry["wasted_tokens"] == expected, entry


def test_missed_caching_sends_no_cache_markers(wasteful_sim: Sim) -> None:
    for entry in wasteful_sim.waste("missed_caching"):
        session = wasteful_sim.sessions[entry["session_id"]]
        main = [c for c in session if patterns.is_main(c)]
        assert all(c.provider == "anthropic" for c in main)
        billed = [c.usage for c in main if c.usage.input_total is not None]
        assert all(u.cache_read == u.cache_write_5m == u.cache_write_1h == 0 for u in billed)
        assert entry["detail"]["stable_prefix_tokens"] >= entry["detail"]["min_cacheable_tokens"]


def test_oversized_sessions_use_the_top_model_for_simple_intents(wasteful_sim: Sim) -> None:
    for entry in wasteful_sim.waste("oversized_model"):
        calls = [wasteful_sim.by_id[i] for i in entry["call_ids"]]
        assert {c.request_model for c in calls} == {catalog.TOP_MODEL}
        assert calls[0].attribution.intent in company.SIMPLE_INTENTS


def test_unpruned_history_grows_past_the_compaction_threshold(wasteful_sim: Sim) -> None:
    for entry in wasteful_sim.waste("unpruned_history"):
        calls = [wasteful_sim.by_id[i] for i in entry["call_ids"]]
        histories = [c.history_tokens or 0 for c in calls]
        assert histories == sorted(histories), "never pruned"
        assert min(histories) > entry["detail"]["prune_at_tokens"]
        billed = any(c.status is Status.OK for c in calls)
        assert (entry["wasted_tokens"] > 0) == billed
        assert entry["wasted_tokens"] <= sum(histories)


def test_retries_after_provider_errors_are_generated_but_not_waste(wasteful_sim: Sim) -> None:
    wasted = {i for e in wasteful_sim.waste("retry_loop") for i in e["call_ids"]}
    failed = [c for c in wasteful_sim.by_id.values() if c.status is Status.ERROR and c.usage.total == 0]
    retried = [
        c
        for c in failed
        if any(
            o.session_id == c.session_id and o.status is Status.OK and o.prefix_hashes == c.prefix_hashes
            for o in wasteful_sim.by_id.values()
        )
    ]
    assert retried, "the simulation should contain retries after provider errors"
    assert not wasted & {c.id for c in retried}


def _main_reasoning_calls(sim: Sim) -> list[Call]:
    return [
        c
        for c in sim.by_id.values()
        if patterns.is_main(c) and c.status is Status.OK and (c.usage.reasoning or 0) > 0
    ]


def test_over_planning_reasons_5_to_20_times_the_typical_up_to_the_output_limit(wasteful_sim: Sim) -> None:
    entries = wasteful_sim.waste("over_planning")
    assert len(entries) >= 20
    rerun = {i for e in wasteful_sim.waste("truncation_rerun") for i in e["call_ids"]}
    checked = 0
    for entry in entries:
        assert 5.0 <= entry["detail"]["factor"] <= 20.0
        calls = [wasteful_sim.by_id[i] for i in entry["call_ids"]]
        assert all(patterns.is_main(c) and c.status is Status.OK for c in calls)
        assert 0 < entry["wasted_tokens"] < sum(c.usage.reasoning or 0 for c in calls)
        assert entry["detail"]["reasoning_tokens"] == sum(c.usage.reasoning or 0 for c in calls)
        for call in calls:
            if call.id in rerun:
                continue  # a step cut at its limit keeps less reasoning, and so does its re-run
            reasoning, visible = call.usage.reasoning or 0, call.usage.output_visible or 0
            room = int(0.9 * (call.max_output_tokens or 0)) - visible
            typical = patterns.typical_reasoning(call)
            # a re-asked attempt's answer is 0.6 to 1.2 times as long, reasoning included
            assert reasoning >= 0.6 * min(5 * typical, room) - 1, (entry, call.id)
            checked += 1
    assert checked >= 50


def test_over_planning_sessions_stand_out_from_clean_reasoning(wasteful_sim: Sim, clean_sim: Sim) -> None:
    over = {i for e in wasteful_sim.waste("over_planning") for i in e["call_ids"]}
    clean = _main_reasoning_calls(clean_sim)

    def far(call: Call) -> bool:
        return (call.usage.reasoning or 0) >= 5 * patterns.typical_reasoning(call)

    share_clean = sum(far(c) for c in clean) / len(clean)
    share_over = sum(far(wasteful_sim.by_id[i]) for i in over) / len(over)
    assert len(clean) >= 1_000
    assert share_clean < 0.03, "clean reasoning rarely reaches 5x the agent's typical"
    assert share_over > 0.8


def test_proliferating_runs_go_far_past_the_agents_most_steps(wasteful_sim: Sim) -> None:
    agents = {a.name: a for a in company.AGENTS}
    for entry in wasteful_sim.waste("tool_call_proliferation"):
        calls = [wasteful_sim.by_id[i] for i in entry["call_ids"]]
        most = agents[calls[0].attribution.agent or ""].steps[1]
        assert entry["detail"]["typical_most_steps"] == most
        assert 3 * most <= entry["detail"]["steps"] <= 8 * most
        assert len(calls) >= entry["detail"]["steps"] - most
        for call, following in itertools.pairwise(calls):
            # a stuck agent keeps calling tools (an attempt that is asked again runs none)
            assert call.tool_uses or patterns.reasked(call, following), call.id
        assert entry["wasted_tokens"] == sum(c.usage.total or 0 for c in calls)


def test_missed_batch_is_a_background_job_at_interactive_prices(wasteful_sim: Sim) -> None:
    features = {f.name: f for f in company.FEATURES}
    for entry in wasteful_sim.waste("missed_batch"):
        calls = [wasteful_sim.by_id[i] for i in entry["call_ids"]]
        feature = features[calls[0].attribution.feature or ""]
        assert company.is_background(feature)
        assert feature.schedule == "nightly"
        assert not any(c.batch or c.streamed for c in calls)
        assert {c.provider for c in calls} <= {"openai", "google", "anthropic"}  # they offer batch
        assert entry["wasted_tokens"] == sum(c.usage.total or 0 for c in calls)
    batched = [c for c in wasteful_sim.by_id.values() if c.batch]
    assert batched
    assert all(company.is_background(features[c.attribution.feature or ""]) for c in batched)


def test_oversized_background_sessions_keep_batching(wasteful_sim: Sim) -> None:
    nightly = [
        c
        for c in wasteful_sim.by_id.values()
        if c.request_model == catalog.TOP_MODEL and c.attribution.feature == "nightly_extract"
    ]
    unbatched = {i for e in wasteful_sim.waste("missed_batch") for i in e["call_ids"]}
    assert nightly
    assert all(c.batch for c in nightly if c.id not in unbatched)
