"""The registry of waste detectors: one per category, in the order their findings are explained.

A detector is a plain class with the attributes and the ``detect`` method of
:class:`~tokenomy.analysis.waste.base.Detector`; add one by writing its module and listing it here.
Categories whose calls are wasted as a whole come first (retries, truncations, repeats,
proliferation): the savings plan removes those calls before it trims or reprices others.
"""

from __future__ import annotations

from typing import Final

from tokenomy.analysis.waste.base import Detector
from tokenomy.analysis.waste.bloated_system_prompt import BloatedSystemPrompt
from tokenomy.analysis.waste.filler import Filler
from tokenomy.analysis.waste.missed_batch import MissedBatch
from tokenomy.analysis.waste.missed_caching import MissedCaching
from tokenomy.analysis.waste.over_planning import OverPlanning
from tokenomy.analysis.waste.oversized_model import OversizedModel
from tokenomy.analysis.waste.redundant_tool_call import RedundantToolCall
from tokenomy.analysis.waste.retry_loop import RetryLoop
from tokenomy.analysis.waste.tool_call_proliferation import ToolCallProliferation
from tokenomy.analysis.waste.truncation_rerun import TruncationRerun
from tokenomy.analysis.waste.unpruned_history import UnprunedHistory

DETECTORS: Final[tuple[Detector, ...]] = (
    RetryLoop(),
    TruncationRerun(),
    RedundantToolCall(),
    ToolCallProliferation(),
    Filler(),
    OverPlanning(),
    BloatedSystemPrompt(),
    UnprunedHistory(),
    MissedCaching(),
    OversizedModel(),
    MissedBatch(),
)
CATEGORIES: Final = tuple(d.category for d in DETECTORS)
"""Every finding category, in registry order."""


def detector(category: str) -> Detector:
    """The detector of ``category``.

    Raises:
        KeyError: No detector has that category (the message lists them).
    """
    for d in DETECTORS:
        if d.category == category:
            return d
    raise KeyError(f"no detector for category {category!r}; known: {', '.join(CATEGORIES)}")
