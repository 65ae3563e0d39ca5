"""Running a simulation: chunk after chunk, the calls and charges stream out with their truth.

Memory holds about one chunk per process at a time (some
:data:`~tokenomy.simulate.calendar.CHUNK_CALLS` calls), whatever the total. Each chunk's randomness
depends only on the seed and the chunk's number, so the output is the same bytes for the same
configuration, with or without worker processes.

The truth file starts with a ``run`` line (the configuration), then one ``waste`` line per
instance, and ends with a ``summary`` line (counts per category). See docs/simulate.md.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import IO, Any, Final

from tokenomy.native import SCHEMA_VERSION, format_time
from tokenomy.simulate import calendar, reference, tables, truth, writer
from tokenomy.simulate.batch import generate
from tokenomy.simulate.options import ELIGIBILITY, SimulationConfig

GENERATOR: Final = "tokenomy.simulate/1"

Progress = Callable[[int], None]
"""Called with the number of calls just written."""
_Job = tuple[int, list[calendar.Window]]


@dataclass(frozen=True, slots=True)
class Summary:
    """What a run wrote."""

    calls: int
    sessions: int
    charges: int
    categories: dict[str, dict[str, int]]
    """Per waste category: eligible sessions, instances and wasted tokens."""

    def as_dict(self) -> dict[str, Any]:
        """The summary as the truth file's last line."""
        return {
            "type": "summary",
            "calls": self.calls,
            "sessions": self.sessions,
            "charges": self.charges,
            "categories": self.categories,
        }


def run_header(config: SimulationConfig) -> dict[str, Any]:
    """The truth file's first line: everything needed to reproduce the run."""
    return {
        "type": "run",
        "generator": GENERATOR,
        "schema_version": SCHEMA_VERSION,
        "seed": config.seed,
        "calls": config.calls,
        "days": config.days,
        "start": format_time(config.start),
        "content": config.content,
        "error_rate": config.error_rate,
        "timeout_rate": config.timeout_rate,
        "waste_rates": config.waste.as_dict(),
        "eligibility": ELIGIBILITY,
    }


@dataclass(frozen=True, slots=True)
class _Rendered:
    """A chunk turned into bytes, with its counts."""

    lines: list[bytes | memoryview]
    truth_lines: bytes
    calls: int
    sessions: int
    charges: int
    tally: truth.Tally


def run(
    config: SimulationConfig,
    out: IO[bytes],
    truth_out: IO[bytes] | None = None,
    progress: Progress | None = None,
    workers: int = 1,
) -> Summary:
    """Write a simulation's native JSONL to ``out`` and its ground truth to ``truth_out``.

    Args:
        config: What to simulate.
        out: Binary stream for the calls and charges.
        truth_out: Binary stream for the ground truth, or None to skip it.
        progress: Called after each chunk with the number of calls it wrote.
        workers: Processes rendering chunks side by side (1: in this process); the output does
            not depend on it.

    Returns:
        Counts of what was written.
    """
    compiled, _ = _compiled()
    budgets, feature_p = calendar.hour_budgets(
        compiled, config.start_ms, config.days, config.calls, config.seed
    )
    jobs = enumerate(calendar.chunks(budgets, feature_p, config.start_ms))
    tally = truth.Tally()
    counts = [0, 0, 0]
    if truth_out is not None:
        truth_out.write(truth.dumps(run_header(config)).encode())
    for done in _in_order(config, jobs, workers):
        for buffer in done.lines:
            out.write(buffer)
        if truth_out is not None:
            truth_out.write(done.truth_lines)
        tally.add(done.tally)
        counts = [counts[0] + done.calls, counts[1] + done.sessions, counts[2] + done.charges]
        if progress is not None:
            progress(done.calls)
        del done  # let the chunk go before the next one is generated
    summary = Summary(counts[0], counts[1], counts[2], tally.as_dict())
    if truth_out is not None:
        truth_out.write(truth.dumps(summary.as_dict()).encode())
    return summary


@lru_cache(maxsize=1)
def _compiled() -> tuple[tables.Tables, writer.Vocabulary]:
    """The lookup tables and rendered names, built once per process (they never change)."""
    compiled = tables.build()
    return compiled, writer.Vocabulary.build(compiled)


def _render(config: SimulationConfig, job: _Job, *, own_bytes: bool = False) -> _Rendered:
    """Generate and render one chunk; ``own_bytes`` copies the lines out of Arrow (to send them)."""
    compiled, vocab = _compiled()
    index, windows = job
    chunk = generate(compiled, config, windows, index)
    lines: list[bytes | memoryview]
    if config.content:
        lines = ["".join(reference.lines(compiled, chunk, with_content=True)).encode()]
    else:
        lines = list(writer.chunk_bytes(compiled, vocab, chunk))
    if own_bytes:
        lines = [bytes(b) for b in lines]
    tally = truth.Tally()
    found = "".join(truth.dumps(e) for e in truth.entries(compiled, chunk, tally)).encode()
    return _Rendered(lines, found, len(chunk.calls), len(chunk.sessions), len(chunk.charges), tally)


def _render_elsewhere(config: SimulationConfig, job: _Job) -> _Rendered:
    """:func:`_render` in a worker process."""
    return _render(config, job, own_bytes=True)


def _in_order(config: SimulationConfig, jobs: Iterator[_Job], workers: int) -> Iterator[_Rendered]:
    """Every job rendered, in order: here, or by ``workers`` processes with a bounded queue."""
    if workers <= 1:
        for job in jobs:
            yield _render(config, job)
        return
    context = multiprocessing.get_context(
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    )
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[Future[_Rendered]] = deque()
        for job in jobs:
            pending.append(pool.submit(_render_elsewhere, config, job))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
