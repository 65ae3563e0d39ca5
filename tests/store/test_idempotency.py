from __future__ import annotations

from pathlib import Path

from tests.store.factories import charge, fresh, minimal_call, priced_call, write_jsonl
from tokenomy.pricing import Pricer
from tokenomy.schema import Call, Charge
from tokenomy.store.duckdb_import import import_line_by_line


def test_inserting_the_same_calls_twice_stores_them_once(tmp_path: Path) -> None:
    calls = [minimal_call(f"c{i}") for i in range(5)]
    with fresh(tmp_path) as store:
        first = store.insert_calls(calls)
        second = store.insert_calls([*calls[2:], minimal_call("c9")])
        assert (first.inserted, first.duplicates) == (5, 0)
        assert (second.inserted, second.duplicates) == (1, 3)
        assert store.count() == 6


def test_the_first_of_repeated_ids_in_a_batch_wins(tmp_path: Path) -> None:
    batch = [minimal_call("x", session_id="first"), minimal_call("y"), minimal_call("x", session_id="second")]
    with fresh(tmp_path) as store:
        result = store.insert_calls(batch)
        assert (result.inserted, result.duplicates) == (2, 1)
        assert {c.id: c.session_id for c in store.iter_calls()}["x"] == "first"


def test_charges_are_idempotent_too(tmp_path: Path) -> None:
    with fresh(tmp_path) as store:
        assert store.insert_charges([charge("a"), charge("a"), charge("b")]).duplicates == 1
        assert store.insert_charges([charge("b")]).duplicates == 1
        assert store.count("charges") == 2


def _file(tmp_path: Path) -> Path:
    records: list[Call | Charge] = [
        priced_call("p1"),
        priced_call("p2", session_id="other"),
        priced_call("p1", session_id="repeated"),  # repeated id inside the file: the first wins
        charge("ch1"),
        charge("ch1", description="repeated"),
    ]
    return write_jsonl(tmp_path / "calls.jsonl", records)


def test_importing_a_file_twice_stores_each_call_once(tmp_path: Path, pricer: Pricer) -> None:
    path = _file(tmp_path)
    with fresh(tmp_path) as store:
        first = store.import_native_jsonl(path, pricer=pricer)
        second = store.import_native_jsonl(path, pricer=pricer)
        assert first.fast_path
        assert second.fast_path
        assert (first.calls, first.duplicates, first.charges, first.charge_duplicates) == (2, 1, 1, 1)
        assert (second.calls, second.duplicates, second.charges, second.charge_duplicates) == (0, 3, 0, 2)
        assert second.cost == 0
        assert second.tokens["input_uncached"] == 0
        assert {c.id: c.session_id for c in store.iter_calls()} == {"p1": "sess-p", "p2": "other"}
        (ch,) = store.charges_table().to_pylist()
        assert ch["description"] == "web search"


def test_the_python_path_has_the_same_idempotency(tmp_path: Path, pricer: Pricer) -> None:
    path = _file(tmp_path)
    with fresh(tmp_path) as store:
        first = import_line_by_line(store, path, pricer=pricer)
        second = import_line_by_line(store, path, pricer=pricer)
        assert (first.calls, first.duplicates, first.charges, first.charge_duplicates) == (2, 1, 1, 1)
        assert (second.calls, second.duplicates) == (0, 3)
        assert {c.id: c.session_id for c in store.iter_calls()} == {"p1": "sess-p", "p2": "other"}


def test_import_counts_cover_only_what_was_stored(tmp_path: Path, pricer: Pricer) -> None:
    path = _file(tmp_path)
    with fresh(tmp_path) as store:
        store.insert_calls([priced_call("p2")])
        result = store.import_native_jsonl(path, pricer=pricer)
        assert (result.calls, result.duplicates, result.sessions) == (1, 2, 1)
        assert result.tokens["input_uncached"] == 1000
        assert result.input_total == 1200
        (p1,) = [c for c in store.iter_calls() if c.id == "p1"]
        assert p1.cost is not None
        assert result.cost == p1.cost.total


def test_known_ids_answers_for_a_whole_batch(tmp_path: Path) -> None:
    with fresh(tmp_path) as store:
        store.insert_calls([minimal_call("a"), minimal_call("b")])
        store.insert_charges([charge("c")])
        assert store.known_ids(["a", "x", "b", "a"]) == {"a", "b"}
        assert store.known_ids([]) == set()
        assert store.known_ids(["c", "a"], "charges") == {"c"}
