"""The ``session_days`` rollup holds exactly the (session, day) pairs of the stored calls and charges."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.store.factories import T0, charge, fresh, priced_call, write_jsonl
from tokenomy.errors import StoreError
from tokenomy.pricing import Pricer
from tokenomy.schema import Call, Cost
from tokenomy.store import DuckDBStore, open_store
from tokenomy.store.arrow import calls_to_arrow, charges_to_arrow
from tokenomy.store.duckdb_import import import_line_by_line
from tokenomy.store.events import EventBatch
from tokenomy.store.session_days import session_units_sql

DAY = timedelta(days=1)
PAIRS = """
SELECT DISTINCT session_id, CAST(started_at AS DATE) AS day FROM calls WHERE session_id IS NOT NULL
UNION SELECT DISTINCT session_id, CAST("at" AS DATE) AS day FROM charges WHERE session_id IS NOT NULL
"""


def stored_pairs(store: DuckDBStore) -> set[tuple[Any, ...]]:
    return set(store.connection.execute(PAIRS).fetchall())


def flags(store: DuckDBStore) -> dict[tuple[Any, ...], bool]:
    """Each pair of the rollup and whether its session is multi-day, after checking the rows' rules:
    a pair counts once (its one-day weights sum to 1, or it has one multi-day row, never both) and a
    session is either one pair of one day or multi-day on every pair."""
    rows = store.connection.execute(
        "SELECT session_id, day, coalesce(sum(weight) FILTER (WHERE NOT multi), 0),"
        " count(*) FILTER (WHERE multi) FROM session_days GROUP BY ALL"
    ).fetchall()
    out: dict[tuple[Any, ...], bool] = {}
    for session, day, single, multi in rows:
        assert (single, multi) in ((1, 0), (0, 1)), (session, day, single, multi)
        out[(session, day)] = multi == 1
    for session in {s for s, _ in out}:
        mine = [m for (s, _), m in out.items() if s == session]
        assert mine == [False] or (all(mine) and len(mine) > 1), (session, mine)
    return out


def rolled(store: DuckDBStore) -> list[tuple[Any, ...]]:
    """The rollup's pairs (each once: see :func:`flags`)."""
    return list(flags(store))


def workload() -> list[Call]:
    """Three sessions over two days, a call with no session, a call with no start time."""
    return [
        priced_call("a1", session_id="sa"),
        priced_call("a2", session_id="sa", started_at=T0 + DAY),
        priced_call("b1", session_id="sb"),
        priced_call("b2", session_id="sb", started_at=T0 + timedelta(minutes=5)),
        priced_call("c1", session_id="sc", started_at=None),
        priced_call("n1", session_id=None),
    ]


def with_cost(call: Call) -> Call:
    return call.replace(
        cost=Cost(total=Decimal("0.01"), parts={"input_uncached": Decimal("0.01")}, source="t@1")
    )


EXPECTED = {("sa", T0.date()), ("sa", T0.date() + DAY), ("sb", T0.date()), ("sc", None)}


def test_inserting_calls_and_charges_adds_their_pairs_once(tmp_path: Path) -> None:
    with fresh(tmp_path) as store:
        store.insert_calls(workload())
        store.insert_charges([charge("g1", session_id="sb"), charge("g2", session_id="sd", at=T0 + 2 * DAY)])
        assert sorted(rolled(store), key=str) == sorted(EXPECTED | {("sd", T0.date() + 2 * DAY)}, key=str)
        store.insert_calls(workload())  # all known: nothing new
        store.insert_calls([priced_call("a3", session_id="sa")])  # a known pair
        assert len(rolled(store)) == 5
        assert set(rolled(store)) == stored_pairs(store)


def test_event_writes_add_their_pairs(tmp_path: Path) -> None:
    with fresh(tmp_path) as store:
        store.write_events(EventBatch(calls=calls_to_arrow(workload()[:3])), pricer=Pricer())
        store.write_priced_events(
            EventBatch(
                calls=calls_to_arrow([with_cost(c) for c in workload()[3:]]),
                charges=charges_to_arrow([charge("g1", session_id="se", at=T0 - DAY)]),
            )
        )
        assert set(rolled(store)) == EXPECTED | {("se", T0.date() - DAY)} == stored_pairs(store)
        assert len(rolled(store)) == 5


def test_an_event_write_adds_only_the_pairs_of_the_rows_it_stored(tmp_path: Path) -> None:
    with fresh(tmp_path) as store:
        store.write_priced_events(
            EventBatch(calls=calls_to_arrow([with_cost(priced_call("x", session_id="s1"))]))
        )
        # "x" again, now naming another session and day: it is not stored, so neither is its pair.
        again = [
            with_cost(priced_call("x", session_id="s2", started_at=T0 + DAY)),
            with_cost(priced_call("y")),
        ]
        counts = store.write_priced_events(EventBatch(calls=calls_to_arrow(again)))
        assert counts.calls == 1
        assert set(rolled(store)) == {("s1", T0.date()), ("sess-p", T0.date())} == stored_pairs(store)


def test_a_new_writer_does_not_add_a_known_pair_again(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    for call_id in ("first", "second"):
        with open_store(path) as store:
            store.write_priced_events(EventBatch(calls=calls_to_arrow([with_cost(priced_call(call_id))])))
    with open_store(path) as store:
        assert len(rolled(store)) == 1  # the second writer looked the pair up
        assert set(rolled(store)) == {("sess-p", T0.date())}
        units = store.connection.execute("SELECT count(DISTINCT session_id) FROM session_days").fetchone()
        assert units == (1,)


@pytest.mark.parametrize("path", ["fast", "line by line"])
def test_imports_add_their_pairs_and_a_second_import_adds_none(tmp_path: Path, path: str) -> None:
    source = write_jsonl(tmp_path / "calls.jsonl", [*workload(), charge("g1", session_id="sa")])
    with fresh(tmp_path) as store:
        for _ in range(2):
            if path == "fast":
                assert store.import_native_jsonl(source, pricer=Pricer()).fast_path
            else:
                import_line_by_line(store, source, pricer=Pricer())
        assert sorted(rolled(store), key=str) == sorted(EXPECTED, key=str)
        assert set(rolled(store)) == stored_pairs(store)


def test_a_strict_import_that_aborts_adds_nothing(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "calls.jsonl", [*workload(), '{"id": "bad", "usage": 7}'])
    with fresh(tmp_path) as store:
        result = store.import_native_jsonl(source, pricer=Pricer(), strict=True)
        assert result.aborted
        assert rolled(store) == []


def test_the_migration_fills_the_rollup_of_an_older_store(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with open_store(path) as store:
        store.insert_calls(workload())
        store.insert_charges([charge("g1", session_id="sf", at=T0 + 3 * DAY)])
        con = store.connection
        con.execute("DROP TABLE session_days")  # as a store made before migration 0006 was
        con.execute("DELETE FROM _migrations WHERE name = '0006_session_days'")
    with open_store(path) as store:
        assert set(rolled(store)) == EXPECTED | {("sf", date(2026, 3, 5))} == stored_pairs(store)
        assert len(rolled(store)) == 5


def test_a_session_that_gains_a_day_is_marked_on_every_row_by_either_path(tmp_path: Path) -> None:
    def write(*calls: Call) -> None:
        store.write_priced_events(EventBatch(calls=calls_to_arrow([with_cost(c) for c in calls])))

    day = T0.date()
    with fresh(tmp_path) as store:
        write(priced_call("1", session_id="s1"), priced_call("2", session_id="s2"))
        write(priced_call("3", session_id="s1", started_at=T0 + DAY), priced_call("4", session_id="s3"))
        write(priced_call("5", session_id="s2"), priced_call("6", session_id="s3"))  # known pairs
        assert flags(store) == {
            ("s1", day): True,
            ("s1", day + DAY): True,
            ("s2", day): False,
            ("s3", day): False,
        }
        # The import path (rows read back by their stamp): s2 gains a day, s4 arrives on two.
        later = [
            priced_call("7", session_id="s2", started_at=T0 + 3 * DAY),
            priced_call("8", session_id="s4"),
            priced_call("9", session_id="s4", started_at=None),
        ]
        store.import_native_jsonl(write_jsonl(tmp_path / "later.jsonl", later), pricer=Pricer())
        assert flags(store) == {
            ("s1", day): True,
            ("s1", day + DAY): True,
            ("s2", day): True,
            ("s2", day + 3 * DAY): True,
            ("s3", day): False,
            ("s4", day): True,
            ("s4", None): True,
        }
        for since, until in [(None, None), (day, day + DAY), (day + DAY, day + 5 * DAY), (day - DAY, day)]:
            bounds = [f"day >= DATE '{since}'"] if since else []
            bounds += [f"day < DATE '{until}'"] if until else []
            where = " AND ".join(bounds) or "TRUE"
            units = store.connection.execute(session_units_sql(where)).fetchone()
            exact = store.connection.execute(
                f"SELECT count(DISTINCT session_id) FROM ({PAIRS}) p WHERE {where.replace('day', 'p.day')}"
            ).fetchone()
            assert units == exact, (since, until)


def test_two_store_objects_on_one_file_write_in_turn(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    stores = [open_store(path), open_store(path)]

    def writes(store: DuckDBStore, tag: str) -> None:
        for n in range(40):  # the same sessions and days from both, at the same time
            calls = [
                priced_call(f"{tag}-{n}-{k}", session_id=f"s{k}", started_at=T0 + (n % 3) * DAY)
                for k in range(5)
            ]
            store.write_priced_events(EventBatch(calls=calls_to_arrow([with_cost(c) for c in calls])))

    try:
        threads = [
            threading.Thread(target=writes, args=(store, tag))
            for store, tag in zip(stores, "ab", strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        store = stores[0]
        assert sorted(rolled(store), key=str) == sorted(stored_pairs(store), key=str)  # each pair once
        assert len(rolled(store)) == 15
        assert set(flags(store).values()) == {True}  # every session was seen on three days
    finally:
        for store in stores:
            store.close()


def test_a_rollup_that_cannot_be_written_fails_the_write_with_its_own_error(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "calls.jsonl", workload())
    with fresh(tmp_path) as store:
        store.connection.execute("DROP TABLE session_days")
        with pytest.raises(StoreError, match="session_days"):
            store.write_priced_events(EventBatch(calls=calls_to_arrow([with_cost(priced_call("x"))])))
        with pytest.raises(StoreError, match="session rollup"):  # not a second, line-by-line reading
            store.import_native_jsonl(source, pricer=Pricer())
        assert store.connection.execute("SELECT count(*) FROM calls").fetchone() == (0,)
