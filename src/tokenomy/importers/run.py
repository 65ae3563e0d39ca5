"""Importing many files: walk directories, detect each file's format, load it, add the results up.

:func:`import_paths` is the library entry point behind ``tokenomy import``. Each file is
detected and loaded on its own, so one unreadable file (empty, binary, truncated, of unknown
format) gives a one-line error in the summary and the run goes on with the others; records
rejected inside a file are counted and the first few kept with their file, record and field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from tokenomy.errors import ConfigError, ImportFileError
from tokenomy.importers.reading import GZIP_DAMAGE, Source, gzip_error
from tokenomy.importers.registry import FORMATS, detect
from tokenomy.importers.results import Context, FileResult, ImportOptions, Progress, ProgressCallback
from tokenomy.pricing import Pricer
from tokenomy.schema import BUCKETS, Attribution
from tokenomy.store.base import Store

if TYPE_CHECKING:
    from tokenomy.capture.redaction import CheckedRedact

AUTO = "auto"


@dataclass(slots=True)
class ImportSummary:
    """What an import run did, file by file and in total (totals cover the calls stored now)."""

    files: list[FileResult] = field(default_factory=list)

    @property
    def calls(self) -> int:
        """Calls stored."""
        return sum(f.calls for f in self.files)

    @property
    def duplicates(self) -> int:
        """Calls skipped because they were already stored (or repeated)."""
        return sum(f.duplicates for f in self.files)

    @property
    def charges(self) -> int:
        """Charges stored."""
        return sum(f.charges for f in self.files)

    @property
    def charge_duplicates(self) -> int:
        """Charges skipped because they were already stored (or repeated)."""
        return sum(f.charge_duplicates for f in self.files)

    @property
    def outcomes(self) -> int:
        """Outcome records stored (success, score or action of a call or session)."""
        return sum(f.outcomes for f in self.files)

    @property
    def rejected(self) -> int:
        """Bad records, not stored."""
        return sum(f.rejected for f in self.files)

    @property
    def unpriced(self) -> int:
        """Stored calls that could not be priced (never counted as $0)."""
        return sum(f.unpriced for f in self.files)

    @property
    def cost(self) -> Decimal:
        """The priced cost of the stored calls."""
        return sum((f.cost for f in self.files), Decimal(0))

    @property
    def charge_cost(self) -> Decimal:
        """The amounts of the stored charges."""
        return sum((f.charge_cost for f in self.files), Decimal(0))

    @property
    def reported_calls(self) -> int:
        """Stored, priced calls that carry the cost their source recorded."""
        return sum(f.reported_calls for f in self.files)

    @property
    def reported_cost(self) -> Decimal:
        """The cost the sources recorded for those calls (LiteLLM's spend, OpenHands' cost...)."""
        return sum((f.reported_cost for f in self.files), Decimal(0))

    @property
    def reported_priced(self) -> Decimal:
        """tokenomy's price of the same calls, to reconcile with :attr:`reported_cost`."""
        return sum((f.reported_priced for f in self.files), Decimal(0))

    @property
    def tokens(self) -> dict[str, int | None]:
        """Tokens per exclusive bucket, each summed over the stored calls that reported it; None
        (unknown, never 0) when calls were stored and none of them reported it."""
        return {name: self._figure(name, sum(f.tokens.get(name, 0) for f in self.files)) for name in BUCKETS}

    @property
    def input_total(self) -> int | None:
        """Input tokens of the stored calls that reported them (including those whose split is
        unknown); None when calls were stored and none of them did."""
        return self._figure("input_total", sum(f.input_total for f in self.files))

    @property
    def output_total(self) -> int | None:
        """Output tokens of the stored calls that reported them; None when calls were stored and none did."""
        return self._figure("output_total", sum(f.output_total for f in self.files))

    def unreported(self, figure: str) -> int:
        """Stored calls that left ``figure`` (a bucket, ``input_total`` or ``output_total``) unreported:
        the figure's sum does not cover them."""
        return sum(f.unreported.get(figure, 0) for f in self.files)

    @property
    def usage_unknown(self) -> int:
        """Stored calls that left a bucket or a total unreported (as ``tokenomy report`` counts them)."""
        return sum(f.usage_unknown for f in self.files)

    def _figure(self, name: str, known: int) -> int | None:
        """``known``, or None when there are stored calls and every one of them left ``name`` unreported."""
        calls = self.calls
        return None if calls and self.unreported(name) >= calls else known

    @property
    def sessions(self) -> int:
        """Distinct sessions among the stored calls (fast-path files add their own count)."""
        ids: set[str] = set()
        for f in self.files:
            ids |= f.sessions
        return len(ids) + sum(f.session_count for f in self.files)

    @property
    def failed(self) -> list[FileResult]:
        """Files that could not be read (or were aborted by --strict)."""
        return [f for f in self.files if f.failed is not None]

    @property
    def errors(self) -> list[ImportFileError]:
        """File-level errors first, then the kept record errors, in file order."""
        out: list[ImportFileError] = [f.failed for f in self.files if f.failed is not None]
        for f in self.files:
            out.extend(e for e in f.errors if e is not f.failed)
        return out

    @property
    def ok(self) -> bool:
        """True when every file was read and no record was rejected."""
        return all(f.ok for f in self.files)


def import_paths(
    paths: Sequence[str | Path],
    *,
    store: Store,
    pricer: Pricer,
    fmt: str = AUTO,
    strict: bool = False,
    capture_content: bool = False,
    redact: CheckedRedact | None = None,
    attribution: Attribution | None = None,
    model: str | None = None,
    progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Import files and directories (walked recursively) into ``store``.

    Args:
        paths: Files and directories. Hidden files (``.name``) inside directories are skipped.
        store: Where the calls and charges go.
        pricer: Prices every call before it is stored.
        fmt: A format name, or ``auto`` to detect each file's format.
        strict: Abort a file at its first bad record, storing nothing from it.
        capture_content: Keep prompt and completion text (off by default).
        redact: With ``capture_content``, the hook every kept text goes through before it is
            stored (a native file holding text then takes the line-by-line path, so that the hook
            sees all of it). Load it with :func:`tokenomy.capture.redaction.load_hook`, or wrap a
            function with :func:`tokenomy.capture.redaction.checked`.
        attribution: Fills the attribution fields that records leave empty.
        model: The model, for formats that do not record one (transcripts, trajectories).
        progress: Called as files and bytes are read.

    Returns:
        The per-file results and their totals.

    Raises:
        ConfigError: ``fmt`` is not a known format, or ``redact`` is a bare function or is given
            without ``capture_content``.
    """
    if fmt != AUTO and fmt not in FORMATS:
        raise ConfigError(f"unknown import format {fmt!r}; use {AUTO} or one of: {', '.join(FORMATS)}")
    if redact is not None and not callable(getattr(redact, "texts", None)):
        raise ConfigError(
            f"import_paths: redact={redact!r} is not a loaded hook; pass "
            "tokenomy.capture.redaction.checked(fn), or load_hook('MODULE:FUNCTION')"
        )
    if redact is not None and not capture_content:
        raise ConfigError(
            "import_paths: a redaction hook is set but capture_content is False, so no text is kept "
            "for it to see; pass capture_content=True, or no hook"
        )
    files = collect_files(paths)
    options = ImportOptions(
        capture_content=capture_content, attribution=attribution or Attribution(), model=model, redact=redact
    )
    ctx = Context(store=store, pricer=pricer, options=options, strict=strict)
    tracker = _Tracker(files, progress)
    summary = ImportSummary()
    for path in files:
        tracker.start(path)
        summary.files.append(import_file(path, ctx, fmt=fmt, on_bytes=tracker.advance))
        tracker.finish(path)
    return summary


def import_file(
    path: Path, ctx: Context, *, fmt: str = AUTO, on_bytes: Callable[[int], None] | None = None
) -> FileResult:
    """Import one file; a file-level problem is returned in ``failed``, never raised.

    Damaged gzip data is such a problem wherever it is met (the reads of :class:`Source` report
    it already; this catches a reader that opened the data another way).
    """
    chosen = None
    try:
        source = Source(path, on_bytes)
        importer = detect(source) if fmt == AUTO else FORMATS[fmt]
        chosen = importer.name
        if fmt != AUTO:
            source.sample()  # empty files give the same clear error whatever the format
        return importer.load(source, ctx)
    except ImportFileError as exc:
        return FileResult(path=str(path), format=chosen, failed=exc)
    except GZIP_DAMAGE as exc:
        return FileResult(path=str(path), format=chosen, failed=gzip_error(str(path), exc))


def collect_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files to import: files as given, directories walked (sorted, hidden entries skipped)."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            out.append(path)
    return out


class _Tracker:
    """Turns per-file byte counts into run-wide progress reports."""

    def __init__(self, files: Sequence[Path], callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._sizes = {p: _size(p) for p in files}
        self._total = sum(self._sizes.values())
        self._files = len(files)
        self._done_files = 0
        self._done_bytes = 0
        self._file_bytes = 0
        self._current: str | None = None

    def start(self, path: Path) -> None:
        self._current = str(path)
        self._file_bytes = 0
        self._emit()

    def advance(self, n: int) -> None:
        self._file_bytes += n
        self._emit()

    def finish(self, path: Path) -> None:
        self._done_files += 1
        self._done_bytes += self._sizes[path]
        self._file_bytes = 0
        self._emit()

    def _emit(self) -> None:
        if self._callback is None:
            return
        done = min(self._done_bytes + self._file_bytes, self._total)
        self._callback(Progress(self._done_files, self._files, done, self._total, self._current))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
