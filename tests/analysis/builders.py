"""Small hand-built stores for the analysis tests: every number is chosen so results can be worked
out by hand in the tests (the expected values are written there from first principles)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tokenomy.schema import (
    Attribution,
    Call,
    Charge,
    Cost,
    Finding,
    FindingCall,
    Outcome,
    Severity,
    Status,
    ToolUse,
    Usage,
    WasteRole,
)
from tokenomy.store import DuckDBStore, open_store
from tokenomy.store.findings import AuditRecord

T0 = datetime(2026, 10, 5, 9, 0, 0)


def cost(total: str | None, **parts: str) -> Cost:
    """A Cost given by hand (None: unpriced)."""
    if total is None:
        return Cost.unpriced("not in the catalog")
    return Cost(total=Decimal(total), parts={k: Decimal(v) for k, v in parts.items()}, source="hand")


def call(call_id: str, **fields: Any) -> Call:
    """A Call with attribution fields given flat (team=..., intent=...) and sensible defaults."""
    attribution = {
        k: fields.pop(k) for k in ("team", "feature", "intent", "user", "agent", "project") if k in fields
    }
    tags = fields.pop("tags", {})
    fields.setdefault("provider", "openai")
    fields.setdefault("request_model", "m1")
    fields.setdefault("started_at", T0)
    return Call(id=call_id, attribution=Attribution(**attribution, tags=tags), **fields)


def charge(charge_id: str, amount: str, **fields: Any) -> Charge:
    """A Charge with attribution fields given flat."""
    attribution = {k: fields.pop(k) for k in ("team", "feature", "intent", "user", "agent") if k in fields}
    fields.setdefault("at", T0)
    fields.setdefault("kind", "search_api")
    return Charge(id=charge_id, amount=Decimal(amount), attribution=Attribution(**attribution), **fields)


def usage(*buckets: int) -> Usage:
    """A fully known usage from its six buckets: uncached, read, write 5m, write 1h, visible, reasoning."""
    uncached, read, write5, write1, visible, reasoning = buckets
    return Usage.of(
        input_uncached=uncached,
        cache_read=read,
        cache_write_5m=write5,
        cache_write_1h=write1,
        output_visible=visible,
        reasoning=reasoning,
    )


def hand_calls() -> tuple[list[Call], list[Charge]]:
    """Five calls and two charges (see tests/analysis/test_metrics.py for the arithmetic).

    c1  team a, intent x, session s1, openai m1, 1,600 in (400 cached) + 150 out, filler 10,
        success with action "done", $0.01, 1,000 ms
    c2  team a, intent x, session s1, anthropic m2, 2,000 in + 200 out, $0.02, 2,000 ms
    c3  team b, intent y, session s2, an error: all buckets 0, $0
    c4  team b, intent y, session s2, totals only (500 in, 100 out), unpriced
    c5  no team, no intent, no session, acme m3, 100 in + 20 out, a failed outcome, $0.001
    g1  $0.005 for session s1 (team a, intent x); g2 $0.002 without a session (team b, intent y)
    """
    calls = [
        call(
            "c1",
            team="a",
            intent="x",
            session_id="s1",
            usage=usage(1200, 400, 0, 0, 100, 50),
            filler_tokens=10,
            system_tokens=300,
            tool_def_tokens=100,
            user_tokens=50,
            context_window=10_000,
            cost=cost(
                "0.01",
                input_uncached="0.0036",
                cache_read="0.0004",
                output_visible="0.005",
                reasoning="0.001",
            ),
            outcome=Outcome(success=True, action="done"),
            latency_ms=1000.0,
            tool_uses=(ToolUse("web_search", "abc"),),
            span_id="sp1",
            trace_id="t1",
        ),
        call(
            "c2",
            team="a",
            intent="x",
            session_id="s1",
            provider="anthropic",
            request_model="m2",
            started_at=T0.replace(minute=1),
            usage=usage(2000, 0, 0, 0, 200, 0),
            filler_tokens=0,
            system_tokens=300,
            tool_def_tokens=100,
            user_tokens=1600,
            context_window=10_000,
            cost=cost("0.02", input_uncached="0.012", output_visible="0.008"),
            latency_ms=2000.0,
            span_id="sp2",
            trace_id="t1",
        ),
        call(
            "c3",
            team="b",
            intent="y",
            session_id="s2",
            status=Status.ERROR,
            usage=usage(0, 0, 0, 0, 0, 0),
            filler_tokens=0,
            context_window=10_000,
            cost=cost("0"),
        ),
        call(
            "c4",
            team="b",
            intent="y",
            session_id="s2",
            started_at=T0.replace(minute=2),
            usage=Usage(input_total=500, output_total=100),
            cost=cost(None),
        ),
        call(
            "c5",
            provider="acme",
            request_model="m3",
            usage=usage(100, 0, 0, 0, 20, 0),
            system_tokens=50,
            tool_def_tokens=0,
            user_tokens=40,
            context_window=100,
            cost=cost("0.001", input_uncached="0.0006", output_visible="0.0004"),
            outcome=Outcome(success=False),
            tags={"env": "dev"},
        ),
    ]
    charges = [
        charge("g1", "0.005", session_id="s1", team="a", intent="x", at=T0.replace(second=2)),
        charge("g2", "0.002", team="b", intent="y"),
    ]
    return calls, charges


def hand_store(path: Path) -> DuckDBStore:
    """A fresh store holding :func:`hand_calls`."""
    store = open_store(path)
    calls, charges = hand_calls()
    store.insert_calls(calls)
    store.insert_charges(charges)
    return store


def mark_wasted(store: DuckDBStore, *call_ids: str, audit: AuditRecord | None = None) -> None:
    """Store one audit's finding listing ``call_ids`` as wasted (by default an audit of all calls)."""
    finding = Finding(
        id="f1",
        category="retry_loop",
        severity=Severity.HIGH,
        title="retry loop",
        fix="stop retrying",
        calls=tuple(FindingCall(c, None, WasteRole.WASTED) for c in call_ids),
        wasted_tokens=1,
        wasted_cost=Decimal("0.02"),
    )
    store.save_findings([finding], audit or AuditRecord("a1", datetime(2026, 10, 6), "", None, None))
