"""A request body as the writer takes it: the rows to store, and the frame to spool instead.

The spool keeps the rows read from the body (as Arrow IPC streams, frame kind ``R``), never the
body itself: a body may hold prompts, completions, request headers and keys that the server
leaves out of its rows (content capture off, attributes outside the spans table's allow-list),
and what waits on disk must hold no more than what the store would. The rows are the very ones
the store would have taken, read with the settings of the moment they arrived; the frame is built
only when a payload is spooled, so the store's path pays nothing for it.

Spools written by earlier versions hold bodies (kinds ``P``, ``J``, ``E``, ``N``): they are
still read again on replay (:func:`batch_of`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

from tokenomy.errors import PayloadError
from tokenomy.server.events_ingest import EventCountsIn, read_events
from tokenomy.server.otlp_ingest import TraceBatch, read_traces
from tokenomy.server.span_rows import without_status_messages
from tokenomy.server.spool import Frame
from tokenomy.store.arrow import CALLS_SCHEMA, CHARGES_SCHEMA
from tokenomy.store.events import OUTCOMES_SCHEMA, SPANS_SCHEMA, EventBatch

ROWS: Final = b"R"
"""A frame of rows: the batch's four tables, each as a length-prefixed Arrow IPC stream."""
TRACES_PROTOBUF: Final = b"P"
TRACES_JSON: Final = b"J"
EVENTS_JSON: Final = b"E"
EVENTS_NDJSON: Final = b"N"
_TABLES: Final = (
    ("calls", CALLS_SCHEMA),
    ("charges", CHARGES_SCHEMA),
    ("outcomes", OUTCOMES_SCHEMA),
    ("spans", SPANS_SCHEMA),
)
_LENGTH: Final = struct.Struct("<Q")


@dataclass(frozen=True, slots=True)
class Payload:
    """One accepted request body, read: its rows (for the store), and its frame (for the spool)."""

    batch: EventBatch

    @property
    def rows(self) -> int:
        """Rows the payload adds to a store batch."""
        return self.batch.rows

    def frame(self) -> Frame:
        """The spool's frame: the rows, never the body (see the module docstring)."""
        return Frame(ROWS, encode_batch(self.batch))


def traces(body: bytes, encoding: str, *, capture_content: bool = False) -> tuple[Payload, TraceBatch]:
    """An OTLP trace request (``encoding`` is ``protobuf`` or ``json``) read into a payload.

    Span status messages are free text (an exception's message, prompt or key included): they
    are kept only when ``capture_content`` is on.
    """
    read = read_traces(body, encoding, capture_content=capture_content)
    spans = read.spans if capture_content else without_status_messages(read.spans)
    batch = EventBatch(calls=read.calls, charges=read.charges, outcomes=read.outcomes, spans=spans)
    return Payload(batch), read


def events(body: bytes, ndjson: bool, *, capture_content: bool = False) -> tuple[Payload, EventCountsIn]:
    """Native records (JSON or NDJSON) read into a payload."""
    batch, counts = read_events(body, ndjson, capture_content=capture_content)
    return Payload(batch), counts


def encode_batch(batch: EventBatch) -> bytes:
    """The four tables of ``batch``, each as its length and an Arrow IPC stream (length 0: no rows)."""
    parts: list[bytes] = []
    for name, _schema in _TABLES:
        table: pa.Table = getattr(batch, name)
        if table.num_rows == 0:
            parts.append(_LENGTH.pack(0))
            continue
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        data = sink.getvalue().to_pybytes()
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def decode_batch(data: bytes) -> EventBatch:
    """The batch :func:`encode_batch` wrote, its tables given this version's columns.

    A column this version no longer has is dropped; one it added is null.

    Raises:
        PayloadError: The bytes are not such a batch.
    """
    tables: dict[str, pa.Table] = {}
    offset = 0
    try:
        for name, schema in _TABLES:
            (size,) = _LENGTH.unpack_from(data, offset)
            offset += _LENGTH.size
            if size == 0:
                tables[name] = schema.empty_table()
                continue
            if offset + size > len(data):
                raise ValueError(f"the {name} table is cut short")
            with pa.ipc.open_stream(pa.py_buffer(data[offset : offset + size])) as reader:
                tables[name] = _conform(reader.read_all(), schema)
            offset += size
    except (ValueError, struct.error, pa.ArrowException) as exc:
        raise PayloadError(400, f"a spooled frame of rows does not read: {exc}") from exc
    if offset != len(data):
        raise PayloadError(400, f"a spooled frame of rows has {len(data) - offset} bytes too many")
    return EventBatch(**tables)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly the columns of ``schema``, in its order (a spool from another version)."""
    if table.schema.equals(schema):
        return table
    names = set(table.column_names)
    columns = [
        table.column(f.name).cast(f.type) if f.name in names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def batch_of(frame: Frame, *, capture_content: bool = False) -> EventBatch:
    """The rows of a spooled frame: decoded (kind ``R``), or read again from a body an earlier
    version spooled.

    Raises:
        PayloadError: The frame no longer reads (its kind is unknown, or its bytes are bad).
    """
    if frame.kind == ROWS:
        return decode_batch(frame.body)
    if frame.kind in (TRACES_PROTOBUF, TRACES_JSON):
        encoding = "protobuf" if frame.kind == TRACES_PROTOBUF else "json"
        return traces(frame.body, encoding, capture_content=capture_content)[0].batch
    if frame.kind in (EVENTS_JSON, EVENTS_NDJSON):
        return events(frame.body, frame.kind == EVENTS_NDJSON, capture_content=capture_content)[0].batch
    raise PayloadError(400, f"a spooled frame of unknown kind {frame.kind!r}")
