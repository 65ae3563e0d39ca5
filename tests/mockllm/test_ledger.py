"""The ledger: per-request records and totals."""

from __future__ import annotations

from typing import Any

from tokenomy.mockllm.ledger import Ledger, Served


def served(rid: str, model: str = "gpt-4o", status: int = 200, **tokens: Any) -> Served:
    return Served(rid, model, "/v1/chat/completions", status, **tokens)


def test_totals_add_up_per_model_and_overall() -> None:
    ledger = Ledger(keep=10)
    ledger.record(served("a", input_tokens=100, cached_tokens=64, output_tokens=20, reasoning_tokens=5))
    ledger.record(served("b", input_tokens=50, output_tokens=10))
    ledger.record(
        served("c", "claude-opus-4-7", input_tokens=7, cache_write_5m=3, cache_write_1h=2, output_tokens=1)
    )
    ledger.record(served("d", "claude-opus-4-7", status=429))
    snap = ledger.snapshot()
    gpt = snap["models"]["gpt-4o"]
    assert (gpt["requests"], gpt["input_tokens"], gpt["cached_tokens"], gpt["output_tokens"]) == (
        2,
        150,
        64,
        30,
    )
    assert gpt["reasoning_tokens"] == 5
    claude = snap["models"]["claude-opus-4-7"]
    assert (claude["errors"], claude["cache_write_5m"], claude["cache_write_1h"]) == (1, 3, 2)
    assert claude["by_status"] == {"200": 1, "429": 1}
    totals = snap["totals"]
    assert (totals["requests"], totals["errors"], totals["input_tokens"], totals["output_tokens"]) == (
        4,
        1,
        157,
        31,
    )
    assert totals["by_status"] == {"200": 3, "429": 1}
    assert snap["requests"]["a"]["cached_tokens"] == 64


def test_incomplete_and_streamed_answers_are_counted() -> None:
    ledger = Ledger(keep=10)
    ledger.record(
        Served("a", "m", "/v1/messages", 200, fault="cut", streamed=True, complete=False, output_tokens=3)
    )
    ledger.record(Served("b", "m", "/v1/messages", 0, fault="hangup", complete=False))
    totals = ledger.snapshot(with_requests=False)["totals"]
    assert (totals["streamed"], totals["incomplete"], totals["errors"], totals["output_tokens"]) == (
        1,
        2,
        1,
        3,
    )
    assert "requests" not in ledger.snapshot(with_requests=False)


def test_only_the_most_recent_requests_are_kept_but_totals_never_drop() -> None:
    ledger = Ledger(keep=2)
    for rid in "abc":
        ledger.record(served(rid, output_tokens=1))
    assert ledger.get("a") is None
    assert ledger.get("c") == served("c", output_tokens=1)
    assert list(ledger.snapshot()["requests"]) == ["b", "c"]
    assert ledger.snapshot()["totals"]["output_tokens"] == 3


def test_reset_forgets_everything() -> None:
    ledger = Ledger(keep=2)
    ledger.record(served("a", output_tokens=1))
    ledger.reset()
    assert ledger.snapshot() == {"totals": ledger.snapshot()["totals"], "models": {}, "requests": {}}
    assert ledger.snapshot()["totals"]["requests"] == 0
