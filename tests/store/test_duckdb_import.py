from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.store.factories import charge, fresh, full_call, native_line, priced_call, rows, write_jsonl
from tokenomy.native import call_to_native
from tokenomy.pricing import Pricer
from tokenomy.schema import Content
from tokenomy.store import DuckDBStore
from tokenomy.store.duckdb_import import import_line_by_line
from tokenomy.store.native_file import may_hold_charges


def _settings(store: DuckDBStore) -> list[tuple[Any, ...]]:
    return store.connection.execute(
        "SELECT name, value FROM duckdb_settings()"
        " WHERE name IN ('disabled_optimizers', 'enable_progress_bar', 'enable_progress_bar_print',"
        " 'preserve_insertion_order') ORDER BY name"
    ).fetchall()


def _work_tables(store: DuckDBStore) -> list[str]:
    found = store.connection.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '_tokenomy%'"
    ).fetchall()
    return [str(row[0]) for row in found]


@pytest.mark.parametrize("with_progress", [False, True], ids=["no progress", "progress"])
@pytest.mark.parametrize("repeats", [False, True], ids=["unique ids", "a repeated id"])
@pytest.mark.parametrize("bad", [False, True], ids=["clean file", "file with a bad line"])
def test_an_import_leaves_no_work_tables_and_no_changed_settings(
    tmp_path: Path, pricer: Pricer, bad: bool, repeats: bool, with_progress: bool
) -> None:
    lines: list[Any] = [priced_call(f"c{i}") for i in range(5)] + [priced_call("c1" if repeats else "c5")]
    if bad:  # the settings must be restored after the rollback as well
        lines.insert(3, {**call_to_native(priced_call("bad")), "step": "three"})
    path = write_jsonl(tmp_path / "f.jsonl", [*lines, charge("x")])
    seen: list[tuple[int, int]] = []
    with fresh(tmp_path) as store:
        store.connection.execute("SET preserve_insertion_order = false")  # the import turns it on
        before = _settings(store)
        progress = (lambda done, total: seen.append((done, total))) if with_progress else None
        result = store.import_native_jsonl(path, pricer=pricer, progress=progress)
        assert result.fast_path is not bad
        calls = 5 if repeats else 6
        assert (result.calls, result.duplicates, result.charges, result.rejected) == (
            calls,
            int(repeats),
            1,
            int(bad),
        )
        assert _settings(store) == before
        assert _work_tables(store) == []
        assert store.count() == calls
    size = path.stat().st_size
    assert seen[-1:] == ([(size, size)] if with_progress else [])


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


def test_the_first_of_repeated_ids_wins_when_the_survey_reads_no_ids(tmp_path: Path, pricer: Pricer) -> None:
    # no charge in the file: the narrow survey runs, and repeats are removed after the insert
    earlier = write_jsonl(tmp_path / "earlier.jsonl", [priced_call("old", step=1)])
    lines = [
        priced_call("a", step=1),
        priced_call("old", step=2),  # already stored: skipped, like its repeat below
        priced_call("b", step=1),
        priced_call("a", step=2, request_model="gpt-4o-mini"),
        priced_call("old", step=3),
        priced_call("a", step=3),
    ]
    path = write_jsonl(tmp_path / "repeats.jsonl", lines)
    assert not may_hold_charges(path)
    with fresh(tmp_path, "a.duckdb") as store, fresh(tmp_path, "b.duckdb") as reference:
        for target in (store, reference):
            target.import_native_jsonl(earlier, pricer=pricer)
        result = store.import_native_jsonl(path, pricer=pricer)
        import_line_by_line(reference, path, pricer=pricer)
        assert result.fast_path
        assert (result.calls, result.duplicates) == (2, 4)
        assert rows(store) == rows(reference)
        steps = store.connection.execute("SELECT id, step, request_model FROM calls ORDER BY id").fetchall()
        assert steps == [("a", 1, "gpt-4o"), ("b", 1, "gpt-4o"), ("old", 1, "gpt-4o")]
        assert (
            result.cost
            == reference.connection.execute(
                "SELECT sum(cost_total) FROM calls WHERE id IN ('a', 'b')"
            ).fetchall()[0][0]
        )


def test_the_first_of_repeated_ids_wins_far_apart_in_a_larger_file(tmp_path: Path, pricer: Pricer) -> None:
    # over 32 MB, so DuckDB reads it in pieces on several threads; the first line of c7 still wins
    pad = "x" * 4000  # an unknown key, ignored by both paths
    lines: list[Any] = [{**call_to_native(priced_call(f"c{i}", step=i)), "pad": pad} for i in range(10_000)]
    lines[9_990] = call_to_native(priced_call("c7", step=10**6, request_model="gpt-4o-mini"))
    lines.append(call_to_native(priced_call("c9999", step=2 * 10**6)))
    path = write_jsonl(tmp_path / "large.jsonl", lines)
    assert path.stat().st_size > 40 * 10**6
    with fresh(tmp_path) as store:
        # more threads than pieces, and a setting that would let DuckDB write rows in any order
        store.connection.execute("SET threads = 4")
        store.connection.execute("SET preserve_insertion_order = false")
        result = store.import_native_jsonl(path, pricer=pricer)
        assert result.fast_path
        assert (result.calls, result.duplicates) == (9_999, 2)
        kept = store.connection.execute(
            "SELECT id, step, request_model FROM calls WHERE id IN ('c7', 'c9999') ORDER BY id"
        ).fetchall()
        assert kept == [("c7", 7, "gpt-4o"), ("c9999", 9_999, "gpt-4o")]
        assert store.connection.execute("SELECT count(DISTINCT id), max(step) FROM calls").fetchall() == [
            (9_999, 9_999)
        ]


def _row(store: DuckDBStore, call_id: str) -> list[tuple[Any, ...]]:
    return store.connection.execute(
        "SELECT * EXCLUDE (imported_at) FROM calls WHERE id = ?", [call_id]
    ).fetchall()


def test_keys_that_only_the_last_line_of_a_large_file_holds_are_imported(
    tmp_path: Path, pricer: Pricer
) -> None:
    # every optional key, nested ones too (usage.server_tools, cost.parts, attribution.tags,
    # outcome, content), appears on the last of 20,001 lines only
    last = full_call("last")
    path = write_jsonl(tmp_path / "large.jsonl", [*(priced_call(f"c{i}") for i in range(20_000)), last])
    alone = write_jsonl(tmp_path / "alone.jsonl", [last])
    with fresh(tmp_path, "a.duckdb") as store, fresh(tmp_path, "b.duckdb") as reference:
        result = store.import_native_jsonl(path, pricer=pricer)
        import_line_by_line(reference, alone, pricer=pricer)
        assert (result.fast_path, result.calls) == (True, 20_001)
        assert _row(store, "last") == _row(reference, "last")
        values = store.connection.execute(
            "SELECT cost_total, cost_overhead, tags['tier'], server_tools['web_searches'], score, prompt_text"
            " FROM calls WHERE id = 'last'"
        ).fetchall()
    assert values == [
        (Decimal("0.012345678901"), Decimal("0.000000075"), "gold", 2, 0.75, "What is the capital of France?")
    ]


def test_key_names_inside_string_values_are_only_text(tmp_path: Path, pricer: Pricer) -> None:
    # the text of keys (a cost, a usage, tags) inside strings must not be read as those keys (a
    # string that starts like an object would send the file to the Python path, so it does not)
    text = 'see "cost": {"total": "9"}, "usage": {"input_uncached": -1}, "tags": {"x": true}'
    record = priced_call("s", finish_reason=text, content=Content(prompt=text, completion='"cost"'))
    path = write_jsonl(tmp_path / "strings.jsonl", [record])
    with fresh(tmp_path, "a.duckdb") as store, fresh(tmp_path, "b.duckdb") as reference:
        result = store.import_native_jsonl(path, pricer=pricer)
        import_line_by_line(reference, path, pricer=pricer)
        assert result.fast_path
        assert rows(store) == rows(reference)
        (call,) = store.iter_calls()
    assert (call.finish_reason, call.attribution.tags, call.usage.input_uncached) == (text, {}, 1000)
    assert call.cost == pricer.price(record)
    assert call.cost is not None
    assert call.cost.total == Decimal("0.00575")  # 1000 + 200 cached in, 300 out, at gpt-4o's rates
