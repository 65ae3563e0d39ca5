"""The fields of many protobuf messages at once: a wire-format walker over numpy arrays.

Reading OTLP with protobuf's message classes costs at least one Python object per attribute,
and on a slow core that alone is most of a span's budget. This walker reads the *fields* of many
messages in lockstep instead: step k reads the k-th field of every message that has one with a
handful of array operations, so the Python cost is per step (as many steps as the longest message
has fields), not per field. It interprets nothing: the result is columns saying, for every field,
which message it belongs to, its number and wire type, where its payload lies and (for a varint)
its value. Callers pick fields by number and walk nested messages (a span's attributes, an
attribute's value) the same way.

The buffer must be followed by at least :data:`PAD` zero bytes (:func:`padded`), so a varint read
near the end stays inside the array; every field is then checked against the end of its message.
Whatever the walker cannot vouch for (a field running past its message, a varint longer than ten
bytes, field number 0, a group or an unknown wire type, a message of more than ``max_steps``
fields) raises :class:`UnreadableError`: the caller then hands the body to protobuf's own parser, which
has the final word on what is valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

Ints = NDArray[np.int64]
Bytes = NDArray[np.uint8]

PAD: Final = 32
"""Zero bytes after the data: a tag and a length varint (at most 20 bytes) never read past them."""
MAX_STEPS: Final = 1024
"""Fields one message may have before the walker gives up (the per-step cost would dominate)."""
VARINT: Final = 0
FIXED64: Final = 1
LEN: Final = 2
FIXED32: Final = 5
_MAX_FIELD: Final = (1 << 29) - 1
_SHORT_LEN: Final = np.array([tag < 0x80 and tag & 7 == LEN for tag in range(256)])
"""One-byte tags of LEN fields."""
_VARINT_BITS: Final = 70


class UnreadableError(Exception):
    """The walker cannot vouch for these bytes; protobuf's own parser must read them."""


@dataclass(frozen=True, slots=True)
class Fields:
    """Fields of many messages, one entry per field, in step order (see the module docstring)."""

    owner: Ints
    """The index (in the ``starts`` given to :func:`read_fields`) of the message holding the field."""
    number: Ints
    wire: Ints
    start: Ints
    """Where the payload starts: after the length of a LEN field, at the value of the others."""
    end: Ints
    value: Ints
    """A varint field's value (two's complement for negative int64); 0 for the other wire types."""

    def where(self, mask: NDArray[Any]) -> Fields:
        """The fields selected by a boolean mask (or an index array), in the same order."""
        return Fields(
            self.owner[mask],
            self.number[mask],
            self.wire[mask],
            self.start[mask],
            self.end[mask],
            self.value[mask],
        )

    def numbered(self, number: int) -> Fields:
        """The fields with this field number."""
        return self.where(self.number == number)

    def __len__(self) -> int:
        return int(self.owner.size)


def padded(data: bytes) -> Bytes:
    """``data`` as a byte array followed by :data:`PAD` zero bytes, ready for :func:`read_fields`."""
    return np.frombuffer(data + bytes(PAD), dtype=np.uint8)


def read_fields(buf: Bytes, starts: Ints, ends: Ints, *, max_steps: int = MAX_STEPS) -> Fields:
    """Every field of the messages ``buf[starts[i]:ends[i]]``.

    Args:
        buf: The bytes, followed by :data:`PAD` zero bytes.
        starts: Where each message starts.
        ends: Where each message ends (exclusive).
        max_steps: The most fields one message may have.

    Raises:
        UnreadableError: A message is malformed, or longer than ``max_steps`` fields.
    """
    owner = np.arange(starts.size, dtype=np.int64)
    pos, end = starts.astype(np.int64), ends.astype(np.int64)
    present = pos < end
    if not present.all():
        owner, pos, end = owner[present], pos[present], end[present]
    steps: list[tuple[Ints, Ints, Ints, Ints, Ints | None]] = []
    while owner.size:
        if len(steps) >= max_steps:
            raise UnreadableError(f"a message has more than {max_steps} fields")
        tag, start, stop, value = _step(buf, pos)
        steps.append((owner, tag, start, stop, value))
        more = stop < end
        if not more.all():
            if (stop > end).any():
                raise UnreadableError("a field runs past the end of its message")
            owner, stop, end = owner[more], stop[more], end[more]
        pos = stop
    return _gather(steps)


def _gather(steps: list[tuple[Ints, Ints, Ints, Ints, Ints | None]]) -> Fields:
    """The fields read step by step, as one set of columns (step order)."""
    if not steps:
        empty = np.zeros(0, dtype=np.int64)
        return Fields(empty, empty, empty, empty, empty, empty)
    owner, tag, start, stop = (np.concatenate([step[i] for step in steps]) for i in range(4))
    value = np.zeros(owner.size, dtype=np.int64)
    at = 0
    for step in steps:
        if step[4] is not None:
            value[at : at + step[0].size] = step[4]
        at += step[0].size
    number = tag >> 3
    if number.min() < 1 or number.max() > _MAX_FIELD:
        raise UnreadableError("a field number is out of range")
    return Fields(owner, number, tag & 7, start, stop, value)


def _step(buf: Bytes, pos: Ints) -> tuple[Ints, Ints, Ints, Ints | None]:
    """The field at each of ``pos``: its tag, payload start and end, and varint value (None: all 0)."""
    tag, after = buf[pos], buf[pos + 1]
    if _SHORT_LEN[tag].all() and after.max() < 0x80:  # the usual case: one-byte tag and length
        start = pos + 2
        return tag.astype(np.int64), start, start + after, None
    tags, pos = varints(buf, pos)
    return (tags, *_payloads(buf, pos, tags & 7))


def _payloads(buf: Bytes, pos: Ints, wire: Ints) -> tuple[Ints, Ints, Ints]:
    """Where each field's payload starts and ends, and its varint value, from its wire type."""
    if (wire == LEN).all():
        length, start = varints(buf, pos)
        if (length < 0).any():
            raise UnreadableError("a length is negative")
        return start, start + length, np.zeros(pos.size, dtype=np.int64)
    if ((wire != VARINT) & (wire != FIXED64) & (wire != LEN) & (wire != FIXED32)).any():
        raise UnreadableError("a group or an unknown wire type")
    start, stop, value = pos.copy(), pos.copy(), np.zeros(pos.size, dtype=np.int64)
    is_varint = wire == VARINT
    if is_varint.any():
        value[is_varint], stop[is_varint] = varints(buf, pos[is_varint])
    is_len = wire == LEN
    if is_len.any():
        length, after = varints(buf, pos[is_len])
        if (length < 0).any():
            raise UnreadableError("a length is negative")
        start[is_len], stop[is_len] = after, after + length
    stop[wire == FIXED64] += 8
    stop[wire == FIXED32] += 4
    return start, stop, value


def varints(buf: Bytes, pos: Ints) -> tuple[Ints, Ints]:
    """The varints starting at ``pos``, and where each one ends.

    Raises:
        UnreadableError: A varint is longer than ten bytes.
    """
    first = buf[pos]
    if first.size == 0 or first.max() < 0x80:
        return first.astype(np.int64), pos + 1
    value = (first & 0x7F).astype(np.int64)
    size = np.ones(pos.size, dtype=np.int64)
    todo = np.flatnonzero(first >= 0x80)
    shift = 7
    while todo.size:
        if shift >= _VARINT_BITS:
            raise UnreadableError("a varint is longer than ten bytes")
        byte = buf[pos[todo] + size[todo]].astype(np.int64)
        value[todo] |= (byte & 0x7F) << shift  # bits past 64 are dropped, as protobuf does
        size[todo] += 1
        todo = todo[byte >= 0x80]
        shift += 7
    return value, pos + size


def one_field(buf: Bytes, starts: Ints, ends: Ints) -> Fields | None:
    """The fields of messages that hold one field each (empty ones hold none), or None when one holds more.

    The same as :func:`read_fields` for such messages, in one step and without the checks a
    second step would need.
    """
    present = np.flatnonzero(ends > starts)
    if present.size == 0:
        return read_fields(buf, starts, ends)
    pos = starts[present].astype(np.int64)
    tag, start, stop, value = _step(buf, pos)
    if not (stop == ends[present]).all():
        if (stop > ends[present]).any():
            raise UnreadableError("a field runs past the end of its message")
        return None
    return _gather([(present, tag, start, stop, value)])


def fixed64(buf: Bytes, start: Ints) -> NDArray[np.uint64]:
    """The little-endian 64-bit words at ``start``."""
    if start.size == 0:
        return np.zeros(0, dtype=np.uint64)
    window = buf[start[:, None] + np.arange(8)]
    return np.ascontiguousarray(window).view("<u8").ravel().astype(np.uint64)


def single(fields: Fields, count: int, numbers: tuple[int, ...]) -> None:
    """Check that no message of ``count`` has one of ``numbers`` twice (protobuf would merge them).

    Raises:
        UnreadableError: One does (rare enough to leave to protobuf's parser).
    """
    width = max(numbers) + 1
    chosen = np.zeros(width + 1, dtype=np.bool_)
    chosen[list(numbers)] = True
    number = np.minimum(fields.number, width)
    picked = chosen[number]
    keys = fields.owner[picked] * width + number[picked]
    if keys.size and np.bincount(keys, minlength=count * width).max() > 1:
        raise UnreadableError("a field that holds one value appears twice in a message")


def check_wires(fields: Fields, wires: dict[int, int]) -> None:
    """Check that each field numbered in ``wires`` has the wire type given there.

    Raises:
        UnreadableError: One has another (protobuf would skip it as unknown; rare).
    """
    width = max(wires) + 1
    expected = np.full(width + 1, -1, dtype=np.int64)
    for number, wire in wires.items():
        expected[number] = wire
    wanted = expected[np.minimum(fields.number, width)]
    if ((wanted >= 0) & (wanted != fields.wire)).any():
        raise UnreadableError("a field has an unexpected wire type")
