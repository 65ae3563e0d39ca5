"""``tokenomy simulate``: write a realistic synthetic workload as native JSONL, with its ground truth."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from tokenomy.errors import ConfigError
from tokenomy.simulate import CATEGORIES, SimulationConfig, Summary, WasteRates, run

PROGRESS_FROM = 200_000
"""Runs of at least this many calls show a progress bar when stderr is a terminal."""


def truth_path_for(out: Path) -> Path:
    """The default truth file next to ``out``: ``calls.jsonl`` -> ``calls.truth.jsonl``."""
    name = out.name.removesuffix(".jsonl") if out.name.endswith(".jsonl") else out.name
    return out.with_name(name + ".truth.jsonl")


def auto_workers(calls: int) -> int:
    """Worker processes for a run: none for short runs (start-up costs more), up to two otherwise."""
    if calls < PROGRESS_FROM:
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def parse_waste(values: tuple[str, ...], no_waste: bool) -> WasteRates:
    """Waste rates from ``--waste CATEGORY=RATE`` options, starting from the defaults (or zero)."""
    rates = WasteRates.none() if no_waste else WasteRates()
    overrides: dict[str, float] = {}
    for value in values:
        name, sep, rate = value.partition("=")
        try:
            overrides[name.strip()] = float(rate)
        except ValueError:
            sep = ""
        if not sep:
            raise click.BadParameter(
                f"{value!r}: expected CATEGORY=RATE, such as retry_loop=0.05", param_hint="--waste"
            )
    try:
        return rates.with_overrides(overrides)
    except ConfigError as exc:  # an unknown category, a rate out of range: the option's fault
        raise click.BadParameter(str(exc), param_hint="--waste") from exc


def parse_start(value: str | None) -> datetime | None:
    """``--start`` as a UTC datetime (a date means its midnight; a time without zone means UTC)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not a date; use YYYY-MM-DD or an ISO 8601 time", param_hint="--start"
        ) from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _same_file(out: Path, truth: Path) -> bool:
    """True when the output and the truth would be written to one place (a file, or stdout)."""
    if str(out) == "-" or str(truth) == "-":
        return str(out) == str(truth)
    return out.resolve() == truth.resolve()


@contextlib.contextmanager
def _open(path: Path, what: str) -> Iterator[IO[bytes]]:
    if str(path) == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("wb")
    except OSError as exc:
        raise ConfigError(
            f"cannot write the {what} file {path}: {exc.strerror}; choose a writable path"
        ) from exc
    with handle:
        yield handle


@click.command("simulate")
@click.option(
    "--calls", "-n", type=click.IntRange(min=0), required=True, help="Total LLM calls to write (exact)."
)
@click.option(
    "--days", "-d", type=click.IntRange(1, 3660), default=30, show_default=True, help="Days simulated."
)
@click.option(
    "--seed",
    "-s",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed: same seed, same bytes.",
)
@click.option(
    "--out",
    "-o",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Native JSONL output file, or - for stdout.",
)
@click.option("--start", default=None, help="First day (YYYY-MM-DD, UTC). [default: 2026-10-05, a Monday]")
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Ground-truth file. [default: OUT with .truth.jsonl; none with --out -]",
)
@click.option(
    "--waste",
    multiple=True,
    metavar="CATEGORY=RATE",
    help=f"Set a waste rate per eligible session (repeatable). Categories: {', '.join(CATEGORIES)}.",
)
@click.option("--no-waste", is_flag=True, help="Inject no waste (rates given with --waste still apply).")
@click.option(
    "--error-rate",
    type=click.FloatRange(0, 0.5),
    default=0.01,
    show_default=True,
    help="Share of calls failing with a provider error (ends the session).",
)
@click.option(
    "--timeout-rate",
    type=click.FloatRange(0, 0.5),
    default=0.003,
    show_default=True,
    help="Share of calls timing out (ends the session).",
)
@click.option(
    "--content", is_flag=True, help="Write short prompt and completion text (slower; off by default)."
)
@click.option(
    "--workers",
    type=click.IntRange(0, 16),
    default=0,
    help="Worker processes rendering chunks side by side; the output is identical for any number. "
    f"[default: 0, meaning 1 below {PROGRESS_FROM:,} calls and up to 2 (the CPU count) above]",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help=f"Show a progress bar. [default: on a terminal, for {PROGRESS_FROM:,} calls or more]",
)
def command(
    *,
    calls: int,
    days: int,
    seed: int,
    out: Path,
    start: str | None,
    truth: Path | None,
    waste: tuple[str, ...],
    no_waste: bool,
    error_rate: float,
    timeout_rate: float,
    content: bool,
    workers: int,
    progress: bool | None,
) -> None:  # fmt: skip
    """Write a made-up company's agent traffic as native JSONL, with the injected waste as ground truth.

    The output is deterministic for a seed. See docs/simulate.md for the company, the token profiles,
    the waste categories and the truth file format.
    """
    config = SimulationConfig(
        calls=calls,
        days=days,
        seed=seed,
        waste=parse_waste(waste, no_waste),
        content=content,
        error_rate=error_rate,
        timeout_rate=timeout_rate,
        **({"start": s} if (s := parse_start(start)) is not None else {}),
    )
    truth_path = truth if truth is not None else (None if str(out) == "-" else truth_path_for(out))
    if truth_path is not None and _same_file(out, truth_path):
        raise click.UsageError(
            f"--truth {truth_path} is the --out file too: the truth would overwrite the calls "
            "(or mix with them); give it a path of its own"
        )
    console = Console(stderr=True)
    show = progress if progress is not None else (console.is_terminal and calls >= PROGRESS_FROM)
    workers = workers or auto_workers(calls)
    began = time.perf_counter()
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(_open(out, "output"))
        truth_sink = stack.enter_context(_open(truth_path, "truth")) if truth_path is not None else None
        summary = _run(config, sink, truth_sink, workers, console if show else None)
    _report(console, summary, out, truth_path, time.perf_counter() - began)


def _run(
    config: SimulationConfig,
    sink: IO[bytes],
    truth_sink: IO[bytes] | None,
    workers: int,
    console: Console | None,
) -> Summary:
    if console is None:
        return run(config, sink, truth_sink, workers=workers)
    columns = (TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("calls", total=config.calls)
        return run(config, sink, truth_sink, progress=lambda n: bar.advance(task, n), workers=workers)


def _report(console: Console, summary: Summary, out: Path, truth: Path | None, seconds: float) -> None:
    rate = summary.calls / seconds if seconds > 0 else 0.0
    where = "stdout" if str(out) == "-" else str(out)
    console.print(
        f"wrote {summary.calls:,} calls in {summary.sessions:,} sessions and {summary.charges:,} charges "
        f"to {where} in {seconds:.1f}s ({rate:,.0f} calls/s)"
        + (f"; ground truth in {truth}" if truth is not None else ""),
        highlight=False,
    )
