"""Findings in the store: saved per audit, read back whole, replaced only by audits that cover them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

from tokenomy.schema import Finding, FindingCall, Severity, WasteEffect, WasteRole
from tokenomy.store import open_store
from tokenomy.store.findings import AuditRecord

DAY1, DAY2, DAY3 = datetime(2026, 10, 5), datetime(2026, 10, 6), datetime(2026, 10, 7)


def _finding(fid: str, audit: str) -> Finding:
    return Finding(
        id=fid,
        category="retry_loop",
        severity=Severity.MEDIUM,
        title="Retry and correction loops: 1 session(s) on chat",
        fix="validate",
        calls=(
            FindingCall(
                "c1", "s1", WasteRole.WASTED, 2_920, Decimal("0.00124"), WasteEffect.CALL, "attempt 1 of 2"
            ),
            FindingCall("c2", "s1", WasteRole.CONTEXT, 0, None, WasteEffect.CALL, "kept"),
        ),
        wasted_tokens=2_920,
        wasted_cost=Decimal("0.00124"),
        monthly_savings_low=Decimal("0.5"),
        monthly_savings_high=Decimal("1.5"),
        assumptions=("fix: half",),
        scope={
            "team": "support",
            "feature": "chat",
            "agent": None,
            "intent": None,
            "provider": "openai",
            "model": "m",
        },
        evidence={"instances": 1, "examples": ["one step asked 2 times"]},
        detector="retry_loop/1",
        audit_id=audit,
    )


def _record(audit: str, start: datetime, end: datetime, scope: str = "") -> AuditRecord:
    return AuditRecord(audit, created_at=end, scope=scope, period_start=start, period_end=end)


def test_findings_come_back_as_they_were_saved(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        assert store.load_findings() == []
        store.save_findings([_finding("f1", "a1")], _record("a1", DAY1, DAY2))
        (loaded,) = store.load_findings()
    original = _finding("f1", "a1")
    assert loaded.calls == original.calls
    assert (loaded.wasted_cost, loaded.monthly_savings_high) == (Decimal("0.00124"), Decimal("1.5"))
    assert loaded.scope == original.scope
    assert loaded.evidence == original.evidence
    assert (loaded.period_start, loaded.period_end, loaded.audit_id) == (DAY1, DAY2, "a1")


def test_the_wasted_calls_column_lists_only_calls_wasted_as_a_whole(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        store.save_findings([_finding("f1", "a1")], _record("a1", DAY1, DAY2))
        row = store.query("SELECT call_ids, context_call_ids, sessions FROM findings").to_pylist()[0]
    assert row == {"call_ids": ["c1"], "context_call_ids": ["c2"], "sessions": 1}


def test_an_audit_replaces_only_the_audits_it_covers(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.duckdb") as store:
        store.save_findings([_finding("f1", "a1")], _record("a1", DAY1, DAY2))
        store.save_findings([_finding("f2", "a2")], _record("a2", DAY2, DAY3))
        store.save_findings([_finding("f3", "a3")], _record("a3", DAY1, DAY3, scope="team=support"))
        # all of day 1 to day 3, same (empty) scope: replaces a1 and a2, not the team audit
        assert store.save_findings([_finding("f4", "a4")], _record("a4", DAY1, DAY3)) == 2
        audits = store.query("SELECT DISTINCT audit_id FROM finding_calls ORDER BY 1").column(0).to_pylist()
    assert audits == ["a3", "a4"]
    with open_store(tmp_path / "s.duckdb") as store:
        stored = store.query("SELECT audit_id, findings FROM audits ORDER BY 1").to_pylist()
    assert stored == [{"audit_id": "a3", "findings": 1}, {"audit_id": "a4", "findings": 1}]


def test_an_audit_that_found_nothing_is_stored_and_replaces_the_audits_it_covers(tmp_path: Path) -> None:
    """A clean audit is kept in ``audits`` (reports then read its calls as assessed, wasting nothing)
    and, like any audit, removes the stale findings of the earlier audits it covers."""
    with open_store(tmp_path / "s.duckdb") as store:
        store.save_findings([_finding("f1", "a1")], _record("a1", DAY1, DAY2))
        assert store.save_findings([], _record("a2", DAY1, DAY3)) == 1
        assert store.load_findings() == []
        rows = store.query("SELECT audit_id, audit_scope, period_start, period_end, findings FROM audits")
    assert rows.to_pylist() == [
        {"audit_id": "a2", "audit_scope": "", "period_start": DAY1, "period_end": DAY3, "findings": 0}
    ]


def test_a_store_made_before_the_audits_table_gains_its_audits_from_their_findings(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with open_store(path) as store:
        store.save_findings([_finding("f1", "a1"), _finding("f2", "a1")], _record("a1", DAY1, DAY2, "team=x"))
        con = store._con  # the store as a tokenomy before 0009 left it
        con.execute("DROP TABLE audits")
        con.execute("DELETE FROM _migrations WHERE name = '0009_audits'")
    with open_store(path) as store:
        rows = store.query("SELECT * FROM audits").to_pylist()
        assert "0009_audits" in [name for name, _ in store.applied_migrations()]
    assert rows == [
        {
            "audit_id": "a1",
            "audit_scope": "team=x",
            "created_at": DAY2,
            "period_start": DAY1,
            "period_end": DAY2,
            "findings": 2,
        }
    ]
