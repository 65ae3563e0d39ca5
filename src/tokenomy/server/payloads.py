"""A request body as the writer takes it: the rows to store, and the frame to spool instead.

The spool keeps the rows read from the bodies, never the bodies themselves: a body may hold
prompts, completions, request headers and keys that the server leaves out of its rows (content
capture off, attributes outside the spans table's allow-list), and what waits on disk must hold
no more than what the store would. The rows are the very ones
the store would have taken, read with the settings of the moment they arrived; the frame is built
only when payloads are spooled, so the store's path pays nothing for it.

The writer spools one frame (kind ``G``, :func:`spool_frames`) for each group of payloads it
acknowledges together: their rows concatenated, as four Arrow IPC streams, the whole compressed
with zstd. Each IPC stream starts with its schema, about 10 KB for the four tables: one frame a
payload made a one-span request of 629 bytes a frame of 10.7 KB; compressed, and shared by the
group, it is 2.6 KB, and a 1,000-span request's 620 KB body is a 77 KB frame. Arrow's own IPC
compression compresses the data buffers only, not the schemas, and made small frames larger.
The group is acknowledged after one fsync of its one frame: it is stored whole or not at all.
Where pyarrow lacks zstd the group's frame is the same, uncompressed (kind ``U``): it still says how
many payloads it holds. A ``G`` frame replayed where pyarrow lacks zstd is not bad data: the replay
raises :class:`~tokenomy.errors.StoreError`, and the writer keeps the segment and tries again later,
as for a store that is down (a pyarrow with zstd replays it).

Spools written by earlier versions hold bodies (kinds ``P``, ``J``, ``E``, ``N``): they are
still read again on replay (:func:`batch_of`).

A redaction hook (``tokenomy serve --redact``) rewrites the text content capture keeps
(:func:`redacted`) on the writer's thread, before the rows reach the store or the spool: a frame of
rows holds the hook's text already, and is never put through it again on replay; a body of an
earlier version is, once read again.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information

from tokenomy.errors import PayloadError, StoreError
from tokenomy.server.events_ingest import EventCountsIn, read_events
from tokenomy.server.otlp_ingest import TraceBatch, read_traces
from tokenomy.server.otlp_wrapped import WrappedSpans
from tokenomy.server.span_rows import without_status_messages
from tokenomy.server.spool import Frame
from tokenomy.store.arrow import CALLS_SCHEMA, CHARGES_SCHEMA
from tokenomy.store.events import OUTCOMES_SCHEMA, SPANS_SCHEMA, EventBatch

if TYPE_CHECKING:
    from tokenomy.capture.redaction import CheckedRedact

GROUP: Final = b"G"
"""A frame of rows for a group of payloads: their count and the length of their rows' bytes
(:func:`encode_batch`: the four tables, each a length-prefixed Arrow IPC stream) (``<IQ``), then
those bytes compressed with zstd."""
GROUP_PLAIN: Final = b"U"
"""A frame of rows for a group of payloads, uncompressed (written where pyarrow lacks zstd): their
count (``<I``), then their rows' bytes."""
GROUP_REDACTED: Final = b"H"
GROUP_PLAIN_REDACTED: Final = b"V"
"""``G`` and ``U`` frames whose text already went through the collector's redaction hook: replayed
as they are (a hook need not leave its own output unchanged), where the text of a ``G`` or ``U``
frame, spooled by a run without a hook, goes through the hook of the run that replays it."""
_REDACTED_KIND: Final = {GROUP: GROUP_REDACTED, GROUP_PLAIN: GROUP_PLAIN_REDACTED}
_GROUP_KIND: Final = {GROUP_REDACTED: GROUP, GROUP_PLAIN_REDACTED: GROUP_PLAIN}
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
_GROUP_HEAD: Final = struct.Struct("<IQ")
_PLAIN_HEAD: Final = struct.Struct("<I")
_CODEC: Final = "zstd"


@dataclass(frozen=True, slots=True)
class Payload:
    """One accepted request body, read: its rows (for the store), and its frame (for the spool)."""

    batch: EventBatch

    @property
    def rows(self) -> int:
        """Rows the payload adds to a store batch."""
        return self.batch.rows

    def frame(self) -> Frame:
        """The spool's frame for this payload alone: the rows, never the body (see the module docstring)."""
        return group_frame([self.batch])


def traces(
    body: bytes, encoding: str, *, capture_content: bool = False, wrapped: WrappedSpans | None = None
) -> tuple[Payload, TraceBatch]:
    """An OTLP trace request (``encoding`` is ``protobuf`` or ``json``) read into a payload.

    Span status messages are free text (an exception's message, prompt or key included): they
    are kept only when ``capture_content`` is on. ``wrapped`` remembers the spans of earlier
    requests with a call below them: a call of this one that is one of them is stored as a span.
    """
    read = read_traces(body, encoding, capture_content=capture_content)
    if wrapped is not None:
        read = wrapped.apply(read)
    spans = read.spans if capture_content else without_status_messages(read.spans)
    batch = EventBatch(calls=read.calls, charges=read.charges, outcomes=read.outcomes, spans=spans)
    return Payload(batch), read


def events(body: bytes, ndjson: bool, *, capture_content: bool = False) -> tuple[Payload, EventCountsIn]:
    """Native records (JSON or NDJSON) read into a payload."""
    batch, counts = read_events(body, ndjson, capture_content=capture_content)
    return Payload(batch), counts


def spool_frames(group: Sequence[Payload], *, redacted: bool = False) -> list[Frame]:
    """The frames that spool ``group`` (payloads acknowledged together): one, holding all their rows
    in order, unless their tables will not concatenate (then one a payload). ``redacted``: their
    text went through the redaction hook (kinds ``H`` and ``V``)."""
    try:
        frames = [group_frame([p.batch for p in group])]
    except pa.ArrowInvalid:  # tables of differing schemas, which the store would refuse as one batch too
        frames = [group_frame([p.batch]) for p in group]
    if redacted:
        frames = [Frame(_REDACTED_KIND[f.kind], f.body) for f in frames]
    return frames


def group_frame(batches: Sequence[EventBatch]) -> Frame:
    """One frame holding the rows of ``batches`` (one a payload), in order, compressed (kind ``G``);
    uncompressed (kind ``U``) where pyarrow lacks zstd, still with the count of payloads, which the
    writer's ``replayed`` counter adds up."""
    data = encode_batch(EventBatch.concat(batches))
    if not codec_available():  # a pyarrow built without zstd
        return Frame(GROUP_PLAIN, _PLAIN_HEAD.pack(len(batches)) + data)
    packed = pa.compress(data, codec=_CODEC, asbytes=True)
    return Frame(GROUP, _GROUP_HEAD.pack(len(batches), len(data)) + packed)


def codec_available() -> bool:
    """True when this pyarrow has the codec that ``G`` frames are compressed with (a pyarrow built
    without zstd has not)."""
    return bool(pa.Codec.is_available(_CODEC))


def payload_count(frame: Frame) -> int:
    """How many acknowledged payloads ``frame`` holds (1 but for a group)."""
    frame = Frame(_GROUP_KIND.get(frame.kind, frame.kind), frame.body)
    if frame.kind == GROUP and len(frame.body) >= _GROUP_HEAD.size:
        return int(_GROUP_HEAD.unpack_from(frame.body)[0])
    if frame.kind == GROUP_PLAIN and len(frame.body) >= _PLAIN_HEAD.size:
        return int(_PLAIN_HEAD.unpack_from(frame.body)[0])
    return 1


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


def decode_group(data: bytes) -> EventBatch:
    """The batch of a ``G`` frame's bytes (see :func:`group_frame`).

    Raises:
        PayloadError: The bytes are not such a batch.
        StoreError: pyarrow here lacks zstd (see :func:`unpack_group`).
    """
    return decode_batch(unpack_group(data))


def unpack_group(data: bytes) -> bytes:
    """The rows' bytes (:func:`encode_batch`) a ``G`` frame's bytes hold, decompressed.

    Raises:
        PayloadError: The bytes do not decompress.
        StoreError: pyarrow here lacks zstd: not bad data, which ``bad/`` would keep for good, but
            this environment's lack; the writer keeps the segment and tries again later, as for a
            store that is down.
    """
    if not codec_available():
        raise StoreError(
            f"this pyarrow lacks {_CODEC}, which the spool's compressed frames need: they stay in the "
            f"spool until a pyarrow with {_CODEC} replays them (reinstall pyarrow from its wheels)"
        )
    try:
        _count, size = _GROUP_HEAD.unpack_from(data)
        unpacked: bytes = pa.decompress(data[_GROUP_HEAD.size :], size, codec=_CODEC, asbytes=True)
    except (ValueError, OSError, struct.error, pa.ArrowException) as exc:  # zstd's errors are OSError
        raise PayloadError(400, f"a spooled group of rows does not decompress: {exc}") from exc
    return unpacked


def decode_batch(data: bytes) -> EventBatch:
    """The batch :func:`encode_batch` wrote, its tables given this version's columns.

    A column this version no longer has is dropped; one it added is null (empty, for a list or a
    map: the store keeps those empty, never null); one whose type changed is cast when no value is
    lost (see :func:`_conform`).

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
                tables[name] = _conform(reader.read_all(), schema, name)
            offset += size
    except (ValueError, struct.error, pa.ArrowException) as exc:
        raise PayloadError(400, f"a spooled frame of rows does not read: {exc}") from exc
    if offset != len(data):
        raise PayloadError(400, f"a spooled frame of rows has {len(data) - offset} bytes too many")
    return EventBatch(**tables)


def _conform(table: pa.Table, schema: pa.Schema, name: str) -> pa.Table:
    """``table`` with exactly the columns of ``schema``, in its order (a spool from another version).

    A column of another type is cast when the cast is safe (a wider integer, another string or
    timestamp layout, numbers written as text); a cast that would lose or invent values raises,
    and the replay then keeps the frame in ``bad/`` rather than store something else.

    Raises:
        PayloadError: A column's values do not cast to this version's type.
    """
    if table.schema.equals(schema):
        return table
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            columns.append(_added(field.type, table.num_rows))
            continue
        column = table.column(field.name)
        if column.type.equals(field.type):
            columns.append(column)
            continue
        try:
            columns.append(column.cast(field.type, safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise PayloadError(
                400,
                f"the {name} table's {field.name} column is {column.type}, which does not cast to "
                f"{field.type} without loss: {exc}",
            ) from exc
    return pa.Table.from_arrays(columns, schema=schema)


def _added(kind: pa.DataType, rows: int) -> pa.Array:
    """A column this version added, for ``rows`` rows of an older spool: empty lists or maps, else nulls."""
    if isinstance(kind, pa.ListType | pa.MapType):
        return pa.array([[]] * rows, type=kind)
    return pa.nulls(rows, kind)


def batch_of(
    frame: Frame, *, capture_content: bool = False, redact: CheckedRedact | None = None
) -> EventBatch:
    """The rows of a spooled frame: decoded (kinds ``G``, ``U``, ``H`` and ``V``), or read again from
    a body an earlier version spooled. Their text is kept only under ``capture_content``, and put
    through ``redact`` on the way to the store unless it went through a hook before it was spooled
    (``H``, ``V``): rows spooled by a run without the hook, or with content capture on, may be
    replayed by one with it, or with capture off.

    Raises:
        PayloadError: The frame no longer reads (its kind is unknown, or its bytes are bad).
    """
    if frame.kind in _GROUP_KIND:  # its text went through a hook already: not through this one again
        return batch_of(Frame(_GROUP_KIND[frame.kind], frame.body), capture_content=capture_content)
    if frame.kind == GROUP:
        return _kept_text(decode_group(frame.body), capture_content, redact)
    if frame.kind == GROUP_PLAIN:
        if len(frame.body) < _PLAIN_HEAD.size:
            raise PayloadError(400, "a spooled group of uncompressed rows is cut short")
        return _kept_text(decode_batch(frame.body[_PLAIN_HEAD.size :]), capture_content, redact)
    if frame.kind in (TRACES_PROTOBUF, TRACES_JSON):
        encoding = "protobuf" if frame.kind == TRACES_PROTOBUF else "json"
        return redacted(traces(frame.body, encoding, capture_content=capture_content)[0].batch, redact)
    if frame.kind in (EVENTS_JSON, EVENTS_NDJSON):
        read = events(frame.body, frame.kind == EVENTS_NDJSON, capture_content=capture_content)[0]
        return redacted(read.batch, redact)
    raise PayloadError(400, f"a spooled frame of unknown kind {frame.kind!r}")


def redacted(batch: EventBatch, redact: CheckedRedact | None) -> EventBatch:
    """``batch`` with the text content capture kept put through ``redact``: each call's prompt and
    completion, as the SDK does (both the hook's answers, or neither when it fails on one: the call
    is kept without content), and each span's status message (null when the hook fails on it).
    ``batch`` itself when there is no hook or no text."""
    if redact is None:
        return batch
    calls = _redacted_calls(batch.calls, redact)
    spans = _redacted_column(batch.spans, "status_message", redact)
    if calls is batch.calls and spans is batch.spans:
        return batch
    return dataclasses.replace(batch, calls=calls, spans=spans)


def _kept_text(batch: EventBatch, capture_content: bool, redact: CheckedRedact | None) -> EventBatch:
    """``batch`` with its text put through ``redact``, or without any text when capture is off."""
    if capture_content:
        return redacted(batch, redact)
    calls = batch.calls
    for name in ("prompt_text", "completion_text"):
        if _holds_text(calls, name):
            calls = _with_column(calls, name, [None] * calls.num_rows)
    spans = without_status_messages(batch.spans)
    if calls is batch.calls and spans is batch.spans:
        return batch
    return dataclasses.replace(batch, calls=calls, spans=spans)


def _redacted_calls(calls: pa.Table, redact: CheckedRedact) -> pa.Table:
    if not _holds_text(calls, "prompt_text") and not _holds_text(calls, "completion_text"):
        return calls
    prompts: list[str | None] = []
    completions: list[str | None] = []
    sent = zip(
        calls.column("prompt_text").to_pylist(), calls.column("completion_text").to_pylist(), strict=True
    )
    for prompt, completion in sent:
        texts = None if prompt is None and completion is None else redact.texts(prompt, completion)
        prompts.append(None if texts is None else texts[0])
        completions.append(None if texts is None else texts[1])
    return _with_column(_with_column(calls, "prompt_text", prompts), "completion_text", completions)


def _redacted_column(table: pa.Table, name: str, redact: CheckedRedact) -> pa.Table:
    if not _holds_text(table, name):
        return table
    texts = [
        redact.texts(text, None) if text is not None else None for text in table.column(name).to_pylist()
    ]
    return _with_column(table, name, [None if t is None else t[0] for t in texts])


def _holds_text(table: pa.Table, name: str) -> bool:
    """True when ``table`` has a column ``name`` with a value in it."""
    index = table.schema.get_field_index(name)
    return index >= 0 and int(table.column(index).null_count) < int(table.num_rows)


def _with_column(table: pa.Table, name: str, values: list[str | None]) -> pa.Table:
    index = table.schema.get_field_index(name)
    field = table.schema.field(index)
    return table.set_column(index, field, pa.array(values, type=field.type))
