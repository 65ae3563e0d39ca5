"""Where imported records go: attributed, stripped of content unless asked, priced, and stored in batches.

The sink applies the rules every format shares. The run's attribution fills the fields a
record does not carry; prompt and completion text are dropped unless content capture is on, and
go through the run's redaction hook when one is set (``ImportOptions.redact``);
every call is priced before it is stored (an unpriced call is stored and counted, never $0);
calls go to the store in batches. A bad record is counted and kept for the summary while the
good ones are stored; with ``strict`` the first bad record aborts the file and nothing of it is
stored, because the sink holds the whole file until its last record has been read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Final, TypeVar

from tokenomy.errors import ImportFileError, RecordError
from tokenomy.importers.reading import Source
from tokenomy.importers.results import Context, FileResult, ImportOptions, Item, Note
from tokenomy.schema import BUCKETS, TOKEN_FIGURES, Call, Charge, Content, OutcomeEvent

if TYPE_CHECKING:
    from tokenomy.capture.redaction import CheckedRedact

BATCH: Final = 5000
"""Calls per insert when not strict."""


def redaction(options: ImportOptions) -> CheckedRedact | None:
    """The hook the options carry, when content is kept."""
    return options.redact if options.capture_content else None


def store_items(items: Iterable[Item], source: Source, ctx: Context, *, fmt: str) -> FileResult:
    """Price and store an importer's items, counting what happened.

    Args:
        items: What the importer read, in file order.
        source: The file (for messages).
        ctx: Store, pricer, options and strictness.
        fmt: The format name, recorded as the calls' source (``import:<fmt>``).

    Returns:
        The file's result. A file-level error is recorded in ``failed``, never raised.
    """
    result = FileResult(path=source.name, format=fmt)
    repeats: dict[str, int] = {}
    calls: list[Call] = []
    charges: list[Charge] = []
    outcomes: list[OutcomeEvent] = []
    try:
        for item in items:
            if isinstance(item, RecordError):
                result.reject(item)
                if ctx.strict:
                    return _abort(result, item)
            elif isinstance(item, Note):
                _note(result, item.message, repeats)
            elif isinstance(item, Call):
                calls.append(_prepare_call(item, ctx, fmt))
            elif isinstance(item, OutcomeEvent):
                outcomes.append(item)
            else:
                charges.append(_prepare_charge(item, ctx, fmt))
            if not ctx.strict and len(calls) >= BATCH:
                _flush(calls, charges, result, ctx)
    except ImportFileError as exc:
        result.failed = exc
        if ctx.strict:
            return result
        if calls or charges or result.calls or result.charges:  # pending, or stored in earlier batches
            result.notes.append(f"{len(calls) + result.calls} calls read before the error were kept")
    _flush(calls, charges, result, ctx)
    result.notes[:] = [f"{n} ({repeats[n]:,} records)" if repeats.get(n, 1) > 1 else n for n in result.notes]
    if outcomes:
        result.outcomes += ctx.store.insert_outcomes(outcomes, source=f"import:{fmt}").inserted
    return result


def _abort(result: FileResult, error: RecordError) -> FileResult:
    result.aborted = True
    result.failed = ImportFileError(
        result.path,
        f"stopped at the first bad record (--strict), nothing from this file was stored: {error.detail}",
    )
    return result


def _prepare_call(call: Call, ctx: Context, fmt: str) -> Call:
    options = ctx.options
    changes: dict[str, object] = {"attribution": options.attribution.merged(call.attribution)}
    if call.content is not None and not options.capture_content:
        changes["content"] = None
    elif call.content is not None and (redact := redaction(options)) is not None:
        changes["content"] = _redacted(call.content, redact)
    if call.source is None:
        changes["source"] = f"import:{fmt}"
    if call.cost is None:
        changes["cost"] = ctx.pricer.price(call)  # the price depends on none of the fields changed here
    return call.replace(**changes)


def _redacted(content: Content, redact: CheckedRedact) -> Content | None:
    """The call's text through the hook; None (no content) when the hook fails on either text."""
    texts = redact.texts(content.prompt, content.completion)
    return None if texts is None else Content(prompt=texts[0], completion=texts[1])


def _prepare_charge(charge: Charge, ctx: Context, fmt: str) -> Charge:
    return replace(
        charge,
        attribution=ctx.options.attribution.merged(charge.attribution),
        source=charge.source or f"import:{fmt}",
    )


def _flush(calls: list[Call], charges: list[Charge], result: FileResult, ctx: Context) -> None:
    if calls:
        unique = _first_of_each(calls)
        known = ctx.store.known_ids(c.id for c in unique)
        fresh = [c for c in unique if c.id not in known]
        inserted = ctx.store.insert_calls(fresh)
        result.calls += inserted.inserted
        result.duplicates += len(calls) - inserted.inserted
        _tally(fresh, result)
        calls.clear()
    if charges:
        known = ctx.store.known_ids((c.id for c in charges), "charges")
        new = [c for c in _first_of_each(charges) if c.id not in known]
        added = ctx.store.insert_charges(new)
        result.charges += added.inserted
        result.charge_duplicates += len(charges) - added.inserted
        result.charge_cost += sum((c.amount for c in new), Decimal(0))
        charges.clear()


_Record = TypeVar("_Record", Call, Charge)


def _first_of_each(records: list[_Record]) -> list[_Record]:
    """The records with repeated ids dropped, the first of each kept (as the store does)."""
    seen: set[str] = set()
    out: list[_Record] = []
    for record in records:
        if record.id not in seen:
            seen.add(record.id)
            out.append(record)
    return out


def _tally(calls: Iterable[Call], result: FileResult) -> None:
    """Add the stored calls up; a token figure a call did not report is counted as unreported, not as 0."""
    for call in calls:
        usage = call.usage
        missing = [name for name in TOKEN_FIGURES if getattr(usage, name) is None]
        for name in missing:
            result.unreported[name] += 1
        if missing:
            result.usage_unknown += 1
        for name in BUCKETS:
            result.tokens[name] += getattr(usage, name) or 0
        result.input_total += usage.input_total or 0
        result.output_total += usage.output_total or 0
        if call.session_id is not None:
            result.sessions.add(call.session_id)
        cost = call.cost
        if cost is None or cost.total is None:
            result.unpriced += 1
        else:
            result.cost += cost.total
            if call.provider_reported_cost is not None:
                result.reported_calls += 1
                result.reported_cost += call.provider_reported_cost
                result.reported_priced += cost.total


def _note(result: FileResult, message: str, repeats: dict[str, int]) -> None:
    """Keep a note once per file, counting how many records gave it (a note per record, such as a
    recorded cost set aside, would otherwise repeat itself thousands of times in the summary)."""
    if message in repeats:
        repeats[message] += 1
    else:
        repeats[message] = 1
        result.notes.append(message)
