"""With --content, short text stands in for prompts and answers; filler phrases appear only with filler."""

from __future__ import annotations

import itertools

import pytest

from tests.simulate import patterns
from tests.simulate.conftest import Sim, simulate
from tokenomy.schema import Status
from tokenomy.simulate import CATEGORIES, SimulationConfig, WasteRates
from tokenomy.simulate.content import CLOSINGS, CORRECTION, OPENINGS


@pytest.fixture(scope="module")
def with_content() -> Sim:
    rates = WasteRates(**dict.fromkeys(CATEGORIES, 0.3))
    return simulate(SimulationConfig(calls=2500, days=2, seed=17, content=True, waste=rates))


def test_every_call_has_a_prompt_and_answers_unless_it_failed(with_content: Sim) -> None:
    for call in with_content.calls:
        assert call.content is not None
        assert call.content.prompt
        assert (call.content.completion is None) == (call.status is not Status.OK)


def test_filler_phrases_appear_exactly_where_filler_is_measured(with_content: Sim) -> None:
    phrases = OPENINGS + CLOSINGS
    measured = 0
    for call in with_content.calls:
        text = call.content.completion if call.content else None
        has_phrase = bool(text) and any(p in (text or "") for p in phrases)
        assert has_phrase == ((call.filler_tokens or 0) > 0)
        measured += has_phrase
    assert measured > 20


def test_correction_notes_are_the_newest_turn_of_a_re_ask(with_content: Sim) -> None:
    notes = 0
    for calls in with_content.sessions.values():
        for run in patterns.runs(calls):
            for a, b in itertools.pairwise(run):
                corrected = patterns.reasked(a, b) and b.prefix_hashes[3] != a.prefix_hashes[3]
                assert (b.content is not None and b.content.prompt == CORRECTION) == corrected
                notes += corrected
    assert notes > 10


def test_tool_calls_say_which_tools_they_call(with_content: Sim) -> None:
    for call in with_content.calls:
        if call.tool_uses and call.content and call.content.completion:
            assert all(u.name in call.content.completion for u in call.tool_uses)
