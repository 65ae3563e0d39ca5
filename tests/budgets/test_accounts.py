"""Ledger account keys: one account per policy, scope value and window, whatever text the values hold."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.budgets.conftest import Clock, policy
from tests.budgets.support import admitted, ask
from tokenomy.budgets import BudgetGuard, Rejection
from tokenomy.budgets.accounts import Account, Matcher, account_key

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC).timestamp()


def _key(matcher: Matcher, team: str | None, session: str | None = None) -> str:
    found = matcher.account(ask(team=team, session=session), NOW)
    assert isinstance(found, Account), found
    return found.key


def test_keys_of_values_without_a_colon_are_as_they_always_were() -> None:
    per_session = Matcher(policy(scope="team", window="session"))
    daily = Matcher(policy(name="d", scope="team"))
    assert _key(per_session, "x", "z") == "p:x:sz"
    assert _key(per_session, None, "z") == "p:(unattributed):sz"
    assert _key(daily, "x") == "d:x:d2026-03-10"
    assert _key(Matcher(policy(name="g", window="month")), None) == "g:*:m2026-03"
    assert _key(daily, "100%") == "d:100%:d2026-03-10"  # only a ':' calls for escaping


def test_a_colon_in_a_scope_value_or_a_session_id_no_longer_makes_two_accounts_one() -> None:
    per_session = Matcher(policy(scope="team", window="session"))
    # both were "p:x:sy:sz": the same account for two teams' sessions
    assert _key(per_session, "x:sy", "z") == "p::x%3Asy:sz"
    assert _key(per_session, "x", "y:sz") == "p::x:sy%3Asz"
    # and the second was the first's Redis sorted set of open reservations ("p:x:sz" + ":x")
    assert _key(per_session, "x", "z:x") == "p::x:sz%3Ax"
    assert _key(per_session, "x%3Asy", "z") == "p:x%3Asy:sz"  # a literal escape is not an escaped ':'
    assert _key(per_session, "x%3Asy", "z:") == "p::x%253Asy:sz%3A"
    assert _key(Matcher(policy(name="d", scope="team")), "a:b") == "d::a%3Ab:d2026-03-10"


def test_every_key_is_told_apart_from_every_other() -> None:
    values = ["x", "x:sy", "y:sz", "sy", "z", "sz", "x:", ":x", "%3A", ":", "*", "a%b"]
    parts = [(name, value, window) for name in ("p", "p:x") for value in values for window in ("sz", "sy:sz")]
    keys = [account_key(*p) for p in parts]
    assert len(set(keys)) == len(parts)
    assert not set(keys) & {key + ":x" for key in keys}  # nor the sorted set Redis keeps beside a key


def test_the_in_process_ledger_charges_two_teams_sessions_apart(clock: Clock) -> None:
    guard = BudgetGuard([policy(scope="team", limit_tokens=2_100, window="session")], clock=clock)
    first = admitted(guard.reserve(ask(team="x:sy", session="z")))
    guard.settle(first, 1_024)  # 2,024 of 2,100 spent: that session cannot afford another request
    assert isinstance(guard.reserve(ask(team="x:sy", session="z")), Rejection)
    other = admitted(guard.reserve(ask(team="x", session="y:sz")))  # refused while the two shared a key
    assert (other.max_tokens, [h.key for h in other.held]) == (1_024, ["p::x:sy%3Asz"])
