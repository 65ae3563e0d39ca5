"""CLI defects found by walking the commands as a user: each one now fails with one clear line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import tokenomy.cli.report as report_module
from tests.analysis.test_report import fill
from tokenomy.cli.main import cli, main


def _store(tmp_path: Path) -> Path:
    db = tmp_path / "s.duckdb"
    fill(db).close()
    return db


def test_an_unwritable_out_file_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _store(tmp_path)
    target = tmp_path / "no-such-folder" / "r.csv"
    code = main(["report", "--db", str(db), "--format", "csv", "-o", str(target)])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    # the path, what went wrong, and which folder is missing
    assert err.strip() == (
        f"error: {target}: no such file or directory (the folder {target.parent} does not exist)"
    )


def test_a_truncated_gzip_file_names_the_problem_instead_of_aborted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = (
        json.dumps(
            {"id": f"c{i}", "provider": "openai", "request_model": "gpt-4o", "usage": {"input_uncached": i}}
        )
        for i in range(20_000)
    )
    whole = gzip.compress("\n".join(lines).encode())
    cut = tmp_path / "calls.jsonl.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    code = main(["import", "-q", "--db", str(tmp_path / "s.duckdb"), str(cut)])
    captured = capsys.readouterr()
    assert code == 1  # the import's own exit code: a file failed
    assert "aborted" not in captured.err
    assert "Traceback" not in captured.err
    assert f"  {cut}: truncated gzip: the file ends before its compressed data does" in captured.out


def test_ctrl_c_says_interrupted_and_exits_130(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _store(tmp_path)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(report_module, "open_store", interrupted)
    code = main(["report", "--db", str(db)])
    assert code == 130
    assert capsys.readouterr().err.strip() == "interrupted"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--top", "-3", "--format", "html"], "'--top': -3 is not in the range x>=1"),
        (["--budget-tokens", "-5", "--metrics"], "'--budget-tokens': -5 is not in the range x>=1"),
        (["--threshold", "-1", "--compare", "previous"], "'--threshold': -1.0 is not in the range x>=0"),
        (["--since", "2026-03-04", "--until", "2026-03-02"], "2026-03-02 00:00:00 is not after --since"),
        (["--since", "2026-03-02", "--until", "2026-03-02"], "2026-03-02 00:00:00 is not after --since"),
    ],
)
def test_report_refuses_bad_numbers_and_an_empty_period(
    tmp_path: Path, args: list[str], message: str
) -> None:
    db = _store(tmp_path)
    result = CliRunner().invoke(cli, ["report", "--db", str(db), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_report_out_with_the_table_format_is_refused_rather_than_ignored(tmp_path: Path) -> None:
    db = _store(tmp_path)
    target = tmp_path / "report.txt"
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "-o", str(target)])
    assert result.exit_code == 2
    assert "--out writes --format json, csv or html" in result.output
    assert not target.exists()
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "--format", "csv", "-o", str(target)])
    assert result.exit_code == 0
    assert target.read_text().startswith("day,provider,model,calls,")


def test_importing_an_empty_folder_fails_and_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    result = CliRunner().invoke(cli, ["import", "-q", "--db", str(tmp_path / "s.duckdb"), str(folder)])
    assert result.exit_code == 1
    assert f"error: no file to import under {folder}" in result.output


def test_the_count_of_unshown_import_errors_includes_those_not_kept(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    record = {"provider": "openai", "request_model": "gpt-4o", "usage": {"input_uncached": -1}}
    bad.write_text("".join(json.dumps({"id": f"c{i}", **record}) + "\n" for i in range(250)))
    args = ["import", "-q", "--format", "native", "--db", str(tmp_path / "s.duckdb"), str(bad)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "0 file(s) failed, 250 record(s) rejected" in result.output
    assert "  ... and 240 more" in result.output  # 250 rejected, 10 shown (the summary keeps 200)


@pytest.mark.parametrize("command", ["mock-llm", "gateway"])
@pytest.mark.parametrize("port", ["99999", "-1"])
def test_a_port_out_of_range_is_a_usage_error(command: str, port: str) -> None:
    result = CliRunner().invoke(cli, [command, "--port", port])
    assert result.exit_code == 2
    assert f"'--port': {port} is not in the range 0<=x<=65535" in result.output


def test_listing_keys_or_budget_status_on_a_mistyped_db_creates_no_store(tmp_path: Path) -> None:
    typo = tmp_path / "typo.duckdb"
    runner = CliRunner()
    listed = runner.invoke(cli, ["keys", "list", "--db", str(typo)])
    assert (listed.exit_code, listed.stdout) == (0, "")
    assert f"no keys issued yet (no store at {typo} yet)" in listed.stderr
    as_json = runner.invoke(cli, ["keys", "list", "--db", str(typo), "--format", "json"])
    assert (as_json.exit_code, json.loads(as_json.stdout)) == (0, [])
    status = runner.invoke(cli, ["budgets", "status", "--db", str(typo)])
    assert status.exit_code == 0
    assert f"note: no store at {typo} yet: nothing has been spent" in status.stderr
    assert not typo.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["audit", "sessions"])
def test_audit_and_sessions_refuse_an_until_not_after_since(tmp_path: Path, command: str) -> None:
    db = _store(tmp_path)
    args = [command, "--db", str(db), "--since", "2026-03-04", "--until", "2026-03-02"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "Invalid value for --until: 2026-03-02 00:00:00 is not after --since" in result.output


def test_a_key_that_would_be_born_expired_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "keys.duckdb"
    result = CliRunner().invoke(cli, ["keys", "create", "--db", str(db), "--expires", "2020-01-01T00:00:00"])
    assert result.exit_code == 2
    assert "Invalid value for --expires: '2020-01-01T00:00:00' is already past" in result.output
    assert not db.exists()


def test_csv_cells_a_spreadsheet_would_run_as_formulas_are_written_as_text(tmp_path: Path) -> None:
    """Attribution comes from request headers: a team named ``=HYPERLINK(...)`` must reach a showback
    CSV as text (a leading ``'``), while numbers, negative ones too, stay numbers."""
    from tests.analysis.builders import call, cost, usage
    from tokenomy.analysis.serialize import csv_cell
    from tokenomy.store import open_store

    assert [
        csv_cell(v) for v in ("=cmd|' /C calc'!A0", "@SUM(A1)", "+x", "-x", "\tx", "-0.05", "+1.5e3")
    ] == [
        "'=cmd|' /C calc'!A0",
        "'@SUM(A1)",
        "'+x",
        "'-x",
        "'\tx",
        "-0.05",
        "+1.5e3",
    ]
    db = tmp_path / "esc.duckdb"
    with open_store(db) as store:
        store.insert_calls([call("c1", team="=1+2", usage=usage(10, 0, 0, 0, 1, 0), cost=cost("0.01"))])
    result = CliRunner().invoke(cli, ["report", "--by", "team", "--db", str(db), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "\n'=1+2," in result.output
    assert "\n=1+2" not in result.output


@pytest.mark.parametrize(
    ("given", "read"),
    [
        ("2026-10-12", "2026-10-12 00:00:00"),
        ("2026-10-12T08:30", "2026-10-12 08:30:00"),
        ("2026-10-12 08:30:00", "2026-10-12 08:30:00"),
        ("2026-10-12T00:00:00Z", "2026-10-12 00:00:00"),  # as the JSON outputs write times
        ("2026-10-12T00:00:00.604000Z", "2026-10-12 00:00:00.604000"),
        ("2026-10-12T10:30:00+02:00", "2026-10-12 08:30:00"),  # an offset: converted to UTC
    ],
)
def test_a_time_option_takes_what_tokenomy_prints(given: str, read: str) -> None:
    from tokenomy.cli.options import UTC_TIME

    assert str(UTC_TIME.convert(given, None, None)) == read


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--since", "yesterday"], "is not a day or a time: use 2026-10-12"),
        (
            ["budgets", "status", "--at", "9999-12-31T23:59:59"],
            "is out of range: give a time from the year 1900",
        ),
        (["report", "--since", "0001-01-01T00:30:00+01:00"], "is out of range"),
        (
            ["report", "--since", "0001-01-01", "--until", "0001-01-03", "--compare", "previous"],
            "is out of range",
        ),
    ],
)
def test_a_time_that_cannot_be_read_is_a_usage_error_not_a_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(cli, [*args, "--db", str(tmp_path / "t.duckdb")])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def _period_commands() -> list[str]:
    """Every command taking both --since and --until (walked from the CLI, so none is forgotten)."""
    context = click.Context(cli)
    found = []
    for name in cli.list_commands(context):
        command = cli.get_command(context, name)
        if command is not None and {"since", "until"} <= {p.name for p in command.params}:
            found.append(name)
    return found


def test_every_command_with_a_period_refuses_an_until_not_after_since(tmp_path: Path) -> None:
    commands = _period_commands()
    assert {"audit", "export", "report", "sessions"} <= set(commands)
    for name in commands:
        result = CliRunner().invoke(
            cli,
            [name, "--db", str(tmp_path / "none.duckdb"), "--since", "2026-11-01", "--until", "2026-10-01"],
        )
        assert result.exit_code == 2, name
        assert "Invalid value for --until: 2026-10-01 00:00:00 is not after --since" in result.output, name
        assert not (tmp_path / "none.duckdb").exists(), name


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["budgets", "set", "x", "--limit-usd", "abc"], "field 'limit_usd' must be a number, got 'abc'"),
        (["budgets", "set", "x", "--limit-usd", "-5"], "field 'limit_usd' must be at least 0.000000001"),
        (
            ["budgets", "set", "x", "--limit-usd", "5", "--window", "fortnight"],
            "field 'window' must be one of",
        ),
        (["budgets", "set", "x", "--limit-usd", "5", "--downgrade", "foo"], "Invalid value for --downgrade"),
        (["simulate", "--start", "2026-02-30"], "Invalid value for --start: '2026-02-30' is not a date"),
        (["simulate", "--waste", "bogus=0.5"], "Invalid value for --waste: unknown waste category bogus"),
        (["simulate", "--waste", "bogus"], "Invalid value for --waste: 'bogus': expected CATEGORY=RATE"),
    ],
)
def test_a_bad_option_value_is_a_usage_error_and_touches_nothing(
    tmp_path: Path, args: list[str], says: str
) -> None:
    """Exit 2, as for every other bad option value (it was 1, the exit of a failed run)."""
    where = (
        ["--db", str(tmp_path / "s.duckdb")]
        if args[0] == "budgets"
        else ["-n", "10", "-o", str(tmp_path / "o")]
    )
    result = CliRunner().invoke(cli, [*args, *where])
    assert result.exit_code == 2
    assert says in result.output
    assert list(tmp_path.iterdir()) == []


def test_report_help_says_the_table_is_not_written_to_out() -> None:
    result = CliRunner().invoke(cli, ["report", "--help"], terminal_width=200)
    assert "Write JSON, CSV or HTML (not the table, which goes to stdout) to FILE" in result.output
