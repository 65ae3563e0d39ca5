"""Helpers for the importer tests: write small fixtures, import them into a fresh store, read calls back."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from tokenomy.importers import ImportSummary, import_paths
from tokenomy.pricing import Pricer
from tokenomy.schema import BUCKETS, Call
from tokenomy.store import DuckDBStore


def write_json(path: Path, value: Any, *, compress: bool = False) -> Path:
    """Write one JSON document (gzip-compressed when asked)."""
    data = json.dumps(value, indent=2).encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def write_lines(path: Path, values: Iterable[Any], *, compress: bool = False) -> Path:
    """Write JSON lines (a value that is already a string is written as it is)."""
    text = "".join((v if isinstance(v, str) else json.dumps(v)) + "\n" for v in values)
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def run(store: DuckDBStore, pricer: Pricer, *paths: Path, **options: Any) -> ImportSummary:
    """Import paths into the store with the given options."""
    return import_paths(list(paths), store=store, pricer=pricer, **options)


def calls(store: DuckDBStore) -> dict[str, Call]:
    """Every stored call by id."""
    return {call.id: call for call in store.iter_calls()}


def close_to(ours: Decimal | None, reported: Decimal | None, relative: Decimal = Decimal("1e-9")) -> bool:
    """True when a recorded cost (often a float turned Decimal) matches ours within ``relative``."""
    assert ours is not None, "our cost is unpriced"
    assert reported is not None, "no recorded cost"
    return abs(ours - reported) <= relative * ours


def cost_total(call: Call) -> Decimal | None:
    """The call's priced total (None when unpriced); fails when the call was stored without a Cost."""
    assert call.cost is not None, f"{call.id} was stored without a cost"
    return call.cost.total


def assert_adds_up(call: Call) -> None:
    """The exclusive buckets add up to the totals (all known), or stay within them (some unknown)."""
    usage = call.usage
    sides = (
        (
            usage.input_total,
            [usage.input_uncached, usage.cache_read, usage.cache_write_5m, usage.cache_write_1h],
        ),
        (usage.output_total, [usage.output_visible, usage.reasoning]),
    )
    for total, parts in sides:
        known = [p for p in parts if p is not None]
        assert all(p >= 0 for p in known), f"{call.id}: negative bucket {usage}"
        if total is None:
            continue
        if len(known) == len(parts):
            assert sum(known) == total, f"{call.id}: buckets {parts} do not add up to {total}"
        else:
            assert sum(known) <= total, f"{call.id}: known buckets {parts} exceed the total {total}"
    assert set(usage.buckets()) == set(BUCKETS)


def otlp_of_case(case: dict[str, Any]) -> dict[str, Any]:
    """An ExportTraceServiceRequest of one case of the Langfuse mapping test file (test-suite unwrapping)."""
    resource_spans: list[object] = []
    for obj in case["objects"]:
        value = obj["resourceSpan"]
        resource_spans += value if isinstance(value, list) else [value]
    return {"resourceSpans": resource_spans}
