"""A simulation as records in memory-light batches, for library users who want Calls, not a file."""

from __future__ import annotations

from collections.abc import Iterator

from tokenomy.schema import Call, Charge
from tokenomy.simulate import calendar, reference, tables
from tokenomy.simulate.batch import generate
from tokenomy.simulate.options import SimulationConfig


def records(config: SimulationConfig) -> Iterator[Call | Charge]:
    """Every call and charge of a simulation, chunk by chunk (each chunk's calls, then its charges).

    The records are the ones ``run`` writes for the same configuration. Building records is
    slower than writing JSONL; use :func:`tokenomy.simulate.run` for large runs.
    """
    compiled = tables.build()
    budgets, feature_p = calendar.hour_budgets(
        compiled, config.start_ms, config.days, config.calls, config.seed
    )
    for index, windows in enumerate(calendar.chunks(budgets, feature_p, config.start_ms)):
        chunk = generate(compiled, config, windows, index)
        yield from reference.calls(compiled, chunk, with_content=config.content)
        yield from reference.charges(compiled, chunk)
