"""Named, ordered schema migrations for the embedded store, recorded in the database.

Each migration has a name that never changes once released and a list of SQL statements.
:func:`pending` compares them with the ``_migrations`` table; the backend applies what is
missing, in order, each in its own transaction. Never edit a released migration: add one.

Time columns are ``TIMESTAMP`` holding UTC. Money is ``DECIMAL(38, 12)``: exact, and fine
enough for per-token prices (a $0.075 per million tokens price is 7.5e-8 per token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tokenomy.store.private import NO_FREE_TEXT
from tokenomy.store.session_days import SESSION_DAYS_DDL, SESSION_DAYS_FILL, SESSION_DAYS_INDEX

MONEY: Final = "DECIMAL(38, 12)"


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema change."""

    name: str
    statements: tuple[str, ...]


_COST_PART_COLUMNS = ",\n".join(
    f"    cost_{part} {MONEY}"
    for part in (
        "input_uncached",
        "cache_read",
        "cache_write_5m",
        "cache_write_1h",
        "output_visible",
        "reasoning",
        "server_tools",
        "requests",
        "overhead",
    )
)

CALLS_DDL: Final = f"""
CREATE TABLE calls (
    id VARCHAR NOT NULL,
    trace_id VARCHAR,
    span_id VARCHAR,
    parent_span_id VARCHAR,
    session_id VARCHAR,
    step BIGINT,
    started_at TIMESTAMP,
    ended_at TIMESTAMP,
    latency_ms DOUBLE,
    ttft_ms DOUBLE,
    provider VARCHAR,
    operation VARCHAR,
    request_model VARCHAR,
    response_model VARCHAR,
    api VARCHAR,
    streamed BOOLEAN,
    batch BOOLEAN,
    service_tier VARCHAR,
    input_uncached BIGINT,
    cache_read BIGINT,
    cache_write_5m BIGINT,
    cache_write_1h BIGINT,
    output_visible BIGINT,
    reasoning BIGINT,
    input_total BIGINT,
    output_total BIGINT,
    server_tools MAP(VARCHAR, BIGINT),
    usage_kind VARCHAR,
    quality VARCHAR[],
    context_window BIGINT,
    max_output_tokens BIGINT,
    n_messages BIGINT,
    system_tokens BIGINT,
    tool_def_tokens BIGINT,
    user_tokens BIGINT,
    history_tokens BIGINT,
    prefix_hashes VARCHAR[],
    status VARCHAR,
    error_type VARCHAR,
    http_status BIGINT,
    finish_reason VARCHAR,
    tool_uses STRUCT(name VARCHAR, args_hash VARCHAR, server BOOLEAN)[],
    filler_tokens BIGINT,
    "user" VARCHAR,
    team VARCHAR,
    project VARCHAR,
    feature VARCHAR,
    intent VARCHAR,
    environment VARCHAR,
    agent VARCHAR,
    api_key_id VARCHAR,
    tags MAP(VARCHAR, VARCHAR),
    success BOOLEAN,
    score DOUBLE,
    action VARCHAR,
    cost_total {MONEY},
{_COST_PART_COLUMNS},
    cost_currency VARCHAR,
    cost_source VARCHAR,
    cost_price_date DATE,
    cost_estimated BOOLEAN,
    cost_reason VARCHAR,
    provider_reported_cost {MONEY},
    prompt_text VARCHAR,
    completion_text VARCHAR,
    source VARCHAR,
    imported_at TIMESTAMP
)
"""

CHARGES_DDL: Final = f"""
CREATE TABLE charges (
    id VARCHAR NOT NULL,
    session_id VARCHAR,
    "at" TIMESTAMP NOT NULL,
    kind VARCHAR NOT NULL,
    amount {MONEY} NOT NULL,
    currency VARCHAR NOT NULL,
    quantity DOUBLE,
    unit VARCHAR,
    description VARCHAR,
    "user" VARCHAR,
    team VARCHAR,
    project VARCHAR,
    feature VARCHAR,
    intent VARCHAR,
    environment VARCHAR,
    agent VARCHAR,
    api_key_id VARCHAR,
    tags MAP(VARCHAR, VARCHAR),
    source VARCHAR,
    imported_at TIMESTAMP
)
"""

OUTCOMES_DDL: Final = """
CREATE TABLE outcomes (
    target VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    success BOOLEAN,
    score DOUBLE,
    action VARCHAR,
    "at" TIMESTAMP NOT NULL,
    source VARCHAR,
    imported_at TIMESTAMP
)
"""
"""Outcomes that arrive after their call or session (``target`` is ``call`` or ``session``, ``id``
names it). An outcome is identified by (target, id, at): storing it twice keeps one row."""

SPANS_DDL: Final = """
CREATE TABLE spans (
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    parent_span_id VARCHAR,
    name VARCHAR,
    kind VARCHAR,
    started_at TIMESTAMP,
    ended_at TIMESTAMP,
    status VARCHAR,
    status_message VARCHAR,
    session_id VARCHAR,
    agent_name VARCHAR,
    tool_name VARCHAR,
    service_name VARCHAR,
    attributes VARCHAR,
    source VARCHAR,
    imported_at TIMESTAMP
)
"""
"""The spans of a trace that are not model calls (agent runs, tools, workflow steps), keyed by
(trace_id, span_id), so sessions can be drawn as trees with their calls. ``attributes`` is JSON text."""

FINDINGS_DDL: Final = f"""
CREATE TABLE findings (
    id VARCHAR NOT NULL,
    audit_id VARCHAR NOT NULL,
    audit_scope VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    period_start TIMESTAMP,
    period_end TIMESTAMP,
    category VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    detector VARCHAR,
    title VARCHAR,
    fix VARCHAR,
    team VARCHAR,
    feature VARCHAR,
    agent VARCHAR,
    intent VARCHAR,
    provider VARCHAR,
    model VARCHAR,
    sessions BIGINT,
    session_ids VARCHAR[],
    call_ids VARCHAR[],
    partial_call_ids VARCHAR[],
    context_call_ids VARCHAR[],
    wasted_tokens BIGINT,
    wasted_cost {MONEY},
    unpriced_calls BIGINT,
    currency VARCHAR,
    monthly_savings_low {MONEY},
    monthly_savings_high {MONEY},
    assumptions VARCHAR[],
    evidence VARCHAR
)
"""
"""One row per waste finding. ``call_ids`` lists the calls wasted as a whole (superseded retries,
truncated attempts, repeated tool calls); ``partial_call_ids`` the calls that wasted part of their
tokens; ``evidence`` is JSON text. An audit replaces the findings of earlier audits with the same
``audit_scope`` whose period it covers."""

FINDING_CALLS_DDL: Final = f"""
CREATE TABLE finding_calls (
    finding_id VARCHAR NOT NULL,
    audit_id VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    call_id VARCHAR NOT NULL,
    session_id VARCHAR,
    role VARCHAR NOT NULL,
    effect VARCHAR NOT NULL,
    wasted_tokens BIGINT,
    wasted_cost {MONEY},
    note VARCHAR
)
"""
"""One row per call of a finding: its role, effect, wasted tokens and dollars, and why."""

BUDGET_POLICIES_DDL: Final = """
CREATE TABLE budget_policies (
    name VARCHAR NOT NULL,
    definition VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
)
"""
"""Budget policies set with ``tokenomy budgets set``, one row per name; ``definition`` is the policy's
``[[budget]]`` table as JSON text (store/budgets.py)."""

VIRTUAL_KEYS_DDL: Final = """
CREATE TABLE virtual_keys (
    key_hash VARCHAR PRIMARY KEY,
    name VARCHAR,
    attribution VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP
)
"""
"""Virtual keys the gateway issues (store/virtual_keys.py): the sha256 of the key (never the key),
a label, the attribution it stands for (JSON text) and its validity."""

MODALITIES_COLUMN: Final = "ALTER TABLE calls ADD COLUMN modalities MAP(VARCHAR, BIGINT) DEFAULT MAP {}"
"""``Usage.modalities``: the audio, image and video tokens inside each bucket, keyed
``<bucket>.<modality>``. Added after the table's last column, so a store made before it gains the
column in the same place as a new one (empty on the rows it holds: all their tokens were text)."""

AUDITS_DDL: Final = """
CREATE TABLE audits (
    audit_id VARCHAR PRIMARY KEY,
    audit_scope VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    period_start TIMESTAMP,
    period_end TIMESTAMP,
    findings BIGINT NOT NULL
)
"""
"""One row per stored audit, those that found nothing included: its filters, period and number of
findings. Reports read it to tell which calls an audit has assessed (a clean audit says the calls it
covers wasted nothing; without it they would read as never assessed)."""

AUDITS_FILL: Final = """
INSERT INTO audits
SELECT audit_id, min(audit_scope), min(created_at), min(period_start), max(period_end), count(*)
FROM findings GROUP BY audit_id
"""
"""The audits a store made before ``audits`` existed: those whose findings it holds."""

MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration("0001_calls_and_charges", (CALLS_DDL, CHARGES_DDL)),
    Migration("0002_outcomes_and_spans", (OUTCOMES_DDL, SPANS_DDL)),
    Migration("0003_findings", (FINDINGS_DDL, FINDING_CALLS_DDL)),
    Migration("0004_budgets", (BUDGET_POLICIES_DDL,)),
    Migration("0005_virtual_keys", (VIRTUAL_KEYS_DDL,)),
    Migration("0006_session_days", (SESSION_DAYS_DDL, SESSION_DAYS_FILL, SESSION_DAYS_INDEX)),
    Migration("0007_no_free_text", NO_FREE_TEXT),
    Migration("0008_modalities", (MODALITIES_COLUMN,)),
    Migration("0009_audits", (AUDITS_DDL, AUDITS_FILL)),
)


def pending(applied: set[str]) -> list[Migration]:
    """The migrations not yet applied, in order.

    Raises:
        ValueError: The database records a migration this version does not know (it was
            written by a newer tokenomy).
    """
    known = {m.name for m in MIGRATIONS}
    unknown = sorted(applied - known)
    if unknown:
        raise ValueError(
            f"the store was migrated by a newer tokenomy ({', '.join(unknown)}); upgrade tokenomy to open it"
        )
    return [m for m in MIGRATIONS if m.name not in applied]
