"""The ``tokenomy.*`` span attributes the capture SDK's OTLP target adds, read back into exact records.

The GenAI conventions name only part of a :class:`~tokenomy.schema.Call`: one figure for cache
writes, audio, image and video tokens only as sums over the input buckets, times in nanoseconds,
no team, feature, intent, tags, step, prompt shape or prefix hashes. The capture SDK sends the
rest under ``tokenomy.*`` (see :mod:`tokenomy.capture.sink.otlp_spans`). A span that carries
``tokenomy.call.id`` is one of its calls: :func:`exact_call` rebuilds that call from the span
alone (its own attributes, no inheritance from ancestors), so it reads back as the very Call the
SDK sent over its native route. Spans without that marker are left to the GenAI mapping, unchanged.

Charges and outcomes travel as ``tokenomy.charge {kind}`` and ``tokenomy.outcome`` spans;
:func:`charge_of` and :func:`outcome_of` read them back (a span that lacks what a record needs,
or holds it with the wrong type, is not one and stays an ordinary span).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from tokenomy.errors import error_kind
from tokenomy.importers.otlp_decode import Span
from tokenomy.importers.results import ImportOptions
from tokenomy.schema import (
    ATTRIBUTION_FIELDS,
    MODAL_KEYS,
    OUTCOME_TARGETS,
    Attribution,
    Call,
    Charge,
    Content,
    Kind,
    Outcome,
    OutcomeEvent,
    Quality,
    Status,
    ToolUse,
    Usage,
    not_usd,
)
from tokenomy.usage.base import to_decimal

CALL_MARKER: Final = "tokenomy.call.id"
CHARGE_MARKER: Final = "tokenomy.charge.id"
OUTCOME_MARKER: Final = "tokenomy.outcome.target"
CURRENCY: Final = "tokenomy.charge.currency"
MARKERS: Final = (CALL_MARKER, CHARGE_MARKER, OUTCOME_MARKER)
"""Keys that make a span one of the SDK's records."""
_KINDS: Final = {k.value: k for k in Kind}
_QUALITIES: Final = {q.value: q for q in Quality}
_STATUSES: Final = {s.value: s for s in Status}
SHAPE: Final = (
    "context_window",
    "n_messages",
    "system_tokens",
    "tool_def_tokens",
    "user_tokens",
    "history_tokens",
)
NAMED: Final = {"user": "user.id", "environment": "deployment.environment.name", "agent": "gen_ai.agent.name"}
"""Attribution fields sent under a convention's name rather than ``tokenomy.<field>``."""
OTHER_ERROR: Final = "_OTHER"
"""``error.type`` of a failed call whose error has no type (the conventions' fallback value): read as none."""
TAG_PREFIX: Final = "tokenomy.tag."
SERVER_TOOLS_PREFIX: Final = "tokenomy.usage.server_tools."
MODALITY_PREFIX: Final = "tokenomy.usage.modality."
"""Followed by a :data:`~tokenomy.schema.MODAL_KEYS` key: the exact non-text tokens of one bucket."""
_MODAL_KEYS: Final = frozenset(MODAL_KEYS)
_EPOCH: Final = datetime(1970, 1, 1)
_MILLISECOND: Final = 1_000_000
_MICROSECOND: Final = 1_000
"""Nanoseconds. Call and charge times are kept to the millisecond, outcome times to the microsecond:
the native form's precision for each, so a record stores the same whichever route it took."""


@dataclass(slots=True)
class SdkRecords:
    """The charges and outcomes among a request's spans, and the keys of the spans they came from."""

    charges: list[Charge] = field(default_factory=list)
    outcomes: list[OutcomeEvent] = field(default_factory=list)
    keys: set[tuple[str | None, str | None]] = field(default_factory=set)
    refused: list[tuple[str, str]] = field(default_factory=list)
    """Why each span that cannot be kept was refused (a charge in a currency other than USD, an
    outcome with nothing in it), with the attribute at fault: the span is not read as a record, and
    an importer reports it."""


def is_sdk_call(span: Span) -> bool:
    """True when the span is a call the capture SDK sent (it carries ``tokenomy.call.id``)."""
    return _str(span.attributes, CALL_MARKER) is not None


def exact_call(span: Span, options: ImportOptions) -> Call:
    """The Call an SDK call span records, rebuilt from the span's own attributes."""
    attrs = span.attributes
    started = _time(span.start_ns, _MILLISECOND)
    return Call(
        id=_str(attrs, CALL_MARKER) or "",
        provider=_str(attrs, "tokenomy.provider"),
        request_model=_str(attrs, "gen_ai.request.model"),
        response_model=_str(attrs, "gen_ai.response.model"),
        operation=_str(attrs, "gen_ai.operation.name") or "chat",
        api=_str(attrs, "tokenomy.api"),
        started_at=started,
        ended_at=_time(span.end_ns, _MILLISECOND) if started is not None else None,
        latency_ms=_float(attrs.get("tokenomy.latency_ms")),
        ttft_ms=_float(attrs.get("tokenomy.ttft_ms")),
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        session_id=_str(attrs, "gen_ai.conversation.id"),
        step=_int(attrs.get("tokenomy.step")),
        streamed=_bool(attrs.get("gen_ai.request.stream")),
        batch=attrs.get("tokenomy.batch") is True,
        service_tier=_str(attrs, "tokenomy.service_tier"),
        usage=_usage(attrs),
        max_output_tokens=_int(attrs.get("gen_ai.request.max_tokens")),
        context_window=_shape(attrs, "context_window"),
        n_messages=_shape(attrs, "n_messages"),
        system_tokens=_shape(attrs, "system_tokens"),
        tool_def_tokens=_shape(attrs, "tool_def_tokens"),
        user_tokens=_shape(attrs, "user_tokens"),
        history_tokens=_shape(attrs, "history_tokens"),
        prefix_hashes=tuple(_strings(attrs.get("tokenomy.prefix_hashes"))),
        status=_status(attrs),
        error_type=_error_type(attrs),
        http_status=_int(attrs.get("http.response.status_code")),
        finish_reason=_first_string(attrs.get("gen_ai.response.finish_reasons")),
        tool_uses=_tool_uses(attrs),
        filler_tokens=_int(attrs.get("tokenomy.filler_tokens")),
        attribution=attribution_of(attrs),
        provider_reported_cost=to_decimal(_str(attrs, "tokenomy.provider_reported_cost")),
        content=_content(attrs) if options.capture_content else None,
        source=_str(attrs, "tokenomy.source"),
    )


def sdk_records(spans: list[Span]) -> SdkRecords:
    """The charges and outcomes the SDK sent among ``spans`` (see the module docstring); a charge
    in another currency than USD, or an outcome with no success, score or action (it would erase
    the outcome before it), is refused: named in ``refused``, its span kept out of the trace tree."""
    found = SdkRecords()
    for span in spans:
        record: Charge | OutcomeEvent | None = None
        problem: tuple[str, str] | None = None
        if CHARGE_MARKER in span.attributes:
            currency = not_usd(span.attributes.get(CURRENCY))
            if currency:
                problem = CURRENCY, f"charge {_str(span.attributes, CHARGE_MARKER)!r}: {currency}"
            else:
                record = charge_of(span)
        elif OUTCOME_MARKER in span.attributes:
            record = outcome_of(span)
            if record is not None and record.outcome == Outcome():
                problem = (
                    OUTCOME_MARKER,
                    f"outcome for {record.target} {record.id!r}: no success, score or action",
                )
        if problem:
            found.refused.append(problem)
        elif isinstance(record, Charge):
            found.charges.append(record)
        elif record is not None:
            found.outcomes.append(record)
        if record is not None or problem:
            found.keys.add((span.trace_id, span.span_id))
    return found


def charge_of(span: Span) -> Charge | None:
    """The Charge a ``tokenomy.charge`` span records, or None when it lacks an id, amount, kind or time."""
    attrs = span.attributes
    charge_id, kind = _str(attrs, CHARGE_MARKER), _str(attrs, "tokenomy.charge.kind")
    amount = to_decimal(_str(attrs, "tokenomy.charge.amount"))
    at = _time(span.start_ns, _MILLISECOND)
    if charge_id is None or kind is None or amount is None or at is None:
        return None
    return Charge(
        id=charge_id,
        amount=amount,
        kind=kind,
        at=at,
        currency="USD",  # sdk_records refuses a span in another currency before it gets here
        session_id=_str(attrs, "gen_ai.conversation.id"),
        quantity=_float(attrs.get("tokenomy.charge.quantity")),
        unit=_str(attrs, "tokenomy.charge.unit"),
        description=_str(attrs, "tokenomy.charge.description"),
        attribution=attribution_of(attrs),
        source=_str(attrs, "tokenomy.source"),
    )


def outcome_of(span: Span) -> OutcomeEvent | None:
    """The OutcomeEvent a ``tokenomy.outcome`` span records (None without a target, an id or a time)."""
    attrs = span.attributes
    target, target_id, at = (
        _str(attrs, OUTCOME_MARKER),
        _str(attrs, "tokenomy.outcome.id"),
        _time(span.start_ns, _MICROSECOND),
    )
    if target not in OUTCOME_TARGETS or target_id is None or at is None:
        return None
    return OutcomeEvent(
        target="call" if target == "call" else "session",
        id=target_id,
        at=at,
        success=_bool(attrs.get("tokenomy.outcome.success")),
        score=_float(attrs.get("tokenomy.outcome.score")),
        action=_str(attrs, "tokenomy.outcome.action"),
    )


def attribution_of(attrs: Mapping[str, Any]) -> Attribution:
    """The attribution the SDK wrote on a span: its named fields, ``tokenomy.<field>``, ``tokenomy.tag.*``."""
    values = {name: _str(attrs, NAMED.get(name, f"tokenomy.{name}")) for name in ATTRIBUTION_FIELDS}
    tags = {
        k.removeprefix(TAG_PREFIX): v
        for k, v in attrs.items()
        if k.startswith(TAG_PREFIX) and isinstance(v, str)
    }
    return Attribution(**values, tags=tags)


def _usage(attrs: Mapping[str, Any]) -> Usage:
    """The exact buckets; the totals are the conventions' inclusive figures, as sent."""
    kind = _str(attrs, "tokenomy.usage.kind")
    quality = [_QUALITIES[q] for q in _strings(attrs.get("tokenomy.usage.quality")) if q in _QUALITIES]
    servers = {
        k.removeprefix(SERVER_TOOLS_PREFIX): v
        for k, v in attrs.items()
        if k.startswith(SERVER_TOOLS_PREFIX) and _int(v) is not None
    }
    return Usage(
        input_uncached=_int(attrs.get("tokenomy.usage.input_uncached")),
        cache_read=_int(attrs.get("gen_ai.usage.cache_read.input_tokens")),
        cache_write_5m=_int(attrs.get("tokenomy.usage.cache_write_5m")),
        cache_write_1h=_int(attrs.get("tokenomy.usage.cache_write_1h")),
        output_visible=_int(attrs.get("tokenomy.usage.output_visible")),
        reasoning=_int(attrs.get("gen_ai.usage.reasoning.output_tokens")),
        input_total=_int(attrs.get("gen_ai.usage.input_tokens")),
        output_total=_int(attrs.get("gen_ai.usage.output_tokens")),
        server_tools=servers,
        kind=_KINDS.get(kind or "", Kind.REPORTED),
        quality=tuple(quality),
        modalities=_modalities(attrs),
    )


def _modalities(attrs: Mapping[str, Any]) -> dict[str, int]:
    """The ``tokenomy.usage.modality.*`` counts (a key tokenomy does not know, or a count that is no
    whole number or is 0, is no modality count and is left out)."""
    found: dict[str, int] = {}
    for key, value in attrs.items():
        name = key.removeprefix(MODALITY_PREFIX)
        if name != key and name in _MODAL_KEYS and (n := _int(value)):
            found[name] = n
    return found


def _error_type(attrs: Mapping[str, Any]) -> str | None:
    """The call's error type; the conventions' fallback, written for a failed call without one, is none,
    and so is a value that is no classification (:func:`tokenomy.errors.error_kind`), as elsewhere."""
    found = error_kind(_str(attrs, "error.type"))
    return None if found == OTHER_ERROR else found


def _status(attrs: Mapping[str, Any]) -> Status:
    return _STATUSES.get(_str(attrs, "tokenomy.status") or "", Status.OK)


def _tool_uses(attrs: Mapping[str, Any]) -> tuple[ToolUse, ...]:
    """``name:args_hash`` strings (the name may hold colons; the hash never does), with server flags."""
    servers = attrs.get("tokenomy.tool_uses.server")
    flags = servers if isinstance(servers, list) else []
    uses = []
    for index, text in enumerate(_strings(attrs.get("tokenomy.tool_uses"))):
        name, _, args_hash = text.rpartition(":")
        server = index < len(flags) and flags[index] is True
        uses.append(ToolUse(name, args_hash or None, server))
    return tuple(uses)


def _shape(attrs: Mapping[str, Any], name: str) -> int | None:
    return _int(attrs.get(f"tokenomy.shape.{name}"))


def _content(attrs: Mapping[str, Any]) -> Content | None:
    prompt, completion = _str(attrs, "tokenomy.content.prompt"), _str(attrs, "tokenomy.content.completion")
    return None if prompt is None and completion is None else Content(prompt=prompt, completion=completion)


def _time(ns: int | None, unit: int) -> datetime | None:
    """Naive UTC, truncated to ``unit`` nanoseconds exactly (a float of seconds can be off by one)."""
    return _EPOCH + timedelta(microseconds=ns // unit * unit // 1000) if ns else None


def _str(attrs: Mapping[str, Any], key: str) -> str | None:
    value = attrs.get(key)
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _first_string(value: Any) -> str | None:
    strings = _strings(value)
    return strings[0] if strings else None
