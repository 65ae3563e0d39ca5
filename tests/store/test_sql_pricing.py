from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.store.factories import fresh, write_jsonl
from tokenomy.pricing import Pricer
from tokenomy.schema import Call, Kind, Usage

MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "o3-mini"),
    ("openai", "gpt-4.1"),
    ("anthropic", "claude-sonnet-4-20250514"),
    ("anthropic", "claude-3-5-haiku-latest"),
    ("anthropic", "claude-opus-4-1"),
    ("google", "gemini-2.5-pro"),
    ("google", "gemini-2.5-flash"),
    ("deepseek", "deepseek-chat"),
    ("vllm", "llama-3.1-70b-instruct"),
    ("nobody", "no-such-model"),
    (None, "gpt-4o"),
]

OVERRIDES = """
[[price]]
name = "self-hosted"
provider = "vllm"
model = "llama-3.1-70b*"
effective = 2025-01-01
input = 0
output = 0

[[overhead]]
name = "gpu"
provider = "vllm"
model = "llama-3.1-70b*"
effective = 2025-01-01
per_request = "0.00002"
per_second = "0.0011"

[[overhead]]
name = "gateway"
provider = "openai"
model = "gpt-4o-mini*"
effective = 2025-01-01
per_request = "0.0000031"

[[modifier]]
name = "openai-flex"
provider = "openai"
model = "o3*"
effective = 2025-01-01
batch = "0.5"
service_tiers = { flex = "0.5" }
"""


def _usage(rng: random.Random) -> Usage:
    # mostly ordinary sizes, some past Gemini's 200k long-context threshold, some zeros
    big = rng.random() < 0.15
    return Usage.of(
        input_uncached=rng.choice([0, rng.randint(1, 5_000), rng.randint(150_000, 400_000) if big else 70]),
        cache_read=rng.choice([0, 0, rng.randint(1, 90_000)]),
        cache_write_5m=rng.choice([0, 0, rng.randint(1, 20_000)]),
        cache_write_1h=rng.choice([0, 0, 0, rng.randint(1, 8_000)]),
        output_visible=rng.choice([0, rng.randint(1, 4_000)]),
        reasoning=rng.choice([0, 0, rng.randint(1, 9_000)]),
        kind=rng.choice([Kind.REPORTED, Kind.REPORTED, Kind.ESTIMATED, Kind.COUNTED]),
    )


def _calls(n: int, seed: int) -> list[Call]:
    rng = random.Random(seed)
    start = datetime(2024, 6, 1)
    calls = []
    for i in range(n):
        provider, model = rng.choice(MODELS)
        calls.append(
            Call(
                id=f"p{i:04d}",
                provider=provider,
                request_model=model,
                started_at=start + timedelta(days=rng.randint(0, 800), seconds=rng.randint(0, 86_399)),
                usage=_usage(rng),
                batch=rng.random() < 0.1,
                service_tier=rng.choice([None, None, None, "flex", "priority", "default", ""]),
                latency_ms=rng.choice([None, round(rng.uniform(50, 30_000), 3), 0.0005]),
            )
        )
    return calls


@pytest.mark.parametrize("with_overrides", [False, True])
def test_sql_pricing_equals_the_pricer_for_every_call(tmp_path: Path, with_overrides: bool) -> None:
    if with_overrides:
        overrides = tmp_path / "overrides.toml"
        overrides.write_text(OVERRIDES)
        pricer = Pricer(overrides=overrides)
    else:
        pricer = Pricer()
    calls = _calls(400, seed=7 if with_overrides else 3)
    path = write_jsonl(tmp_path / "calls.jsonl", calls)
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(path, pricer=pricer)
        stored = {c.id: c for c in store.iter_calls()}
    assert result.fast_path
    assert result.calls == len(calls)
    priced = 0
    for call in calls:
        expected = pricer.price(call)
        got = stored[call.id].cost
        assert got == expected, f"{call.id} {call.provider}/{call.request_model} {call.usage}"
        priced += expected.priced
    assert result.unpriced == len(calls) - priced
    assert priced > len(calls) // 2  # the catalog knows most of these models


def test_long_context_tier_is_chosen_by_total_input(tmp_path: Path, pricer: Pricer) -> None:
    day = datetime(2026, 1, 15, 12)
    below = Usage.of(
        input_uncached=200_000,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=1000,
        reasoning=0,
    )
    above = Usage.of(
        input_uncached=200_001,
        cache_read=0,
        cache_write_5m=0,
        cache_write_1h=0,
        output_visible=1000,
        reasoning=0,
    )
    calls = [
        Call(id=name, provider="google", request_model="gemini-2.5-pro", started_at=day, usage=usage)
        for name, usage in (("below", below), ("above", above))
    ]
    with fresh(tmp_path) as store:
        store.import_native_jsonl(write_jsonl(tmp_path / "t.jsonl", calls), pricer=pricer)
        stored = {c.id: c.cost for c in store.iter_calls()}
    for call in calls:
        assert stored[call.id] == pricer.price(call)
    out_below = stored["below"].parts["output_visible"]  # type: ignore[union-attr]
    out_above = stored["above"].parts["output_visible"]  # type: ignore[union-attr]
    assert out_above > out_below  # the long-context output rate is higher


def test_a_model_whose_prices_change_during_the_day_is_priced_in_sql(
    tmp_path: Path, pricer: Pricer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DeepSeek's peak and off-peak windows are rows of the price table joined on the call's time of
    day: left to the Python pricer, they took a quarter of the native import's time."""
    import tokenomy.store.duckdb_import as importing
    from tests.analysis.builders import usage as known

    usage = known(1_000_000, 0, 0, 0, 0, 0)  # every bucket known: a million uncached input tokens
    times = [
        datetime(2025, 6, 2, 0, 29, 59),
        datetime(2025, 6, 2, 0, 30),
        datetime(2025, 6, 2, 16, 29, 59, 999999),
        datetime(2025, 6, 2, 16, 30),
        datetime(2025, 6, 2, 19, 44),
    ]
    calls = [
        Call(id=f"ds{i}", provider="deepseek", request_model="deepseek-chat", started_at=at, usage=usage)
        for i, at in enumerate(times)
    ]
    left: list[int] = []  # how many calls the Python pricer priced after the SQL
    real = importing.price_leftovers  # type: ignore[attr-defined]  # (imported there, patched there)

    def counted(*args: Any, **kwargs: Any) -> int:
        left.append(real(*args, **kwargs))
        return left[-1]

    monkeypatch.setattr(importing, "price_leftovers", counted)
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(write_jsonl(tmp_path / "ds.jsonl", calls), pricer=pricer)
        stored = {c.id: c.cost for c in store.iter_calls()}
        leftover = (
            store.query("SELECT count(*) AS n FROM calls WHERE cost_total IS NULL").column("n").to_pylist()
        )
    assert result.fast_path
    assert (leftover, sum(left)) == ([0], 0)
    totals = [stored[c.id].total for c in calls]  # type: ignore[union-attr]
    assert totals == [pricer.price(c).total for c in calls]
    peak, off = Decimal("0.27"), Decimal("0.135")  # a million input tokens, June 2025, peak and off-peak
    assert totals == [off, peak, peak, off, off]
