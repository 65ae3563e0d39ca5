"""``POST /v1/events``: native records (calls, charges, outcomes) as one object, an array, or NDJSON.

Records are those of :mod:`tokenomy.native`: a call has no ``type``; a charge has
``"type": "charge"``; an outcome ``"type": "outcome"``. A payload is taken whole or not at
all: one bad record makes it a 400 that names the record (its index in the array, or its line)
and the field, and nothing of it is stored, so a client can fix and resend it without
wondering what went in. Calls keep a cost they carry and are priced when stored otherwise;
prompt and completion text is dropped unless the server keeps content; an ``error_type`` that is
not a classification is dropped as the native reader drops it (:func:`tokenomy.native.call_from_native`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from tokenomy.errors import PayloadError
from tokenomy.native import FieldError, call_from_native, charge_from_native, outcome_from_native, record_type
from tokenomy.schema import Call, Charge, OutcomeEvent
from tokenomy.store.arrow import calls_to_arrow, charges_to_arrow
from tokenomy.store.events import EventBatch, outcomes_to_arrow

SOURCE: Final = "events"
NDJSON_TYPES: Final = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)
MAX_PROBLEMS: Final = 10
"""Bad records named in a 400 (all of them are counted)."""


@dataclass(frozen=True, slots=True)
class EventCountsIn:
    """How many records of each kind a payload holds."""

    calls: int
    charges: int
    outcomes: int


def read_events(
    body: bytes, ndjson: bool, *, capture_content: bool = False
) -> tuple[EventBatch, EventCountsIn]:
    """Validate a payload and turn it into a batch for the store.

    Args:
        body: The decompressed body.
        ndjson: One record per line (else one JSON value: an object or an array of objects).
        capture_content: Keep prompt and completion text.

    Raises:
        PayloadError: 400 naming what is wrong: not UTF-8, not JSON, or records with bad fields.
    """
    calls: list[Call] = []
    charges: list[Charge] = []
    outcomes: list[OutcomeEvent] = []
    problems: list[str] = []
    bad = 0
    for where, obj in _records(body, ndjson):
        try:
            _read_one(obj, calls, charges, outcomes, capture_content)
        except FieldError as exc:
            bad += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append(f"{where}, field '{exc.field}': {exc.message}")
    if bad:
        more = f" (and {bad - len(problems)} more)" if bad > len(problems) else ""
        raise PayloadError(400, f"{bad} bad record(s), nothing stored: " + "; ".join(problems) + more)
    batch = EventBatch(
        calls=calls_to_arrow(calls),
        charges=charges_to_arrow(charges),
        outcomes=outcomes_to_arrow(outcomes, source=SOURCE),
    )
    return batch, EventCountsIn(len(calls), len(charges), len(outcomes))


def _read_one(
    obj: Any, calls: list[Call], charges: list[Charge], outcomes: list[OutcomeEvent], capture_content: bool
) -> None:
    if not isinstance(obj, Mapping):
        raise FieldError("(record)", f"expected a JSON object, got {type(obj).__name__}")
    kind = record_type(obj)
    if kind == "charge":
        charge = charge_from_native(obj)
        charges.append(charge if charge.source else _with_source(charge))
    elif kind == "outcome":
        outcomes.append(outcome_from_native(obj))
    else:
        call = call_from_native(obj)
        changes: dict[str, Any] = {}
        if call.content is not None and not capture_content:
            changes["content"] = None
        if call.source is None:
            changes["source"] = SOURCE
        calls.append(call.replace(**changes) if changes else call)


def _with_source(charge: Charge) -> Charge:
    return replace(charge, source=SOURCE)


def _records(body: bytes, ndjson: bool) -> Iterator[tuple[str, Any]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(400, f"the body is not UTF-8 text (byte {exc.start}); send UTF-8 JSON") from exc
    if ndjson:
        yield from _lines(text)
        return
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(
            400, f"the body is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    if isinstance(value, list):  # counted from 1, as the lines of NDJSON are
        for number, obj in enumerate(value, start=1):
            yield f"record {number}", obj
    else:
        yield "record 1", value


def _lines(text: str) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line)
        except json.JSONDecodeError as exc:
            raise PayloadError(400, f"line {number} is not JSON: {exc.msg} at column {exc.colno}") from exc
