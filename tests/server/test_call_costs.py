"""Costs computed as columns are the store's own, column by column, or the store is left to price them."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pytest

from tokenomy.pricing import Pricer
from tokenomy.schema import Call, Cost, Kind, Usage
from tokenomy.server.call_costs import ColumnPricer
from tokenomy.store import open_store
from tokenomy.store.arrow import calls_to_arrow
from tokenomy.store.duckdb_compat import arrow_table
from tokenomy.store.duckdb_pricing import COST_COLUMNS
from tokenomy.store.events import EventBatch

MODELS: list[tuple[str | None, str | None]] = [
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4.1"),
    ("anthropic", "claude-sonnet-4-20250514"),
    ("anthropic", "claude-3-5-haiku-latest"),
    ("google", "gemini-2.5-pro"),  # long-context tiers
    ("google", "gemini-2.5-flash"),
    ("acme", "house-model"),  # priced by the overrides below, with a request fee and overhead
    ("nobody", "no-such-model"),  # unpriced
    (None, "gpt-4o"),
    ("", "gpt-4o"),
    ("openai", None),  # no model
]
OVERRIDES = """
[[price]]
name = "house"
provider = "acme"
model = "house-*"
effective = 2025-01-01
input = "0.123456789"
output = "1.5"
cache_read = "0.0123456789"
cache_write_5m = "0.3"
cache_write_1h = "0.4"
reasoning = "1.5"
request = "0.0000004321"

[[overhead]]
name = "gateway"
provider = "acme"
model = "house-*"
effective = 2025-01-01
per_request = "0.0000031"
"""
T0 = datetime(2025, 6, 1, 12, 0, 0)


@pytest.fixture(scope="module")
def pricer(tmp_path_factory: pytest.TempPathFactory) -> Pricer:
    path = tmp_path_factory.mktemp("prices") / "overrides.toml"
    path.write_text(OVERRIDES, encoding="utf-8")
    return Pricer(path)


def _usage(rng: random.Random, provider: str | None) -> Usage:
    shape = rng.random()
    if shape < 0.1:
        return Usage.of()  # no usage at all
    big = rng.random() < 0.2
    read = rng.choice([0, 0, rng.randint(1, 50_000)])
    return Usage.of(
        input_uncached=rng.randint(0, 400_000 if big else 20_000),
        cache_read=read,
        cache_write_5m=rng.choice([0, rng.randint(1, 9_000)]),
        cache_write_1h=rng.choice([0, rng.randint(1, 9_000)]) if provider in ("anthropic", "acme") else 0,
        output_visible=rng.randint(0, 3_000),
        reasoning=rng.choice([0, rng.randint(1, 9_000)]),
        kind=Kind.COUNTED if rng.random() < 0.1 else Kind.REPORTED,
    )


def _call(rng: random.Random, index: int) -> Call:
    provider, model = rng.choice(MODELS)
    call = Call(
        id=f"c{index}",
        provider=provider,
        request_model=model,
        response_model=rng.choice([None, model, ""]) if model else None,
        started_at=T0 + timedelta(days=rng.randint(-400, 200), microseconds=rng.randint(0, 10**9)),
        latency_ms=rng.uniform(10, 9_000),
        usage=_usage(rng, provider),
    )
    if rng.random() < 0.05:  # a call that brings its own cost keeps it
        call = call.replace(cost=Cost(total=Decimal("0.5"), parts={"requests": Decimal("0.5")}, source="own"))
    return call


def _store_costs(tmp_path: Path, name: str, write: Any) -> list[dict[str, Any]]:
    with open_store(tmp_path / f"{name}.duckdb") as store:
        write(store)
        table = arrow_table(store.connection, f"SELECT id, {', '.join(COST_COLUMNS)} FROM calls ORDER BY id")
    return list(table.to_pylist())


def test_costs_are_the_stores_own(tmp_path: Path, pricer: Pricer) -> None:
    rng = random.Random(11)
    calls = [_call(rng, i) for i in range(1500)]
    table = calls_to_arrow(calls)
    priced = ColumnPricer(pricer).price(table)
    assert priced is not None, "every one of these calls can be priced as columns"
    assert priced.schema == table.schema
    ours = _store_costs(tmp_path, "ours", lambda s: s.write_priced_events(EventBatch(calls=priced)))
    theirs = _store_costs(
        tmp_path, "theirs", lambda s: s.write_events(EventBatch(calls=table), pricer=pricer)
    )
    assert len(ours) == len(theirs) == len(calls)
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine == reference, f"call {mine['id']}"
    totals = [row["cost_total"] for row in ours if row["cost_total"] is not None]
    assert len(totals) > 600, "too few priced calls: the comparison would prove little"
    reasons = {row["cost_reason"] for row in ours}
    assert {"no usage reported", "the call names no model; record its request or response model"} <= reasons


def test_rates_are_resolved_once_per_key(pricer: Pricer) -> None:
    asked: list[int] = []

    class Counting:
        def price(self, call: Call, *, at: Any = None) -> object:
            raise AssertionError("calls are never priced one by one here")

        def price_table(self, keys: Any) -> pa.Table:
            chosen = list(keys)
            asked.append(len(chosen))
            return pricer.price_table(chosen)

    rng = random.Random(5)
    table = calls_to_arrow([_call(rng, i).replace(started_at=T0, cost=None) for i in range(300)])
    columns = ColumnPricer(Counting())
    first = columns.price(table)
    calls_asked = sum(asked)
    second = columns.price(table)
    assert first is not None
    assert second is not None
    assert first.equals(second)
    assert calls_asked <= len(MODELS) + 1  # one lookup per distinct key, not per call
    assert sum(asked) == calls_asked  # the second batch asked nothing


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"usage": Usage.of(input_total=900, output_total=20)}, "buckets unknown: the Pricer explains"),
        ({"usage": Usage.of(input_uncached=5, output_visible=1, server_tools={"web_searches": 1})}, "tools"),
        ({"started_at": None}, "no start time: today's prices and a note"),
        (
            {
                "usage": Usage.of(
                    input_uncached=5,
                    cache_read=0,
                    cache_write_5m=0,
                    cache_write_1h=7,
                    output_visible=1,
                    reasoning=0,
                )
            },
            "a rate the catalog had to assume (1h cache writes at OpenAI)",
        ),
        (
            {"provider": "deepseek", "request_model": "deepseek-chat"},
            "prices that change during the day: priced at the call's start time",
        ),
    ],
)
def test_calls_the_store_prices_in_python_are_left_to_it(
    pricer: Pricer, change: dict[str, Any], why: str
) -> None:
    complete = Usage.of(
        input_uncached=3, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=2, reasoning=0
    )
    plain = Call(id="a", provider="openai", request_model="gpt-4o-mini", started_at=T0, usage=complete)
    odd = plain.replace(id="b", **change)
    assert ColumnPricer(pricer).price(calls_to_arrow([plain, odd])) is None, why
    assert ColumnPricer(pricer).price(calls_to_arrow([plain])) is not None


def test_calls_that_all_carry_a_cost_are_returned_as_they_are(pricer: Pricer) -> None:
    own = Cost(total=Decimal("1.25"), parts={"requests": Decimal("1.25")}, source="own")
    table = calls_to_arrow([Call(id="x", request_model="m", cost=own)])
    assert ColumnPricer(pricer).price(table) is table
