"""Cost drivers: each cause alone moves only its own part; the parts always add up to the change."""

from __future__ import annotations

import dataclasses
import io
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from tests.analysis.builders import call, charge, cost, usage
from tests.analysis.conftest import SimStore
from tokenomy.analysis.drivers import DRIVERS, PARTS, CostDrivers, DriverRow, cost_drivers
from tokenomy.analysis.periods import Period
from tokenomy.analysis.terminal import drivers_tables
from tokenomy.schema import Call, Charge
from tokenomy.store import open_store

DAY1 = datetime(2026, 10, 5)
DAY2 = datetime(2026, 10, 6)
BASELINE = Period(DAY1, DAY2)
CURRENT = Period(DAY2, DAY2 + timedelta(days=1))


def _call(
    n: int,
    day: datetime,
    *,
    model: str = "m1",
    uncached: int = 1000,
    read: int = 0,
    output: int = 100,
    price: tuple[str, str, str] = ("0.000001", "0.0000001", "0.00002"),
    team: str = "a",
) -> Call:
    """A call whose cost is its tokens times (uncached input, cache read, output) prices."""
    pu, pr, po = (Decimal(p) for p in price)
    parts = {"input_uncached": pu * uncached, "cache_read": pr * read, "output_visible": po * output}
    total = sum(parts.values(), Decimal(0))
    return call(
        f"{day:%d}-{model}-{n}-{team}",
        team=team,
        request_model=model,
        started_at=day + timedelta(minutes=n),
        usage=usage(uncached, read, 0, 0, output, 0),
        cost=cost(str(total), **{k: str(v) for k, v in parts.items()}),
    )


def _drivers(tmp_path: Path, calls: list[Call], charges: list[Charge] = ()) -> DriverRow:  # type: ignore[assignment]
    with open_store(tmp_path / "d.duckdb") as store:
        store.insert_calls(calls)
        if charges:
            store.insert_charges(charges)
        result = cost_drivers(store, CURRENT, BASELINE)
    _assert_exact(result.total)
    return result.total


def _assert_exact(row: DriverRow) -> None:
    assert sum(row.parts.values(), Decimal(0)) == row.change
    assert tuple(row.parts) == PARTS


def _only(row: DriverRow, part: str, amount: str) -> None:
    assert row.parts[part] == Decimal(amount)
    assert all(v == 0 for k, v in row.parts.items() if k != part), row.parts
    assert row.dominant == part


def test_twice_the_calls_is_volume(tmp_path: Path) -> None:
    calls = [_call(i, DAY1) for i in range(2)] + [_call(i, DAY2) for i in range(4)]
    row = _drivers(tmp_path, calls)
    assert (row.baseline_cost, row.current_cost) == (Decimal("0.006"), Decimal("0.012"))
    _only(row, "volume", "0.006")


def test_longer_answers_are_output_tokens_per_call(tmp_path: Path) -> None:
    calls = [_call(i, DAY1) for i in range(2)] + [_call(i, DAY2, output=200) for i in range(2)]
    _only(_drivers(tmp_path, calls), "output_tokens_per_call", "0.004")


def test_longer_prompts_are_input_tokens_per_call(tmp_path: Path) -> None:
    calls = [_call(i, DAY1) for i in range(2)] + [_call(i, DAY2, uncached=3000) for i in range(2)]
    _only(_drivers(tmp_path, calls), "input_tokens_per_call", "0.004")


def test_moving_calls_to_a_dearer_model_is_model_mix(tmp_path: Path) -> None:
    dear = ("0.000002", "0.0000002", "0.00004")
    calls = [_call(i, DAY1) for i in range(2)] + [_call(0, DAY2), _call(1, DAY2, model="m2", price=dear)]
    _only(_drivers(tmp_path, calls), "model_mix", "0.003")


def test_new_prices_are_prices(tmp_path: Path) -> None:
    dear = ("0.000002", "0.0000002", "0.00004")
    calls = [_call(i, DAY1) for i in range(2)] + [_call(i, DAY2, price=dear) for i in range(2)]
    _only(_drivers(tmp_path, calls), "prices", "0.006")


def test_cache_reads_are_cache_hit_rate(tmp_path: Path) -> None:
    # half of the 1,000 input tokens now come from the cache at a tenth of the price:
    # 2 calls x (0.0005 + 0.00005 - 0.001)
    calls = [_call(i, DAY1) for i in range(2)] + [_call(i, DAY2, uncached=500, read=500) for i in range(2)]
    _only(_drivers(tmp_path, calls), "cache_hit_rate", "-0.0009")


def test_charges_are_their_own_part(tmp_path: Path) -> None:
    calls = [_call(i, d) for d in (DAY1, DAY2) for i in range(2)]
    charges = [charge("g1", "0.5", at=DAY1), charge("g2", "0.75", at=DAY2), charge("g3", "0.25", at=DAY2)]
    _only(_drivers(tmp_path, calls, charges), "charges", "0.5")


def test_an_empty_baseline_is_all_volume(tmp_path: Path) -> None:
    _only(_drivers(tmp_path, [_call(i, DAY2) for i in range(3)]), "volume", "0.009")


def test_several_causes_at_once_still_add_up(tmp_path: Path) -> None:
    dear = ("0.0000015", "0.0000001", "0.00003")
    calls = [_call(i, DAY1) for i in range(3)] + [_call(0, DAY1, model="m2", output=50)]
    calls += [_call(i, DAY2, uncached=700, read=600, output=130, price=dear) for i in range(5)]
    calls += [_call(9, DAY2, model="m3", output=10)]
    row = _drivers(tmp_path, calls)
    assert all(row.parts[d] != 0 for d in ("volume", "model_mix", "input_tokens_per_call", "cache_hit_rate"))
    assert row.change == row.current_cost - row.baseline_cost


def test_unpriced_calls_are_left_out_and_noted(tmp_path: Path) -> None:
    unpriced = call("u1", started_at=DAY2, usage=usage(10, 0, 0, 0, 1, 0), cost=cost(None))
    calls = [_call(i, d) for d in (DAY1, DAY2) for i in range(2)] + [unpriced]
    with open_store(tmp_path / "d.duckdb") as store:
        store.insert_calls(calls)
        result = cost_drivers(store, CURRENT, BASELINE)
    assert result.total.change == 0
    assert result.total.dominant is None
    assert result.notes == ("unpriced calls left out (never $0): 0 in the baseline, 1 now",)


def test_dominant_driver_per_team(tmp_path: Path) -> None:
    calls = [_call(i, DAY1, team=t) for t in ("a", "b") for i in range(2)]
    calls += [_call(i, DAY2, team="a") for i in range(6)] + [
        _call(i, DAY2, team="b", output=400) for i in range(2)
    ]
    with open_store(tmp_path / "d.duckdb") as store:
        store.insert_calls(calls)
        result = cost_drivers(store, CURRENT, BASELINE, by=("team",))
    teams = {r.group["team"]: r for r in result.groups["team"]}
    assert teams["a"].dominant == "volume"
    assert teams["b"].dominant == "output_tokens_per_call"
    for row in teams.values():
        _assert_exact(row)


@pytest.mark.parametrize("halves", [(5, 12), (12, 19)])
def test_simulated_weeks_add_up_exactly_for_every_group(sim: SimStore, halves: tuple[int, int]) -> None:
    start, end = (datetime(2026, 10, d) for d in halves)
    current = Period(end, end + (end - start))
    with open_store(sim.db, read_only=True) as store:
        result = cost_drivers(store, current, Period(start, end), by=("team", "feature", "model"))
    _assert_exact(result.total)
    assert result.total.current_cost + result.total.baseline_cost > 0
    for rows in result.groups.values():
        assert sum(r.change for r in rows) == result.total.change
        for row in rows:
            _assert_exact(row)
            assert row.dominant in (*PARTS, None)
    assert set(DRIVERS) <= set(result.total.parts)


def test_the_worked_example_of_docs_reports(tmp_path: Path) -> None:
    """100 calls at $0.01 become 150 calls with 120 output tokens each ($0.011): $1.00 -> $1.65."""
    price = ("0.000005", "0.0000005", "0.00005")
    calls = [_call(i, DAY1, price=price) for i in range(100)]
    calls += [_call(i, DAY2, output=120, price=price) for i in range(150)]
    row = _drivers(tmp_path, calls)
    assert (row.baseline_cost, row.current_cost) == (Decimal("1.00"), Decimal("1.65"))
    assert row.parts["volume"] == Decimal("0.525")  # (0.50 + 0.55) / 2
    assert row.parts["output_tokens_per_call"] == Decimal("0.125")  # (0.10 + 0.15) / 2
    assert all(v == 0 for k, v in row.parts.items() if k not in ("volume", "output_tokens_per_call"))


def test_the_table_shows_parts_that_add_up_to_the_change_it_shows() -> None:
    """Each effect rounded on its own to the 4 places shown can miss the shown change by $0.0001:
    the residue goes to the largest part, as the JSON's 12 places do."""
    # three effects of $0.00004 each: each shows as $0.0000, the change ($0.00012) as $0.0001
    effects = dict.fromkeys(PARTS, Decimal(0)) | {
        "volume": Decimal("0.00004"),
        "model_mix": Decimal("0.000041"),
        "prices": Decimal("0.000039"),
    }
    total = DriverRow({}, Decimal("1.00000"), Decimal("1.00012"), effects)
    day = Period(datetime(2026, 1, 2), datetime(2026, 1, 3))
    drivers = CostDrivers(day, Period(datetime(2026, 1, 1), datetime(2026, 1, 2)), total, {})
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(drivers_tables(drivers)[0])
    rows = {
        cells[0]: cells[1]
        for line in out.getvalue().splitlines()
        if (cells := [c.strip() for c in line.strip("│ ").split("│")]) and len(cells) == 2
    }
    assert (rows["baseline cost"], rows["current cost"]) == ("$1.0000", "$1.0001")
    assert (rows["volume"], rows["model mix"], rows["prices"]) == ("$0.0000", "+$0.0001", "$0.0000")


def _daily(start: datetime, per_day: list[int]) -> list[Call]:
    return [
        call(
            f"d{day}-{i}",
            team="a",
            started_at=start + timedelta(days=day, minutes=i),
            usage=usage(100, 0, 0, 0, 10, 0),
            cost=cost("0.001"),
        )
        for day, n in enumerate(per_day)
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("per_day", "until", "said"),
    [
        ([10, 10, 10, 10, 10, 10, 1], None, True),  # the data stops a minute into its last day
        ([10, 10, 10, 10, 10, 10, 9], None, False),  # a whole last day
        ([10, 10, 10, 10, 10, 10, 1], datetime(2026, 10, 12), False),  # the period is the user's
    ],
)
def test_a_last_day_far_quieter_than_the_others_is_said_to_be_maybe_partial(
    tmp_path: Path, per_day: list[int], until: datetime | None, said: bool
) -> None:
    """A report compared with the previous period over data that stops early on its last day reads
    that day as a fall in spend: volume became every team's driver. The drivers' notes say so."""
    from tokenomy.analysis.dimensions import Scope
    from tokenomy.analysis.grouped import Selection
    from tokenomy.analysis.report_analyses import Analyses, analysis_report

    start = datetime(2026, 9, 29)
    with open_store(tmp_path / "p.duckdb") as store:
        store.insert_calls(_daily(start, [10] * 7 + per_day))
        report = analysis_report(store, Selection(Scope(until=until)), Analyses(compare="previous"))
    assert report.drivers is not None
    notes = [n for n in report.drivers.notes if "may be partial" in n]
    if said:
        assert notes == [
            "the period's last day, 2026-10-12, holds 1 call(s) against 10 a day before it: it may be"
            " partial (the data stops there), which reads as a fall in spend; --until 2026-10-12"
            " compares whole days"
        ]
    else:
        assert notes == []


def test_a_selection_whose_calls_stop_before_the_period_is_said_to_stop(tmp_path: Path) -> None:
    """``--where team=b`` over a store whose team b stopped three days before team a: the period
    ends with the store's calls, so team b's last days read as a fall in spend. The note says where
    its calls stop and which --until ends the period with them (not a partial last day of the
    store's, which the selection has no calls on)."""
    from tokenomy.analysis.dimensions import Scope
    from tokenomy.analysis.grouped import Selection
    from tokenomy.analysis.report_analyses import Analyses, analysis_report

    start = datetime(2026, 9, 29)
    team_b = [
        c.replace(id=f"b-{c.id}", attribution=dataclasses.replace(c.attribution, team="b"))
        for c in _daily(start, [5] * 11)
    ]
    with open_store(tmp_path / "w.duckdb") as store:
        store.insert_calls(_daily(start, [10] * 14) + team_b)
        report = analysis_report(
            store, Selection(Scope(where=(("team", ("b",)),))), Analyses(compare="previous")
        )
    assert report.drivers is not None
    assert [n for n in report.drivers.notes if "stop" in n] == [
        "the selected calls stop on 2026-10-09, 3 day(s) before the period ends (where the store's"
        " calls do): those days read as a fall in spend; --until 2026-10-10 ends the period with them"
    ]
