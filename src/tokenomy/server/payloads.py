"""A request body as the writer takes it: the rows to store, and the frame to spool instead.

The spool keeps the (decompressed) body itself, not the rows: it is compact, and replaying it
runs the very code that read it the first time (:func:`batch_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tokenomy.errors import PayloadError
from tokenomy.server.events_ingest import EventCountsIn, read_events
from tokenomy.server.otlp_ingest import TraceBatch, read_traces
from tokenomy.server.spool import Frame
from tokenomy.store.events import EventBatch

TRACES_PROTOBUF: Final = b"P"
TRACES_JSON: Final = b"J"
EVENTS_JSON: Final = b"E"
EVENTS_NDJSON: Final = b"N"


@dataclass(frozen=True, slots=True)
class Payload:
    """One accepted request body: its frame (for the spool) and its rows (for the store)."""

    frame: Frame
    batch: EventBatch

    @property
    def rows(self) -> int:
        """Rows the payload adds to a store batch."""
        return self.batch.rows


def traces(body: bytes, encoding: str, *, capture_content: bool = False) -> tuple[Payload, TraceBatch]:
    """An OTLP trace request (``encoding`` is ``protobuf`` or ``json``) read into a payload."""
    read = read_traces(body, encoding, capture_content=capture_content)
    kind = TRACES_PROTOBUF if encoding == "protobuf" else TRACES_JSON
    batch = EventBatch(calls=read.calls, charges=read.charges, outcomes=read.outcomes, spans=read.spans)
    return Payload(Frame(kind, body), batch), read


def events(body: bytes, ndjson: bool, *, capture_content: bool = False) -> tuple[Payload, EventCountsIn]:
    """Native records (JSON or NDJSON) read into a payload."""
    batch, counts = read_events(body, ndjson, capture_content=capture_content)
    return Payload(Frame(EVENTS_NDJSON if ndjson else EVENTS_JSON, body), batch), counts


def batch_of(frame: Frame, *, capture_content: bool = False) -> EventBatch:
    """The rows of a spooled frame, read again.

    Raises:
        PayloadError: The frame no longer reads (its kind is unknown, or the body is bad).
    """
    if frame.kind in (TRACES_PROTOBUF, TRACES_JSON):
        encoding = "protobuf" if frame.kind == TRACES_PROTOBUF else "json"
        return traces(frame.body, encoding, capture_content=capture_content)[0].batch
    if frame.kind in (EVENTS_JSON, EVENTS_NDJSON):
        return events(frame.body, frame.kind == EVENTS_NDJSON, capture_content=capture_content)[0].batch
    raise PayloadError(400, f"a spooled frame of unknown kind {frame.kind!r}")
