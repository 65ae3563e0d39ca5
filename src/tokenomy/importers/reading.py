"""Reading an input file: transparent gzip, UTF-8 text, JSON documents and JSON lines, a sample for detection.

Every importer reads through a :class:`Source`, so that gzip is transparent everywhere (it is
recognised by its magic bytes, not by the file name), bytes read are reported for progress bars,
and a file that cannot be read at all (empty, binary where text is needed, truncated gzip, JSON
that ends early) raises one :class:`ImportFileError` with a one-line message instead of a
traceback. Damaged gzip data (cut short, a wrong checksum, a broken deflate stream) raises that
error from any read of the decompressed stream, wherever the damage is met (:func:`gzip_error`).
Records of line-oriented files are numbered by line, starting at 1.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final, Literal, TypeVar

from tokenomy.errors import ImportFileError, RecordError, json_truncation, looks_binary, not_utf8

GZIP_MAGIC: Final = b"\x1f\x8b"
SAMPLE_BYTES: Final = 64 * 1024
"""How much of a file detection looks at (after decompression)."""
SAMPLE_RECORDS: Final = 8
"""How many JSON lines detection parses."""

_T = TypeVar("_T")

SampleKind = Literal["json", "jsonl", "text", "binary"]


@dataclass(frozen=True, slots=True)
class Sample:
    """What detection sees of a file.

    Attributes:
        kind: ``json`` (one JSON document, parsed whole), ``jsonl`` (JSON values one a line),
            ``text`` (UTF-8 text that is not JSON, such as a captured SSE stream) or ``binary``.
        head: The first bytes of the (decompressed) content.
        records: For ``json`` the document alone; for ``jsonl`` the first lines that parsed.
        name: The file name, a hint only (content decides).
    """

    kind: SampleKind
    head: bytes
    records: tuple[Any, ...]
    name: str

    @property
    def text(self) -> str:
        """The head as text (undecodable bytes replaced)."""
        return self.head.decode("utf-8", errors="replace").lstrip("\ufeff")

    @property
    def first(self) -> Any:
        """The document (json) or the first record (jsonl), or None."""
        return self.records[0] if self.records else None


class _Counting(io.RawIOBase):
    """A raw reader that reports how many bytes of the underlying file have been read."""

    def __init__(self, raw: BinaryIO, on_bytes: Callable[[int], None] | None) -> None:
        super().__init__()
        self._raw = raw
        self._on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        if n and self._on_bytes is not None:
            self._on_bytes(n)
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


class Source:
    """One input file, read with transparent gzip and clear errors.

    Args:
        path: The file.
        on_bytes: Called with the number of on-disk bytes read, for progress bars.
    """

    def __init__(self, path: Path, on_bytes: Callable[[int], None] | None = None) -> None:
        self.path = path
        self.name = str(path)
        self._on_bytes = on_bytes
        self._reported = 0
        self._document: Any = _UNSET
        self._sample: Sample | None = None
        try:
            self.size = path.stat().st_size
            with path.open("rb") as fh:
                self.compressed = fh.read(2) == GZIP_MAGIC
        except OSError as exc:
            raise ImportFileError(self.name, f"cannot read the file: {exc.strerror or exc}") from exc

    def open(self, *, counted: bool = True) -> io.BufferedReader[_Counting] | gzip.GzipFile:
        """The decompressed content as a binary stream.

        Args:
            counted: Report the on-disk bytes read to the progress callback.

        Raises:
            ImportFileError: From a read, when the gzip data is damaged (see :func:`gzip_error`).
        """
        on_bytes = self._advance if counted else None
        raw = io.BufferedReader(_Counting(self.path.open("rb"), on_bytes), buffer_size=1 << 20)
        if self.compressed:
            return _GuardedGzip(self.name, raw)
        return raw

    def report_fraction(self, done: int, total: int) -> None:
        """Report progress as a fraction of the file (for readers that do not use :meth:`open`)."""
        target = self.size * min(done, total) // total if total > 0 else self.size
        if target > self._reported:
            self._advance(target - self._reported)

    def _advance(self, n: int) -> None:
        self._reported += n
        if self._on_bytes is not None:
            self._on_bytes(n)

    def read_bytes(self) -> bytes:
        """The whole decompressed content."""
        with self.open() as fh:
            data: bytes = self._guard(fh.read)
            return data

    def head(self, size: int = SAMPLE_BYTES) -> bytes:
        """The first ``size`` decompressed bytes (damaged gzip data after them is not an error here).

        Raises:
            ImportFileError: The gzip data is damaged before its first decompressed byte.
        """
        with self.path.open("rb") as raw:
            stream: io.BufferedIOBase = gzip.GzipFile(fileobj=raw, mode="rb") if self.compressed else raw
            chunks: list[bytes] = []
            got = 0
            while got < size:
                try:
                    # read1: one decompression step at a time, so that the bytes decompressed
                    # before the damage are not lost with the read that meets it
                    chunk = stream.read1(min(8192, size - got))
                except (*GZIP_DAMAGE, OSError) as exc:
                    if got == 0 and isinstance(exc, GZIP_DAMAGE):
                        raise gzip_error(self.name, exc) from exc  # not "empty": nothing was readable
                    break  # keep what came before the damage; reading the whole file will report it
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
            return b"".join(chunks)

    def text(self) -> str:
        """The whole content as UTF-8 text (a leading byte-order mark is dropped)."""
        data = self.read_bytes()
        try:
            return data.decode("utf-8").lstrip("\ufeff")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            start = data.rfind(b"\n", 0, exc.start) + 1
            raise ImportFileError(self.name, f"line {line}: {not_utf8(data[start:], exc, start)}") from exc

    def document(self) -> Any:
        """The whole file parsed as one JSON document (parsed once, then remembered)."""
        if self._document is _UNSET:
            self._document = parse_document(self.text(), self.name)
        return self._document

    def lines(self, *, counted: bool = True) -> Generator[tuple[int, str | RecordError], None, None]:
        """Numbered lines of text (1-based), without line endings (``\\n``, ``\\r\\n`` or ``\\r``);
        blank lines are skipped. Each line is decoded on its own: one that is not UTF-8 is a
        RecordError naming it, and the lines after it are read as usual."""
        with self.open(counted=counted) as fh:
            number = 0
            while True:
                raw = self._guard(fh.readline)
                if not raw:
                    return
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    number += 1
                    yield number, RecordError(self.name, number, None, not_utf8(raw, exc))
                    continue
                for line in text.rstrip("\r\n").split("\r") if "\r" in text else (text,):
                    number += 1
                    stripped = line.strip().lstrip("\ufeff")
                    if stripped:
                        yield number, stripped

    def json_lines(self) -> Iterator[tuple[int, Any]]:
        """Numbered JSON values, one a line; a line that is not UTF-8 or does not parse yields a
        RecordError."""
        for number, line in self.lines():
            if isinstance(line, RecordError):
                yield number, line
                continue
            try:
                yield number, json.loads(line)
            except ValueError as exc:
                yield number, RecordError(self.name, number, None, _json_problem(line, exc, one_line=True))

    def sample(self) -> Sample:
        """What detection needs: the head, its kind and the first records.

        Raises:
            ImportFileError: The file is empty, or is one JSON document that does not parse.
        """
        if self._sample is None:
            self._sample = self._take_sample()
        return self._sample

    def _take_sample(self) -> Sample:
        head = self.head()
        if not head.strip():
            raise ImportFileError(self.name, "empty file: nothing to import")
        name = self.path.name
        if looks_binary(head, complete=len(head) < SAMPLE_BYTES):
            return Sample("binary", head, (), name)
        text = head.decode("utf-8", errors="replace").lstrip("\ufeff").lstrip()
        if not text.startswith(("{", "[")):
            return Sample("text", head, (), name)
        records = self._first_records()
        if records is not None:
            return Sample("jsonl", head, records, name)
        return Sample("json", head, (self.document(),), name)

    def _first_records(self) -> tuple[Any, ...] | None:
        """The first parsed lines when the file is JSON lines; None when it is one document.

        One line alone is a document. When the first line is a complete JSON value, the file is
        JSON lines. When it is not (pretty-printed JSON, or JSON lines with a bad first record),
        the file is JSON lines only if at least two of the next lines are complete objects or
        lists: in pretty-printed JSON at most one element line lacks its trailing comma.
        """
        parsed: list[Any] = []
        first_ok = False
        seen = 0
        try:
            with closing(self.lines(counted=False)) as lines:
                for _, line in lines:
                    seen += 1
                    if seen > SAMPLE_RECORDS:
                        break
                    if isinstance(line, RecordError):
                        continue
                    try:
                        value = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(value, dict | list):
                        parsed.append(value)
                        first_ok = first_ok or seen == 1
        except ImportFileError as exc:
            if not isinstance(exc.__cause__, GZIP_DAMAGE):
                raise
            # damaged gzip data after the first lines: decide on them (as head() does); the
            # load reads up to the damage and reports it
        if seen < 2 or not parsed or (not first_ok and len(parsed) < 2):
            return None
        return tuple(parsed)

    def _guard(self, read: Callable[[], _T]) -> _T:
        try:
            return read()
        except GZIP_DAMAGE as exc:  # the stream of open() maps these already; kept as a backstop
            raise gzip_error(self.name, exc) from exc


_UNSET: Final[Any] = object()

GZIP_DAMAGE: Final = (EOFError, gzip.BadGzipFile, zlib.error)
"""What Python's gzip reader raises on damaged data (cut short, bad checksum, broken stream)."""


def gzip_error(name: str, exc: BaseException) -> ImportFileError:
    """The file-level error for damaged gzip data, the reason in words first.

    ``truncated gzip`` when the data ends early; ``corrupt gzip (CRC check failed)`` or
    ``corrupt gzip (length check failed)`` when the decompressed data does not match the
    checksum or size the file records; ``corrupt gzip`` for any other damage.
    """
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, EOFError):
        reason = f"truncated gzip: the file ends before its compressed data does ({detail})"
    elif "CRC check failed" in detail:
        reason = f"corrupt gzip (CRC check failed): the data does not match its checksum ({detail})"
    elif "Incorrect length" in detail:
        reason = f"corrupt gzip (length check failed): the data does not match its recorded size ({detail})"
    else:
        reason = f"corrupt gzip: {detail}"
    return ImportFileError(name, f"{reason}; copy the file again")


class _GuardedGzip(gzip.GzipFile):
    """A gzip reader whose reads raise :func:`gzip_error` on damaged data, naming the file."""

    def __init__(self, name: str, raw: BinaryIO) -> None:
        super().__init__(fileobj=raw, mode="rb")
        self._source_name = name

    def read(self, size: int | None = -1) -> bytes:
        try:
            return super().read(size)
        except GZIP_DAMAGE as exc:
            raise gzip_error(self._source_name, exc) from exc

    def read1(self, size: int = -1) -> bytes:
        try:
            return super().read1(size)
        except GZIP_DAMAGE as exc:
            raise gzip_error(self._source_name, exc) from exc

    def peek(self, n: int) -> bytes:
        try:
            return super().peek(n)
        except GZIP_DAMAGE as exc:
            raise gzip_error(self._source_name, exc) from exc

    def readline(self, size: int | None = -1) -> bytes:
        try:
            return super().readline(size)
        except GZIP_DAMAGE as exc:
            raise gzip_error(self._source_name, exc) from exc


def parse_document(text: str, name: str) -> Any:
    """Parse a whole JSON document, with an error that says where and why it failed.

    Raises:
        ImportFileError: The text is not JSON, or ends before the document closes.
    """
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ImportFileError(name, _json_problem(text, exc)) from exc


def _json_problem(text: str, exc: ValueError, *, one_line: bool = False) -> str:
    """Where and why JSON text failed to parse, in words.

    A value (or a string) that runs to the end of the text means the data was cut short; a second
    value after a complete first one means several documents (JSON lines) where one was expected.
    For a line of a JSON-lines file (``one_line``) the position is a column only: the record is the
    line.
    """
    if not isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON: {exc}"
    cut = json_truncation(text, exc)
    if cut is not None:
        opened = f" ({cut})" if cut else ""
        if one_line:
            return f"truncated JSON: the line ends before the value is complete{opened}"
        last = text.count("\n", 0, len(text.rstrip())) + 1
        return f"truncated JSON: the data ends at line {last} before the value is complete{opened}"
    at = f"column {exc.colno}" if one_line else f"line {exc.lineno}, column {exc.colno}"
    if exc.msg == "Extra data" and not one_line:
        return (
            f"not valid JSON at {at}: a second JSON value follows the first (JSON lines?); this format "
            "expects one JSON document per file"
        )
    return f"not valid JSON at {at}: {exc.msg}"
