"""Background work not using batch pricing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.analysis.waste.factory import T0, detect, make_call, score_on_simulation
from tokenomy.analysis.waste.missed_batch import MissedBatch
from tokenomy.schema import Attribution, Call, Usage, WasteEffect

NIGHTLY = Attribution(team="data", feature="nightly_extract", agent="extractor", intent="extract")


def _calls(n: int, *, batch: bool, prefix: str, **fields: Any) -> list[Call]:
    return [
        make_call(
            f"{prefix}{i}",
            session=f"{prefix}{i}",
            started_at=T0 + timedelta(minutes=i),
            attribution=NIGHTLY,
            batch=batch,
            **fields,
        )
        for i in range(n)
    ]


def test_unbatched_calls_of_a_batch_route_could_have_been_batched(tmp_path: Path) -> None:
    calls = _calls(30, batch=True, prefix="b") + _calls(2, batch=False, prefix="late")
    found = detect(tmp_path, MissedBatch(), calls)
    assert sorted(h.session_id for h in found.hits) == ["late0", "late1"]
    call = found.hits[0].calls[0]
    late = calls[30]
    assert late.cost is not None
    assert late.cost.total is not None
    # the catalog has no batch price for gpt-4.1-mini: OpenAI's published 50% batch discount
    assert call.cost == late.cost.total / 2
    assert call.effect is WasteEffect.PRICE
    assert "50%" in (call.note or "")


def test_a_call_tagged_as_background_work(tmp_path: Path) -> None:
    tagged = make_call("t1", session="t1").replace(
        attribution=Attribution(team="data", feature="reports", tags={"background": "true"})
    )
    (hit,) = detect(tmp_path, MissedBatch(), [tagged]).hits
    assert hit.note == "tagged as background work but sent at interactive prices"


def test_streamed_calls_and_providers_without_batch_pricing_are_left_alone(tmp_path: Path) -> None:
    calls = (
        _calls(30, batch=True, prefix="b")
        + _calls(1, batch=False, prefix="streamed", streamed=True)
        + _calls(1, batch=False, prefix="deepseek", provider="deepseek", model="deepseek-chat")
    )
    assert detect(tmp_path, MissedBatch(), calls).hits == []


def test_simulated_unbatched_background_sessions_are_found_and_nothing_else(tmp_path: Path) -> None:
    scored = score_on_simulation(tmp_path, MissedBatch(), rate=0.2)
    assert len(scored.truth) >= 20
    assert scored.clean > 1_000
    assert scored.found == scored.truth


def test_audio_keeps_its_rate_in_the_batch_price(tmp_path: Path) -> None:
    """gemini-2.5-flash: text input $0.30/M, audio input $1/M; batch prices are half of each."""
    audio = Usage.of(
        input_uncached=100_000,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=0,
        reasoning=0,
        modalities={"input_uncached.audio": 100_000},
    )
    calls = _calls(30, batch=True, prefix="b", provider="google", model="gemini-2.5-flash")
    late = make_call(
        "late", session="late", attribution=NIGHTLY, provider="google", model="gemini-2.5-flash", usage=audio
    )
    assert late.cost is not None
    assert late.cost.total == Decimal("0.1")  # 100,000 audio tokens at $1/M
    (hit,) = detect(tmp_path, MissedBatch(), [*calls, late]).hits
    assert hit.calls[0].cost == Decimal("0.05")  # the saving: half, audio rate kept (text's would say 0.085)
