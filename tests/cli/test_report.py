from __future__ import annotations

import csv
import io
import json
from pathlib import Path

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


def test_table_shows_unpriced_as_a_dash_never_zero(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    fill(db).close()
    code, out = _run("report", "--db", str(db), "--since", "2026-03-02", "--until", "2026-03-03")
    assert code == 0
    mystery = next(line for line in out.splitlines() if "mystery" in line)
    assert "—" in mystery
    assert "$0" not in mystery
    assert "$0.0035" in out  # gpt-4o on 2026-03-02


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
