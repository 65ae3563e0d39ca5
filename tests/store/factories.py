"""Records and files for the store tests: every field set, or almost none."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from tokenomy.native import call_to_native, charge_to_native
from tokenomy.schema import (
    Attribution,
    Call,
    Charge,
    Content,
    Cost,
    Kind,
    Outcome,
    Status,
    ToolUse,
    Usage,
)
from tokenomy.store import DuckDBStore, open_store

T0 = datetime(2026, 3, 2, 9, 30, 15, 250000)


def full_call(call_id: str = "call-full", **changes: Any) -> Call:
    """A call with every field set (content included), a cost with several parts."""
    call = Call(
        id=call_id,
        provider="anthropic",
        request_model="claude-sonnet-4",
        response_model="claude-sonnet-4-20250514",
        operation="chat",
        api="messages",
        started_at=T0,
        ended_at=T0 + timedelta(seconds=2, milliseconds=125),
        latency_ms=2125.5,
        ttft_ms=310.25,
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id="b7ad6b7169203331",
        parent_span_id="00f067aa0ba902b7",
        session_id="sess-1",
        step=3,
        streamed=True,
        batch=False,
        service_tier="standard",
        usage=Usage.of(
            input_uncached=1200,
            cache_read=3000,
            cache_write_5m=400,
            cache_write_1h=100,
            output_visible=250,
            reasoning=50,
            server_tools={"web_searches": 2},
            kind=Kind.COUNTED,
        ),
        context_window=200000,
        max_output_tokens=4096,
        n_messages=7,
        system_tokens=900,
        tool_def_tokens=1200,
        user_tokens=40,
        history_tokens=2560,
        prefix_hashes=("aa11", "bb22", "cc33"),
        status=Status.OK,
        error_type=None,
        http_status=200,
        finish_reason="tool_use",
        tool_uses=(ToolUse("search", "0123456789abcdef"), ToolUse("web_search", None, server=True)),
        filler_tokens=12,
        attribution=Attribution(
            user="ana",
            team="search",
            project="atlas",
            feature="answers",
            intent="web_research",
            environment="prod",
            agent="researcher",
            api_key_id="k-5f2a",
            tags={"region": "eu", "tier": "gold"},
        ),
        outcome=Outcome(success=True, score=0.75, action="answered"),
        cost=Cost(
            total=Decimal("0.012345678901"),
            parts={
                "input_uncached": Decimal("0.0036"),
                "cache_read": Decimal("0.0009"),
                "overhead": Decimal("0.000000075"),
            },
            currency="USD",
            source="genai-prices@0.2.3",
            price_date=date(2026, 3, 2),
            estimated=True,
            reason="an assumption",
        ),
        provider_reported_cost=Decimal("0.0123"),
        content=Content(prompt="What is the capital of France?", completion="Paris — « ville lumière »."),
        source="sdk",
    )
    return call.replace(**changes) if changes else call


def minimal_call(call_id: str = "call-min", **changes: Any) -> Call:
    """A call with nothing but its id: every optional field unknown."""
    return Call(id=call_id, **changes)


def priced_call(call_id: str, model: str = "gpt-4o", provider: str = "openai", **changes: Any) -> Call:
    """A call without a cost, with a complete usage, for pricing on import."""
    values: dict[str, Any] = {
        "provider": provider,
        "request_model": model,
        "started_at": T0,
        "session_id": "sess-p",
        "usage": Usage.of(
            input_uncached=1000,
            cache_read=200,
            cache_write_5m=0,
            cache_write_1h=0,
            output_visible=300,
            reasoning=0,
        ),
    }
    values.update(changes)
    return Call(id=call_id, **values)


def charge(charge_id: str = "charge-1", **changes: Any) -> Charge:
    """A search-API charge against session sess-1."""
    values: dict[str, Any] = {
        "amount": Decimal("0.005"),
        "kind": "search_api",
        "at": T0 + timedelta(seconds=1),
        "session_id": "sess-1",
        "quantity": 1.0,
        "unit": "query",
        "description": "web search",
        "attribution": Attribution(team="search", tags={"vendor": "acme"}),
        "source": "sdk",
    }
    values.update(changes)
    return Charge(id=charge_id, **values)


def native_line(record: Call | Charge | Mapping[str, Any]) -> str:
    """One compact native JSON line (no newline)."""
    if isinstance(record, Call):
        obj: Any = call_to_native(record)
    elif isinstance(record, Charge):
        obj = charge_to_native(record)
    else:
        obj = record
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def write_jsonl(path: Path, records: Iterable[Call | Charge | Mapping[str, Any] | str]) -> Path:
    """Write records (or raw lines) as native JSONL, one a line."""
    lines = [r if isinstance(r, str) else native_line(r) for r in records]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def rows(store: DuckDBStore, table: str = "calls") -> list[tuple[Any, ...]]:
    """Every row of a table (without imported_at), ordered by id."""
    return store.connection.execute(f"SELECT * EXCLUDE (imported_at) FROM {table} ORDER BY id").fetchall()


def fresh(tmp_path: Path, name: str = "store.duckdb") -> DuckDBStore:
    """A new store in ``tmp_path``."""
    return open_store(tmp_path / name)


def aware(value: datetime) -> datetime:
    """``value`` (naive UTC) as the same instant in UTC+2."""
    return value.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
