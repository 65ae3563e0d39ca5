"""Step numbers for calls whose format does not record them: their order within the session, by start time.

Used by formats that give each call a time but no position (traces, exports). Calls without a
session or without a start time keep the step they have (usually None). Only the calls read in
the same file are ordered together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from tokenomy.schema import Call


def number_steps(calls: Sequence[Call]) -> list[Call]:
    """The calls, in the same order, with ``step`` = 1-based rank by start time within each session.

    Ties keep file order. Calls that already have a step are left alone.
    """
    ranked: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for index, call in enumerate(calls):
        if call.step is None and call.session_id is not None and call.started_at is not None:
            ranked[call.session_id].append((call.started_at, index))
    steps: dict[int, int] = {}
    for members in ranked.values():
        for rank, (_, index) in enumerate(sorted(members), start=1):
            steps[index] = rank
    return [call.replace(step=steps[i]) if i in steps else call for i, call in enumerate(calls)]
