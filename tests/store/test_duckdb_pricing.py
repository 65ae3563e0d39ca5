from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.store.factories import T0, fresh, full_call, minimal_call, priced_call, rows, write_jsonl
from tokenomy.pricing import Pricer
from tokenomy.schema import BUCKETS, Call, Cost, Kind, Quality, Usage
from tokenomy.store.arrow import calls_to_arrow
from tokenomy.store.duckdb_import import import_line_by_line, insert_unpriced_calls

RATE_PER_MTOK = "0.123456789012"
"""$/MTok with 12 places: 1.23456789012e-7 a token, 18 places, the most a rate has."""
OVERRIDES = f"""
[[price]]
name = "odd"
provider = "acme"
model = "odd-*"
effective = 2025-01-01
input = "{RATE_PER_MTOK}"
cache_read = "{RATE_PER_MTOK}"
cache_write_5m = "{RATE_PER_MTOK}"
cache_write_1h = "{RATE_PER_MTOK}"
output = "{RATE_PER_MTOK}"
reasoning = "{RATE_PER_MTOK}"
"""


ASSUMED = """
[[price]]
name = "no-1h"
provider = "acme"
model = "plain-*"
effective = 2025-01-01
input = "1"
output = "2"
"""
"""A price without a 1h cache-write rate: the 5m rate is assumed for it."""


class CountingPricer(Pricer):
    """A Pricer that remembers which calls it priced one by one (in Python)."""

    def __init__(self, overrides: Path) -> None:
        super().__init__(overrides)
        self.priced: list[str] = []

    def price(self, call: Call, *, at: date | None = None) -> Cost:
        self.priced.append(call.id)
        return super().price(call, at=at)


NO_WRITES = {"cache_write_5m": 0, "cache_write_1h": 0}
"""OpenAI's catalog entries assume a cache-write price: tokens there would send a call to Python."""


def _full(tokens: int, **changes: Any) -> Usage:
    """Every bucket at ``tokens`` (then ``changes``: other buckets, server tools, kind)."""
    values: dict[str, Any] = {**dict.fromkeys(BUCKETS, tokens), **changes}
    return Usage.of(**values)


def _one_of_each() -> list[Call]:
    """A call of every kind the insert prices differently (see duckdb_pricing)."""
    return [
        full_call("kept"),
        minimal_call("unnamed", started_at=T0),
        priced_call("flagged", usage=Usage.of(input_uncached=5, input_total=3, quality=(Quality.NEGATIVE,))),
        priced_call("empty", usage=Usage()),
        priced_call("unknown-model", "no-such-model", provider="nobody"),
        priced_call("full"),
        priced_call("estimated", usage=_full(7, **NO_WRITES, kind=Kind.ESTIMATED)),
        priced_call("split", usage=Usage(input_uncached=10, input_total=40, output_total=5)),
        priced_call("tools", usage=_full(1, server_tools={"web_searches": 2})),
        priced_call("no-time", started_at=None),
        priced_call("assumed-1h", "plain-1", provider="acme", usage=_full(3000)),
        priced_call("assumed-unused", "plain-1", provider="acme", usage=_full(9, cache_write_1h=0)),
    ]


def test_every_kind_of_call_gets_the_cost_the_pricer_gives(tmp_path: Path) -> None:
    overrides = tmp_path / "overrides.toml"
    overrides.write_text(ASSUMED)
    pricer = CountingPricer(overrides)
    calls = _one_of_each()
    path = write_jsonl(tmp_path / "calls.jsonl", calls)
    with fresh(tmp_path, "fast.duckdb") as fast, fresh(tmp_path, "slow.duckdb") as slow:
        result = fast.import_native_jsonl(path, pricer=pricer)
        in_python = sorted(pricer.priced)
        import_line_by_line(slow, path, pricer=pricer)
        stored = {c.id: c.cost for c in fast.iter_calls()}
        assert rows(fast) == rows(slow)
    assert result.fast_path
    assert in_python == ["assumed-1h", "no-time", "split", "tools"]  # SQL priced every other one
    assert stored.pop("kept") == calls[0].cost
    for call in calls[1:]:
        assert stored[call.id] == pricer.price(call), call.id
    assert result.unpriced == sum(not pricer.price(c).priced for c in calls[1:])


def _half_way_tokens() -> int:
    """A token count whose cost at :data:`RATE_PER_MTOK` ends in exactly half a picodollar."""
    # tokens * 789012 must be 500000 modulo 10^6: divide by 4, invert 197253 modulo 250000
    return 125_000 * pow(197_253, -1, 250_000) % 250_000


def test_integer_arithmetic_rounds_each_part_exactly_as_decimal_does(tmp_path: Path) -> None:
    overrides = tmp_path / "overrides.toml"
    overrides.write_text(OVERRIDES)
    pricer = Pricer(overrides=overrides)
    half = _half_way_tokens()
    assert (half * Decimal(RATE_PER_MTOK) / 10**6).scaleb(12) % 1 == Decimal("0.5")
    counts = [0, 1, 7, 999_999, half, half + 250_000, 2_100_000_003, 2_499_999_999]  # totals to MAX_TOKENS
    calls = [
        Call(id=f"n{n}", provider="acme", request_model="odd-1", started_at=T0, usage=_full(n))
        for n in counts
    ]
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(write_jsonl(tmp_path / "odd.jsonl", calls), pricer=pricer)
        stored = {c.id: c.cost for c in store.iter_calls()}
    assert result.fast_path
    for call in calls:
        assert stored[call.id] == pricer.price(call), call.id
    half_cost = stored[f"n{half}"]
    assert half_cost is not None
    assert half_cost.parts["input_uncached"] == (half * Decimal(RATE_PER_MTOK) / 10**6).quantize(
        Decimal("1e-12"), rounding="ROUND_HALF_UP"
    )


def test_parts_too_large_for_64_bit_integers_are_priced_in_python(tmp_path: Path) -> None:
    overrides = tmp_path / "overrides.toml"  # a rate that takes MAX_TOKENS past the SQL's cap of $100,000
    overrides.write_text(OVERRIDES.replace(f"{RATE_PER_MTOK}", "150"))
    pricer = Pricer(overrides=overrides)
    huge = Call(id="huge", provider="acme", request_model="odd-1", started_at=T0, usage=_full(2_499_999_999))
    path = write_jsonl(tmp_path / "huge.jsonl", [priced_call("small"), huge])
    assert (huge.cost if huge.cost else pricer.price(huge)).parts["input_uncached"] == Decimal("374999.99985")
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(path, pricer=pricer)
        stored = {c.id: c.cost for c in store.iter_calls()}
    assert result.fast_path
    cost = stored["huge"]
    assert cost == pricer.price(huge)
    assert cost is not None
    assert cost.total is not None
    assert cost.total > Decimal(10**6)


def test_records_are_priced_skipping_known_and_repeated_ids(tmp_path: Path, pricer: Pricer) -> None:
    stamp = datetime(2026, 3, 2, 12)
    with fresh(tmp_path) as store:
        store.insert_calls([priced_call("known")])
        store.insert_arrow("calls", calls_to_arrow([priced_call("bystander")], imported_at=stamp), stamp)
        batch = [
            priced_call("known"),
            priced_call("new", session_id="first"),
            priced_call("split", usage=Usage(input_uncached=10, input_total=40, output_total=5)),
            priced_call("new", session_id="second"),
            full_call("kept"),
        ]
        con = store.connection
        con.execute("BEGIN TRANSACTION")
        stored = insert_unpriced_calls(store, calls_to_arrow(batch), pricer=pricer, stamp=stamp)
        con.execute("COMMIT")
        back = {c.id: c for c in store.iter_calls()}
    assert stored == 3
    assert back["new"].session_id == "first"
    assert back["new"].cost == pricer.price(batch[1])
    assert back["split"].cost == pricer.price(batch[2])
    assert back["kept"].cost == batch[4].cost
    assert back["bystander"].cost is None  # stored at the same stamp, but not by this batch


@pytest.mark.parametrize("latency_ms", [None, 1234.5])
def test_per_second_overhead_needs_a_latency_to_be_priced_in_sql(
    tmp_path: Path, latency_ms: float | None
) -> None:
    overrides = tmp_path / "overrides.toml"
    overrides.write_text(
        OVERRIDES
        + '\n[[overhead]]\nname = "gpu"\nprovider = "acme"\nmodel = "odd-*"\neffective = 2025-01-01\n'
        + 'per_request = "0.00002"\nper_second = "0.0011"\n'
    )
    pricer = Pricer(overrides=overrides)
    call = Call(
        id="g", provider="acme", request_model="odd-1", started_at=T0, usage=_full(5), latency_ms=latency_ms
    )
    with fresh(tmp_path) as store:
        store.import_native_jsonl(write_jsonl(tmp_path / "g.jsonl", [call]), pricer=pricer)
        (back,) = store.iter_calls()
    expected = pricer.price(call)
    assert back.cost == expected
    assert isinstance(expected, Cost)
    assert expected.estimated is (latency_ms is None)
