"""Budget status: recorded spend per scope value, reservations from the live ledger, burn-rate projection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tests.budgets.conftest import policy
from tests.budgets.support import admitted, ask, recorded_call
from tokenomy.budgets import BudgetGuard
from tokenomy.budgets.ledger import Line
from tokenomy.budgets.memory import MemoryLedger
from tokenomy.budgets.spend import StoreSpend
from tokenomy.budgets.status import project, status
from tokenomy.store import open_store

NOW = datetime(2026, 3, 11, tzinfo=UTC)


def test_projection_by_hand() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    burn, exhausted = project(Decimal(20), Decimal(80), start, NOW)
    assert burn == Decimal(2)
    assert exhausted == datetime(2026, 4, 20, tzinfo=UTC)
    assert project(Decimal(0), Decimal(80), start, NOW) == (None, None)
    assert project(Decimal(20), Decimal(-1), start, NOW) == (Decimal(2), NOW)


def test_rows_per_team_with_reservations_from_the_ledger(tmp_path: Path) -> None:
    with open_store(tmp_path / "t.duckdb") as store:
        store.insert_calls(
            [
                recorded_call("a1", datetime(2026, 3, 2), "3.00", team="search", tokens=300),
                recorded_call("a2", datetime(2026, 3, 9), "1.00", team="search", tokens=100),
                recorded_call("b1", datetime(2026, 3, 5), "5.00", team="ads", tokens=500),
                recorded_call("n1", datetime(2026, 3, 5), "0.50", tokens=50),
                recorded_call("s1", datetime(2026, 3, 10, 20), "0.25", session="sess-9", tokens=25),
            ]
        )
        ledger = MemoryLedger()
        ledger.seed("teams:search:m2026-03", 0, 0)
        ledger.reserve("r", [Line("teams:search:m2026-03", 10**12, 500_000_000, 0, True)], 1, 1, 60)
        teams = policy(name="teams", scope="team", limit_usd="10", window="month")
        tokens = policy(name="tok", limit_tokens=10_000, window="month")
        sessions = policy(name="per-session", limit_usd="1", window="session")
        rows = status([teams, tokens, sessions], StoreSpend(store), now=NOW, ledger=ledger)
    by = {(r.policy.name, r.value): r for r in rows}
    search = by["teams", "search"]
    assert (search.spent, search.reserved, search.remaining, search.calls) == (
        Decimal(4),
        Decimal("0.5"),
        Decimal("5.5"),
        2,
    )
    assert search.used_share == 0.45
    assert by["teams", "ads"].reserved == Decimal(0)
    assert by["teams", "(unattributed)"].spent == Decimal("0.75")
    assert by["tok", None].spent == Decimal(975)
    session = next(r for r in rows if r.policy.name == "per-session")
    assert (session.value, session.session, session.spent) == (None, "sess-9", Decimal("0.25"))
    assert session.exhausted_at is None


def test_session_rows_are_the_accounts_of_each_scope_value_in_each_session(tmp_path: Path) -> None:
    """A team's session budget charges each team's spend in a session to its own account: the rows
    used to sum every team's spend per session (with the session id shown as the team), and a
    ``match`` policy listed the other teams' sessions too. A session's whole spend counts."""
    with open_store(tmp_path / "t.duckdb") as store:
        store.insert_calls(
            [
                recorded_call("a", datetime(2026, 3, 10, 20), "0.50", session="s1", team="search"),
                recorded_call("b", datetime(2026, 3, 10, 21), "0.70", session="s1", team="ads"),
                recorded_call("c", datetime(2026, 3, 10, 22), "2.00", session="s2", team="ads"),
                recorded_call("d", datetime(2026, 3, 8), "0.10", session="s1", team="search"),  # same session
                recorded_call("e", datetime(2026, 3, 8), "9.00", session="old", team="search"),  # not recent
                recorded_call("f", datetime(2026, 3, 10, 23), "0.30", session="s3"),  # no team
            ]
        )
        each = policy(name="each", scope="team", limit_usd="1", window="session")
        search = policy(name="search", scope="team", match="search", limit_usd="1", window="session")
        guard = BudgetGuard([each, search], clock=NOW.timestamp)
        admitted(guard.reserve(ask(input_tokens=1_000, max_tokens=0, team="search", session="s1")))
        rows = status([each, search], StoreSpend(store), now=NOW, ledger=guard.ledger)
    got = [(r.policy.name, r.value, r.session, r.spent, r.reserved) for r in rows]
    assert got == [
        ("each", "ads", "s2", Decimal("2.00"), Decimal(0)),
        ("each", "ads", "s1", Decimal("0.70"), Decimal(0)),
        ("each", "search", "s1", Decimal("0.60"), Decimal("0.00015")),
        ("each", "(unattributed)", "s3", Decimal("0.30"), Decimal(0)),
        ("search", "search", "s1", Decimal("0.60"), Decimal("0.00015")),
    ]


def test_the_reservation_of_a_team_whose_name_holds_a_colon_is_found(tmp_path: Path) -> None:
    monthly = policy(name="teams", scope="team", limit_tokens=10_000, window="month")
    guard = BudgetGuard([monthly], clock=NOW.timestamp)
    held = admitted(guard.reserve(ask(input_tokens=1_000, max_tokens=500, team="a:b"))).held
    assert [(h.key, h.amount) for h in held] == [("teams::a%3Ab:m2026-03", 1_500)]  # escaped: see accounts.py
    with open_store(tmp_path / "t.duckdb") as store:
        store.insert_calls([recorded_call("c", datetime(2026, 3, 2), "1.00", team="a:b", tokens=300)])
        rows = status([monthly], StoreSpend(store), now=NOW, ledger=guard.ledger)
    assert [(r.value, r.spent, r.reserved, r.remaining) for r in rows] == [
        ("a:b", Decimal(300), Decimal(1_500), Decimal(8_200))
    ]


AT = datetime(2026, 3, 11, 12, tzinfo=UTC)
"""A Wednesday noon: half a day into its day, 2.5 days into its week, 10.5 days into March."""


def test_the_status_at_a_time_counts_only_the_calls_before_it(tmp_path: Path) -> None:
    """``--at`` counted the whole window, calls after it included, and divided that by the time
    elapsed until ``--at``: the spend, the burn rate and the projection were all too high."""
    with open_store(tmp_path / "t.duckdb") as store:
        store.insert_calls(
            [
                recorded_call("month", datetime(2026, 3, 2), "6.10", team="search"),
                recorded_call("week", datetime(2026, 3, 9, 12), "1.00", team="search"),
                recorded_call("day", datetime(2026, 3, 11, 6), "3.00", team="search"),
                recorded_call("day-after", datetime(2026, 3, 11, 18), "5.00", team="search"),
                recorded_call("at", AT, "0.50", team="search"),  # at T itself: not before it
                recorded_call("week-after", datetime(2026, 3, 13), "7.00", team="search"),
                recorded_call("month-after", datetime(2026, 3, 20), "11.00", team="search"),
                recorded_call("s-before", datetime(2026, 3, 11, 8), "0.40", team="search", session="s1"),
                recorded_call("s-after", datetime(2026, 3, 11, 14), "0.60", team="search", session="s1"),
                recorded_call("s-later", datetime(2026, 3, 11, 15), "0.90", team="search", session="s2"),
            ]
        )
        day = policy(name="day", scope="team", match="search", limit_usd="10", window="day")
        week = policy(name="week", scope="team", match="search", limit_usd="20", window="week")
        month = policy(name="month", scope="team", match="search", limit_usd="30", window="month")
        session = policy(name="session", scope="team", match="search", limit_usd="1", window="session")
        rows = status([day, week, month, session], StoreSpend(store), now=AT)
    by = {r.policy.name: r for r in rows}
    got = {name: (r.spent, r.calls, r.remaining) for name, r in by.items()}
    assert got == {
        "day": (Decimal("3.40"), 2, Decimal("6.60")),  # 3.00 + the session's 0.40
        "week": (Decimal("4.40"), 3, Decimal("15.60")),
        "month": (Decimal("10.50"), 4, Decimal("19.50")),
        "session": (Decimal("0.40"), 1, Decimal("0.60")),  # s1 until T; s2 began after T
    }
    # $3.40 in half a day: $6.80 a day; the $6.60 left lasts 0.97 days, after the reset at midnight
    assert round(by["day"].burn_per_day or 0, 9) == Decimal("6.8")
    assert not by["day"].exhausts_this_window
    # $4.40 in 2.5 days: $1.76 a day; $15.60 lasts 8.86 days: after Sunday's reset
    assert round(by["week"].burn_per_day or 0, 9) == Decimal("1.76")
    assert not by["week"].exhausts_this_window
    # $10.50 in 10.5 days: $1 a day; the $19.50 left lasts 19.5 days: 31 March 00:00, before April
    assert round(by["month"].burn_per_day or 0, 9) == Decimal(1)
    when = by["month"].exhausted_at
    assert when is not None
    assert abs(when - datetime(2026, 3, 31, tzinfo=UTC)) < timedelta(milliseconds=1)
    assert by["month"].exhausts_this_window
    assert by["session"].session == "s1"


def test_a_per_team_budget_none_of_whose_teams_spent_has_one_row_for_every_team(tmp_path: Path) -> None:
    """The row used to name the ``(unattributed)`` account, as if requests without a team had
    been charged; it stands for every team, and asks the ledger for no account."""
    with open_store(tmp_path / "t.duckdb") as store:
        store.insert_calls([recorded_call("later", datetime(2026, 3, 11, 18), "5.00", team="ads")])
        teams = policy(name="teams", scope="team", limit_usd="50", window="day")
        guard = BudgetGuard([teams], clock=AT.timestamp)
        admitted(guard.reserve(ask(team="search")))  # held, not recorded: not a row
        rows = status([teams], StoreSpend(store), now=AT, ledger=guard.ledger)
    [row] = rows
    assert (row.value, row.spent, row.calls, row.reserved, row.remaining) == (
        None,
        Decimal(0),
        0,
        None,
        Decimal(50),
    )
    assert row.none_spent
    assert row.policy.describe_scope(row.value) == "every team"
    assert (row.burn_per_day, row.exhausted_at) == (None, None)
