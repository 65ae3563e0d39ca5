"""Native JSONL read line by line in Python: the path that reports every bad record precisely.

The SQL fast path handles well-formed files; when a file holds anything it cannot vouch for
(malformed JSON, a wrong type, an impossible value), the file is read again here, record by
record, with :func:`tokenomy.native.call_from_native`, so that each bad record is reported with
its file, line and field while the good ones are still stored. This module also checks that a
file is importable at all (not empty, not binary) before either path runs.
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from tokenomy.errors import ImportFileError, RecordError, json_truncation, looks_binary, not_utf8
from tokenomy.native import (
    INT_FIELDS,
    FieldError,
    call_from_native,
    charge_from_native,
    outcome_from_native,
    record_type,
)
from tokenomy.schema import BUCKETS, Call, Charge, OutcomeEvent

SNIFF_BYTES: Final = 64 * 1024
_INT_LIMIT: Final = 2**63
PLAN_BYTES: Final = 64 * 1024 * 1024
"""How much of a file :func:`may_hold_charges` searches: the cost stays bounded on large files
without charges, and files that mix calls and charges show one well before."""


def check_file(path: Path) -> int:
    """The size of an importable file.

    Raises:
        ImportFileError: The file is missing, unreadable, empty, compressed or binary.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise ImportFileError(str(path), f"cannot read the file: {exc.strerror or exc}") from exc
    if path.is_dir():
        raise ImportFileError(str(path), "is a directory; pass a native JSONL file")
    if not head.strip():
        raise ImportFileError(str(path), "the file is empty: nothing to import")
    if head[:2] == b"\x1f\x8b":
        raise ImportFileError(
            str(path), "the file is gzip-compressed; decompress it or use `tokenomy import`"
        )
    if looks_binary(head, complete=len(head) == size):
        raise ImportFileError(
            str(path), "the file is binary, not native JSONL (UTF-8 text, one JSON object a line)"
        )
    return size


def may_hold_charges(path: Path) -> bool:
    """True when the text ``"charge"`` occurs in the first :data:`PLAN_BYTES` of ``path``.

    A byte search (no line is parsed) that stops at the first hit: a hint for planning the
    import, never a judgement on the file. A tag whose value is "charge" makes it True, and a
    file whose charges only start late makes it False; either way the import stays correct.
    """
    with path.open("rb") as handle:
        if path.stat().st_size == 0:
            return False
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return data.find(b'"charge"', 0, PLAN_BYTES) >= 0


@dataclass(slots=True)
class Batch:
    """Records read from a file: good calls and charges, and the bad records with their errors."""

    calls: list[Call] = field(default_factory=list)
    charges: list[Charge] = field(default_factory=list)
    outcomes: list[OutcomeEvent] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    position: int = 0
    """Bytes of the file read so far (for progress)."""

    def __len__(self) -> int:
        return len(self.calls) + len(self.charges) + len(self.outcomes) + len(self.errors)


def read_batches(path: Path, *, batch_size: int = 20_000) -> Iterator[Batch]:
    """Read a native JSONL file line by line, in batches of about ``batch_size`` records.

    Blank lines are skipped. A line that is not UTF-8, not JSON, not an object or not a valid
    record becomes a :class:`RecordError` naming the line and the field; a last line cut short
    (no newline, unparsable) is reported as a truncated record. Each line is decoded on its own, so
    one line that is not UTF-8 costs that record alone.

    Raises:
        ImportFileError: The file cannot be read.
    """
    batch = Batch()
    position = 0
    name = str(path)
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                position += len(raw)
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    batch.errors.append(RecordError(name, number, None, not_utf8(raw, exc)))
                    line = ""
                if number == 1:
                    line = line.removeprefix("\ufeff")  # a byte-order mark
                if line.strip():
                    _read_line(name, number, line, batch)
                if len(batch) >= batch_size:
                    batch.position = position
                    yield batch
                    batch = Batch()
    except OSError as exc:
        raise ImportFileError(str(path), f"cannot read the file: {exc.strerror or exc}") from exc
    batch.position = position
    yield batch


def _read_line(path: str, number: int, line: str, batch: Batch) -> None:
    text = line.rstrip("\r\n")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        message = json_problem(text, number, exc, last=not line.endswith("\n"))
        batch.errors.append(RecordError(path, number, None, message))
        return
    if not isinstance(obj, dict):
        batch.errors.append(
            RecordError(path, number, None, f"expected a JSON object, got {type(obj).__name__}")
        )
        return
    try:
        kind = record_type(obj)
        if kind == "charge":
            batch.charges.append(charge_from_native(obj))
        elif kind == "outcome":
            batch.outcomes.append(outcome_from_native(obj))
        else:
            call = call_from_native(obj)
            _check_ranges(call)
            batch.calls.append(call)
    except FieldError as exc:
        batch.errors.append(RecordError(path, number, exc.field, exc.message))


def json_problem(text: str, number: int, exc: json.JSONDecodeError, *, last: bool) -> str:
    """Where and why line ``number`` (``text``, without its line break) is not JSON, as a sentence.

    Columns are 1-based and counted on the line itself. A value or a string that runs to the end
    of the line is truncated JSON; on the file's last line (no line break) the file looks cut short.
    """
    reason = exc.msg[:1].lower() + exc.msg[1:]
    cut = json_truncation(text, exc)
    if cut is not None:
        detail = cut or f"{reason} at column {exc.colno}"
        if last:
            return (
                f"truncated JSON: the file ends in line {number} before the value is complete ({detail}); "
                "the file looks cut short."
            )
        return f"truncated JSON: line {number} ends before the value is complete ({detail})."
    return f"not valid JSON at line {number}, column {exc.colno}: {reason}."


def _check_ranges(call: Call) -> None:
    """Reject integers the store cannot hold (64-bit signed)."""
    values: list[tuple[str, Any]] = [(name, getattr(call, name)) for name in INT_FIELDS]
    values += [(f"usage.{b}", getattr(call.usage, b)) for b in (*BUCKETS, "input_total", "output_total")]
    values += [(f"usage.server_tools.{k}", v) for k, v in call.usage.server_tools.items()]
    values += [(f"usage.modalities.{k}", v) for k, v in call.usage.modalities.items()]
    for name, value in values:
        if value is not None and abs(value) >= _INT_LIMIT:
            raise FieldError(name, f"{value} is too large for a 64-bit count")
