"""Calls and Charges to and from Arrow tables laid out exactly like the store's tables.

Every write to the store is a batch: records become one Arrow table whose columns are the
table's columns (:data:`CALLS_SCHEMA`, :data:`CHARGES_SCHEMA`, in table order), and the
backend inserts the whole table at once. Reading turns Arrow back into records.

Conventions, shared with the SQL paths of the backends:

* times are naive ``timestamp[us]`` holding UTC (an aware datetime is converted to UTC first);
* money is ``decimal128(38, 12)``; an amount with more places is rounded half away from zero,
  as DuckDB does when it casts to ``DECIMAL(38, 12)``;
* lists, maps and structs are never null: an empty tuple or mapping is stored empty;
* a cost is present when ``cost_currency`` is not null; an outcome or content whose fields are all
  null is not kept (it reads back as None).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

from tokenomy.schema import (
    ATTRIBUTION_FIELDS,
    BUCKETS,
    COST_PARTS,
    Attribution,
    Call,
    Charge,
    Content,
    Cost,
    Kind,
    Outcome,
    Quality,
    Status,
    ToolUse,
    Usage,
)

MONEY_TYPE: Final = pa.decimal128(38, 12)
MONEY_QUANTUM: Final = Decimal(1).scaleb(-12)
_MONEY_CONTEXT: Final = Context(prec=38)
"""Wide enough for every amount the store keeps (26 digits before the point, 12 after): the default
context's 28 digits made a charge of 10**16 or more fail the batch it travelled in."""
TIME_TYPE: Final = pa.timestamp("us")
TOOL_USE_TYPE: Final = pa.struct([("name", pa.string()), ("args_hash", pa.string()), ("server", pa.bool_())])
TAGS_TYPE: Final = pa.map_(pa.string(), pa.string())

_STR = pa.string()
_INT = pa.int64()
_FLOAT = pa.float64()
_BOOL = pa.bool_()

CALL_SCALARS: Final[tuple[tuple[str, Any], ...]] = (
    ("id", _STR),
    ("trace_id", _STR),
    ("span_id", _STR),
    ("parent_span_id", _STR),
    ("session_id", _STR),
    ("step", _INT),
    ("started_at", TIME_TYPE),
    ("ended_at", TIME_TYPE),
    ("latency_ms", _FLOAT),
    ("ttft_ms", _FLOAT),
    ("provider", _STR),
    ("operation", _STR),
    ("request_model", _STR),
    ("response_model", _STR),
    ("api", _STR),
    ("streamed", _BOOL),
    ("batch", _BOOL),
    ("service_tier", _STR),
)
"""The call's own scalar fields, stored under their own names."""

CALL_SHAPE: Final = (
    "context_window",
    "max_output_tokens",
    "n_messages",
    "system_tokens",
    "tool_def_tokens",
    "user_tokens",
    "history_tokens",
)
CALL_RESULT: Final = (("status", _STR), ("error_type", _STR), ("http_status", _INT), ("finish_reason", _STR))

CALLS_SCHEMA: Final = pa.schema(
    [
        *CALL_SCALARS,
        *[(b, _INT) for b in BUCKETS],
        ("input_total", _INT),
        ("output_total", _INT),
        ("server_tools", pa.map_(pa.string(), pa.int64())),
        ("usage_kind", _STR),
        ("quality", pa.list_(_STR)),
        *[(name, _INT) for name in CALL_SHAPE],
        ("prefix_hashes", pa.list_(_STR)),
        *CALL_RESULT,
        ("tool_uses", pa.list_(TOOL_USE_TYPE)),
        ("filler_tokens", _INT),
        *[(name, _STR) for name in ATTRIBUTION_FIELDS],
        ("tags", TAGS_TYPE),
        ("success", _BOOL),
        ("score", _FLOAT),
        ("action", _STR),
        ("cost_total", MONEY_TYPE),
        *[(f"cost_{part}", MONEY_TYPE) for part in COST_PARTS],
        ("cost_currency", _STR),
        ("cost_source", _STR),
        ("cost_price_date", pa.date32()),
        ("cost_estimated", _BOOL),
        ("cost_reason", _STR),
        ("provider_reported_cost", MONEY_TYPE),
        ("prompt_text", _STR),
        ("completion_text", _STR),
        ("source", _STR),
        ("imported_at", TIME_TYPE),
        ("modalities", pa.map_(pa.string(), pa.int64())),
    ]
)
"""The ``calls`` table's columns, in table order (see store/migrations.py: ``modalities`` came with
a later migration, so it follows ``imported_at``)."""

CHARGES_SCHEMA: Final = pa.schema(
    [
        ("id", _STR),
        ("session_id", _STR),
        ("at", TIME_TYPE),
        ("kind", _STR),
        ("amount", MONEY_TYPE),
        ("currency", _STR),
        ("quantity", _FLOAT),
        ("unit", _STR),
        ("description", _STR),
        *[(name, _STR) for name in ATTRIBUTION_FIELDS],
        ("tags", TAGS_TYPE),
        ("source", _STR),
        ("imported_at", TIME_TYPE),
    ]
)
"""The ``charges`` table's columns, in table order."""


def money(value: Decimal | None) -> Decimal | None:
    """``value`` rounded half away from zero to 12 places (the store's DECIMAL(38, 12)), or None."""
    if value is None:
        return None
    return value.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_UP, context=_MONEY_CONTEXT)


def utc_naive(value: datetime | None) -> datetime | None:
    """A datetime as naive UTC (aware values are converted; naive ones are taken as UTC)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


# ---------------------------------------------------------------------------------------------
# records -> Arrow


def calls_to_arrow(calls: Iterable[Call], *, imported_at: datetime | None = None) -> pa.Table:
    """One Arrow table (:data:`CALLS_SCHEMA`) holding ``calls`` in order.

    Args:
        calls: The calls.
        imported_at: The time to record as ``imported_at`` (naive UTC), or None.
    """
    rows = [_call_row(call, imported_at) for call in calls]
    return pa.Table.from_pylist(rows, schema=CALLS_SCHEMA)


def charges_to_arrow(charges: Iterable[Charge], *, imported_at: datetime | None = None) -> pa.Table:
    """One Arrow table (:data:`CHARGES_SCHEMA`) holding ``charges`` in order."""
    rows = [_charge_row(charge, imported_at) for charge in charges]
    return pa.Table.from_pylist(rows, schema=CHARGES_SCHEMA)


def _call_row(call: Call, imported_at: datetime | None) -> dict[str, Any]:
    row: dict[str, Any] = {name: getattr(call, name) for name, _ in CALL_SCALARS}
    row["started_at"] = utc_naive(call.started_at)
    row["ended_at"] = utc_naive(call.ended_at)
    row.update(_usage_columns(call.usage))
    row.update({name: getattr(call, name) for name in CALL_SHAPE})
    row["prefix_hashes"] = list(call.prefix_hashes)
    row.update(
        status=call.status.value,
        error_type=call.error_type,
        http_status=call.http_status,
        finish_reason=call.finish_reason,
        filler_tokens=call.filler_tokens,
    )
    row["tool_uses"] = [
        {"name": t.name, "args_hash": t.args_hash, "server": t.server} for t in call.tool_uses
    ]
    row.update(_attribution_columns(call.attribution))
    outcome = call.outcome or Outcome()
    row.update(success=outcome.success, score=outcome.score, action=outcome.action)
    row.update(_cost_columns(call.cost))
    row["provider_reported_cost"] = money(call.provider_reported_cost)
    content = call.content or Content()
    row.update(prompt_text=content.prompt, completion_text=content.completion)
    row["source"] = call.source
    row["imported_at"] = imported_at
    return row


def _usage_columns(usage: Usage) -> dict[str, Any]:
    row: dict[str, Any] = {b: getattr(usage, b) for b in BUCKETS}
    row["input_total"] = usage.input_total
    row["output_total"] = usage.output_total
    row["server_tools"] = list(usage.server_tools.items())
    row["modalities"] = list(usage.modalities.items())
    row["usage_kind"] = usage.kind.value
    row["quality"] = [q.value for q in usage.quality]
    return row


def _attribution_columns(attribution: Attribution) -> dict[str, Any]:
    row: dict[str, Any] = {name: getattr(attribution, name) for name in ATTRIBUTION_FIELDS}
    row["tags"] = list(attribution.tags.items())
    return row


def _cost_columns(cost: Cost | None) -> dict[str, Any]:
    if cost is None:
        return {}
    row: dict[str, Any] = {f"cost_{part}": money(cost.parts.get(part)) for part in COST_PARTS}
    row.update(
        cost_total=money(cost.total),
        cost_currency=cost.currency,
        cost_source=cost.source,
        cost_price_date=cost.price_date,
        cost_estimated=cost.estimated,
        cost_reason=cost.reason,
    )
    return row


def _charge_row(charge: Charge, imported_at: datetime | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": charge.id,
        "session_id": charge.session_id,
        "at": utc_naive(charge.at),
        "kind": charge.kind,
        "amount": money(charge.amount),
        "currency": charge.currency,
        "quantity": charge.quantity,
        "unit": charge.unit,
        "description": charge.description,
        "source": charge.source,
        "imported_at": imported_at,
    }
    row.update(_attribution_columns(charge.attribution))
    return row


# ---------------------------------------------------------------------------------------------
# Arrow -> records


def calls_from_arrow(table: pa.Table | pa.RecordBatch) -> Iterator[Call]:
    """The calls held in an Arrow table with the ``calls`` columns (extra columns are ignored)."""
    for row in table.to_pylist():
        yield call_from_row(row)


def charges_from_arrow(table: pa.Table | pa.RecordBatch) -> Iterator[Charge]:
    """The charges held in an Arrow table with the ``charges`` columns."""
    for row in table.to_pylist():
        yield charge_from_row(row)


def call_from_row(row: Mapping[str, Any]) -> Call:
    """A Call from one row of the ``calls`` table (as a column -> Python value mapping)."""
    values: dict[str, Any] = {name: row[name] for name, _ in CALL_SCALARS}
    values["batch"] = bool(row["batch"])
    values["operation"] = row["operation"] or "chat"
    values.update({name: row[name] for name in CALL_SHAPE})
    values["usage"] = _usage_from_row(row)
    values["prefix_hashes"] = tuple(row["prefix_hashes"] or ())
    values["status"] = Status(row["status"] or Status.OK.value)
    for name in ("error_type", "http_status", "finish_reason", "filler_tokens", "source"):
        values[name] = row[name]
    values["tool_uses"] = tuple(
        ToolUse(name=t["name"], args_hash=t["args_hash"], server=bool(t["server"]))
        for t in row["tool_uses"] or ()
    )
    values["attribution"] = _attribution_from_row(row)
    if any(row[name] is not None for name in ("success", "score", "action")):
        values["outcome"] = Outcome(success=row["success"], score=row["score"], action=row["action"])
    values["cost"] = _cost_from_row(row)
    values["provider_reported_cost"] = row["provider_reported_cost"]
    if row["prompt_text"] is not None or row["completion_text"] is not None:
        values["content"] = Content(prompt=row["prompt_text"], completion=row["completion_text"])
    return Call(**values)


def _usage_from_row(row: Mapping[str, Any]) -> Usage:
    return Usage(
        **{b: row[b] for b in BUCKETS},
        input_total=row["input_total"],
        output_total=row["output_total"],
        server_tools=dict(row["server_tools"] or ()),
        kind=Kind(row["usage_kind"] or Kind.REPORTED.value),
        quality=tuple(Quality(q) for q in row["quality"] or ()),
        modalities=dict(row.get("modalities") or ()),
    )


def _attribution_from_row(row: Mapping[str, Any]) -> Attribution:
    return Attribution(
        **{name: row[name] for name in ATTRIBUTION_FIELDS},
        tags=dict(row["tags"] or ()),
    )


def _cost_from_row(row: Mapping[str, Any]) -> Cost | None:
    if row["cost_currency"] is None:
        return None
    parts = {part: row[f"cost_{part}"] for part in COST_PARTS if row[f"cost_{part}"] is not None}
    return Cost(
        total=row["cost_total"],
        parts=parts,
        currency=row["cost_currency"],
        source=row["cost_source"],
        price_date=row["cost_price_date"],
        estimated=bool(row["cost_estimated"]),
        reason=row["cost_reason"],
    )


def charge_from_row(row: Mapping[str, Any]) -> Charge:
    """A Charge from one row of the ``charges`` table."""
    return Charge(
        id=row["id"],
        amount=row["amount"],
        kind=row["kind"],
        at=row["at"],
        currency=row["currency"],
        session_id=row["session_id"],
        quantity=row["quantity"],
        unit=row["unit"],
        description=row["description"],
        attribution=_attribution_from_row(row),
        source=row["source"],
    )
