"""The price table joined in SQL prices every call exactly as Pricer.price does, part by part.

The SQL below is the reference query of docs/pricing.md: if the store's query drifts from it,
the store's costs drift from the library's.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pytest

from tokenomy.pricing import PriceKey, Pricer
from tokenomy.pricing.table import SCHEMA
from tokenomy.schema import BUCKETS, COST_PARTS, Call, Kind, Usage

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "overrides.toml"

MODELS = [
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-haiku-5-5"),
    ("google", "gemini-2.5-pro"),
    ("openai", "gpt-4o"),
    ("openai", "o3"),
    ("openai", "gpt-5"),
    ("perplexity", "sonar"),
    ("perplexity", "sonar-deep-research"),
    ("deepseek", "deepseek-chat"),
    ("aws", "global.anthropic.claude-sonnet-4-20250514-v1:0"),
    ("vllm", "llama-3.1-70b-instruct"),
    ("openai", "ft:gpt-4o-mini-2024-07-18:acme:x"),
    ("openai", "no-such-model"),
    (None, "gpt-4o-mini"),
    ("google", "gemma-4-31b-it"),
]
DAYS = [date(2025, 3, 1), date(2025, 6, 9), date(2025, 6, 10), date(2025, 12, 31), date(2026, 10, 20)]
TIERS = [None, None, "default", "flex", "priority", "scale"]
LATENCIES: list[float | None] = [None, 12.0625, 0.0005, 1234.5, 0.0625, 98765.4321]

BILLABLE = """
    CASE WHEN input_total IS NOT NULL
         THEN input_total - COALESCE(cache_read, 0) - COALESCE(cache_write_5m, 0)
              - COALESCE(cache_write_1h, 0)
         ELSE input_uncached END AS b_input_uncached,
    cache_read AS b_cache_read, cache_write_5m AS b_cache_write_5m, cache_write_1h AS b_cache_write_1h,
    CASE WHEN output_total IS NOT NULL THEN output_total - COALESCE(reasoning, 0)
         ELSE output_visible END AS b_output_visible,
    reasoning AS b_reasoning,
    COALESCE(input_total, COALESCE(input_uncached, 0) + COALESCE(cache_read, 0)
             + COALESCE(cache_write_5m, 0) + COALESCE(cache_write_1h, 0)) AS tier_tokens
"""

PARTS_SQL = ",\n".join(f"CAST(b_{b} * rate_{b} AS DECIMAL(38, 12)) AS part_{b}" for b in BUCKETS)


def _known(*columns: str) -> str:
    """SQL counting how many of ``columns`` are not null."""
    return "(" + " + ".join(f"({c} IS NOT NULL)::INT" for c in columns) + ")"


_INPUTS = _known("input_uncached", "cache_read", "cache_write_5m", "cache_write_1h")
_OUTPUTS = _known("output_visible", "reasoning")

ESTIMATED_SQL = " OR ".join(
    [
        "usage_kind <> 'reported'",
        "estimated",
        f"(input_total IS NULL AND {_INPUTS} < 4)",
        f"(output_total IS NULL AND {_OUTPUTS} < 2)",
        "(reasoning IS NULL AND b_output_visible - COALESCE(output_visible, 0) > 0"
        " AND rate_reasoning <> rate_output_visible)",
        *[f"(list_contains(assumed_buckets, '{b}') AND COALESCE(b_{b}, 0) > 0)" for b in BUCKETS],
        "len(list_filter(map_keys(server_tools), lambda k: server_tools[k] > 0"
        " AND (server_tool_rates IS NULL OR server_tool_rates[k] IS NULL))) > 0",
        "(overhead_per_microsecond > 0 AND latency_ms IS NULL)",
    ]
)

QUERY = f"""
WITH c AS (SELECT *, {BILLABLE} FROM calls),
joined AS (
    SELECT c.*, r.* EXCLUDE (provider, model, day, service_tier, batch),
           row_number() OVER (PARTITION BY c.id ORDER BY r.tier_start DESC) AS pick
    FROM c JOIN rates AS r
      ON r.provider IS NOT DISTINCT FROM c.provider AND r.model IS NOT DISTINCT FROM c.model
     AND r.day = c.day AND r.service_tier IS NOT DISTINCT FROM c.service_tier AND r.batch = c.batch
     AND c.tier_tokens > r.tier_start AND c.tod >= r.window_from AND c.tod < r.window_to
)
SELECT id, priced, source, price_date,
       {PARTS_SQL},
       CAST(list_sum(list_transform(map_keys(server_tools),
            lambda k: server_tools[k] * server_tool_rates[k])) AS DECIMAL(38, 12)) AS part_server_tools,
       CAST(request_fee AS DECIMAL(38, 12)) AS part_requests,
       CAST(overhead_per_request + overhead_per_microsecond
            * COALESCE(CAST(round(latency_ms * 1000) AS BIGINT), 0) AS DECIMAL(38, 12)) AS part_overhead,
       ({ESTIMATED_SQL}) AS sql_estimated
FROM joined WHERE pick = 1
"""


def _usage(rng: random.Random) -> Usage:
    big = rng.random() < 0.3
    values = {
        "input_uncached": rng.randint(0, 300_000 if big else 4_000),
        "cache_read": rng.choice([0, rng.randint(0, 150_000)]),
        "cache_write_5m": rng.choice([0, rng.randint(1, 9_999)]),
        "cache_write_1h": rng.choice([0, 0, rng.randint(1, 9_999)]),
        "output_visible": rng.randint(0, 5_000),
        "reasoning": rng.choice([0, rng.randint(1, 20_000)]),
    }
    tools = rng.choice([{}, {}, {"web_searches": rng.randint(1, 5)}, {"code_executions": 1}])
    kind = rng.choice([Kind.REPORTED, Kind.REPORTED, Kind.COUNTED])
    shape = rng.choice(
        ["full", "full", "totals", "no_reasoning_split", "no_cache_split", "incomplete", "input_only"]
    )
    if shape == "full":
        return Usage.of(**values, server_tools=tools, kind=kind)  # type: ignore[arg-type]
    input_total = sum(values[b] for b in ("input_uncached", "cache_read", "cache_write_5m", "cache_write_1h"))
    output_total = values["output_visible"] + values["reasoning"]
    if shape == "totals":
        return Usage(input_total=input_total, output_total=output_total, server_tools=tools, kind=kind)
    if shape == "no_reasoning_split":
        return Usage.of(
            input_uncached=values["input_uncached"],
            cache_read=values["cache_read"],
            cache_write_5m=values["cache_write_5m"],
            cache_write_1h=values["cache_write_1h"],
            output_total=output_total,
            server_tools=tools,
            kind=kind,
        )
    if shape == "no_cache_split":
        return Usage.of(
            cache_read=values["cache_read"],
            input_total=input_total,
            output_visible=values["output_visible"],
            reasoning=values["reasoning"],
            server_tools=tools,
            kind=kind,
        )
    if shape == "incomplete":
        return Usage.of(
            input_uncached=values["input_uncached"], output_visible=values["output_visible"], kind=kind
        )
    return Usage.of(
        input_uncached=values["input_uncached"],
        cache_read=values["cache_read"],
        cache_write_5m=0,
        cache_write_1h=0,
    )


def _calls(n: int) -> list[Call]:
    rng = random.Random(20251001)
    calls = []
    for i in range(n):
        provider, model = rng.choice(MODELS)
        day = rng.choice(DAYS)
        started = datetime.combine(day, time(rng.randint(0, 23), rng.randint(0, 59)), tzinfo=UTC)
        calls.append(
            Call(
                id=f"c{i}",
                provider=provider,
                response_model=model,
                started_at=started,
                batch=rng.random() < 0.2,
                service_tier=rng.choice(TIERS),
                latency_ms=rng.choice(LATENCIES),
                usage=_usage(rng),
            )
        )
    return calls


def _since_midnight(at: datetime) -> int:
    """Microseconds since the UTC midnight before ``at`` (the price table's ``window_from``)."""
    return ((at.hour * 60 + at.minute) * 60 + at.second) * 1_000_000 + at.microsecond


def _calls_table(calls: list[Call]) -> pa.Table:
    rows: list[dict[str, Any]] = []
    for call in calls:
        row: dict[str, Any] = {
            "id": call.id,
            "provider": call.provider,
            "model": call.model,
            "day": call.started_at.date() if call.started_at else None,
            "tod": _since_midnight(call.started_at) if call.started_at else None,
            "service_tier": call.service_tier,
            "batch": call.batch,
            "usage_kind": call.usage.kind.value,
            "latency_ms": call.latency_ms,
            "input_total": call.usage.input_total,
            "output_total": call.usage.output_total,
            "server_tools": list(call.usage.server_tools.items()),
        }
        row.update({b: getattr(call.usage, b) for b in BUCKETS})
        rows.append(row)
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("provider", pa.string()),
            ("model", pa.string()),
            ("day", pa.date32()),
            ("tod", pa.int64()),
            ("service_tier", pa.string()),
            ("batch", pa.bool_()),
            ("usage_kind", pa.string()),
            ("latency_ms", pa.float64()),
            ("input_total", pa.int64()),
            ("output_total", pa.int64()),
            ("server_tools", pa.map_(pa.string(), pa.int64())),
            *[(b, pa.int64()) for b in BUCKETS],
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def _key(call: Call) -> PriceKey:
    assert call.started_at is not None
    return PriceKey(call.provider, call.model, call.started_at.date(), call.service_tier, call.batch)


def test_sql_join_on_the_price_table_equals_pricer_price_for_every_part() -> None:
    pricer = Pricer(EXAMPLE)
    calls = _calls(600)
    table = pricer.price_table(_key(c) for c in calls)
    assert table.schema == SCHEMA
    con = duckdb.connect()
    con.register("rates", table)
    con.register("calls", _calls_table(calls))
    result = con.execute(QUERY).fetchall()
    columns = [d[0] for d in con.description]
    by_id = {row[0]: dict(zip(columns, row, strict=True)) for row in result}
    assert len(by_id) == len(calls)
    compared = unpriced = estimated = 0
    for call in calls:
        assert call.started_at is not None
        cost = pricer.price(call)  # at its start time: DeepSeek's window too
        sql = by_id[call.id]
        if not cost.priced:
            assert sql["priced"] is False
            assert all(sql[f"part_{b}"] is None for b in BUCKETS)
            unpriced += 1
            continue
        assert sql["priced"] is True
        sql_parts = {part: sql[f"part_{part}"] or Decimal(0) for part in COST_PARTS}
        ours = {part: cost.parts.get(part, Decimal(0)) for part in COST_PARTS}
        assert ours == sql_parts, (call, cost)
        assert cost.total == sum(sql_parts.values())
        assert (sql["source"], sql["price_date"]) == (cost.source, cost.price_date)
        assert sql["sql_estimated"] is cost.estimated, (call, cost)
        compared += 1
        estimated += cost.estimated
    # The sample must exercise both paths and both flags.
    assert compared >= 450
    assert unpriced >= 20
    assert 50 <= estimated < compared


def test_tiered_keys_give_one_row_per_threshold_and_unpriced_keys_null_rates() -> None:
    pricer = Pricer()
    day = date(2025, 10, 1)
    table = pricer.price_table(
        [
            PriceKey("google", "gemini-2.5-pro", day),
            PriceKey("google", "gemini-2.5-pro", day),  # duplicates resolve once
            PriceKey("openai", "no-such-model", day),
            PriceKey("openai", None, day),
        ]
    )
    rows = table.to_pylist()
    assert [(r["model"], r["tier_start"], r["priced"]) for r in rows] == [
        ("gemini-2.5-pro", -1, True),
        ("gemini-2.5-pro", 200_000, True),
        ("no-such-model", -1, False),
        (None, -1, False),
    ]
    assert rows[0]["rate_input_uncached"] == Decimal("0.00000125")
    assert rows[1]["rate_input_uncached"] == Decimal("0.0000025")
    assert rows[1]["rate_output_visible"] == Decimal("0.000015")
    assert rows[0]["server_tool_rates"] == [("web_searches", Decimal("0.035"))]
    assert all(rows[2][f"rate_{b}"] is None for b in BUCKETS)
    assert "no-such-model" in rows[2]["reason"]
    assert "names no model" in rows[3]["reason"]


@pytest.mark.parametrize("latency", [0.0005, 0.0625, 12.0625, 1234.5, 2.675, 0.1 + 0.2])
def test_latency_rounds_to_microseconds_like_duckdb(latency: float) -> None:
    from tokenomy.pricing.compute import latency_microseconds

    (sql,) = duckdb.execute("SELECT CAST(round(? * 1000) AS BIGINT)", [latency]).fetchone() or (None,)
    assert latency_microseconds(latency) == sql
