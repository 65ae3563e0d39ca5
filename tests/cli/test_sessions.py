from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner
from rich.console import Console

from tests.analysis.builders import call, cost, hand_store
from tests.analysis.test_sessions import _tree_store
from tokenomy.analysis import terminal
from tokenomy.analysis.sessions import top_sessions
from tokenomy.cli.main import cli, main
from tokenomy.schema import Usage
from tokenomy.store import open_store


def _db(tmp_path: Path) -> str:
    db = tmp_path / "t.duckdb"
    _tree_store(db).close()
    return str(db)


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_sessions_json_ranked_by_cost(tmp_path: Path) -> None:
    code, out = _run("sessions", "--db", _db(tmp_path), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["sessions"] == 2
    assert data["no_session_calls"] == 1
    first = data["rows"][0]
    assert (first["session_id"], first["calls"], first["charges"], first["cost"]) == (
        "S",
        4,
        2,
        "0.017000000000",
    )
    assert first["outcome"] == "success"
    assert first["duration_s"] == 7.0


def test_sessions_table_and_csv_by_team(tmp_path: Path) -> None:
    db = _db(tmp_path)
    code, out = _run("sessions", "--db", db, "--by", "team", "--top", "1")
    assert code == 0
    assert "most expensive sessions (of 2)" in out
    assert "$0.0170" in out
    assert "1 call(s) belong to no session" in out
    code, out = _run("sessions", "--db", db, "--format", "csv", "--where", "team=u")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["session_id"], r["cost"]) for r in rows] == [("Q", "0.000500000000")]


def test_the_table_counts_each_session_s_unpriced_calls(tmp_path: Path) -> None:
    db = tmp_path / "h.duckdb"
    hand_store(db).close()
    code, out = _run("sessions", "--db", str(db))
    assert code == 0
    head = next(line for line in out.splitlines() if "session" in line and "cost" in line)
    assert head.split()[-6:] == ["cost", "┃", "mostly", "┃", "unpriced", "┃"]
    s2 = next(line for line in out.splitlines() if " s2 " in line)
    # c3 failed at $0; c4 is unpriced, not $0; a cost of $0 went to nothing
    assert s2.split()[-5:] == ["$0.0000", "│", "│", "1", "│"]


def test_one_session_as_a_tree(tmp_path: Path) -> None:
    db = _db(tmp_path)
    code, out = _run("session", "S", "--db", db)
    assert code == 0
    assert "session S" in out
    assert "4 calls, 2 charges, $0.0170" in out
    assert "sub-agent helper  subtotal $0.0060" in out
    assert "charge code_sandbox (run_tests)  $0.0010  running $0.0140" in out
    code, out = _run("session", "S", "--db", db, "--format", "json")
    data = json.loads(out)
    assert data["cost"] == "0.017000000000"
    assert sum(float(s["subtotal"]) for s in data["steps"]) == 0.017
    assert data["steps"][0]["kind"] == "span"


def test_an_unknown_session_exits_1(tmp_path: Path, capsys: object) -> None:
    assert main(["session", "nope", "--db", _db(tmp_path)]) == 1
    assert "no call or charge belongs to session 'nope'" in capsys.readouterr().err  # type: ignore[attr-defined]


def test_a_call_with_only_some_buckets_shows_them_as_a_partial_floor(tmp_path: Path) -> None:
    db = tmp_path / "p.duckdb"
    with open_store(db) as store:
        usage = Usage.of(input_uncached=900, output_visible=40)
        store.insert_calls([call("p", session_id="P", usage=usage, cost=cost(None))])
    code, out = _run("session", "P", "--db", str(db))
    assert code == 0
    assert "in ≥900 (partial: uncached 900) · out ≥40 (partial: visible 40)" in out
    code, out = _run("session", "P", "--db", str(db), "--format", "json")
    tree = json.loads(out)
    assert tree["outcome"] == "unknown"  # as the ranking says it (it was null here)
    # the ranking has no input total for it (none reported: unknown, never 0), and says how many
    # calls did not report theirs
    code, ranking = _run("sessions", "--db", str(db), "--format", "json")
    (row,) = json.loads(ranking)["rows"]
    assert (row["input_total"], row["input_uncached"], row["cache_read"], row["untotalled"]) == (
        None,
        900,
        None,
        1,
    )
    code, table = _run("sessions", "--db", str(db))
    assert "note: 1 call(s) of the sessions listed did not report their input or output total" in table
    step = tree["steps"][0]
    assert (step["input_total"], step["output_total"]) == (None, None)
    assert (step["tokens"]["input_uncached"], step["tokens"]["output_visible"]) == (900, 40)
    assert step["tokens"]["cache_read"] is None


def test_a_long_session_id_is_folded_in_the_table_never_cut(tmp_path: Path) -> None:
    """The id is what `tokenomy session ID` takes: an ellipsis in it would leave nothing to copy."""
    db = tmp_path / "long.duckdb"
    long_id = "agent-run-" + "0123456789abcdef" * 6
    with open_store(db) as store:
        store.insert_calls(
            [call("c", session_id=long_id, usage=Usage.of(input_uncached=10), cost=cost("0.01"))]
        )
        ranked = top_sessions(store)
    console = Console(width=100, record=True, file=io.StringIO())  # a terminal narrower than the table
    console.print(terminal.sessions_table(ranked))
    text = console.export_text()
    cells = [line.split("│") for line in text.splitlines() if line.count("│") > 2]
    assert "".join(cell[1].strip() for cell in cells) == long_id  # the id's lines, in order
    # nor are the amounts or the outcome (a text column gives way first); what most of it went to folds
    # (the call's end was not recorded: its duration is unknown, not 0.0 s)
    assert [c.strip() for c in cells[0][2:8]] == ["1", "0", "—", "—", "—", "unknown"]
    assert (cells[0][9].strip(), cells[0][11].strip()) == ("$0.0100", "0")
    assert " ".join(cell[10].strip() for cell in cells).split() == ["not", "split", "by", "part", "100%"]


def test_a_csv_that_lists_no_session_still_has_its_header(tmp_path: Path) -> None:
    db = _db(tmp_path)
    code, out = _run("sessions", "--db", db, "--format", "csv", "--by", "team", "--where", "team=nobody")
    assert code == 0
    assert out.splitlines() == [
        "session_id,team,calls,charges,input_uncached,cache_read,cache_write_5m,cache_write_1h,"
        "output_visible,reasoning,input_total,output_total,llm_cost,charge_cost,cost,unpriced,started_at,"
        "ended_at,duration_s,outcome,action,agents,sub_calls,untotalled,estimated,part_input_uncached,part_cache_read,"
        "part_cache_write_5m,part_cache_write_1h,part_output_visible,part_reasoning,part_server_tools,"
        "part_requests,part_overhead,part_unsplit,main_part,main_part_share"
    ]
    _, listed = _run("sessions", "--db", db, "--format", "csv", "--by", "team")
    assert listed.splitlines()[0] == out.splitlines()[0]  # the same columns as when sessions are listed
