"""Where the LLM cost goes: the priced calls' cost by part, in the default report, the grouped one,
the HTML page and on the wire. Every figure below is worked out by hand from the calls written here."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from tests.analysis.builders import call, charge, cost, usage
from tests.analysis.conftest import SimStore
from tokenomy.analysis import html_report, serialize, terminal
from tokenomy.analysis.attribution import top_rows
from tokenomy.analysis.cost_split import (
    PART_LABELS,
    ROW_PARTS,
    UNSPLIT,
    CostSplit,
    PartRow,
    split_from_json,
    split_from_rows,
    split_from_sums,
    split_json,
)
from tokenomy.analysis.dimensions import Grouping, Scope
from tokenomy.analysis.grouped import Selection
from tokenomy.analysis.overview import overview
from tokenomy.analysis.overview_wire import overview_from_json, overview_json
from tokenomy.analysis.report_analyses import Analyses, analysis_report
from tokenomy.analysis.report_wire import analysis_json, summary_from_json, summary_json
from tokenomy.analysis.serialize import tree_json
from tokenomy.analysis.session_tree import session_tree
from tokenomy.analysis.sessions import CHARGES, main_part_text, top_sessions
from tokenomy.analysis.summary import Summary, summary
from tokenomy.cli.main import cli
from tokenomy.schema import COST_PARTS, Usage
from tokenomy.store import DuckDBStore, open_store


def _store(path: Path) -> DuckDBStore:
    """Four priced calls, one unpriced, one charge.

    p1  team a, session s: 1,000 uncached + 3,000 cache reads + 200 visible + 800 reasoning tokens;
        $0.0030 + $0.0009 + $0.0020 + $0.0080 = $0.0139
    p2  team b: 2,000 uncached + 1,000 written for 1 h + 100 visible; a web search and a request fee;
        $0.0060 + $0.0060 + $0.0010 + $0.0100 + $0.0005 = $0.0235
    p3  team b: 500 uncached + 500 visible at $0 (a free model): tokens without cost
    r1  team a, session s: 7,000 uncached + 100 visible, a total of $0.0126 recorded without parts
        (a provider's figure): its cost is "not split by part", its tokens are in no part's rate
    u1  team a: 9,999 uncached, unpriced: neither its tokens nor a cost count
    g1  $1 charge: not a call, not in the split

    The LLM cost is $0.0139 + $0.0235 + $0 + $0.0126 = $0.05.
    """
    store = open_store(path)
    store.insert_calls(
        [
            call(
                "p1",
                team="a",
                session_id="s",
                usage=usage(1000, 3000, 0, 0, 200, 800),
                cost=cost(
                    "0.0139",
                    input_uncached="0.0030",
                    cache_read="0.0009",
                    output_visible="0.0020",
                    reasoning="0.0080",
                ),
            ),
            call(
                "p2",
                team="b",
                usage=usage(2000, 0, 0, 1000, 100, 0),
                cost=cost(
                    "0.0235",
                    input_uncached="0.0060",
                    cache_write_1h="0.0060",
                    output_visible="0.0010",
                    server_tools="0.0100",
                    requests="0.0005",
                ),
            ),
            call(
                "p3",
                team="b",
                usage=usage(500, 0, 0, 0, 500, 0),
                cost=cost("0", input_uncached="0", output_visible="0"),
            ),
            call("r1", team="a", session_id="s", usage=usage(7000, 0, 0, 0, 100, 0), cost=cost("0.0126")),
            call("u1", team="a", usage=Usage.of(input_uncached=9999), cost=cost(None)),
        ]
    )
    store.insert_charges([charge("g1", "1", team="a")])
    return store


EXPECTED = CostSplit(
    rows=(
        PartRow("input_uncached", Decimal("0.009"), 3500, 0.18),
        PartRow("cache_read", Decimal("0.0009"), 3000, 0.018),
        PartRow("cache_write_1h", Decimal("0.006"), 1000, 0.12),
        PartRow("output_visible", Decimal("0.003"), 800, 0.06),
        PartRow("reasoning", Decimal("0.008"), 800, 0.16),
        PartRow("server_tools", Decimal("0.01"), None, 0.2),
        PartRow("requests", Decimal("0.0005"), None, 0.01),
        PartRow("unsplit", Decimal("0.0126"), None, 0.252),
    ),
    total=Decimal("0.05"),
)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "split.duckdb"
    _store(path).close()
    return path


def _same(found: CostSplit | None, expected: CostSplit) -> None:
    assert found is not None
    assert found.total == expected.total
    assert [(r.part, r.cost, r.tokens) for r in found.rows] == [
        (r.part, r.cost, r.tokens) for r in expected.rows
    ]
    for got, want in zip(found.rows, expected.rows, strict=True):
        assert got.share == pytest.approx(want.share, rel=1e-12)


def test_the_default_report_splits_the_priced_calls_cost_by_part(db: Path) -> None:
    with open_store(db, read_only=True) as store:
        data = summary(store, Scope(), parts=True)
        plain = summary(store, Scope())
    _same(data.split, EXPECTED)
    assert plain.split is None  # asked for (--parts): it costs the scan a third more
    assert plain.kpis == data.kpis
    assert plain.over_time.total == data.over_time.total  # (its rows carry no parts: the split does)
    assert data.split is not None
    assert sum(row.cost for row in data.split.rows) == data.over_time.total.llm_cost  # adds up exactly
    rates = {row.part: row.per_million for row in data.split.rows}
    assert rates["input_uncached"] == Decimal("0.009") * 1_000_000 / 3500  # $2.571... a million
    assert rates["cache_read"] == Decimal("0.3")
    assert rates["reasoning"] == Decimal(10)
    assert rates["server_tools"] is None  # not a token part


def test_a_grouped_report_and_the_html_page_carry_the_same_split(db: Path) -> None:
    with open_store(db, read_only=True) as store:
        grouped = analysis_report(store, Selection(grouping=Grouping(("team",))), Analyses(parts=True))
        page = overview(store, Scope())
        only_b = analysis_report(store, Selection(Scope(where=(("team", ("b",)),))), Analyses(parts=True))
        without = analysis_report(store, Selection(grouping=Grouping(("team",))))
    _same(grouped.split, EXPECTED)
    _same(page.split, EXPECTED)
    assert without.split is None  # the grouped report splits the cost when asked (--parts) only
    assert "split" not in analysis_json(without)
    assert split_json(grouped.split) == analysis_json(grouped)["split"]
    assert only_b.split is not None
    assert only_b.split.total == Decimal("0.0235")  # the filters apply: team b's calls alone
    assert [(r.part, r.tokens) for r in only_b.split.rows] == [
        ("input_uncached", 2500),
        ("cache_write_1h", 1000),
        ("output_visible", 600),
        ("server_tools", None),
        ("requests", None),
    ]


def test_the_split_reads_back_from_the_wire_whole(db: Path) -> None:
    with open_store(db, read_only=True) as store:
        data = summary(store, Scope(), parts=True)
        page = overview(store, Scope())
    sent = json.loads(json.dumps(summary_json(data)))
    assert Decimal(sent["split"]["total"]) == Decimal("0.05")  # money as decimal strings
    server_tools = sent["split"]["parts"][5]
    assert (server_tools["part"], Decimal(server_tools["cost"]), server_tools["tokens"]) == (
        "server_tools",
        Decimal("0.01"),
        None,
    )
    assert server_tools["share"] == pytest.approx(0.2, rel=1e-12)
    assert summary_from_json(sent).split == data.split  # (its tables read back without their facets)
    page_sent = json.loads(json.dumps(overview_json(page)))
    assert overview_from_json(page_sent).split == page.split
    # a collector older than the split answers without it: read as none, and the report leaves it out
    del sent["split"]
    older = summary_from_json(sent)
    assert older.split is None
    assert "where the LLM cost goes" not in _printed(older)


def test_split_json_refuses_what_does_not_read() -> None:
    with pytest.raises(ValueError, match="unknown cost part 'tips'"):
        split_from_json(
            {"total": "1", "parts": [{"part": "tips", "cost": "1", "tokens": None, "share": 1.0}]}
        )
    with pytest.raises(TypeError, match="split should be an object"):
        split_from_json(["input_uncached"])
    with pytest.raises(TypeError, match="a decimal string, got null"):
        split_from_json(
            {"total": "1", "parts": [{"part": "cache_read", "cost": None, "tokens": 1, "share": 1}]}
        )
    assert split_from_json(None) is None
    assert split_json(None) is None


def test_no_priced_call_gives_an_empty_split() -> None:
    found = split_from_sums({})
    assert found == CostSplit((), None)
    assert split_json(found) == {"total": None, "parts": []}
    assert set(PART_LABELS) == {*COST_PARTS, UNSPLIT}  # every part has a name for people


def _printed(data: Summary) -> str:
    out = io.StringIO()
    Console(file=out, width=160, color_system=None).print(terminal.summary_view(data))
    return out.getvalue()


def test_the_terminal_and_the_page_show_each_part(db: Path) -> None:
    with open_store(db, read_only=True) as store:
        data = summary(store, Scope(), parts=True)
        page = overview(store, Scope())
    text = _printed(data)
    assert "where the LLM cost goes (priced calls)" in text
    table = text.split("where the LLM cost goes (priced calls)")[1]
    cells = {
        parts[1]: parts[2:6]
        for parts in ([cell.strip() for cell in line.split("│")] for line in table.splitlines())
        if len(parts) == 7
    }
    assert cells["reasoning"] == ["800", "$0.0080", "16.0%", "$10.00"]
    assert cells["cache reads"] == ["3K", "$0.0009", "1.8%", "$0.3000"]
    assert cells["uncached input"] == ["3.5K", "$0.0090", "18.0%", "$2.57"]
    assert cells["server tools"] == ["", "$0.0100", "20.0%", ""]
    assert cells["not split by part"] == ["", "$0.0126", "25.2%", ""]
    assert cells["LLM cost"] == ["", "$0.0500", "100.0%", ""]
    html = html_report.render(page)
    section = html.split('<section class="card" id="cost-split">')[1].split("</section>")[0]
    assert "Where the LLM cost goes ($0.0500, priced calls)" in section
    assert (
        '<tr><td>reasoning</td><td class="num">800</td><td class="num">$0.0080</td>'
        '<td class="num">16.0%</td><td class="num">$10.00</td>'
        '<td><span class="bar" style="width:38px"></span></td></tr>'
    ) in section


def test_a_sessions_view_says_where_its_cost_went(db: Path) -> None:
    with open_store(db, read_only=True) as store:
        tree = session_tree(store, "s")
    _same(
        tree.split,
        CostSplit(
            rows=(
                PartRow("input_uncached", Decimal("0.003"), 1000, 0.003 / 0.0265),
                PartRow("cache_read", Decimal("0.0009"), 3000, 0.0009 / 0.0265),
                PartRow("output_visible", Decimal("0.002"), 200, 0.002 / 0.0265),
                PartRow("reasoning", Decimal("0.008"), 800, 0.008 / 0.0265),
                PartRow("unsplit", Decimal("0.0126"), None, 0.0126 / 0.0265),
            ),
            total=Decimal("0.0265"),
        ),
    )
    assert tree.split is not None
    assert tree.split.total == tree.cost  # the session has no charge: its cost is its calls'
    assert split_from_json(json.loads(json.dumps(tree_json(tree)))["split"]) == tree.split
    result = CliRunner().invoke(cli, ["session", "s", "--db", str(db)], terminal_width=160)
    assert result.exit_code == 0, result.output
    assert "where this session's LLM cost goes (priced calls)" in result.output
    table = result.output.split("where this session's LLM cost goes")[1]
    assert "not split by part" in table
    assert "$0.0265" in table


def test_the_cli_adds_the_split_with_parts(db: Path) -> None:
    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, ["report", "--db", str(db), *args], terminal_width=200)
        assert result.exit_code == 0, result.output
        return result.output

    plain = run()
    assert "where the LLM cost goes (priced calls)" not in plain
    assert "--parts (where the LLM cost goes)" in plain  # the hint names it
    assert "not split by part" in run("--parts")
    assert "not split by part" in run("--by", "team", "--parts")
    data = json.loads(run("--parts", "--format", "json"))  # the whole selection, with its split
    assert Decimal(data["split"]["total"]) == Decimal("0.05")
    assert data["by"] == []
    assert "split" not in json.loads(run("--by", "team", "--format", "json"))
    # showback by part: each row's cost per part, in JSON and CSV, adding up to the row's LLM cost
    rows = {r["team"]: r for r in json.loads(run("--by", "team", "--parts", "--format", "json"))["rows"]}
    assert {p: Decimal(rows["a"][f"part_{p}"]) for p in ROW_PARTS if Decimal(rows["a"][f"part_{p}"])} == {
        "input_uncached": Decimal("0.003"),
        "cache_read": Decimal("0.0009"),
        "output_visible": Decimal("0.002"),
        "reasoning": Decimal("0.008"),
        "unsplit": Decimal("0.0126"),  # r1's recorded total
    }
    assert sum(Decimal(rows["b"][f"part_{p}"]) for p in ROW_PARTS) == Decimal(rows["b"]["llm_cost"])
    assert Decimal(rows["b"]["part_server_tools"]) == Decimal("0.01")
    assert rows["b"]["part_cache_read"] == "0.000000000000"  # money with its 12 places, as every amount
    table = list(csv.DictReader(io.StringIO(run("--by", "team", "--parts", "--format", "csv"))))
    assert [f"part_{p}" for p in ROW_PARTS] == list(table[0])[-len(ROW_PARTS) :]  # after the usual columns
    by_team = {r["team"]: r for r in table}
    assert Decimal(by_team["a"]["part_reasoning"]) == Decimal("0.008")
    assert "part_reasoning" not in run("--by", "team", "--format", "csv")  # only with --parts
    # the same columns whatever the data: a selection with no priced call keeps them, empty
    empty = run("--by", "team", "--parts", "--since", "2030-01-01", "--format", "csv")
    assert empty.splitlines()[0].endswith(",".join(f"part_{p}" for p in ROW_PARTS))
    charges_only = json.loads(run("--by", "model", "--parts", "--format", "json"))
    [row] = [r for r in charges_only["rows"] if r["model"] == "(unattributed)"]  # g1's $1 charge
    assert row["charges"] == 1
    assert [row[f"part_{p}"] for p in ROW_PARTS] == [None] * len(ROW_PARTS)


def test_folded_rows_add_their_parts_up(db: Path) -> None:
    with open_store(db, read_only=True) as store:
        report = analysis_report(store, Selection(grouping=Grouping(("team",))), Analyses(parts=True))
    folded, count = top_rows(report.table, 1)
    assert count == 1
    assert folded.rows[-1].parts is not None
    assert report.table.total.parts is not None
    shown = [row.parts for row in folded.rows if row.parts is not None]
    assert {p: sum(parts[p] for parts in shown) for p in ROW_PARTS} == dict(report.table.total.parts)


def _edges(path: Path) -> DuckDBStore:
    """Calls whose costs are each an edge of the split.

    t1  reported only its totals, 1,000,000 in and 0 out, billed $0.15 of uncached input (as the
        pricer bills a call without its split): its million tokens are the uncached input's
    z1  1,000,000 uncached tokens and a $0 total recorded without parts: not split, no tokens counted
    q1  a $0.01 total of which only $0.004 of parts were recorded: not split, the whole $0.01 unsplit
    """
    store = open_store(path)
    store.insert_calls(
        [
            call(
                "t1",
                usage=Usage.of(input_total=1_000_000, output_total=0),
                cost=cost("0.15", input_uncached="0.15"),
            ),
            call("z1", usage=usage(1_000_000, 0, 0, 0, 0, 0), cost=cost("0")),
            call("q1", usage=usage(1000, 0, 0, 0, 10, 0), cost=cost("0.01", input_uncached="0.004")),
        ]
    )
    return store


def test_the_rates_are_over_the_tokens_billed(tmp_path: Path) -> None:
    path = tmp_path / "edges.duckdb"
    _edges(path).close()
    with open_store(path, read_only=True) as store:
        found = summary(store, Scope(), parts=True).split
        rows = store.query("SELECT * FROM calls").to_pylist()
    assert found is not None
    assert [(r.part, r.cost, r.tokens) for r in found.rows] == [
        ("input_uncached", Decimal("0.15"), 1_000_000),  # (no output, no cost of it: no row)
        ("unsplit", Decimal("0.01"), None),
    ]
    assert found.rows[0].per_million == Decimal("0.15")  # gpt-4o-mini's input price, not twice it
    assert found.total == Decimal("0.16")
    assert split_from_rows(rows) == found  # the session view's sums agree with the report's


def test_the_session_view_and_the_report_agree_on_simulated_traffic(sim: SimStore) -> None:
    with open_store(sim.db, read_only=True) as store:
        found = summary(store, Scope(), parts=True).split
        rows = store.query("SELECT * FROM calls").to_pylist()
        llm_cost = summary(store, Scope()).over_time.total.llm_cost
    assert found is not None
    assert split_from_rows(rows) == found
    assert found.total == llm_cost
    assert sum((row.cost for row in found.rows), Decimal(0)) == llm_cost
    assert {row.part for row in found.rows} >= {"input_uncached", "cache_read", "reasoning"}


def test_each_ranked_session_carries_its_cost_per_part_and_what_most_of_it_went_to(
    db: Path, tmp_path: Path
) -> None:
    with open_store(db, read_only=True) as store:
        (ranked,) = top_sessions(store).rows
        tree = session_tree(store, "s")
    # session s: p1's parts, and r1's $0.0126 recorded without parts
    zero = Decimal("0E-12")
    assert ranked.parts == {
        **dict.fromkeys(ROW_PARTS, zero),
        "input_uncached": Decimal("0.0030"),
        "cache_read": Decimal("0.0009"),
        "output_visible": Decimal("0.0020"),
        "reasoning": Decimal("0.0080"),
        UNSPLIT: Decimal("0.0126"),
    }
    assert sum(ranked.parts.values(), Decimal(0)) == ranked.llm_cost == Decimal("0.0265")
    assert tree.split is not None
    assert {r.part: r.cost for r in tree.split.rows} == {k: v for k, v in ranked.parts.items() if v}
    assert ranked.main_part is not None
    assert ranked.main_part[0] == UNSPLIT
    assert ranked.main_part[1] == pytest.approx(0.0126 / 0.0265)
    assert main_part_text(ranked) == "not split by part 48%"
    sent = serialize.session_row_json(ranked)
    assert (sent["part_reasoning"], sent["part_unsplit"]) == ("0.008000000000", "0.012600000000")
    assert (sent["main_part"], sent["main_part_share"]) == (UNSPLIT, pytest.approx(0.0126 / 0.0265))

    # a session whose non-LLM charges outweigh every part of its LLM cost; one with charges and an
    # unpriced call only (its cost is the charges'); one whose priced cost is $0 (nothing to name)
    with open_store(tmp_path / "c.duckdb") as store:
        store.insert_calls(
            [
                call(
                    "x1",
                    session_id="x",
                    usage=usage(100, 0, 0, 0, 10, 0),
                    cost=cost("0.003", input_uncached="0.002", output_visible="0.001"),
                ),
                call("y1", session_id="y", usage=usage(100, 0, 0, 0, 10, 0), cost=cost(None)),
                call(
                    "z1", session_id="z", usage=usage(100, 0, 0, 0, 10, 0), cost=cost("0", input_uncached="0")
                ),
            ]
        )
        store.insert_charges([charge("gx", "0.5", session_id="x"), charge("gy", "0.25", session_id="y")])
        rows = {r.session_id: r for r in top_sessions(store).rows}
    assert rows["x"].main_part is not None
    assert rows["x"].main_part[0] == CHARGES
    assert rows["x"].main_part[1] == pytest.approx(0.5 / 0.503)
    assert main_part_text(rows["x"]) == "charges (non-LLM) 99%"
    assert (rows["y"].parts, rows["y"].main_part) == (None, (CHARGES, 1.0))
    assert rows["z"].parts == {**dict.fromkeys(ROW_PARTS, zero)}
    assert (rows["z"].main_part, main_part_text(rows["z"])) == (None, "")
    assert serialize.session_row_json(rows["y"])["part_input_uncached"] is None
