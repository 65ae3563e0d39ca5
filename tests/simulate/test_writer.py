"""The fast writer renders exactly the objects of the native form, and every record reads back."""

from __future__ import annotations

import json

from tests.simulate.conftest import Sim
from tokenomy import native
from tokenomy.schema import Status
from tokenomy.simulate import SimulationConfig, calendar, reference, tables, writer
from tokenomy.simulate.batch import generate


def _chunk_lines(config: SimulationConfig) -> tuple[list[str], list[str]]:
    compiled = tables.build()
    vocab = writer.Vocabulary.build(compiled)
    budgets, feature_p = calendar.hour_budgets(
        compiled, config.start_ms, config.days, config.calls, config.seed
    )
    fast: list[str] = []
    slow: list[str] = []
    for index, windows in enumerate(calendar.chunks(budgets, feature_p, config.start_ms)):
        chunk = generate(compiled, config, windows, index)
        fast += b"".join(bytes(b) for b in writer.chunk_bytes(compiled, vocab, chunk)).decode().splitlines()
        slow += [line.rstrip("\n") for line in reference.lines(compiled, chunk)]
    return fast, slow


def test_fast_writer_matches_native_call_to_native_key_for_key() -> None:
    fast, slow = _chunk_lines(SimulationConfig(calls=9000, days=2, seed=3))
    assert len(fast) == len(slow) > 9000
    for mine, theirs in zip(fast, slow, strict=True):
        a, b = json.loads(mine), json.loads(theirs)
        assert a == b
        assert list(a) == list(b), "keys in the order of tokenomy.native"
    statuses = {json.loads(line).get("status") for line in fast}
    assert {"ok", "error", "timeout"} <= statuses, "the sample covers failed calls too"
    assert any('"parent_span_id"' in line for line in fast), "and sub-agent calls"
    assert any('"type":"charge"' in line for line in fast), "and charges"


def test_every_record_reads_back_and_round_trips(default_sim: Sim) -> None:
    for obj in default_sim.objects:
        if native.is_charge(obj):
            assert native.charge_to_native(native.charge_from_native(obj)) == obj
        else:
            assert native.call_to_native(native.call_from_native(obj)) == obj


def test_lines_are_compact_json_one_per_record(default_sim: Sim) -> None:
    lines = default_sim.raw.split(b"\n")
    assert lines[-1] == b"", "the file ends with a newline"
    assert len(lines) - 1 == len(default_sim.calls) + len(default_sim.charges)
    assert all(b": " not in line and b", " not in line for line in lines[:200])


def test_failed_calls_carry_no_billed_usage(default_sim: Sim) -> None:
    errors = [c for c in default_sim.calls if c.status is Status.ERROR]
    timeouts = [c for c in default_sim.calls if c.status is Status.TIMEOUT]
    assert errors
    assert timeouts
    assert all(c.usage.total == 0 and c.http_status in {429, 500, 503, 529} for c in errors)
    assert all(c.error_type and c.finish_reason is None and not c.tool_uses for c in errors)
    assert all(c.usage.input_total is None and c.usage.output_total is None for c in timeouts)
    assert all(c.error_type == "timeout" and c.http_status is None for c in timeouts)
