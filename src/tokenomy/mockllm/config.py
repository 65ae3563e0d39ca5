"""The mock upstream's settings: one frozen dataclass, plus the small value types it is made of.

Everything the mock does that is not dictated by the wire format is a knob here: how many
tokens it writes, how slowly, how often it fails and how, how long its prompt caches live.
Per-request headers (see :mod:`tokenomy.mockllm.overrides`) can force any single case.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from tokenomy.errors import ConfigError

FAULTS: Final = ("hangup", "stall", "malformed", "cut", "stream_error")
"""Faults that are not an HTTP error status (see docs/mock-upstream.md)."""

DEFAULT_MODELS: Final = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-5",
    "gpt-5-mini",
    "o3",
    "o4-mini",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "claude-sonnet-4-6",
    "claude-opus-4-7",
    "claude-haiku-4-5",
)


@dataclass(frozen=True, slots=True)
class Lengths:
    """A distribution of token counts: fixed, or log-normal, clamped to [minimum, maximum].

    Attributes:
        kind: ``"fixed"`` or ``"lognormal"``.
        mean: The fixed value, or the arithmetic mean of the log-normal.
        sigma: The log-normal's sigma (standard deviation of the underlying normal).
        minimum: Smallest value drawn.
        maximum: Largest value drawn (before any max_tokens cap of the request).
    """

    kind: Literal["fixed", "lognormal"] = "fixed"
    mean: float = 16
    sigma: float = 0.0
    minimum: int = 1
    maximum: int = 32_768

    def __post_init__(self) -> None:
        if self.kind not in ("fixed", "lognormal"):
            raise ConfigError(f"length distribution kind must be 'fixed' or 'lognormal', got {self.kind!r}")
        if self.mean < 0 or self.sigma < 0 or self.minimum < 0 or self.maximum < self.minimum:
            raise ConfigError(
                f"length distribution {self} is invalid: mean, sigma and minimum must be >= 0 "
                "and maximum >= minimum"
            )

    @classmethod
    def fixed(cls, tokens: int) -> Lengths:
        """Always ``tokens``."""
        return cls("fixed", float(tokens), 0.0, minimum=0, maximum=max(tokens, 0))

    @classmethod
    def lognormal(cls, mean: float, sigma: float, *, minimum: int = 1, maximum: int = 32_768) -> Lengths:
        """Log-normal with arithmetic mean ``mean`` and shape ``sigma``."""
        return cls("lognormal", mean, sigma, minimum, maximum)

    @classmethod
    def parse(cls, text: str) -> Lengths:
        """Read ``"120"``, ``"fixed:120"`` or ``"lognormal:200,0.8"`` (mean, sigma).

        Raises:
            ConfigError: The text is none of these forms.
        """
        kind, _, rest = text.strip().partition(":")
        try:
            if not rest:
                return cls.fixed(int(kind))
            if kind == "fixed":
                return cls.fixed(int(rest))
            if kind == "lognormal":
                mean, _, sigma = rest.partition(",")
                return cls.lognormal(float(mean), float(sigma or "0.5"))
        except ValueError:
            pass
        raise ConfigError(
            f"cannot read the length distribution {text!r}; write N, fixed:N or lognormal:MEAN,SIGMA"
        )

    def draw(self, rng: random.Random) -> int:
        """One value from the distribution."""
        if self.kind == "fixed" or self.sigma == 0:
            value = round(self.mean)
        else:
            mu = math.log(max(self.mean, 1e-9)) - self.sigma**2 / 2
            value = round(rng.lognormvariate(mu, self.sigma))
        return min(max(value, self.minimum), self.maximum)


@dataclass(frozen=True, slots=True)
class Latency:
    """How slowly the mock answers.

    Attributes:
        ttft_ms: Time to the first output token (streams: the first frame carrying tokens).
        inter_chunk_ms: Time between two stream frames that carry tokens.
        total_ms: Total time of the response when set. A non-streamed response is sent after
            this long; a stream spreads ``total_ms - ttft_ms`` evenly over its token frames.
            When unset, a non-streamed response waits ``ttft_ms + inter_chunk_ms * (frames - 1)``,
            the time the same answer would take to stream.
    """

    ttft_ms: float = 0.0
    inter_chunk_ms: float = 0.0
    total_ms: float | None = None

    def __post_init__(self) -> None:
        if self.ttft_ms < 0 or self.inter_chunk_ms < 0 or (self.total_ms is not None and self.total_ms < 0):
            raise ConfigError(f"latencies must be >= 0 ms, got {self}")


@dataclass(frozen=True, slots=True)
class MockLLMConfig:
    """Everything the mock upstream can be told (see docs/mock-upstream.md for each knob).

    Attributes:
        output_tokens: Visible output length drawn per response.
        reasoning_tokens: Hidden reasoning length drawn for reasoning models and for Anthropic
            requests that enable thinking.
        seed: Seed of the one random generator behind lengths and injected faults.
        latency: Time to first token, inter-chunk delay and total latency.
        error_rates: Probability of answering with an error status, per status (e.g. {429: 0.02}).
        fault_rates: Probability per fault in :data:`FAULTS`.
        stall_ms: How long a stalled request holds the connection before closing it.
        cut_after_frames: Frames a cut stream sends before it hangs up.
        chunk_tokens: Output tokens per streamed delta.
        openai_cache_ttl_s: How long an OpenAI prompt prefix stays cached after its last use.
        openai_cache_min_tokens: Shortest prefix OpenAI caches.
        openai_cache_block: Cached tokens are reported in multiples of this.
        anthropic_cache_min_tokens: Shortest prefix Anthropic caches, by model name substring;
            the key ``"*"`` is the default.
        cache_entries: Most prefixes each cache holds (oldest are dropped first).
        reasoning_models: Model-name prefixes that think before answering (OpenAI style).
        models: Ids listed by ``GET /v1/models``.
        auto_tool_call: With ``tool_choice: auto`` (the default when tools are sent), call a tool.
        chunked_json: Send non-streamed JSON bodies with chunked transfer encoding, as the real
            APIs do, instead of Content-Length.
        header_overrides: Honour the ``X-Mock-*`` request headers.
        keep_requests: Most per-request records kept for ``GET /_mock/stats`` (oldest dropped).
        max_body_bytes: Largest request body accepted (413 above).
        clock: Monotonic clock in seconds, for cache TTLs (injectable for tests).
    """

    output_tokens: Lengths = field(default_factory=lambda: Lengths.fixed(16))
    reasoning_tokens: Lengths = field(default_factory=lambda: Lengths.fixed(64))
    seed: int = 0
    latency: Latency = field(default_factory=Latency)
    error_rates: Mapping[int, float] = field(default_factory=dict)
    fault_rates: Mapping[str, float] = field(default_factory=dict)
    stall_ms: float = 30_000.0
    cut_after_frames: int = 3
    chunk_tokens: int = 1
    openai_cache_ttl_s: float = 300.0
    openai_cache_min_tokens: int = 1024
    openai_cache_block: int = 128
    anthropic_cache_min_tokens: Mapping[str, int] = field(
        default_factory=lambda: {"*": 1024, "haiku": 2048, "opus-4-5": 4096, "haiku-4-5": 4096}
    )
    cache_entries: int = 100_000
    reasoning_models: tuple[str, ...] = ("o1", "o3", "o4", "gpt-5", "codex")
    models: tuple[str, ...] = DEFAULT_MODELS
    auto_tool_call: bool = False
    chunked_json: bool = False
    header_overrides: bool = True
    keep_requests: int = 100_000
    max_body_bytes: int = 32 * 1024 * 1024
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        for status, rate in self.error_rates.items():
            if not 400 <= status <= 599:
                raise ConfigError(f"error_rates: {status} is not an HTTP error status (400-599)")
            _check_rate(f"error_rates[{status}]", rate)
        for fault, rate in self.fault_rates.items():
            if fault not in FAULTS:
                raise ConfigError(f"fault_rates: unknown fault {fault!r}; known: {', '.join(FAULTS)}")
            _check_rate(f"fault_rates[{fault}]", rate)
        if sum(self.error_rates.values()) + sum(self.fault_rates.values()) > 1:
            raise ConfigError("error_rates and fault_rates add up to more than 1; lower them")
        if self.chunk_tokens < 1 or self.cut_after_frames < 0 or self.openai_cache_block < 1:
            raise ConfigError("chunk_tokens and openai_cache_block must be >= 1, cut_after_frames >= 0")

    def anthropic_min_cache(self, model: str) -> int:
        """The shortest cacheable prefix for an Anthropic ``model`` (longest matching key wins)."""
        best, size = self.anthropic_cache_min_tokens.get("*", 1024), 0
        for key, value in self.anthropic_cache_min_tokens.items():
            if key != "*" and key in model and len(key) > size:
                best, size = value, len(key)
        return best

    def is_reasoning_model(self, model: str) -> bool:
        """Whether ``model`` reports reasoning tokens OpenAI-style."""
        return model.startswith(self.reasoning_models)


def _check_rate(name: str, rate: float) -> None:
    if not 0 <= rate <= 1:
        raise ConfigError(f"{name} must be a probability between 0 and 1, got {rate}")
