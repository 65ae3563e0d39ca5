"""``tokenomy budgets``: set, list, status (projected exhaustion checked by hand) and delete."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.budgets.conftest import policy
from tests.budgets.support import admitted, ask, recorded_call
from tokenomy.budgets import BudgetGuard
from tokenomy.budgets.messages import amount
from tokenomy.budgets.policy import Unit, Window
from tokenomy.budgets.redis_ledger import RedisLedger
from tokenomy.budgets.redis_process import RedisProcess
from tokenomy.budgets.windows import span_of
from tokenomy.cli.main import main
from tokenomy.schema import Attribution, Charge
from tokenomy.store import open_store

TOML = """
[[budget]]
name = "file-budget"
scope = "team"
match = "search"
limit_usd = "30"
window = "month"
"""


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with $20 of calls for team search between 1 and 10 March 2026 (UTC), and a config file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOKENOMY_DB", raising=False)
    (tmp_path / "tokenomy.toml").write_text(TOML)
    path = tmp_path / "t.duckdb"
    with open_store(path) as store:
        store.insert_calls(
            [
                recorded_call(f"c{day}", datetime(2026, 3, day, 12), "2.00", team="search")
                for day in range(1, 11)
            ]
            + [recorded_call("old", datetime(2026, 2, 27, 12), "50.00", team="search")]
        )
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_set_list_status_delete(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "budgets", "set", "monthly", "--db", str(db), "--limit-usd", "100", "--window", "month"
    )
    assert code == 0
    assert out.strip() == "set budget 'monthly': global, $100.00 per month (UTC), hard"
    code, out, _ = run(
        capsys, "budgets", "set", "soft", "--db", str(db), "--limit-tokens", "5000", "--mode", "soft",
        "--downgrade", "model=gpt-4o-mini", "--downgrade", "max_tokens=256,reasoning_effort=low",
    )  # fmt: skip
    assert code == 0
    code, out, _ = run(capsys, "budgets", "list", "--db", str(db), "--format", "json")
    listed = {row["name"]: row for row in json.loads(out)}
    assert listed["file-budget"]["source"].endswith("tokenomy.toml")
    assert listed["monthly"]["source"] == "store"
    assert listed["soft"]["downgrade"] == [
        {"model": "gpt-4o-mini"},
        {"max_tokens": 256, "reasoning_effort": "low"},
    ]
    code, out, _ = run(
        capsys, "budgets", "status", "--db", str(db), "--at", "2026-03-11T00:00:00", "--format", "json"
    )
    assert code == 0
    rows = {row["budget"]: row for row in json.loads(out)}
    monthly = rows["monthly"]
    # $20 over the 10 days since 1 March: $2 a day; $80 left lasts 40 days: 20 April, after the reset
    assert (monthly["spent"], monthly["remaining"], monthly["calls"]) == (
        "20.000000000000",
        "80.000000000000",
        10,
    )
    assert monthly["burn_per_day"] == "2.000000000000"  # to the money's 12 places (28 digits before)
    assert monthly["exhausted_at"] == "2026-04-20T00:00:00+00:00"
    assert monthly["exhausts_this_window"] is False
    assert monthly["reserved"] is None  # no shared ledger configured
    team = rows["file-budget"]
    # $10 left of $30 at $2 a day: 5 days, on 16 March, inside the window
    assert (team["value"], team["exhausted_at"], team["exhausts_this_window"]) == (
        "search",
        "2026-03-16T00:00:00+00:00",
        True,
    )
    code, out, _ = run(capsys, "budgets", "status", "monthly", "--db", str(db), "--at", "2026-03-11T00:00:00")
    assert code == 0
    line = next(row for row in out.splitlines() if "monthly" in row)
    for shown in (
        "$100.0000",
        "$20.0000",
        "$80.0000",
        "20.0%",
        "$2.0000",
        "2026-04-20 00:00 UTC (after reset)",
    ):
        assert shown in line
    code, out, _ = run(capsys, "budgets", "delete", "soft", "--db", str(db))
    assert (code, out.strip()) == (0, "deleted budget 'soft'")
    code, _, err = run(capsys, "budgets", "delete", "soft", "--db", str(db))
    assert code == 1
    assert "no budget named 'soft' in the store" in err


def test_a_budget_already_spent_says_exhausted_rather_than_projecting_now(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = run(
        capsys, "budgets", "set", "tiny", "--db", str(db), "--limit-usd", "5", "--window", "month"
    )
    assert code == 0
    code, out, _ = run(capsys, "budgets", "status", "tiny", "--db", str(db), "--at", "2026-03-11T00:00:00")
    assert code == 0
    line = next(row for row in out.splitlines() if "tiny" in row)
    assert "$20.0000" in line  # spent 20 of 5
    assert line.rstrip(" │").endswith("exhausted")


def test_errors_say_what_to_do(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "budgets", "set", "x", "--db", str(db), "--limit-usd", "-2")
    assert code == 2  # a bad option value: a usage error
    assert "field 'limit_usd' must be at least 0.000000001" in err
    code, _, err = run(capsys, "budgets", "set", "file-budget", "--db", str(db), "--limit-usd", "2")
    assert code == 1
    assert "is defined in" in err
    assert "tokenomy.toml" in err
    code, _, err = run(capsys, "budgets", "delete", "file-budget", "--db", str(db))
    assert code == 1
    assert "remove its [[budget]] table there" in err
    code, _, err = run(
        capsys,
        "budgets",
        "set",
        "y",
        "--db",
        str(db),
        "--limit-usd",
        "1",
        "--mode",
        "soft",
        "--downgrade",
        "cheap",
    )
    assert code == 2
    assert "write steps as key=value" in err
    code, _, err = run(capsys, "budgets", "status", "nope", "--db", str(db))
    assert code == 1
    assert "no budget named 'nope';" in err
    dead = "redis://127.0.0.1:1/0"
    code, _, err = run(capsys, "budgets", "status", "file-budget", "--db", str(db), "--ledger", dead)
    assert code == 0
    assert f"warning: {dead} did not answer: reserved is unknown" in err
    # a URL the Redis client cannot take was a ValueError traceback
    code, _, err = run(capsys, "budgets", "status", "--db", str(db), "--ledger", "127.0.0.1:6379")
    assert code == 2
    assert "Invalid value for '--ledger': '127.0.0.1:6379' is not a Redis ledger" in err


@pytest.mark.integration
def test_status_finds_the_shared_ledger_account_of_a_team_whose_name_holds_a_colon(
    db: Path, capsys: pytest.CaptureFixture[str], redis_server: RedisProcess
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    month = span_of(Window.MONTH, ZoneInfo("UTC"), now)  # Redis expires accounts on its own clock: today's
    with open_store(db) as store:
        store.insert_calls([recorded_call("ab", month.start, "4.00", team="a:b")])
    code, _, _ = run(
        capsys, "budgets", "set", "colon", "--db", str(db), "--scope", "team", "--limit-usd", "30",
        "--window", "month",
    )  # fmt: skip
    assert code == 0
    guard = BudgetGuard(
        [policy(name="colon", scope="team", limit_usd="30", window="month")],
        ledger=RedisLedger(redis_server.url),
    )
    held = admitted(guard.reserve(ask(team="a:b"))).held
    guard.close()
    assert [h.key for h in held] == [f"colon::a%3Ab:{month.id}"]
    code, out, err = run(
        capsys, "budgets", "status", "colon", "--db", str(db), "--at", now.strftime("%Y-%m-%dT%H:%M:%S"),
        "--ledger", redis_server.url, "--format", "json",
    )  # fmt: skip
    assert (code, err) == (0, "")
    rows = {row["value"]: row for row in json.loads(out)}
    reserved = amount(held[0].amount, Unit.USD)
    assert reserved > 0
    assert (rows["a:b"]["spent"], rows["a:b"]["reserved"]) == ("4.000000000000", str(reserved))


def test_status_of_a_team_session_budget_names_the_team_and_the_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The scope column of a session row showed the session id as the team (``team 's1'``) and
    summed every team's spend in that session."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOKENOMY_DB", raising=False)
    path = tmp_path / "t.duckdb"
    with open_store(path) as store:
        store.insert_calls(
            [
                recorded_call("a", datetime(2026, 3, 10, 20), "0.50", session="s1", team="search"),
                recorded_call("b", datetime(2026, 3, 10, 21), "0.70", session="s1", team="ads"),
            ]
        )
    args = ("--db", str(path), "--limit-usd", "1", "--window", "session", "--scope", "team")
    assert run(capsys, "budgets", "set", "per-session", *args)[0] == 0
    code, out, _ = run(
        capsys, "budgets", "status", "--db", str(path), "--at", "2026-03-11T00:00:00", "--format", "json"
    )
    assert code == 0
    rows = [(r["value"], r["session"], r["spent"], r["remaining"]) for r in json.loads(out)]
    assert rows == [
        ("ads", "s1", "0.700000000000", "0.300000000000"),
        ("search", "s1", "0.500000000000", "0.500000000000"),
    ]
    code, out, _ = run(capsys, "budgets", "status", "--db", str(path), "--at", "2026-03-11T00:00:00")
    assert "team 'ads', session 's1'" in out
    assert "team 'search', session 's1'" in out


def test_status_at_a_time_counts_the_llm_calls_before_it_and_no_charges(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--at`` counted the whole month (the calls of 5 to 10 March too) against the 4 days before
    it. Charges (non-LLM costs) are not budgeted: the $5 one is in the report's spend, not here."""
    with open_store(db) as store:
        store.insert_charges(
            [
                Charge(
                    id="g",
                    amount=Decimal(5),
                    kind="gpu",
                    at=datetime(2026, 3, 3),
                    attribution=Attribution(team="search"),
                )
            ]
        )
    assert (
        run(capsys, "budgets", "set", "monthly", "--db", str(db), "--limit-usd", "100", "--window", "month")[
            0
        ]
        == 0
    )
    at = ("--db", str(db), "--at", "2026-03-05T00:00:00")
    code, out, _ = run(capsys, "budgets", "status", "monthly", *at, "--format", "json")
    assert code == 0
    [row] = json.loads(out)
    # the calls of 1 to 4 March: $8 in 4 days is $2 a day; the $92 left lasts 46 days: 20 April
    assert (row["spent"], row["calls"], row["remaining"], row["burn_per_day"], row["exhausted_at"]) == (
        "8.000000000000",
        4,
        "92.000000000000",
        "2.000000000000",
        "2026-04-20T00:00:00+00:00",
    )
    assert row["spent_includes_charges"] is False
    code, out, _ = run(capsys, "budgets", "status", "monthly", *at)
    assert code == 0
    lines = out.splitlines()
    assert "LLM spent" in lines[1]
    assert "$8.0000" in next(line for line in lines if "monthly" in line)
    assert "charges (non-LLM costs) are not in it" in out


def test_a_per_team_budget_with_no_spend_says_so_rather_than_naming_unattributed(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("--db", str(db), "--scope", "team", "--limit-usd", "50")
    assert run(capsys, "budgets", "set", "teams", *args)[0] == 0
    at = ("--db", str(db), "--at", "2026-03-20T00:00:00")  # nothing spent that day
    code, out, _ = run(capsys, "budgets", "status", "teams", *at)
    assert code == 0
    line = next(line for line in out.splitlines() if "teams" in line)
    assert "every team (none spent yet)" in line
    assert "unattributed" not in out
    code, out, _ = run(capsys, "budgets", "status", "teams", *at, "--format", "json")
    [row] = json.loads(out)
    assert (row["scope"], row["value"], row["spent"], row["calls"], row["remaining"]) == (
        "team",
        None,
        "0",
        0,
        "50",
    )


def test_a_limit_under_a_hundred_millionth_of_a_dollar_is_written_whole(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was written ``$0.`` (eight decimals, its zeros trimmed), as limit and as remaining."""
    assert run(capsys, "budgets", "set", "tiny", "--db", str(db), "--limit-usd", "0.000000001")[0] == 0
    code, out, _ = run(capsys, "budgets", "status", "tiny", "--db", str(db), "--at", "2026-03-20T00:00:00")
    assert code == 0
    cells = [cell.strip() for cell in next(line for line in out.splitlines() if "tiny" in line).split("│")]
    assert cells[4:8] == ["$0.000000001", "$0.0000", "-", "$0.000000001"]  # limit, spent, reserved, remaining


def test_the_status_table_marks_a_dollar_spend_that_leaves_out_unpriced_calls(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three calls of the window could not be priced: the dollar spend counts the priced ones only,
    and the table says so beside it (before, only the JSON's unpriced_calls did)."""
    with open_store(db) as store:
        unpriced = [
            dataclasses.replace(
                recorded_call(f"u{i}", datetime(2026, 3, 2, 12), "1.00", team="search"), cost=None
            )
            for i in range(3)
        ]
        store.insert_calls(unpriced)
    assert (
        run(capsys, "budgets", "set", "monthly", "--db", str(db), "--limit-usd", "100", "--window", "month")[
            0
        ]
        == 0
    )
    at = ("--db", str(db), "--at", "2026-03-05T00:00:00")
    code, out, _ = run(capsys, "budgets", "status", "monthly", *at, "--format", "json")
    [row] = json.loads(out)
    assert (code, row["spent"], row["unpriced_calls"]) == (0, "8.000000000000", 3)
    code, out, _ = run(capsys, "budgets", "status", "monthly", *at)
    assert "$8.0000 *3 unpriced" in next(line for line in out.splitlines() if "monthly" in line)
    assert "* marks a dollar spend that leaves out calls it could not price" in " ".join(out.split())
