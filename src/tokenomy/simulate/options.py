"""What a simulation is asked for: its size, its start, its seed and the waste to inject.

Waste rates are probabilities per *eligible* session (a session where the pattern can occur;
each category states its rule in :data:`ELIGIBILITY`). The defaults are documented in
docs/simulate.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Final

from tokenomy.errors import ConfigError

CATEGORIES: Final = (
    "retry_loop",
    "redundant_tool_call",
    "filler",
    "bloated_system_prompt",
    "missed_caching",
    "oversized_model",
    "truncation_rerun",
    "unpruned_history",
    "tool_call_proliferation",
    "over_planning",
    "missed_batch",
)
"""The waste categories the simulator injects, in the order of the truth file's summary."""

ELIGIBILITY: Final[dict[str, str]] = {
    "retry_loop": "a session with a step that does not end it on an error",
    "redundant_tool_call": "a session whose main agent makes two or more read-only tool steps",
    "filler": "a session of a prose intent (summaries, chat, research, reviews, plans, analyses) that does "
    "not end on an error",
    "bloated_system_prompt": "any session",
    "missed_caching": "an Anthropic session of two or more main calls whose system prompt and "
    "tool definitions reach the model's minimum cacheable length",
    "oversized_model": "a session of a simple intent (classify, extract)",
    "truncation_rerun": "a session with a step left free by a retry loop that does not end it on an error",
    "unpruned_history": "a session whose history grows past the agent's compaction threshold",
    "tool_call_proliferation": "a session whose main agent has tools that does not end on an error",
    "over_planning": "a session on a reasoning route whose output limit leaves room for 5x the agent's "
    "typical reasoning",
    "missed_batch": "a session of a background job whose routes all use the provider's batch API",
}

DEFAULT_START: Final = datetime(2026, 10, 5, tzinfo=UTC)
"""A Monday. Fixed, so that a seed alone decides the output."""


@dataclass(frozen=True, slots=True)
class WasteRates:
    """Probability that an eligible session carries each waste category."""

    retry_loop: float = 0.04
    redundant_tool_call: float = 0.06
    filler: float = 0.10
    bloated_system_prompt: float = 0.03
    missed_caching: float = 0.15
    oversized_model: float = 0.04
    truncation_rerun: float = 0.02
    unpruned_history: float = 0.20
    tool_call_proliferation: float = 0.03
    over_planning: float = 0.05
    missed_batch: float = 0.05

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"waste rate '{f.name}' must be a number between 0 and 1, got {value!r}")

    def as_dict(self) -> dict[str, float]:
        """The rates by category name."""
        return {name: float(getattr(self, name)) for name in CATEGORIES}

    def with_overrides(self, overrides: Mapping[str, float]) -> WasteRates:
        """These rates with some categories changed.

        Raises:
            ConfigError: A name is not a waste category, or a rate is outside 0..1.
        """
        unknown = sorted(set(overrides) - set(CATEGORIES))
        if unknown:
            raise ConfigError(
                f"unknown waste categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                f"use one of {', '.join(CATEGORIES)}"
            )
        return replace(self, **dict(overrides))

    @classmethod
    def none(cls) -> WasteRates:
        """No injected waste at all."""
        return cls(**dict.fromkeys(CATEGORIES, 0.0))


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """A simulation request.

    Attributes:
        calls: Total LLM calls to write (exactly this many).
        days: Length of the simulated period, in days.
        seed: Seed of every random draw: the same config writes the same bytes.
        start: Start of the period (UTC; midnight recommended).
        waste: Injected waste rates.
        content: Write short representative prompt and completion text (off by default).
        error_rate: Share of calls that fail with a provider error and end their session.
        timeout_rate: Share of calls that time out on the client and end their session.
    """

    calls: int
    days: int = 30
    seed: int = 0
    start: datetime = DEFAULT_START
    waste: WasteRates = field(default_factory=WasteRates)
    content: bool = False
    error_rate: float = 0.01
    timeout_rate: float = 0.003

    def __post_init__(self) -> None:
        if self.calls < 0:
            raise ConfigError(f"--calls must be 0 or more, got {self.calls}")
        if not 1 <= self.days <= 3660:
            raise ConfigError(f"--days must be between 1 and 3660, got {self.days}")
        if self.seed < 0:
            raise ConfigError(f"--seed must be 0 or more, got {self.seed}")
        if self.start.tzinfo is None:
            raise ConfigError("the start time must carry a time zone (use UTC)")
        for name in ("error_rate", "timeout_rate"):
            value = getattr(self, name)
            if not 0.0 <= value < 0.5:
                raise ConfigError(f"{name} must be between 0 and 0.5, got {value}")

    @property
    def start_ms(self) -> int:
        """The start as epoch milliseconds."""
        return int(self.start.timestamp() * 1000)
