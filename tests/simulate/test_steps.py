"""Agent runs: shapes that add up, history that grows (or is compacted), sub-agents linked to parents."""

from __future__ import annotations

import itertools

from tests.simulate import patterns
from tests.simulate.conftest import Sim
from tokenomy.schema import Call, Status
from tokenomy.simulate import company

AGENTS = {a.name: a for a in company.AGENTS}
FEATURES = {f.name: f for f in company.FEATURES}


def _ok(sim: Sim) -> list[Call]:
    return [c for c in sim.calls if c.status is Status.OK]


def test_input_is_system_tools_history_and_newest_turn(default_sim: Sim) -> None:
    for call in _ok(default_sim):
        shape = (call.system_tokens or 0) + (call.tool_def_tokens or 0) + (call.history_tokens or 0)
        assert call.usage.input_total == shape + (call.user_tokens or 0)
        assert call.usage.ok
        assert not call.usage.estimated


def test_output_fits_the_limit_and_the_prompt_fits_the_window(default_sim: Sim) -> None:
    for call in _ok(default_sim):
        out, limit = call.usage.output_total or 0, call.max_output_tokens or 0
        assert 0 < out <= limit
        assert (out == limit) == (call.finish_reason == "length")
        assert (call.usage.input_total or 0) + limit <= (call.context_window or 0)


def test_steps_count_calls_in_time_order(default_sim: Sim) -> None:
    for calls in default_sim.sessions.values():
        assert [c.step for c in calls] == list(range(1, len(calls) + 1))
        starts = [c.started_at for c in calls]
        assert starts == sorted(starts)  # type: ignore[type-var]
        assert len({c.trace_id for c in calls}) == 1


def test_history_grows_by_each_turn_until_the_agent_compacts_it(default_sim: Sim) -> None:
    grew = compacted = 0
    for calls in default_sim.sessions.values():
        for run in patterns.runs(calls):
            agent = AGENTS[run[0].attribution.agent or ""]
            ok = [c for c in run if c.status is Status.OK]
            for a, b in itertools.pairwise(ok):
                if patterns.reasked(a, b):
                    assert b.history_tokens in (
                        a.history_tokens,
                        (a.history_tokens or 0) + (a.user_tokens or 0),
                    )
                    continue  # the same step asked again, maybe after a correction note
                if not agent.conversation:
                    assert b.history_tokens == 0
                    continue
                turn = (a.history_tokens or 0) + (a.user_tokens or 0) + (a.usage.output_visible or 0)
                after_note = (a.history_tokens or 0) + (a.usage.output_visible or 0)  # the note is dropped
                if b.history_tokens in (turn, after_note):
                    grew += 1
                else:
                    compacted += 1
                    assert (b.history_tokens or 0) < turn
                    assert agent.prune_at is not None
                    assert (b.history_tokens or 0) <= agent.prune_at
    assert grew > 1000
    assert compacted > 10


def test_sub_agent_calls_link_to_the_call_that_delegated(default_sim: Sim) -> None:
    spans = {c.span_id: c for c in default_sim.calls}
    children = [c for c in default_sim.calls if c.parent_span_id is not None]
    assert len(children) > 100
    for child in children:
        parent = spans[child.parent_span_id or ""]
        assert parent.session_id == child.session_id
        assert parent.trace_id == child.trace_id
        feature = FEATURES[child.attribution.feature or ""]
        assert child.attribution.agent == feature.sub_agent != parent.attribution.agent
        assert [u.name for u in parent.tool_uses] == [company.delegate_tool(feature.sub_agent or "")]
        assert parent.ended_at is not None
        assert child.started_at is not None
        assert parent.ended_at <= child.started_at
    assert all(c.parent_span_id is None for c in default_sim.calls if patterns.is_main(c))


def test_the_main_agent_resumes_after_its_sub_agent_answers(default_sim: Sim) -> None:
    for calls in default_sim.sessions.values():
        subs = [c for c in calls if not patterns.is_main(c)]
        if not subs:
            continue
        parent = next(c for c in calls if c.span_id == subs[0].parent_span_id)
        resumed = calls[(parent.step or 0)] if (parent.step or 0) < len(calls) else None
        later = [c for c in calls if patterns.is_main(c) and (c.step or 0) > (parent.step or 0)]
        assert resumed is not None
        assert later
        assert later[0].started_at >= max(c.ended_at for c in subs)  # type: ignore[operator,type-var]


def test_tools_come_from_the_agent_with_hashed_arguments(default_sim: Sim) -> None:
    delegates = {company.delegate_tool(f.sub_agent) for f in company.FEATURES if f.sub_agent}
    for call in default_sim.calls:
        agent = AGENTS[call.attribution.agent or ""]
        allowed = {name for name, _ in agent.tools} | {agent.write_tool} | delegates
        for use in call.tool_uses:
            assert use.name in allowed
            assert use.args_hash is not None
            assert len(use.args_hash) == 16
            assert int(use.args_hash, 16) >= 0
        if call.tool_uses:
            assert call.finish_reason == "tool_calls"


def test_a_tool_step_without_tool_uses_is_asked_again(default_sim: Sim) -> None:
    unusable = 0
    for calls in default_sim.sessions.values():
        for run in patterns.runs(calls):
            for a, b in itertools.pairwise(run):
                if a.finish_reason == "tool_calls" and not a.tool_uses:
                    assert patterns.reasked(a, b), "an unusable tool call is re-asked"
                    unusable += 1
            assert not (run[-1].finish_reason == "tool_calls" and not run[-1].tool_uses)
    assert unusable > 0


def test_each_session_has_one_outcome_on_its_last_main_call(default_sim: Sim) -> None:
    for calls in default_sim.sessions.values():
        with_outcome = [c for c in calls if c.outcome is not None]
        assert len(with_outcome) == 1
        last_main = [c for c in calls if patterns.is_main(c)][-1]
        assert with_outcome[0] is last_main
        outcome = last_main.outcome
        assert outcome is not None
        assert outcome.score is not None
        feature = FEATURES[last_main.attribution.feature or ""]
        if outcome.success:
            assert outcome.action == feature.action
            assert 0.7 <= outcome.score <= 1.0
        else:
            assert outcome.action is None
            assert 0.0 <= outcome.score <= 0.5
        if last_main.status is not Status.OK:
            assert outcome.success is False


def test_messages_grow_with_the_conversation(default_sim: Sim) -> None:
    for calls in default_sim.sessions.values():
        for run in patterns.runs(calls):
            counts = [c.n_messages or 0 for c in run]
            assert min(counts) >= 2
            if (
                AGENTS[run[0].attribution.agent or ""].conversation
                and sum(not patterns.reasked(a, b) for a, b in itertools.pairwise(run)) >= 2
                and not any(
                    (c.history_tokens or 0) > (AGENTS[run[0].attribution.agent or ""].prune_at or 10**9) // 2
                    for c in run
                )
            ):
                assert counts[-1] > counts[0]
