"""What the capture sink carries, and its line-by-line (NDJSON) form in the spool and on the wire.

A sink batch holds calls, charges, outcome events and agent spans. Calls, charges and outcomes
are written in their native form (:mod:`tokenomy.native`), so a spool file is native JSONL that
``tokenomy import`` could read; an agent span, which only the OTLP target exports, is written
as ``{"type": "tokenomy.agent_span", ...}``, a line that the native targets leave out.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TypeAlias

from tokenomy.native import (
    FieldError,
    attribution_from_native,
    attribution_to_native,
    call_from_native,
    call_to_native,
    charge_from_native,
    charge_to_native,
    format_time,
    outcome_from_native,
    outcome_to_native,
    parse_time,
)
from tokenomy.schema import Attribution, Call, Charge, OutcomeEvent

AGENT_SPAN_TYPE: Final = "tokenomy.agent_span"


@dataclass(frozen=True, slots=True)
class AgentSpan:
    """One run of an agent scope (``tokenomy.context(agent=...)``): the parent of its calls' spans."""

    trace_id: str
    span_id: str
    name: str
    started_at: datetime
    ended_at: datetime
    parent_span_id: str | None = None
    session_id: str | None = None
    attribution: Attribution = field(default_factory=Attribution)


Record: TypeAlias = Call | Charge | OutcomeEvent | AgentSpan
"""Anything a sink batch holds."""


def to_native(record: Record) -> dict[str, Any]:
    """The JSON object of one record (native form; agent spans in tokenomy's own form)."""
    if isinstance(record, Call):
        return call_to_native(record)
    if isinstance(record, Charge):
        return charge_to_native(record)
    if isinstance(record, OutcomeEvent):
        return outcome_to_native(record)
    out: dict[str, Any] = {
        "type": AGENT_SPAN_TYPE,
        "trace_id": record.trace_id,
        "span_id": record.span_id,
        "parent_span_id": record.parent_span_id,
        "name": record.name,
        "session_id": record.session_id,
        "started_at": format_time(record.started_at, timespec="microseconds"),
        "ended_at": format_time(record.ended_at, timespec="microseconds"),
    }
    attribution = attribution_to_native(record.attribution)
    if attribution:
        out["attribution"] = attribution
    return out


def from_native(obj: Any) -> Record:
    """The record a JSON object holds.

    Raises:
        FieldError: The object is not a valid record.
    """
    if not isinstance(obj, dict):
        raise FieldError("(record)", f"expected a JSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    if kind == "charge":
        return charge_from_native(obj)
    if kind == "outcome":
        return outcome_from_native(obj)
    if kind == AGENT_SPAN_TYPE:
        return _agent_span(obj)
    return call_from_native(obj)


def _agent_span(obj: dict[str, Any]) -> AgentSpan:
    for name in ("trace_id", "span_id", "name"):
        if not isinstance(obj.get(name), str):
            raise FieldError(name, "an agent span needs it as a string")
    parent, session = obj.get("parent_span_id"), obj.get("session_id")
    return AgentSpan(
        trace_id=obj["trace_id"],
        span_id=obj["span_id"],
        name=obj["name"],
        started_at=parse_time(obj.get("started_at"), "started_at"),
        ended_at=parse_time(obj.get("ended_at"), "ended_at"),
        parent_span_id=parent if isinstance(parent, str) else None,
        session_id=session if isinstance(session, str) else None,
        attribution=attribution_from_native(obj.get("attribution")),
    )


def _unpaired(error: UnicodeError) -> tuple[bytes, int]:
    """The codec error handler :data:`UNPAIRED` names, for a run of UTF-16 surrogates UTF-8 cannot
    hold: a high and a low one in a row (text read as UTF-16 code units) written as the character
    they make, a lone one (text cut in the middle of an emoji, or decoded with ``surrogateescape``)
    as U+FFFD, the replacement character. Given as UTF-8 bytes: the UTF-8 encoder takes only ASCII
    text from a handler."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    run, out, at = error.object[error.start : error.end], bytearray(), 0
    while at < len(run):
        pair = run[at : at + 2]
        if len(pair) == 2 and "\ud800" <= pair[0] <= "\udbff" and "\udc00" <= pair[1] <= "\udfff":
            out += pair.encode("utf-16-le", "surrogatepass").decode("utf-16-le").encode("utf-8")
            at += 2
        else:
            out += REPLACEMENT
            at += 1
    return bytes(out), error.end


REPLACEMENT: Final = "\ufffd".encode()


UNPAIRED: Final = "tokenomy.unpaired"
codecs.register_error(UNPAIRED, _unpaired)


def encode(records: Iterable[Record]) -> bytes:
    """Records as NDJSON: one compact JSON object a line, each line ending with a newline. A lone
    surrogate in any text is written as U+FFFD (:data:`UNPAIRED`): UTF-8 cannot hold it, and
    refusing the batch for it would lose every record of the batch."""
    lines = [json.dumps(to_native(r), separators=(",", ":"), ensure_ascii=False) for r in records]
    return ("\n".join(lines) + "\n").encode("utf-8", UNPAIRED) if lines else b""


def unpaired(records: Iterable[Record]) -> bool:
    """Whether some text of ``records`` holds a lone surrogate (which UTF-8 cannot hold)."""
    try:
        for record in records:
            json.dumps(to_native(record), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def clean_text(records: Iterable[Record]) -> list[Record]:
    """``records`` with every lone surrogate in their text replaced by U+FFFD, for a target that
    cannot write it (Arrow, protobuf): read back from their NDJSON (:func:`encode`)."""
    return decode(encode(records))


def decode(data: bytes) -> list[Record]:
    """The records of NDJSON written by :func:`encode` (blank lines are skipped).

    Raises:
        FieldError: A line is not JSON or not a valid record (the field names which line).
    """
    out: list[Record] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise FieldError(f"line {number}", f"not JSON: {exc}") from exc
        out.append(from_native(obj))
    return out


def is_native(record: Record) -> bool:
    """True for records the native targets carry (everything but agent spans)."""
    return not isinstance(record, AgentSpan)
