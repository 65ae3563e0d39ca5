"""What an import run is made of: options, the run context, the items importers yield, per-file results.

Importers yield :data:`Item` values (a call, a charge, a bad record or a note); the sink turns
them into a :class:`FileResult`; the run adds the file results up into an
:class:`~tokenomy.importers.run.ImportSummary`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, TypeAlias

from tokenomy.errors import ImportFileError, RecordError
from tokenomy.schema import BUCKETS, TOKEN_FIGURES, Attribution, Call, Charge, OutcomeEvent

if TYPE_CHECKING:
    from tokenomy.capture.redaction import CheckedRedact
    from tokenomy.pricing import Pricer
    from tokenomy.store.base import Store


def describe_error(error: ImportFileError) -> str:
    """One line for a summary: ``file:record field: message`` for a bad record, ``file: message`` else."""
    if isinstance(error, RecordError):
        prefix = f"record {error.record}" + (f", field '{error.field}'" if error.field else "") + ": "
        return f"{error.path}:{error.record} {error.field or '-'}: {error.detail.removeprefix(prefix)}"
    return str(error)


@dataclass(frozen=True, slots=True)
class Note:
    """Something the user should know about a file that is not an error (shown in the summary)."""

    message: str


Item: TypeAlias = Call | Charge | OutcomeEvent | RecordError | Note
"""What a record importer yields: a call, a charge, a bad record, or a note."""

MAX_KEPT_ERRORS = 200
"""Per file, the record errors kept for the summary (all of them are counted)."""


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How records become calls.

    Attributes:
        capture_content: Keep prompt and completion text (off by default).
        attribution: Attribution for every call and charge; fields a record carries itself win.
        model: The model, for formats that do not record it (transcripts, trajectories).
        redact: With ``capture_content``, applied to each kept prompt and completion as the
            capture SDK applies it (:meth:`tokenomy.capture.redaction.CheckedRedact.texts`); None
            keeps the text as read.
    """

    capture_content: bool = False
    attribution: Attribution = field(default_factory=Attribution)
    model: str | None = None
    redact: CheckedRedact | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """Everything an importer needs to load a file: the store, the pricer and the options."""

    store: Store
    pricer: Pricer
    options: ImportOptions = field(default_factory=ImportOptions)
    strict: bool = False


@dataclass(slots=True)
class FileResult:
    """What importing one file did.

    ``calls`` counts the calls stored now; ``duplicates`` the calls already stored (or repeated in
    the file), which were skipped; ``charge_duplicates`` the same of charges. Token and cost totals
    cover the stored calls only, and each token figure only the calls that reported it:
    ``unreported`` counts the others, so that a figure no call reported reads as unknown rather
    than 0 (docs/usage.md, "What None means").
    """

    path: str
    format: str | None = None
    calls: int = 0
    duplicates: int = 0
    charges: int = 0
    charge_duplicates: int = 0
    outcomes: int = 0
    rejected: int = 0
    unpriced: int = 0
    cost: Decimal = Decimal(0)
    charge_cost: Decimal = Decimal(0)
    """The amounts of the charges stored now."""
    reported_calls: int = 0
    """Stored calls that are priced and carry the cost their source recorded (LiteLLM's spend...)."""
    reported_cost: Decimal = Decimal(0)
    """What the source recorded for those calls, to reconcile with ``reported_priced``."""
    reported_priced: Decimal = Decimal(0)
    """tokenomy's price of the same calls."""
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))
    input_total: int = 0
    output_total: int = 0
    unreported: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_FIGURES, 0))
    """Per token figure (:data:`tokenomy.schema.TOKEN_FIGURES`), the stored calls that left it
    unreported (None)."""
    usage_unknown: int = 0
    """Stored calls that left a bucket or a total unreported, as ``tokenomy report`` counts them."""
    sessions: set[str] = field(default_factory=set)
    session_count: int = 0
    """Sessions counted by the store's fast path, which reports a number rather than the ids."""
    errors: list[RecordError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed: ImportFileError | None = None
    """A file-level error: the file could not be read (or, with --strict, was aborted)."""
    aborted: bool = False
    """True when --strict stopped the file at a bad record and nothing of it was stored."""

    def reject(self, error: RecordError) -> None:
        """Count a bad record, keeping the first few for the summary."""
        self.rejected += 1
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(error)

    @property
    def ok(self) -> bool:
        """True when the file was read and no record was rejected."""
        return self.failed is None and self.rejected == 0


ProgressCallback: TypeAlias = Callable[["Progress"], None]


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a multi-file import stands, for progress bars."""

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    current: str | None = None
