"""Oversized models: simple requests on a model many times pricier than the intent's cheapest."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from tests.analysis.waste.factory import PRICER, T0, detect, make_call
from tokenomy.analysis.waste.oversized_model import OversizedModel
from tokenomy.schema import Attribution, Call, Outcome, WasteEffect


def _calls(model: str, provider: str, n: int, *, intent: str = "classify", prefix: str = "") -> list[Call]:
    who = Attribution(team="search", feature="router", agent="classifier", intent=intent)
    return [
        make_call(
            f"{prefix or model}-{i}",
            session=f"{prefix or model}-{i}",
            started_at=T0 + timedelta(minutes=i),
            provider=provider,
            model=model,
            attribution=who,
            system=400,
            tools=0,
            user=80,
            visible=8,
        )
        for i in range(n)
    ]


def test_a_simple_intent_on_a_frontier_model_is_oversized(tmp_path: Path) -> None:
    calls = _calls("gpt-4.1-nano", "openai", 40) + _calls("claude-opus-4-1", "anthropic", 5)
    found = detect(tmp_path, OversizedModel(), calls)
    assert {h.session_id for h in found.hits} == {f"claude-opus-4-1-{i}" for i in range(5)}
    call = found.hits[0].calls[0]
    opus = calls[40]
    nano = PRICER.price_usage(opus.usage, model="gpt-4.1-nano", provider="openai", at=opus.started_at).total
    assert opus.cost is not None
    assert opus.cost.total is not None
    assert nano is not None
    assert call.high == opus.cost.total - nano  # what the same tokens cost less on the cheapest model
    assert call.cost == call.high  # nano is the only reference: low and high agree
    assert call.effect is WasteEffect.PRICE
    assert call.tokens == 480 + 8
    assert found.evidence["verdicts"][0]["cheapest"] == "gpt-4.1-nano"


def test_the_example_reads_as_english_for_an_intent_starting_with_a_vowel(tmp_path: Path) -> None:
    calls = _calls("gpt-4.1-nano", "openai", 40, intent="extract")
    calls += _calls("claude-opus-4-1", "anthropic", 5, intent="extract")
    (hit, *_) = detect(tmp_path, OversizedModel(), calls).hits
    assert hit.note.startswith("an extract request on claude-opus-4-1 ")


def test_an_intent_that_is_not_simple_is_not_judged(tmp_path: Path) -> None:
    calls = _calls("gpt-4.1-nano", "openai", 40, intent="code_review") + _calls(
        "claude-opus-4-1", "anthropic", 5, intent="code_review"
    )
    assert detect(tmp_path, OversizedModel(), calls).hits == []


def test_a_model_a_few_times_pricier_is_not_oversized(tmp_path: Path) -> None:
    # gpt-4.1-mini is 4x gpt-4.1-nano per token: a choice, not a waste
    calls = _calls("gpt-4.1-nano", "openai", 40) + _calls("gpt-4.1-mini", "openai", 20)
    assert detect(tmp_path, OversizedModel(), calls).hits == []


def test_a_cheap_model_that_does_worse_is_no_reference(tmp_path: Path) -> None:
    cheap = [
        c.replace(outcome=Outcome(success=i % 2 == 0))
        for i, c in enumerate(_calls("gpt-4.1-nano", "openai", 40))
    ]
    big = [c.replace(outcome=Outcome(success=True)) for c in _calls("claude-opus-4-1", "anthropic", 25)]
    assert detect(tmp_path, OversizedModel(), cheap + big).hits == []


def test_the_low_estimate_prices_on_the_priciest_fair_reference(tmp_path: Path) -> None:
    calls = (
        _calls("gpt-4.1-nano", "openai", 40)
        + _calls("gpt-4.1-mini", "openai", 20)
        + _calls("claude-opus-4-1", "anthropic", 5)
    )
    hits = detect(tmp_path, OversizedModel(), calls).hits
    call = hits[0].calls[0]
    assert call.cost is not None
    assert call.high is not None
    assert call.cost < call.high
    assert call.high - call.cost > Decimal(0)
