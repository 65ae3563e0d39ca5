"""Waste findings in the embedded store: write an audit's findings, read them back.

Three tables: ``findings``, one row per finding, and ``finding_calls``, one row per call of a
finding (migration ``0003_findings``); ``audits``, one row per audit, one that found nothing
included (``0009_audits``). Saving an audit replaces the earlier audits with the same
``audit_scope`` (the filters it ran with) whose period lies inside the new audit's period, and
their findings, in one transaction, so re-running an audit never leaves stale findings behind and
the ``call_ids`` other analyses read stay current.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

from tokenomy.errors import StoreError
from tokenomy.schema import Finding, FindingCall, Severity, WasteEffect, WasteRole
from tokenomy.store.arrow import MONEY_TYPE, TIME_TYPE
from tokenomy.store.duckdb_compat import arrow_table

SCOPE_KEYS: Final = ("team", "feature", "agent", "intent", "provider", "model")
"""The route a finding belongs to, one column each."""

_STR = pa.string()
_STRS = pa.list_(pa.string())
FINDINGS_SCHEMA: Final = pa.schema(
    [
        ("id", _STR),
        ("audit_id", _STR),
        ("audit_scope", _STR),
        ("created_at", TIME_TYPE),
        ("period_start", TIME_TYPE),
        ("period_end", TIME_TYPE),
        ("category", _STR),
        ("severity", _STR),
        ("detector", _STR),
        ("title", _STR),
        ("fix", _STR),
        *[(key, _STR) for key in SCOPE_KEYS],
        ("sessions", pa.int64()),
        ("session_ids", _STRS),
        ("call_ids", _STRS),
        ("partial_call_ids", _STRS),
        ("context_call_ids", _STRS),
        ("wasted_tokens", pa.int64()),
        ("wasted_cost", MONEY_TYPE),
        ("unpriced_calls", pa.int64()),
        ("currency", _STR),
        ("monthly_savings_low", MONEY_TYPE),
        ("monthly_savings_high", MONEY_TYPE),
        ("assumptions", _STRS),
        ("evidence", _STR),
    ]
)
FINDING_CALLS_SCHEMA: Final = pa.schema(
    [
        ("finding_id", _STR),
        ("audit_id", _STR),
        ("category", _STR),
        ("call_id", _STR),
        ("session_id", _STR),
        ("role", _STR),
        ("effect", _STR),
        ("wasted_tokens", pa.int64()),
        ("wasted_cost", MONEY_TYPE),
        ("note", _STR),
    ]
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """Which audit the findings belong to: its id, when it ran, its filters and its period."""

    audit_id: str
    created_at: datetime
    scope: str
    """The filters the audit ran with, as text (empty for all calls)."""
    period_start: datetime | None
    period_end: datetime | None


def findings_to_arrow(findings: Sequence[Finding], audit: AuditRecord) -> tuple[pa.Table, pa.Table]:
    """The ``findings`` and ``finding_calls`` rows of an audit's findings, as Arrow tables."""
    rows = [_finding_row(f, audit) for f in findings]
    calls = [_call_row(f, c, audit) for f in findings for c in f.calls]
    return (
        pa.Table.from_pylist(rows, schema=FINDINGS_SCHEMA),
        pa.Table.from_pylist(calls, schema=FINDING_CALLS_SCHEMA),
    )


def _finding_row(finding: Finding, audit: AuditRecord) -> dict[str, Any]:
    return {
        "id": finding.id,
        "audit_id": audit.audit_id,
        "audit_scope": audit.scope,
        "created_at": audit.created_at,
        "period_start": audit.period_start,
        "period_end": audit.period_end,
        "category": finding.category,
        "severity": finding.severity.value,
        "detector": finding.detector,
        "title": finding.title,
        "fix": finding.fix,
        **{key: finding.scope.get(key) for key in SCOPE_KEYS},
        "sessions": len(finding.session_ids),
        "session_ids": list(finding.session_ids),
        "call_ids": list(finding.call_ids(WasteRole.WASTED)),
        "partial_call_ids": list(finding.call_ids(WasteRole.PARTIAL)),
        "context_call_ids": list(finding.call_ids(WasteRole.CONTEXT)),
        "wasted_tokens": finding.wasted_tokens,
        "wasted_cost": finding.wasted_cost,
        "unpriced_calls": finding.unpriced_calls,
        "currency": finding.currency,
        "monthly_savings_low": finding.monthly_savings_low,
        "monthly_savings_high": finding.monthly_savings_high,
        "assumptions": list(finding.assumptions),
        "evidence": json.dumps(finding.evidence, sort_keys=True, default=str),
    }


def _call_row(finding: Finding, call: FindingCall, audit: AuditRecord) -> dict[str, Any]:
    return {
        "finding_id": finding.id,
        "audit_id": audit.audit_id,
        "category": finding.category,
        "call_id": call.call_id,
        "session_id": call.session_id,
        "role": call.role.value,
        "effect": call.effect.value,
        "wasted_tokens": call.tokens,
        "wasted_cost": call.cost,
        "note": call.note,
    }


_REPLACED: Final = """
    SELECT audit_id FROM audits
    WHERE audit_scope = ? AND audit_id <> ?
      AND (?::TIMESTAMP IS NULL OR (period_start IS NOT NULL AND period_start >= ?::TIMESTAMP))
      AND (?::TIMESTAMP IS NULL OR (period_end IS NOT NULL AND period_end <= ?::TIMESTAMP))
"""


def save(con: duckdb.DuckDBPyConnection, findings: Sequence[Finding], audit: AuditRecord) -> int:
    """Store an audit's findings, replacing earlier audits of the same scope inside its period.

    Returns:
        How many earlier audits were replaced.

    Raises:
        StoreError: DuckDB refused the write (nothing was changed).
    """
    table, calls = findings_to_arrow(findings, audit)
    bounds = [audit.period_start, audit.period_start, audit.period_end, audit.period_end]
    con.execute("BEGIN TRANSACTION")
    try:
        old = [r[0] for r in con.execute(_REPLACED, [audit.scope, audit.audit_id, *bounds]).fetchall()]
        for name in ("findings", "finding_calls", "audits"):
            con.execute(f"DELETE FROM {name} WHERE audit_id IN (SELECT unnest(?::VARCHAR[]))", [old])
        _insert(con, "findings", table)
        _insert(con, "finding_calls", calls)
        con.execute(
            "INSERT OR REPLACE INTO audits VALUES (?, ?, ?, ?, ?, ?)",
            [
                audit.audit_id,
                audit.scope,
                audit.created_at,
                audit.period_start,
                audit.period_end,
                len(findings),
            ],
        )
        con.execute("COMMIT")
    except duckdb.Error as exc:
        con.execute("ROLLBACK")
        raise StoreError(f"saving the audit's findings failed and was rolled back: {exc}") from exc
    return len(old)


def _insert(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    view = f"_tokenomy_{name}_arrow"
    con.register(view, table)
    try:
        con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM {view}")
    finally:
        con.unregister(view)


def latest_audit(con: duckdb.DuckDBPyConnection) -> str | None:
    """The id of the most recent audit with stored findings, or None."""
    # fetchall, not fetchone: a half-read result blocks the connection's next statement
    rows = con.execute("SELECT audit_id FROM findings ORDER BY created_at DESC, audit_id LIMIT 1").fetchall()
    return str(rows[0][0]) if rows else None


def load(con: duckdb.DuckDBPyConnection, audit_id: str | None = None) -> list[Finding]:
    """The findings of ``audit_id`` (the latest audit when None), with their calls, by wasted cost."""
    wanted = audit_id or latest_audit(con)
    if wanted is None:
        return []
    rows = arrow_table(
        con,
        "SELECT * FROM findings WHERE audit_id = ? ORDER BY wasted_cost DESC NULLS LAST, id",
        [wanted],
    ).to_pylist()
    calls = arrow_table(
        con,
        "SELECT * FROM finding_calls WHERE audit_id = ? ORDER BY finding_id, rowid",
        [wanted],
    ).to_pylist()
    by_finding: dict[str, list[FindingCall]] = {}
    for row in calls:
        by_finding.setdefault(row["finding_id"], []).append(_call_of(row))
    return [_finding_of(row, by_finding.get(row["id"], [])) for row in rows]


def _call_of(row: dict[str, Any]) -> FindingCall:
    return FindingCall(
        call_id=row["call_id"],
        session_id=row["session_id"],
        role=WasteRole(row["role"]),
        tokens=int(row["wasted_tokens"] or 0),
        cost=row["wasted_cost"],
        effect=WasteEffect(row["effect"]),
        note=row["note"],
    )


def _finding_of(row: dict[str, Any], calls: Iterable[FindingCall]) -> Finding:
    return Finding(
        id=row["id"],
        category=row["category"],
        severity=Severity(row["severity"]),
        title=row["title"] or "",
        fix=row["fix"] or "",
        calls=tuple(calls),
        wasted_tokens=int(row["wasted_tokens"] or 0),
        wasted_cost=_money(row["wasted_cost"]),
        unpriced_calls=int(row["unpriced_calls"] or 0),
        monthly_savings_low=_money(row["monthly_savings_low"]),
        monthly_savings_high=_money(row["monthly_savings_high"]),
        assumptions=tuple(row["assumptions"] or ()),
        scope={key: row[key] for key in SCOPE_KEYS},
        evidence=json.loads(row["evidence"]) if row["evidence"] else {},
        period_start=row["period_start"],
        period_end=row["period_end"],
        detector=row["detector"],
        audit_id=row["audit_id"],
        created_at=row["created_at"],
        currency=row["currency"] or "USD",
    )


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value)
