from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.store.factories import charge, fresh, native_line, priced_call, rows, write_jsonl
from tokenomy.native import call_to_native
from tokenomy.pricing import Pricer
from tokenomy.store import DuckDBStore
from tokenomy.store.duckdb_import import import_line_by_line
from tokenomy.store.native_file import may_hold_charges


def _settings(store: DuckDBStore) -> list[tuple[Any, ...]]:
    return store.connection.execute(
        "SELECT name, value FROM duckdb_settings()"
        " WHERE name IN ('disabled_optimizers', 'enable_progress_bar') ORDER BY name"
    ).fetchall()


def _work_tables(store: DuckDBStore) -> list[str]:
    found = store.connection.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '_tokenomy%'"
    ).fetchall()
    return [str(row[0]) for row in found]


@pytest.mark.parametrize("bad", [False, True], ids=["clean file", "file with a bad line"])
def test_an_import_leaves_no_work_tables_and_no_changed_settings(
    tmp_path: Path, pricer: Pricer, bad: bool
) -> None:
    lines: list[Any] = [priced_call(f"c{i}") for i in range(5)] + [priced_call("c1"), charge("x")]
    if bad:
        lines.insert(3, {**call_to_native(priced_call("bad")), "step": "three"})
    path = write_jsonl(tmp_path / "f.jsonl", lines)
    with fresh(tmp_path) as store:
        before = _settings(store)
        result = store.import_native_jsonl(path, pricer=pricer)
        assert result.fast_path is not bad
        assert (result.calls, result.duplicates, result.charges, result.rejected) == (5, 1, 1, int(bad))
        assert _settings(store) == before
        assert _work_tables(store) == []
        assert store.count() == 5


def test_a_bad_line_late_in_the_file_rolls_the_fast_path_back_entirely(
    tmp_path: Path, pricer: Pricer
) -> None:
    good = [priced_call(f"g{i}") for i in range(200)]
    path = write_jsonl(tmp_path / "late.jsonl", [*good, charge("c"), '{"id": "cut", "usage": {'])
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(path, pricer=pricer)
        assert not result.fast_path
        assert (result.calls, result.duplicates, result.charges, result.rejected) == (200, 0, 1, 1)
        assert store.count() == 200
        assert store.count("charges") == 1


@pytest.mark.parametrize(
    "tags",
    [{"n": None}, {"b": False}, {"o": {"k": 1}}, {"n": 3, "s": "text"}],
    ids=["null", "boolean", "object", "number and text"],
)
def test_tag_values_are_stored_as_the_python_reader_stores_them(
    tmp_path: Path, pricer: Pricer, tags: dict[str, Any]
) -> None:
    record = {**call_to_native(priced_call("t")), "attribution": {"team": "a", "tags": tags}}
    path = write_jsonl(tmp_path / "tags.jsonl", [record])
    with fresh(tmp_path, "a.duckdb") as store, fresh(tmp_path, "b.duckdb") as reference:
        result = store.import_native_jsonl(path, pricer=pricer)
        import_line_by_line(reference, path, pricer=pricer)
        assert rows(store) == rows(reference)
        (call,) = store.iter_calls()
    assert call.attribution.tags == {str(k): str(v) for k, v in tags.items()}
    plain = all(isinstance(v, int | str) and not isinstance(v, bool) for v in tags.values())
    assert result.fast_path is plain


@pytest.mark.parametrize("escaped", [False, True], ids=["plain", "type spelled with an escape"])
def test_charges_are_stored_once_each_whether_the_survey_keeps_them_or_not(
    tmp_path: Path, pricer: Pricer, escaped: bool
) -> None:
    calls: list[Any] = [priced_call(f"c{i}") for i in range(300)]
    charges: list[Any] = [native_line(c) for c in (charge("x", description="1st"), charge("y"), charge("x"))]
    if escaped:  # still a charge, but the byte search cannot see it: the charges are read again
        charges = [line.replace('"charge"', '"\\u0063harge"') for line in charges]
    path = write_jsonl(tmp_path / "mixed.jsonl", [*calls[:150], *charges, *calls[150:]])
    assert may_hold_charges(path) is not escaped
    with fresh(tmp_path, "a.duckdb") as store, fresh(tmp_path, "b.duckdb") as reference:
        result = store.import_native_jsonl(path, pricer=pricer)
        import_line_by_line(reference, path, pricer=pricer)
        assert result.fast_path
        assert (result.calls, result.charges, result.charge_duplicates) == (300, 2, 1)
        assert rows(store, "charges") == rows(reference, "charges")
        kept = store.connection.execute("SELECT description FROM charges WHERE id = 'x'").fetchall()
        assert kept == [("1st",)]
        assert _work_tables(store) == []


def test_a_file_without_the_text_charge_cannot_hold_charges(tmp_path: Path) -> None:
    assert not may_hold_charges(write_jsonl(tmp_path / "calls.jsonl", [priced_call("a")]))
    assert may_hold_charges(write_jsonl(tmp_path / "both.jsonl", [priced_call("a"), charge("b")]))


def test_outcome_lines_are_stored_as_outcomes_never_as_calls(tmp_path: Path, pricer: Pricer) -> None:
    success = {"type": "outcome", "target": "session", "id": "sess-1", "success": True, "action": "resolved"}
    success["at"] = "2026-10-01T12:00:00.000001Z"
    scored = {"type": "outcome", "target": "call", "id": "c1", "score": 0.5, "at": "2026-10-01T12:00:01Z"}
    records: list[Any] = [priced_call("c1"), charge("g1"), success, scored, success]
    path = write_jsonl(tmp_path / "with-outcomes.jsonl", records)
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(path, pricer=pricer)
        assert (result.calls, result.charges, result.outcomes, result.rejected) == (1, 1, 2, 0)
        assert store.count() == 1
        stored = store.connection.execute(
            "SELECT target, id, success, score, action FROM outcomes ORDER BY id"
        ).fetchall()
        assert stored == [("call", "c1", None, 0.5, None), ("session", "sess-1", True, None, "resolved")]
        again = store.import_native_jsonl(path, pricer=pricer)
        assert (again.calls, again.outcomes) == (0, 0)
        assert store.events_count("outcomes") == 2


def test_an_unknown_record_type_is_named_by_line_and_field(tmp_path: Path, pricer: Pricer) -> None:
    odd = native_line(priced_call("c2")).replace('{"id"', '{"type": "span", "id"', 1)
    path = write_jsonl(tmp_path / "odd.jsonl", [priced_call("c1"), odd])
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(path, pricer=pricer)
        assert (result.calls, result.rejected) == (1, 1)
        assert (result.errors[0].record, result.errors[0].field) == (2, "type")
