"""``tokenomy import``: load logs, traces, exports and transcripts into the store, then summarize.

A thin shell over :func:`tokenomy.importers.import_paths`: it resolves the settings, shows a
progress bar (files and bytes) on a terminal, and prints a summary table: calls, sessions, tokens
per bucket, the calls' cost, the charges' cost and the spend (both, as ``tokenomy report``), the
cost the sources recorded next to tokenomy's price of the same calls (when any did), unpriced
calls, duplicates skipped, rejected records and the first errors as ``file:record field: message``.
Exit codes: 0 when every file was read and no record was rejected, 1 when a record was rejected
or a file failed, 2 for usage errors.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from tokenomy.cli.options import (
    capture_content_option,
    config_option,
    db_option,
    redact_hook,
    redact_option,
    resolve,
)
from tokenomy.importers import AUTO, ImportSummary, format_names, import_paths
from tokenomy.importers import Progress as ImportProgress
from tokenomy.importers.results import describe_error
from tokenomy.pricing import Pricer
from tokenomy.schema import ATTRIBUTION_FIELDS, BUCKETS, Attribution
from tokenomy.store.duckdb import open_store

SHOWN_ERRORS: Final = 10
_ATTRIBUTION_OPTIONS: Final = tuple(f for f in ATTRIBUTION_FIELDS if f != "api_key_id")


def _parse_tags(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {value!r}", ctx=ctx, param=param)
        tags[key.strip()] = rest.strip()
    return tags


def _attribution_options(func: Any) -> Any:
    for name in reversed(_ATTRIBUTION_OPTIONS):
        func = click.option(f"--{name}", name, default=None, help=f"Attribute calls to this {name}.")(func)
    return func


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice([AUTO, *format_names()]),
    default=AUTO,
    show_default=True,
    help="Input format; auto detects each file's format from its content.",
)
@click.option(
    "--strict", is_flag=True, default=None, help="Abort a file at its first bad record (store none of it)."
)
@db_option
@config_option
@capture_content_option("the prompt and completion text the files hold")
@redact_option
@_attribution_options
@click.option(
    "--tag", "tags", multiple=True, metavar="KEY=VALUE", callback=_parse_tags, help="Add a tag (repeatable)."
)
@click.option(
    "--model", default=None, help="The model, for formats that do not record one (transcripts, trajectories)."
)
@click.option(
    "--overrides",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Price overrides file (TOML).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; print the summary only.")
def command(
    *,
    paths: tuple[Path, ...],
    fmt: str,
    strict: bool | None,
    db: Path | None,
    config_file: Path | None,
    capture_content: bool | None,
    redact: str | None,
    tags: dict[str, str],
    model: str | None,
    overrides: Path | None,
    quiet: bool,
    **attribution: str | None,
) -> None:
    """Import logs, traces, exports and transcripts (files or directories, gzip or not).

    Formats: native JSONL, provider responses and SSE streams, HTTP recordings (VCR cassettes,
    HAR), OTLP traces, LiteLLM logs, Langfuse exports, chat transcripts, SWE-agent trajectories,
    OpenHands call logs. Importing the same records again skips them as duplicates.

    Exit codes: 0 every file was read and no record was rejected; 1 a record was rejected or a
    file failed (the rest was imported), or no file was found; 2 usage error. See
    docs/importing.md.
    """
    cfg = resolve(
        config_file,
        db=db,
        overrides=overrides,
        capture_content=capture_content,
        strict_import=strict,
        redact=redact,
    )
    hook = redact_hook(cfg, redact)
    pricer = Pricer(overrides=cfg.overrides)
    with open_store(cfg.db) as store:  # a TokenomyError prints as one line (cli.main)
        summary = _run(
            list(paths),
            fmt=fmt,
            store=store,
            pricer=pricer,
            strict=cfg.strict_import,
            capture_content=cfg.capture_content,
            redact=hook,
            attribution=Attribution(**attribution, tags=tags),
            model=model,
            quiet=quiet,
        )
    print_summary(summary, Console(highlight=False))
    if not summary.files:
        click.secho("error: no file to import under " + ", ".join(map(str, paths)), fg="red", err=True)
    if not summary.ok or not summary.files:
        raise SystemExit(1)


def _run(paths: list[Path], *, quiet: bool, **kwargs: Any) -> ImportSummary:
    console = Console(stderr=True)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True, disable=quiet or not console.is_terminal) as bar:
        task = bar.add_task("importing", total=None)

        def show(p: ImportProgress) -> None:
            name = Path(p.current).name if p.current else ""
            label = f"file {min(p.files_done + 1, p.files_total)}/{p.files_total} {name}"
            bar.update(task, completed=p.bytes_done, total=p.bytes_total or None, description=label)

        return import_paths(paths, progress=show, **kwargs)


def print_summary(summary: ImportSummary, console: Console) -> None:
    """The summary table, the per-format breakdown and the first problems."""
    console.print(_totals_table(summary))
    if len(summary.files) > 1:
        console.print(_formats_table(summary))
    for note, paths in _grouped_notes(summary).items():
        where = paths[0] if len(paths) == 1 else f"{paths[0]} and {len(paths) - 1:,} more file(s)"
        console.print(f"note: {where}: {note}", markup=False, soft_wrap=True)
    for usage_note in (*_usage_notes(summary), *_duplicate_notes(summary)):
        console.print(f"note: {usage_note}", markup=False, soft_wrap=True)
    errors = summary.errors
    if errors:
        console.print(
            f"[bold red]{len(summary.failed)} file(s) failed, {summary.rejected} record(s) rejected[/]"
        )
        for error in errors[:SHOWN_ERRORS]:
            console.print(f"  {describe_error(error)}", markup=False, soft_wrap=True)
        unkept = sum(max(0, f.rejected - len(f.errors)) for f in summary.files)  # counted, not kept
        if len(errors) + unkept > SHOWN_ERRORS:
            console.print(f"  ... and {len(errors) + unkept - SHOWN_ERRORS:,} more")


def _grouped_notes(summary: ImportSummary) -> dict[str, list[str]]:
    """Each distinct note with the files that gave it, in file order (one line per note, not per file)."""
    grouped: dict[str, list[str]] = {}
    for f in summary.files:
        for note in f.notes:
            grouped.setdefault(note, []).append(f.path)
    return grouped


def _totals_table(summary: ImportSummary) -> Table:
    table = Table(title="tokenomy import", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    rows: list[tuple[str, str]] = [
        ("files", f"{len(summary.files):,}"),
        ("calls stored", f"{summary.calls:,}"),
        ("duplicates skipped", f"{summary.duplicates:,}"),
        ("charges stored", f"{summary.charges:,}"),
        *(
            (("charge duplicates skipped", f"{summary.charge_duplicates:,}"),)
            if summary.charge_duplicates
            else ()
        ),
        *((("outcomes stored", f"{summary.outcomes:,}"),) if summary.outcomes else ()),
        ("sessions", f"{summary.sessions:,}"),
        *((f"tokens {name}", _tokens(summary, name, summary.tokens[name])) for name in BUCKETS),
        ("tokens input total", _tokens(summary, "input_total", summary.input_total)),
        ("tokens output total", _tokens(summary, "output_total", summary.output_total)),
        ("calls with usage unknown", f"{summary.usage_unknown:,}"),
        ("cost (priced calls)", _money(summary.cost, summary.calls - summary.unpriced)),
        *_charge_rows(summary),
        *_reported_rows(summary),
        ("unpriced calls", f"{summary.unpriced:,}"),
        ("rejected records", f"{summary.rejected:,}"),
        ("failed files", f"{len(summary.failed):,}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _tokens(summary: ImportSummary, figure: str, value: int | None) -> str:
    """A token figure: "—" when no stored call reported it (unknown, never 0), and the calls it covers
    when some did not report it, since the sum says nothing of those."""
    if value is None:
        return "—"
    missing = summary.unreported(figure)
    if not missing:
        return f"{value:,}"
    return f"{value:,} ({summary.calls - missing:,} of {summary.calls:,} calls)"


def _usage_notes(summary: ImportSummary) -> list[str]:
    """What the token figures cover when some stored calls did not report all of their usage."""
    if not summary.usage_unknown:
        return []
    return [
        f"{summary.usage_unknown:,} call(s) did not report all of their usage: a token figure is the sum "
        'over the calls that reported it ("of N calls" when not all did), "—" where none did'
    ]


def _duplicate_notes(summary: ImportSummary) -> list[str]:
    """What happened to the records skipped as duplicates: kept as stored, so the figures above (the
    unpriced calls among them) are of the new records only."""
    skipped = summary.duplicates + summary.charge_duplicates
    if not skipped:
        return []
    return [
        f"{skipped:,} record(s) were skipped as duplicates (their id stored already, or repeated in these "
        "files): the first record of each id is kept as it was stored, not replaced by a later line nor "
        "priced again with the prices or overrides of a later import"
    ]


def _charge_rows(summary: ImportSummary) -> list[tuple[str, str]]:
    """The charges' cost and the spend (calls' cost + charges, as ``tokenomy report``)."""
    charge_cost, priced = summary.charge_cost, summary.calls - summary.unpriced
    return [
        ("cost (charges)", _money(charge_cost, summary.charges)),
        ("spend (calls + charges)", _money(summary.cost + charge_cost, priced + summary.charges)),
    ]


def _reported_rows(summary: ImportSummary) -> list[tuple[str, str]]:
    """The cost the sources recorded next to tokenomy's price of the same calls (when any recorded one)."""
    n = summary.reported_calls
    if n == 0:
        return []
    return [
        (f"cost recorded by the source ({n:,} calls)", _money(summary.reported_cost, n)),
        (f"tokenomy cost of the same {n:,} calls", _money(summary.reported_priced, n)),
    ]


def _formats_table(summary: ImportSummary) -> Table:
    table = Table(title="by format", title_justify="left")
    for name in ("format", "files", "calls", "duplicates", "rejected", "failed"):
        table.add_column(name, justify="left" if name == "format" else "right")
    files = Counter(f.format or "?" for f in summary.files)
    for fmt in sorted(files):
        group = [f for f in summary.files if (f.format or "?") == fmt]
        table.add_row(
            fmt,
            str(files[fmt]),
            f"{sum(f.calls for f in group):,}",
            f"{sum(f.duplicates for f in group):,}",
            f"{sum(f.rejected for f in group):,}",
            str(sum(1 for f in group if f.failed is not None)),
        )
    return table


def _money(amount: Decimal, priced: int) -> str:
    if priced <= 0:
        return "—"
    return f"${amount.quantize(Decimal('0.000001')):,}"
