"""The native JSON form of the records: one object per call (or charge, or outcome), as in native JSONL.

This is the schema of ``tokenomy export``, ``tokenomy simulate``, the native importer and
``schemas/call.schema.json``: usage under ``usage`` with the bucket names of DESIGN section 4, cost
under ``cost`` with ``total`` a decimal string. :func:`call_from_native` validates as it reads and
raises :class:`FieldError` naming the offending field (dotted path), for importers to report.

Besides calls, a line may be a charge (``"type": "charge"``, in USD) or an outcome that arrives after
its call or session (``"type": "outcome"``, :class:`tokenomy.schema.OutcomeEvent`): :func:`record_type`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from tokenomy.errors import error_kind
from tokenomy.native_fields import (
    FieldError,
    date_value,
    enum_value,
    field_path,
    int_value,
    opt_bool,
    opt_decimal,
    opt_float,
    opt_int,
    opt_str,
    opt_time,
    opt_tokens,
    or_default,
    parse_time,
    required_str,
    str_list,
    token_count,
)
from tokenomy.providers import canonical
from tokenomy.schema import (
    ATTRIBUTION_FIELDS,
    BUCKETS,
    COST_PARTS,
    MODAL_BUCKETS,
    MODAL_KEYS,
    MODALITIES,
    OUTCOME_TARGETS,
    Attribution,
    Call,
    Charge,
    Content,
    Cost,
    Kind,
    Outcome,
    OutcomeEvent,
    Quality,
    Status,
    ToolUse,
    Usage,
    not_usd,
)

__all__ = [
    "FLOAT_FIELDS",
    "INT_FIELDS",
    "SCHEMA_VERSION",
    "STR_FIELDS",
    "TOKEN_FIELDS",
    "USAGE_KEYS",
    "FieldError",
    "attribution_from_native",
    "attribution_to_native",
    "call_from_native",
    "call_to_native",
    "charge_from_native",
    "charge_to_native",
    "cost_from_native",
    "cost_to_native",
    "format_time",
    "is_charge",
    "is_outcome",
    "money_text",
    "outcome_from_native",
    "outcome_to_native",
    "parse_time",
    "record_type",
    "usage_from_native",
    "usage_to_native",
]

SCHEMA_VERSION: Final = 1

INT_FIELDS: Final = (
    "step",
    "context_window",
    "max_output_tokens",
    "n_messages",
    "system_tokens",
    "tool_def_tokens",
    "user_tokens",
    "history_tokens",
    "http_status",
    "filler_tokens",
)
TOKEN_FIELDS: Final = tuple(n for n in INT_FIELDS if n.endswith("_tokens") and n != "max_output_tokens")
"""The counts of :data:`INT_FIELDS` that are tokens the call holds (at most :data:`MAX_TOKENS`): not
``max_output_tokens``, the cap its request asked for (any 64-bit number: JavaScript's largest safe
integer is a common "no limit")."""
STR_FIELDS: Final = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "session_id",
    "provider",
    "request_model",
    "response_model",
    "api",
    "service_tier",
    "error_type",
    "finish_reason",
    "source",
)
FLOAT_FIELDS: Final = ("latency_ms", "ttft_ms")
"""A call's optional top-level scalars by JSON type (whole numbers, strings, numbers): the one list
the native reader, the store's SQL reader and its export share."""
USAGE_KEYS: Final = frozenset(
    (*BUCKETS, "input_total", "output_total", "server_tools", "modalities", "kind", "quality")
)
"""The keys a native ``usage`` object may hold; any other is refused (the native reader and the
store's SQL reader both check it), since the tokens it counts would be silently lost."""


# ---------------------------------------------------------------------------------------------
# writing


def money_text(value: Decimal) -> str:
    """A money amount as a plain decimal string: ``0.000000075000``, never ``7.5000E-8`` or ``0E-12``
    (what ``str(Decimal)`` prints for amounts under a millionth), which other tools misread."""
    return format(value, "f")


def call_to_native(call: Call) -> dict[str, Any]:
    """The native JSON object of a call (only JSON types; money as decimal strings)."""
    out: dict[str, Any] = {"id": call.id}
    for name in ("started_at", "ended_at"):
        value = getattr(call, name)
        if value is not None:
            out[name] = format_time(value)
    for name in (*STR_FIELDS, *INT_FIELDS, *FLOAT_FIELDS, "streamed", "operation"):
        value = getattr(call, name)
        if value is not None:
            out[name] = value
    out["batch"] = call.batch
    out["status"] = call.status.value
    out["usage"] = usage_to_native(call.usage)
    if call.prefix_hashes:
        out["prefix_hashes"] = list(call.prefix_hashes)
    if call.tool_uses:
        out["tool_uses"] = [_tool_use_to_native(t) for t in call.tool_uses]
    attribution = attribution_to_native(call.attribution)
    if attribution:
        out["attribution"] = attribution
    if call.outcome is not None:
        out["outcome"] = {k: v for k, v in _outcome_items(call.outcome) if v is not None}
    if call.cost is not None:
        out["cost"] = cost_to_native(call.cost)
    if call.provider_reported_cost is not None:
        out["provider_reported_cost"] = money_text(call.provider_reported_cost)
    if call.content is not None:
        out["content"] = {"prompt": call.content.prompt, "completion": call.content.completion}
    return out


def usage_to_native(usage: Usage) -> dict[str, Any]:
    """The ``usage`` object: the six buckets, the two totals, server tools, modalities, kind and flags."""
    out: dict[str, Any] = {name: getattr(usage, name) for name in BUCKETS}
    out["input_total"] = usage.input_total
    out["output_total"] = usage.output_total
    if usage.server_tools:
        out["server_tools"] = dict(usage.server_tools)
    if usage.modalities:
        out["modalities"] = dict(usage.modalities)
    out["kind"] = usage.kind.value
    if usage.quality:
        out["quality"] = [q.value for q in usage.quality]
    return out


def cost_to_native(cost: Cost) -> dict[str, Any]:
    """The ``cost`` object: ``total`` as a decimal string (or null when unpriced)."""
    out: dict[str, Any] = {
        "total": None if cost.total is None else money_text(cost.total),
        "currency": cost.currency,
        "source": cost.source,
        "price_date": cost.price_date.isoformat() if cost.price_date else None,
        "estimated": cost.estimated,
    }
    if cost.parts:
        out["parts"] = {k: money_text(v) for k, v in cost.parts.items()}
    if cost.reason:
        out["reason"] = cost.reason
    return out


def attribution_to_native(attribution: Attribution) -> dict[str, Any]:
    """The ``attribution`` object with only the fields that are set."""
    out: dict[str, Any] = {
        name: getattr(attribution, name)
        for name in ATTRIBUTION_FIELDS
        if getattr(attribution, name) is not None
    }
    if attribution.tags:
        out["tags"] = dict(attribution.tags)
    return out


def charge_to_native(charge: Charge) -> dict[str, Any]:
    """The native JSON object of a charge (``"type": "charge"``)."""
    out: dict[str, Any] = {
        "type": "charge",
        "id": charge.id,
        "amount": money_text(charge.amount),
        "currency": charge.currency,
        "kind": charge.kind,
        "at": format_time(charge.at),
    }
    for name in ("session_id", "quantity", "unit", "description", "source"):
        value = getattr(charge, name)
        if value is not None:
            out[name] = value
    attribution = attribution_to_native(charge.attribution)
    if attribution:
        out["attribution"] = attribution
    return out


def outcome_to_native(event: OutcomeEvent) -> dict[str, Any]:
    """The native JSON object of an outcome (``"type": "outcome"``); unknown parts are null.

    ``at`` keeps microseconds, so that (target, id, at) still tells two outcomes apart.
    """
    return {
        "type": "outcome",
        "target": event.target,
        "id": event.id,
        "success": event.success,
        "score": event.score,
        "action": event.action,
        "at": format_time(event.at, timespec="microseconds"),
    }


def format_time(value: datetime, *, timespec: str = "milliseconds") -> str:
    """ISO 8601 in UTC with millisecond precision and a ``Z`` suffix."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec=timespec) + "Z"


def _tool_use_to_native(tool: ToolUse) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name, "args_hash": tool.args_hash}
    if tool.server:
        out["server"] = True
    return out


def _outcome_items(outcome: Outcome) -> list[tuple[str, Any]]:
    return [("success", outcome.success), ("score", outcome.score), ("action", outcome.action)]


# ---------------------------------------------------------------------------------------------
# reading


def is_charge(obj: Mapping[str, Any]) -> bool:
    """True when a native object is a charge rather than a call."""
    return obj.get("type") == "charge"


def is_outcome(obj: Mapping[str, Any]) -> bool:
    """True when a native object is an outcome (``"type": "outcome"``)."""
    return obj.get("type") == "outcome"


def record_type(obj: Mapping[str, Any]) -> str:
    """``"call"``, ``"charge"`` or ``"outcome"``: what a native object is (a call has no ``type``).

    Raises:
        FieldError: ``type`` is present but names no record.
    """
    kind = obj.get("type")
    if kind is None or kind == "call":
        return "call"
    if kind in ("charge", "outcome"):
        return str(kind)
    raise FieldError("type", f"{kind!r} is not a record type: omit it (a call), or use 'charge' or 'outcome'")


def outcome_from_native(obj: Mapping[str, Any]) -> OutcomeEvent:
    """Read and validate a native outcome object.

    Raises:
        FieldError: A field is missing or has the wrong type (``target`` must be ``call`` or
            ``session``, ``id`` a non-empty string, ``at`` a time, ``score`` a number), or it has
            no success, score or action.
    """
    if not isinstance(obj, Mapping):
        raise FieldError("(record)", f"expected a JSON object, got {type(obj).__name__}")
    target = obj.get("target")
    if target not in OUTCOME_TARGETS:
        raise FieldError("target", f"{target!r} is not one of {', '.join(OUTCOME_TARGETS)}")
    at = opt_time(obj, "at")
    if at is None:
        raise FieldError("at", "an outcome needs the time it was recorded")
    outcome = _outcome({k: obj.get(k) for k in ("success", "score", "action")}, where="") or Outcome()
    event = OutcomeEvent(
        target="call" if target == "call" else "session",
        id=required_str(obj, "id"),
        at=at,
        success=outcome.success,
        score=outcome.score,
        action=outcome.action,
    )
    if outcome == Outcome():  # it would erase the outcome before it: refused
        raise FieldError("(record)", "an outcome needs success, score or action (it replaces the last)")
    return event


def call_from_native(obj: Mapping[str, Any]) -> Call:
    """Read and validate a native call object.

    Raises:
        FieldError: A field has the wrong type or an impossible value.
    """
    if not isinstance(obj, Mapping):
        raise FieldError("(record)", f"expected a JSON object, got {type(obj).__name__}")
    values: dict[str, Any] = {"id": required_str(obj, "id")}
    values.update({name: opt_str(obj, name) for name in STR_FIELDS})
    if values["provider"]:  # "OpenAI" is openai, as every importer reads it
        values["provider"] = canonical(values["provider"])
    # a classification only: free text there (an exception's message) can quote the prompt or a key
    values["error_type"] = error_kind(values["error_type"])
    values.update({name: opt_int(obj, name, minimum=0) for name in INT_FIELDS if name not in TOKEN_FIELDS})
    values.update({name: opt_tokens(obj, name, None) for name in TOKEN_FIELDS})  # (bounded: MAX_TOKENS)
    values.update({name: opt_float(obj, name) for name in FLOAT_FIELDS})
    values["started_at"], values["ended_at"] = opt_time(obj, "started_at"), opt_time(obj, "ended_at")
    started, ended = values["started_at"], values["ended_at"]
    if started is not None and ended is not None and ended < started:  # latency and sessions go wrong
        raise FieldError("ended_at", f"{format_time(ended)} is before started_at ({format_time(started)})")
    values["operation"] = opt_str(obj, "operation") or "chat"
    values["streamed"], values["batch"] = opt_bool(obj, "streamed"), bool(opt_bool(obj, "batch"))
    values["status"] = enum_value(Status, or_default(obj.get("status"), "ok"), "status")
    values["usage"] = usage_from_native(obj.get("usage"), "usage")
    filler, visible = values["filler_tokens"], values["usage"].output_visible
    if filler is not None and visible is not None and filler > visible:  # metrics would go negative
        raise FieldError("filler_tokens", f"{filler} is more than the call's visible output ({visible})")
    values["prefix_hashes"] = tuple(str_list(obj.get("prefix_hashes"), "prefix_hashes"))
    values["tool_uses"] = tuple(_tool_uses(obj.get("tool_uses")))
    values["attribution"] = attribution_from_native(obj.get("attribution"), "attribution")
    values["outcome"] = _outcome(obj.get("outcome"))
    values["cost"] = cost_from_native(obj.get("cost"), "cost")
    reported = "provider_reported_cost"
    values[reported] = opt_decimal(obj.get(reported), reported)
    values["content"] = _content(obj.get("content"))
    return Call(**values)


def usage_from_native(obj: Any, where: str = "usage") -> Usage:
    """Read a native ``usage`` object (missing buckets are unknown, not 0)."""
    if obj is None:
        return Usage()
    if not isinstance(obj, Mapping):
        raise FieldError(where, "expected an object with the token buckets")
    unknown = [str(key) for key in obj if key not in USAGE_KEYS]
    if unknown:
        raise FieldError(where, _unknown_usage(unknown))
    counts = {name: opt_tokens(obj, name, where) for name in (*BUCKETS, "input_total", "output_total")}
    tools_obj = obj.get("server_tools") or {}
    if not isinstance(tools_obj, Mapping):
        raise FieldError(f"{where}.server_tools", "expected an object of counts")
    tools = {str(k): int_value(v, f"{where}.server_tools.{k}") for k, v in tools_obj.items()}
    kind = enum_value(Kind, or_default(obj.get("kind"), "reported"), f"{where}.kind")
    quality = tuple(enum_value(Quality, q, f"{where}.quality") for q in str_list(obj.get("quality"), where))
    modalities = _modalities(obj.get("modalities"), f"{where}.modalities")
    return Usage.of(**counts, server_tools=tools, kind=kind, quality=quality, modalities=modalities)


def _modalities(obj: Any, where: str) -> dict[str, int]:
    """``usage.modalities``: ``<bucket>.<modality>`` keys (:data:`MODAL_KEYS`) to non-negative counts."""
    if obj is None:
        return {}
    if not isinstance(obj, Mapping):
        raise FieldError(where, 'expected an object of counts such as {"input_uncached.audio": 120}')
    for key in obj:
        if key not in MODAL_KEYS:
            buckets, modalities = ", ".join(MODAL_BUCKETS), ", ".join(MODALITIES)
            expected = f"<bucket>.<modality>, the bucket one of {buckets}, the modality one of {modalities}"
            raise FieldError(f"{where}.{key}", f"unknown modality key; expected {expected}")
    return {str(k): token_count(v, f"{where}.{k}") for k, v in obj.items()}


def _unknown_usage(keys: list[str]) -> str:
    """Why a usage object with keys tokenomy does not know is refused: their tokens would be lost."""
    named = ", ".join(repr(key) for key in keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
    return (
        f"unknown key(s) {named}: a native usage object takes the buckets {', '.join(BUCKETS)}, the totals "
        "input_total and output_total, server_tools, modalities, kind and quality (a provider's own usage "
        "object must be mapped to these buckets first)"
    )


def cost_from_native(obj: Any, where: str = "cost") -> Cost | None:
    """Read a native ``cost`` object; None when absent (the call will be priced on import)."""
    if obj is None:
        return None
    if not isinstance(obj, Mapping):
        raise FieldError(where, "expected an object with total, currency, source, price_date")
    parts_obj = obj.get("parts") or {}
    if not isinstance(parts_obj, Mapping):
        raise FieldError(f"{where}.parts", "expected an object of decimal strings")
    parts: dict[str, Decimal] = {}
    for key, value in parts_obj.items():
        if key not in COST_PARTS:
            raise FieldError(
                f"{where}.parts.{key}", f"unknown cost part; expected one of {', '.join(COST_PARTS)}"
            )
        amount = opt_decimal(value, f"{where}.parts.{key}")
        if amount is not None:
            parts[key] = amount
    price_date = obj.get("price_date")
    if problem := not_usd(opt_str(obj, "currency", where=where)):  # summed with every other cost
        raise FieldError(f"{where}.currency", problem)
    return Cost(
        total=opt_decimal(obj.get("total"), f"{where}.total"),
        parts=parts,
        currency="USD",
        source=opt_str(obj, "source", where=where),
        price_date=date_value(price_date, f"{where}.price_date") if price_date is not None else None,
        estimated=bool(opt_bool(obj, "estimated", where=where)),
        reason=opt_str(obj, "reason", where=where),
    )


def attribution_from_native(obj: Any, where: str = "attribution") -> Attribution:
    """Read a native ``attribution`` object; tag values are turned into strings."""
    if obj is None:
        return Attribution()
    if not isinstance(obj, Mapping):
        raise FieldError(where, "expected an object (user, team, project, feature, ...)")
    values = {name: opt_str(obj, name, where=where) for name in ATTRIBUTION_FIELDS}
    tags = obj.get("tags") or {}
    if not isinstance(tags, Mapping):
        raise FieldError(f"{where}.tags", "expected an object of strings")
    return Attribution(**values, tags={str(k): str(v) for k, v in tags.items()})


def charge_from_native(obj: Mapping[str, Any]) -> Charge:
    """Read and validate a native charge object."""
    amount, at = opt_decimal(obj.get("amount"), "amount"), opt_time(obj, "at")
    if amount is None or at is None:
        field, what = ("amount", "an amount (decimal string)") if amount is None else ("at", "a time")
        raise FieldError(field, f"a charge needs {what}")
    if problem := not_usd(obj.get("currency")):
        raise FieldError("currency", problem)
    return Charge(
        id=required_str(obj, "id"),
        amount=amount,
        kind=opt_str(obj, "kind") or "other",
        at=at,
        currency="USD",
        session_id=opt_str(obj, "session_id"),
        quantity=opt_float(obj, "quantity"),
        unit=opt_str(obj, "unit"),
        description=opt_str(obj, "description"),
        attribution=attribution_from_native(obj.get("attribution")),
        source=opt_str(obj, "source"),
    )


def _tool_uses(value: Any) -> list[ToolUse]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise FieldError("tool_uses", "expected a list of {name, args_hash} objects")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise FieldError(f"tool_uses[{i}]", "expected an object with a string 'name'")
        out.append(
            ToolUse(
                name=item["name"],
                args_hash=opt_str(item, "args_hash", where=f"tool_uses[{i}]"),
                server=bool(opt_bool(item, "server", where=f"tool_uses[{i}]")),
            )
        )
    return out


def _outcome(value: Any, where: str = "outcome") -> Outcome | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise FieldError(where, "expected an object with success, score, action")
    score = value.get("score")
    if score is not None and (type(score) not in (int, float) or not math.isfinite(score)):
        raise FieldError(field_path(where, "score"), f"expected a finite number, got {score!r}")
    return Outcome(
        success=opt_bool(value, "success", where=where or None),
        score=None if score is None else float(score),
        action=opt_str(value, "action", where=where or None),
    )


def _content(value: Any) -> Content | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise FieldError("content", "expected an object with prompt and completion")
    return Content(
        prompt=opt_str(value, "prompt", where="content"),
        completion=opt_str(value, "completion", where="content"),
    )
