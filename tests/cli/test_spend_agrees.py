"""``tokenomy report`` as a table, JSON and CSV, ``export`` -> ``import`` and the import summary
agree on the spend: the calls' cost plus the charges (non-LLM costs)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from tests.store.factories import native_line
from tokenomy.analysis.dimensions import Scope
from tokenomy.analysis.summary import summary
from tokenomy.cli.main import cli
from tokenomy.schema import Attribution, Call, Charge, Cost, Usage
from tokenomy.store import open_store

CALLS_COST = Decimal("1.875")  # 0.25 + 1.125 + 0.5; the mystery model is unpriced
CHARGES_COST = Decimal("2.755000000001")  # 0.005 + 2.000000000001 + 0.75
SPEND = Decimal("4.630000000001")


def _usage() -> Usage:
    return Usage.of(
        input_uncached=100, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=10, reasoning=0
    )


def _call(call_id: str, model: str, at: datetime, cost: str | None, provider: str = "openai") -> Call:
    priced = Cost(total=Decimal(cost), source="recorded") if cost is not None else Cost.unpriced("no price")
    return Call(
        id=call_id,
        provider=provider,
        request_model=model,
        started_at=at,
        session_id="s1",
        usage=_usage(),
        cost=priced,
    )


def _records() -> list[Call | Charge]:
    return [
        _call("c1", "gpt-4o", datetime(2026, 3, 2, 10), "0.25"),
        _call("c2", "claude-sonnet-4", datetime(2026, 3, 2, 11), "1.125", provider="anthropic"),
        _call("c3", "mystery-model-xyz", datetime(2026, 3, 3, 9), None),
        _call("c4", "gpt-4o", datetime(2026, 3, 3, 12), "0.5"),
        Charge(
            id="g1",
            amount=Decimal("0.005"),
            kind="search_api",
            at=datetime(2026, 3, 2, 9, 30),  # before the first call: the export starts with a charge
            session_id="s1",
            attribution=Attribution(team="search"),
        ),
        Charge(id="g2", amount=Decimal("2.000000000001"), kind="gpu", at=datetime(2026, 3, 3, 8)),
        Charge(
            id="g3", amount=Decimal("0.75"), kind="vector_db", at=datetime(2026, 3, 4)
        ),  # no call that day
    ]


def _run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output


def _import(tmp_path: Path, source: Path, db: Path) -> str:
    code, out = _run("import", source, "--db", db, "--quiet")
    assert code == 0, out
    return out


def _store(tmp_path: Path) -> Path:
    source = tmp_path / "source.jsonl"
    source.write_text("".join(native_line(r) + "\n" for r in _records()), encoding="utf-8")
    db = tmp_path / "one.duckdb"
    _import(tmp_path, source, db)
    return db


def _json_total(db: Path) -> dict[str, object]:
    code, out = _run("report", "--db", db, "--format", "json")
    assert code == 0, out
    total: dict[str, object] = json.loads(out)["total"]
    return total


def _summary_row(output: str, name: str) -> str:
    match = re.search(rf"│ {re.escape(name)}\s+│\s+(\S+) │", output)
    assert match, f"no row {name!r} in:\n{output}"
    return match.group(1)


def test_table_json_and_csv_show_the_same_spend(tmp_path: Path) -> None:
    db = _store(tmp_path)
    with open_store(db, read_only=True) as store:
        table = summary(store, Scope())
    spend_tile = next(k for k in table.kpis if k.label == "Spend")
    assert spend_tile.value == SPEND
    assert table.over_time.total.cost == SPEND

    code, text = _run("report", "--db", db)
    assert code == 0
    assert "$4.63" in text.splitlines()[2]  # the Spend tile
    total_line = next(line for line in text.splitlines() if line.startswith("│ total"))
    assert "$1.8750" in total_line  # LLM cost
    assert "$2.7550" in total_line  # charges $
    assert "$4.6300" in total_line  # cost: both

    total = _json_total(db)
    assert (total["calls"], total["unpriced"], total["charges"]) == (4, 1, 3)
    assert total["cost"] == str(CALLS_COST.quantize(Decimal("1E-12")))  # the calls' cost, as before
    assert Decimal(str(total["charge_cost"])) == CHARGES_COST
    assert Decimal(str(total["spend"])) == SPEND

    code, out = _run("report", "--db", db, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert sum(Decimal(r["spend"]) for r in rows if r["spend"]) == SPEND
    assert sum(Decimal(r["cost"]) for r in rows if r["cost"]) == CALLS_COST
    assert sum(int(r["charges"]) for r in rows) == 3
    charge_rows = [
        (r["day"], r["provider"], r["model"], r["calls"], r["charge_cost"])
        for r in rows
        if r["charges"] != "0"
    ]
    assert charge_rows == [
        ("2026-03-02", "", "", "0", "0.005000000000"),
        ("2026-03-03", "", "", "0", "2.000000000001"),
        ("2026-03-04", "", "", "0", "0.750000000000"),
    ]
    mystery = next(r for r in rows if r["model"] == "mystery-model-xyz")
    assert (mystery["cost"], mystery["spend"], mystery["unpriced"]) == ("", "", "1")  # unknown, never $0


def test_a_period_keeps_its_charges_only(tmp_path: Path) -> None:
    db = _store(tmp_path)
    code, out = _run(
        "report", "--db", db, "--format", "json", "--since", "2026-03-03", "--until", "2026-03-04"
    )
    assert code == 0
    total = json.loads(out)["total"]
    assert (total["calls"], total["charges"]) == (2, 1)
    assert total["charge_cost"] == "2.000000000001"
    assert total["spend"] == "2.500000000001"


def test_export_then_import_reports_the_same_spend(tmp_path: Path) -> None:
    db = _store(tmp_path)
    export = tmp_path / "export.jsonl"
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "--out", str(export)])
    assert result.exit_code == 0, result.output
    assert "4 calls and 3 charges written" in result.output
    lines = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    assert [r.get("type", "call") for r in lines] == [
        "charge",
        "call",
        "call",
        "charge",
        "call",
        "call",
        "charge",
    ]

    again = tmp_path / "two.duckdb"
    summary_text = _import(tmp_path, export, again)
    assert _summary_row(summary_text, "charges stored") == "3"
    assert "charge duplicates skipped" not in summary_text  # shown when there are some
    assert _json_total(again) == _json_total(db)
    assert _run("report", "--db", again) == _run("report", "--db", db)
    # the same file once more: every call and charge skipped, and the summary says so of both
    twice = _import(tmp_path, export, again)
    assert (_summary_row(twice, "calls stored"), _summary_row(twice, "duplicates skipped")) == ("0", "4")
    assert (_summary_row(twice, "charges stored"), _summary_row(twice, "charge duplicates skipped")) == (
        "0",
        "3",
    )


def test_the_import_summary_shows_the_charges_cost_and_the_spend(tmp_path: Path) -> None:
    source = tmp_path / "source.jsonl"
    source.write_text("".join(native_line(r) + "\n" for r in _records()), encoding="utf-8")
    db = tmp_path / "s.duckdb"
    out = _import(tmp_path, source, db)
    assert _summary_row(out, "cost (priced calls)") == "$1.875000"
    assert _summary_row(out, "cost (charges)") == "$2.755000"
    assert _summary_row(out, "spend (calls + charges)") == "$4.630000"
    again = _import(tmp_path, source, db)  # everything is a duplicate: nothing new is spent
    assert _summary_row(again, "cost (charges)") == "—"
    assert _summary_row(again, "spend (calls + charges)") == "—"


def test_csv_export_says_it_holds_calls_only(tmp_path: Path) -> None:
    db = _store(tmp_path)
    result = CliRunner().invoke(
        cli, ["export", "--db", str(db), "--format", "csv", "--out", str(tmp_path / "c.csv")]
    )
    assert result.exit_code == 0
    assert "4 calls written" in result.output
    assert "the 3 charges (non-LLM costs, $2.76) of the period are not in it" in result.output
    with (tmp_path / "c.csv").open(encoding="utf-8") as handle:
        assert [r["id"] for r in csv.DictReader(handle)] == ["c1", "c2", "c3", "c4"]


def test_both_report_shapes_name_the_llm_cost_the_charges_and_the_spend_alike(tmp_path: Path) -> None:
    """The first report's ``cost`` is its LLM cost, the grouped one's the spend: a script reads
    ``llm_cost``, ``charge_cost`` and ``spend`` in either, with the same meaning."""
    db = _store(tmp_path)
    code, first = _run("report", "--db", db, "--format", "json")
    assert code == 0
    code, grouped = _run("report", "--db", db, "--by", "team", "--format", "json")
    assert code == 0
    one, by_team = json.loads(first)["total"], json.loads(grouped)["total"]
    assert one["llm_cost"] == one["cost"] == by_team["llm_cost"] == "1.875000000000"
    assert one["charge_cost"] == by_team["charge_cost"] == "2.755000000001"
    assert one["spend"] == by_team["spend"] == by_team["cost"] == "4.630000000001"
