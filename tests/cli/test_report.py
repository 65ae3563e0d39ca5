from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.analysis.test_report import fill
from tokenomy.cli.main import cli, main


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_json_report_has_decimal_strings_and_null_for_unpriced(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    fill(db).close()
    code, out = _run("report", "--db", str(db), "--format", "json")
    assert code == 0
    data = json.loads(out)
    mystery = next(r for r in data["rows"] if r["model"] == "mystery")
    assert mystery["cost"] is None
    assert mystery["unpriced"] == 1
    gpt = next(r for r in data["rows"] if r["day"] == "2026-03-02" and r["model"] == "gpt-4o")
    assert gpt["cost"] == "0.003500000001"
    assert gpt["input_uncached"] == 400
    assert gpt["calls"] == 3
    assert data["total"]["cost"] == "1.503500000001"
    assert data["total"]["unpriced"] == 2


def test_json_report_period_is_utc_like_every_other_json_time(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    fill(db).close()
    code, out = _run("report", "--db", str(db), "--since", "2026-03-02", "--format", "json")
    assert code == 0
    plain = json.loads(out)
    code, out = _run("report", "--db", str(db), "--since", "2026-03-02", "--by", "team", "--format", "json")
    assert code == 0
    assert (plain["since"], plain["until"]) == ("2026-03-02T00:00:00Z", None)
    assert plain["since"] == json.loads(out)["since"]


def test_table_shows_unpriced_as_a_dash_never_zero(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    fill(db).close()
    code, out = _run("report", "--db", str(db), "--since", "2026-03-02", "--until", "2026-03-03")
    assert code == 0
    mystery = next(line for line in out.splitlines() if "mystery" in line)
    assert "—" in mystery
    assert "$0" not in mystery
    assert "$0.0035" in out  # gpt-4o on 2026-03-02


def test_the_default_table_is_short_with_kpis_first(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    fill(db).close()
    code, out = _run("report", "--db", str(db))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "tokenomy report · 2026-03-02..2026-03-04"
    assert "Spend" in lines[1]
    assert "Unpriced calls" in lines[1]
    assert "$1.50" in lines[2]  # the spend tile: 1.503500000001
    days = [line.split("│")[1].strip() for line in lines if line.startswith("│ 2026-03-0")]
    assert days == ["2026-03-02", "2026-03-03"]  # one row per day, not per day, provider and model
    assert any("(no time)" in line for line in lines)  # the call without a start time
    assert "spend by provider and model" in out
    assert lines[-1].startswith("more: --by team,feature")


def test_csv_report(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    fill(db).close()
    code, out = _run("report", "--db", str(db), "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 4
    assert rows[1]["model"] == "mystery"
    assert rows[1]["cost"] == ""
    assert rows[3]["day"] == "2026-03-03"
    assert rows[3]["cache_write_1h"] == "4"


def test_a_missing_store_is_a_clear_error(tmp_path: Path, capsys: object) -> None:
    code = main(["report", "--db", str(tmp_path / "none.duckdb")])
    assert code == 1
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "no store here yet" in err


def _hand(tmp_path: Path) -> str:
    from tests.analysis.builders import hand_store

    db = tmp_path / "h.duckdb"
    hand_store(db).close()
    return str(db)


def test_by_team_json_has_kpis_rows_and_an_exact_total(tmp_path: Path) -> None:
    code, out = _run("report", "--db", _hand(tmp_path), "--by", "team", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["by"] == ["team"]
    rows = {r["team"]: r for r in data["rows"]}
    assert rows["a"]["cost"] == "0.035000000000"
    assert rows["b"]["llm_cost"] == "0.000000000000"  # a failed call priced at $0, not the unpriced one
    assert rows["b"]["unpriced"] == 1
    assert rows["(unattributed)"]["cost"] == "0.001000000000"
    assert data["total"]["cost"] == "0.038000000000"
    assert data["kpis"]["spend"]["value"] == "0.038000000000"
    assert data["kpis"]["unpriced"]["value"] == 1
    assert Decimal(data["kpis"]["cost_per_session"]["value"]) == Decimal("0.0175")
    assert data["notes"][0] == "1 unpriced call(s): counted, not in the cost (never shown as $0)"
    assert data["notes"][1].startswith("1 call(s) did not report all of their usage")  # c4: totals only
    assert (rows["b"]["usage_unknown"], data["total"]["usage_unknown"]) == (1, 1)


def test_by_team_and_feature_csv_with_buckets_and_filters(tmp_path: Path) -> None:
    db = _hand(tmp_path)
    code, out = _run(
        "report",
        "--db",
        db,
        "--by",
        "team,intent",
        "--bucket",
        "day",
        "--where",
        "team=a",
        "--where",
        "team=b",
        "--since",
        "2026-10-01",
        "--until",
        "2026-11-01",
        "--format",
        "csv",
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["team"], r["intent"], r["bucket"]) for r in rows] == [
        ("a", "x", "2026-10-05T00:00:00Z"),
        ("b", "y", "2026-10-05T00:00:00Z"),
    ]
    assert rows[1]["charge_cost"] == "0.002000000000"
    assert rows[1]["unpriced"] == "1"


def test_a_bucketed_table_says_what_its_share_is_of(tmp_path: Path) -> None:
    db = _hand(tmp_path)
    code, out = _run("report", "--db", db, "--by", "team", "--bucket", "month")
    assert code == 0
    flat = " ".join(out.split())
    assert "share: of the total over every month shown, not of its own month's" in flat
    code, out = _run("report", "--db", db, "--by", "team")
    assert code == 0
    assert "share: of the total" not in " ".join(out.split())


@pytest.mark.parametrize(
    "options", [("--compare", "previous"), ("--metrics",), ("--by", "team", "--budget-tokens", "5000")]
)
def test_csv_refuses_what_it_cannot_write_instead_of_dropping_it(
    tmp_path: Path, options: tuple[str, ...]
) -> None:
    """--compare and the metrics were left out of the CSV without a word (exit 0)."""
    code, out = _run("report", "--db", _hand(tmp_path), *options, "--format", "csv")
    assert code == 2
    assert "--format csv writes the spend table's rows only" in out
    assert "use --format json" in out


def test_the_default_report_names_the_charges_row_in_its_models_table(tmp_path: Path) -> None:
    code, out = _run("report", "--db", _hand(tmp_path))
    assert code == 0
    models = out[out.index("spend by provider and model") :]
    row = next(line for line in models.splitlines() if "(non-LLM charges)" in line)
    assert "$0.0070" in row  # the hand store's two charges
    assert "(unattributed)" not in models.split("note:")[0]
    assert "they are in the (non-LLM charges) row" in " ".join(out.split())


def test_by_team_table_shows_kpis_and_dashes(tmp_path: Path) -> None:
    code, out = _run("report", "--db", _hand(tmp_path), "--by", "team,model")
    assert code == 0
    assert ("Spend" in out and "$0.04" in out) or "$0.0380" in out
    assert "Cost per session" in out
    line_b = next(line for line in out.splitlines() if line.startswith("│ b "))
    assert "—" in line_b  # team b's model m1 row: no charges


def test_compare_adds_drivers_and_regressions(tmp_path: Path) -> None:
    from tests.analysis.test_drivers import DAY1, DAY2, _call

    db = tmp_path / "d.duckdb"
    from tokenomy.store import open_store

    with open_store(db) as store:
        store.insert_calls([_call(i, DAY1) for i in range(2)] + [_call(i, DAY2) for i in range(4)])
    code, out = _run(
        "report",
        "--db",
        str(db),
        "--by",
        "team",
        "--since",
        "2026-10-06",
        "--until",
        "2026-10-07",
        "--compare",
        "previous",
        "--format",
        "json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["drivers"]["total"]["parts"]["volume"] == "0.006000000000"
    assert data["drivers"]["total"]["dominant"] == "volume"
    assert data["drivers"]["groups"]["team"][0]["group"] == {"team": "a"}
    assert data["kpis"]["spend"]["previous"] == "0.006000000000"
    assert data["kpis"]["spend"]["change"] == 1.0
    assert data["baselines"][0]["reason"].startswith("too few calls")
    code, text = _run(
        "report",
        "--db",
        str(db),
        "--by",
        "team",
        "--since",
        "2026-10-06",
        "--until",
        "2026-10-07",
        "--compare",
        "previous",
    )
    assert code == 0
    assert "why spend changed" in text
    assert "dominant driver" in text


def test_metrics_budget_and_parity(tmp_path: Path) -> None:
    db = _hand(tmp_path)
    code, out = _run(
        "report", "--db", db, "--metrics", "--budget-tokens", "10000", "--parity", "m1,m2", "--format", "json"
    )
    assert code == 0
    metrics = {m["metric"]: m for m in json.loads(out)["metrics"]}
    assert len(metrics) == 14
    assert metrics["token_utilization"]["total"]["value"] == 0.455
    assert Decimal(metrics["cost_per_session"]["total"]["value"]) == Decimal("0.0175")
    parity = {tuple(r["group"].values()): r for r in metrics["latency_cost_parity"]["rows"]}
    assert Decimal(parity[("x",)]["value"]) == Decimal("-0.001")
    code, text = _run("report", "--db", db, "--metrics")
    assert code == 0
    assert "token_efficiency" in text
    assert "waste not assessed" in text


def test_html_is_written_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    code, _ = _run("report", "--db", _hand(tmp_path), "--format", "html", "-o", str(out))
    assert code == 0
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert 'data-kpi="spend" data-value="0.038000000000"' in page


def test_bad_options_are_clear_errors(tmp_path: Path, capsys: object) -> None:
    db = _hand(tmp_path)
    # a bad option value is a usage error (exit 2), as click's own refusals are
    assert main(["report", "--db", db, "--by", "colour"]) == 2
    assert "unknown dimension 'colour'" in capsys.readouterr().err  # type: ignore[attr-defined]
    assert main(["report", "--db", db, "--by", "team", "--compare", "yesterday"]) == 2
    assert "--compare 'yesterday'" in capsys.readouterr().err  # type: ignore[attr-defined]
    assert main(["report", "--db", db, "--where", "team"]) == 2
    assert "expected dimension=value" in capsys.readouterr().err  # type: ignore[attr-defined]
    assert main(["report", "--db", db, "--where", "colour=red"]) == 2
    assert "unknown dimension 'colour' in --where" in capsys.readouterr().err  # type: ignore[attr-defined]
    assert main(["report", "--db", db, "--parity", "m1"]) == 2
    # the same model twice would compare a model with itself: refused, not a blank reason
    assert main(["report", "--db", db, "--parity", "m1, m1"]) == 2
    assert "expected two different models" in capsys.readouterr().err  # type: ignore[attr-defined]


def test_docs_describe_every_option_of_report_sessions_and_session() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "reports.md").read_text(encoding="utf-8")
    for command in ("report", "sessions", "session"):
        result = CliRunner().invoke(cli, [command, "--help"])
        options = set(re.findall(r"(--[a-z][a-z-]+)", result.output)) - {"--help"}
        missing = sorted(o for o in options if o not in docs)
        assert not missing, f"docs/reports.md does not mention {command} {missing}"


def test_an_empty_store_says_so_in_every_format(tmp_path: Path) -> None:
    from tokenomy.store import open_store

    db = tmp_path / "e.duckdb"
    open_store(db).close()
    code, out = _run("report", "--db", str(db), "--by", "team", "--compare", "previous")
    assert code == 0
    assert "no calls or charges in the store for this selection" in out
    code, out = _run("report", "--db", str(db), "--by", "team", "--format", "json")
    data = json.loads(out)
    assert data["rows"] == []
    assert data["total"]["cost"] is None
    assert data["kpis"]["spend"]["value"] is None
    assert data["kpis"]["spend"]["reason"] == "no calls or charges"
    assert data["kpis"]["cost_per_session"]["reason"] == "no sessions"
    code, out = _run("report", "--db", str(db), "--by", "team", "--format", "csv")
    assert code == 0
    assert out.splitlines() == [
        "team,calls,charges,input_uncached,cache_read,cache_write_5m,cache_write_1h,output_visible,reasoning,"
        "input_total,output_total,llm_cost,charge_cost,cost,unpriced,cost_share,token_share,usage_unknown,spend"
    ]


def test_an_empty_selection_without_dimensions_has_no_row_of_zeros(tmp_path: Path) -> None:
    db = _hand(tmp_path)
    code, out = _run("report", "--db", db, "--where", "team=nobody")
    assert code == 0
    assert "no calls or charges in the store for this selection" in out
    code, out = _run("report", "--db", db, "--where", "team=nobody", "--format", "json")
    data = json.loads(out)
    assert (data["rows"], data["total"]["calls"], data["total"]["cost"]) == ([], 0, None)
    code, out = _run("report", "--db", db, "--where", "team=nobody", "--format", "csv")
    assert code == 0
    (header,) = out.splitlines()  # the header only
    assert header.startswith("calls,charges,")
    code, out = _run("report", "--db", db, "--where", "team=a", "--format", "json")
    (row,) = json.loads(out)["rows"]
    assert (row["calls"], row["charges"], row["cost"]) == (2, 1, "0.035000000000")


def test_json_money_is_fixed_point_in_every_part_of_the_report(tmp_path: Path) -> None:
    from tests.analysis.test_report_wire import tiny_store

    db = tmp_path / "t.duckdb"
    tiny_store(db).close()
    period = ("--since", "2026-03-02", "--until", "2026-03-03")
    code, out = _run(
        "report", "--db", str(db), "--by", "team", *period, "--compare", "previous", "--format", "json"
    )
    assert code == 0, out
    data = json.loads(out)
    assert data["total"]["cost"] == data["kpis"]["spend"]["value"] == "0.000000095000"
    assert data["kpis"]["spend"]["previous"] == "0.000000040000"
    assert data["kpis"]["cost_per_session"]["value"] == "0.000000095000"
    total = data["drivers"]["total"]
    assert (total["baseline_cost"], total["current_cost"], total["change"]) == (
        "0.000000040000",
        "0.000000095000",
        "0.000000055000",
    )
    assert sum(Decimal(v) for v in total["parts"].values()) == Decimal("0.000000055")
    code, out = _run("report", "--db", str(db), *period, "--format", "json")
    assert code == 0, out
    first = json.loads(out)
    assert [(r["day"], r["cost"]) for r in first["rows"]] == [("2026-03-02", "0.000000095000")]
    assert first["total"]["cost"] == "0.000000095000"
    code, out = _run("report", "--db", str(db), *period, "--format", "csv")
    assert [row["cost"] for row in csv.DictReader(io.StringIO(out))] == ["0.000000095000"]


def test_out_dash_is_stdout_as_for_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`-o -` wrote a file named '-' (export and simulate take '-' for stdout)."""
    monkeypatch.chdir(tmp_path)
    db = _hand(tmp_path)
    code, out = _run("report", "--db", db, "--by", "team", "--format", "json", "-o", "-")
    assert code == 0
    assert json.loads(out)["by"] == ["team"]
    code, out = _run("audit", "--db", db, "--format", "json", "--no-save", "-o", "-")
    assert code == 0
    assert "audit_id" in json.loads(out)
    assert not (tmp_path / "-").exists()


def test_the_metrics_table_labels_its_total_apart_from_calls_without_a_time(tmp_path: Path) -> None:
    from tests.analysis.builders import call, cost, usage
    from tokenomy.store import open_store

    db = _hand(tmp_path)
    with open_store(db) as store:  # one more call, with no start time: the bucket "(no time)"
        store.insert_calls(
            [call("n1", started_at=None, usage=usage(100, 0, 0, 0, 10, 0), cost=cost("0.001"))]
        )
    code, out = _run("report", "--db", db, "--bucket", "day", "--metrics")
    assert code == 0
    assert "spend per day" in out
    assert "everything" not in out
    tcpr = out.split("tcpr:")[1].split("cost_per_session:")[0]
    lines = [line for line in tcpr.splitlines() if "│" in line]
    # c1..c5 on 2026-10-05 (4 priced: $0.031), n1 without a time ($0.001), then the total ($0.032 / 5)
    assert [line.split("│")[1].strip() for line in lines] == ["2026-10-05", "(no time)", "total"]
    assert "$0.0064" in lines[-1]


_NATIVE = {
    "provider": "anthropic",
    "request_model": "claude-sonnet-4-5",
    "api": "messages",
    "status": "ok",
    "operation": "chat",
}


def _unknown_usage_store(tmp_path: Path) -> str:
    """Three native records: team alpha fully reported, beta's only call with every bucket null,
    gamma's only call without its cache read (so without its input total)."""
    known = {"input_uncached": 1000, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0}
    records = [
        {
            "id": "c1",
            "started_at": "2026-10-05T10:00:00Z",
            "attribution": {"team": "alpha"},
            "usage": {
                **known,
                "output_visible": 200,
                "reasoning": 0,
                "input_total": 1000,
                "output_total": 200,
            },
        },
        {
            "id": "c2",
            "started_at": "2026-10-05T11:00:00Z",
            "attribution": {"team": "beta"},
            "usage": dict.fromkeys((*known, "output_visible", "reasoning", "input_total", "output_total")),
        },
        {
            "id": "c3",
            "started_at": "2026-10-06T11:00:00Z",
            "attribution": {"team": "gamma"},
            "usage": {
                **known,
                "input_uncached": 500,
                "cache_read": None,
                "output_visible": 100,
                "reasoning": 0,
            },
        },
    ]
    path = tmp_path / "calls.jsonl"
    path.write_text("".join(json.dumps({**_NATIVE, **r}) + "\n" for r in records))
    db = str(tmp_path / "u.duckdb")
    code, out = _run("import", "--db", db, str(path))
    assert code == 0, out
    return db


def test_unknown_usage_is_a_dash_or_null_with_a_count_never_zero(tmp_path: Path) -> None:
    db = _unknown_usage_store(tmp_path)
    args = ("report", "--db", db, "--by", "team", "--bucket", "day", "--since", "2026-10-01")
    code, out = _run(*args, "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    rows = {r["team"]: r for r in data["rows"]}
    beta, gamma = rows["beta"], rows["gamma"]
    assert [beta[b] for b in ("input_total", "output_total", "cache_read", "input_uncached")] == [None] * 4
    assert (beta["token_share"], beta["usage_unknown"], beta["unpriced"]) == (None, 1, 1)
    assert (gamma["cache_read"], gamma["input_total"], gamma["input_uncached"]) == (None, None, 500)
    assert (gamma["output_total"], gamma["usage_unknown"]) == (100, 1)
    # shares of the reported tokens (1,200 + 100): they add up to 1 over the rows that reported any
    assert rows["alpha"]["token_share"] == pytest.approx(1200 / 1300)
    assert gamma["token_share"] == pytest.approx(100 / 1300)
    total = data["total"]
    assert (total["input_total"], total["output_total"], total["cache_read"], total["usage_unknown"]) == (
        1000,
        300,
        0,
        2,
    )
    code, out = _run(*args, "--format", "csv")
    assert code == 0, out
    by_team = {r["team"]: r for r in csv.DictReader(io.StringIO(out))}
    assert (by_team["beta"]["input_total"], by_team["beta"]["cache_read"]) == ("", "")
    assert (by_team["beta"]["token_share"], by_team["beta"]["usage_unknown"]) == ("", "1")
    assert (by_team["gamma"]["cache_read"], by_team["gamma"]["usage_unknown"]) == ("", "1")
    code, out = _run(*args, "--format", "table")
    assert code == 0, out
    beta_line = next(line for line in out.splitlines() if "beta" in line)
    cells = [c.strip() for c in beta_line.strip("│ ").split("│")]
    # team, day, calls, charges, input, incl. cache read, output, ... unpriced, usage unknown
    assert cells[4:7] == ["—", "—", "—"]
    assert cells[-1] == "1"
    gamma_line = next(line for line in out.splitlines() if "gamma" in line)
    assert [c.strip() for c in gamma_line.strip("│ ").split("│")][4:7] == ["—", "—", "100"]
    assert "usage unknown" in out
    assert "incl. cache read" in out  # the cache reads are among the input, not beside it
    assert "2 call(s) did not report all of their usage" in out


def test_the_first_reports_rows_keep_unknown_usage_unknown_with_a_count(tmp_path: Path) -> None:
    db = _unknown_usage_store(tmp_path)
    code, out = _run("report", "--db", db, "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    day1, day2 = data["rows"]  # alpha and beta on 2026-10-05, gamma on 2026-10-06 (one model)
    # day 1: alpha reported everything, beta nothing: the sums are alpha's, one call is counted
    assert (day1["cache_read"], day1["input_total"], day1["usage_unknown"]) == (0, 1000, 1)
    # day 2: gamma's only call did not report its cache read, so neither its input total
    assert (day2["cache_read"], day2["input_total"], day2["input_uncached"]) == (None, None, 500)
    assert (day2["output_total"], day2["usage_unknown"]) == (100, 1)
    total = data["total"]
    assert (total["cache_read"], total["input_total"], total["output_total"], total["usage_unknown"]) == (
        0,
        1000,
        300,
        2,
    )
    code, out = _run("report", "--db", db, "--format", "csv")
    assert code == 0, out
    second = list(csv.DictReader(io.StringIO(out)))[1]
    assert (second["cache_read"], second["input_total"], second["output_total"]) == ("", "", "100")
    assert (second["input_uncached"], second["usage_unknown"]) == ("500", "1")


def test_a_store_whose_sums_overflow_is_one_clear_error_in_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Counts above MAX_TOKENS are refused on import now; a store written before holds them still."""
    import duckdb

    db = tmp_path / "s.duckdb"
    fill(db).close()
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE calls SET input_uncached = 9223372036854775000")
    for fmt in ("table", "json"):
        assert main(["report", "--db", str(db), "--format", fmt]) == 1, fmt  # no traceback: one line
        err = capsys.readouterr().err
        assert err.startswith(f"error: {db}: the analysis query failed: Conversion Error"), fmt


@pytest.mark.parametrize("args", [(), ("--by", "team")])
def test_the_table_says_its_amounts_are_rounded_one_by_one(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Rows of $0.0035 each rounded can miss the total's last place: the table says so once."""
    db = tmp_path / "s.duckdb"
    fill(db).close()
    code, out = _run("report", "--db", str(db), *args)
    assert code == 0
    note = (
        "note: each amount is rounded to $0.0001 on its own, so the rows can differ from the total by a few"
        " $0.0001 (JSON and CSV keep 12 places)"
    )
    assert " ".join(out.split()).count(note) == 1


def test_a_grouped_table_says_which_period_it_read(tmp_path: Path) -> None:
    """Without both bounds a grouped table said nothing of its period: a showback printed with
    --since read as if it covered every call."""
    db = tmp_path / "s.duckdb"
    fill(db).close()
    headings = [
        _run("report", "--db", str(db), "--by", "team", *extra)[1].splitlines()[0]
        for extra in (
            (),
            ("--since", "2026-03-03"),
            ("--until", "2026-03-03T12:00"),
            ("--since", "2026-03-02", "--until", "2026-03-04"),
        )
    ]
    assert headings == [
        "tokenomy report · all time",
        "tokenomy report · from 2026-03-03",
        "tokenomy report · before 2026-03-03T12:00:00",
        "tokenomy report · 2026-03-02..2026-03-04",
    ]
