"""Native JSONL (:mod:`tokenomy.native`): handed to the store's fast path whenever nothing needs changing.

The store imports native JSONL in SQL (:meth:`tokenomy.store.Store.import_native_jsonl`), with its
own per-record error reporting and its own Python fallback. That path stores records as they are,
but for their text, which it drops when content capture is off (however the file spells the key), so
this importer reads the file itself, line by line, when the run must change them: when an
attribution is given (it fills the fields records leave empty) or when the file may carry prompt or
completion text and a redaction hook is set (every text must go through it). A gzip file is
decompressed to a temporary file for the fast path. When its gzip data is damaged (cut short, a
wrong checksum), the complete lines decompressed before the damage are imported, as the line-by-line
path keeps the records read before it, and the file is reported as failed with the reason (with
--strict nothing of it is stored). With a hook, such a file takes the line-by-line path: the search
for prompt text cannot vouch for the lost part.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar, Final

from tokenomy.errors import ImportFileError, RecordError
from tokenomy.importers.base import RecordImporter
from tokenomy.importers.reading import Sample, Source
from tokenomy.importers.records import sample_objects
from tokenomy.importers.results import Context, FileResult, ImportOptions, Item
from tokenomy.importers.sink import redaction
from tokenomy.native import (
    FieldError,
    call_from_native,
    charge_from_native,
    is_charge,
    is_outcome,
    outcome_from_native,
)
from tokenomy.schema import BUCKETS, OUTCOME_TARGETS, Attribution

_CONTENT_MARK: Final = b'"content"'
_ESCAPE: Final = b"\\u00"
_PRINTABLE_ESCAPE: Final = re.compile(rb"\\u00[2-7][0-9A-Fa-f]")
"""An escaped printable ASCII character: ``"\\u0063ontent"`` is the key ``content`` to a JSON reader.
JSON writers escape only quotes, control and non-ASCII characters, so a file holding such an escape
is read line by line, where every key is seen as JSON sees it."""
_CHUNK: Final = 1 << 20


class NativeImporter(RecordImporter):
    """tokenomy's own JSONL (calls, charges and outcomes)."""

    name: ClassVar[str] = "native"
    summary: ClassVar[str] = "tokenomy native JSONL (tokenomy export / simulate), via the store's fast path."

    def sniff(self, sample: Sample) -> float:
        """Sure when the first record is any native record type.

        A call (no ``type``, or ``"type": "call"``) has an ``id`` and a bucket-named ``usage``; a
        charge (``"type": "charge"``) an ``id`` and an ``amount``; an outcome (``"type": "outcome"``)
        an ``id``, a ``target`` (``call`` or ``session``) and an ``at``.
        """
        objects = sample_objects(sample)
        if not objects:
            return 0.0
        first = objects[0]
        kind = first.get("type")
        if "id" not in first:
            return 0.0
        if kind == "charge":
            return 0.95 if "amount" in first else 0.0
        if kind == "outcome":
            return 0.95 if first.get("target") in OUTCOME_TARGETS and "at" in first else 0.0
        usage = first.get("usage")
        # A call; a wrong ``type`` on it is then a rejected record naming the field.
        if isinstance(usage, Mapping) and set(BUCKETS) & set(usage):
            return 0.95
        return 0.0

    def load(self, source: Source, ctx: Context) -> FileResult:
        """The store's fast path, unless records must be changed on the way in."""
        if _needs_rewrite(source, ctx.options):
            return super().load(source, ctx)
        if source.compressed:
            with tempfile.TemporaryDirectory(prefix="tokenomy-import-") as tmp:
                plain = Path(tmp) / "native.jsonl"
                damage, lines = _decompress(source, plain)
                if damage is None:
                    return _fast(plain, source, ctx)
                if ctx.strict or not lines:
                    return FileResult(path=source.name, format=self.name, failed=damage)
                return _damaged(_fast(plain, source, ctx), damage)
        return _fast(source.path, source, ctx)

    def read(self, source: Source, options: ImportOptions) -> Iterator[Item]:
        """Each line as a call or a charge (the path used when records must be changed)."""
        for number, value in source.json_lines():
            if isinstance(value, RecordError):
                yield value
                continue
            try:
                if isinstance(value, Mapping) and is_charge(value):
                    yield charge_from_native(value)
                elif isinstance(value, Mapping) and is_outcome(value):
                    yield outcome_from_native(value)
                else:
                    yield call_from_native(value)
            except FieldError as exc:
                yield RecordError(source.name, number, exc.field, exc.message)


def _needs_rewrite(source: Source, options: ImportOptions) -> bool:
    if options.attribution != Attribution():
        return True
    # with capture off the store drops the text itself, on both of its paths; a hook must see it
    return redaction(options) is not None and _mentions(source, _CONTENT_MARK)


def _mentions(source: Source, needle: bytes) -> bool:
    """True when the (decompressed) file contains ``needle``, or an escaped printable ASCII character
    (which may spell it), anywhere, or cannot be read to its end.

    A file whose gzip data is damaged is not vouched for: the line-by-line path then reads the
    records before the damage, drops their text unless asked, and reports the damage.
    """
    tail = b""
    try:
        with source.open(counted=False) as fh:
            while chunk := fh.read1(_CHUNK):
                window = tail + chunk
                if needle in window or (_ESCAPE in window and _PRINTABLE_ESCAPE.search(window)):
                    return True
                tail = chunk[-16:]  # longer than any match, so one cut by a chunk's end is found
    except ImportFileError:
        return True
    return False


def _decompress(source: Source, plain: Path) -> tuple[ImportFileError | None, bool]:
    """Decompress ``source`` into ``plain``: the gzip damage met (or None), and whether it has lines.

    When the data is damaged, ``plain`` keeps the complete lines before the damage: a line
    cut by it is dropped rather than reported as a bad record of the file.
    """
    complete = 0  # bytes of plain up to the end of its last complete line
    written = 0
    with plain.open("wb") as dst:
        try:
            with source.open(counted=False) as src:
                while chunk := src.read1(_CHUNK):  # read1: a read that meets damage loses nothing before it
                    dst.write(chunk)
                    end = chunk.rfind(b"\n")
                    if end >= 0:
                        complete = written + end + 1
                    written += len(chunk)
        except ImportFileError as exc:
            dst.truncate(complete)
            return exc, complete > 0
    return None, written > 0


def _damaged(result: FileResult, damage: ImportFileError) -> FileResult:
    """The result of the lines imported before the gzip damage, failed with its reason."""
    result.failed = damage
    read = result.calls + result.duplicates
    if read or result.charges or result.outcomes:
        result.notes.append(f"{read} calls read before the error were kept")
    return result


def _fast(path: Path, source: Source, ctx: Context) -> FileResult:
    name = source.name
    try:
        imported = ctx.store.import_native_jsonl(
            path,
            pricer=ctx.pricer,
            strict=ctx.strict,
            progress=source.report_fraction,
            keep_content=ctx.options.capture_content,
        )
    except ImportFileError as exc:
        if exc.path == str(path) and path != source.path:  # a temporary copy: name the user's file
            raise ImportFileError(name, exc.detail) from exc
        raise
    result = FileResult(
        path=name,
        format=NativeImporter.name,
        calls=imported.calls,
        duplicates=imported.duplicates,
        charges=imported.charges,
        charge_duplicates=imported.charge_duplicates,
        outcomes=imported.outcomes,
        unpriced=imported.unpriced,
        cost=imported.cost,
        charge_cost=imported.charge_cost,
        tokens=dict(imported.tokens),
        input_total=imported.input_total,
        output_total=imported.output_total,
        unreported=dict(imported.unreported),
        usage_unknown=imported.usage_unknown,
        session_count=imported.sessions,
        aborted=imported.aborted,
    )
    for error in imported.errors:
        result.reject(_renamed(error, path, name))
    result.rejected = imported.rejected
    if imported.aborted and imported.errors:
        result.failed = result.errors[0]
    return result


def _renamed(error: RecordError, path: Path, name: str) -> RecordError:
    """The error with the user's file name instead of a temporary copy's."""
    if error.path == str(path):
        prefix = f"record {error.record}" + (f", field '{error.field}'" if error.field else "") + ": "
        return RecordError(name, error.record, error.field, error.detail.removeprefix(prefix))
    return error
