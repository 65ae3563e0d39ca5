"""The models the simulated company calls, and how each provider caches prompts and fails.

Every model name resolves in the genai-prices catalog under the provider id of
:mod:`tokenomy.providers`, and its context window is the catalog's (a test checks both).
Speeds are plausible public figures for each model (time to first token at a small prompt,
output tokens per second, prompt tokens processed per second); they shape latency, not cost.

Provider differences live in :data:`PROVIDERS`, one :class:`ProviderRule` per provider, read as
data by the vectorised code: whether caching is explicit (Anthropic's ``cache_control``) or
automatic (OpenAI, Gemini implicit caching, DeepSeek), the cache lifetime, the granularity of
cached prefixes, and the errors the provider returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class ProviderError:
    """One kind of failed request: HTTP status and the provider's error type."""

    http_status: int
    error_type: str


@dataclass(frozen=True, slots=True)
class ProviderRule:
    """How one provider caches prompts and fails.

    Attributes:
        explicit_cache: Caching needs a marker in the request (Anthropic) instead of being automatic.
        cache_writes_billed: Writing to the cache is billed as its own bucket (Anthropic's 5m/1h writes).
        cache_ttl_ms: How long a cached prefix lives after its last use (the shorter TTL when two exist).
        cache_granularity: Cached prefixes are counted in blocks of this many tokens (OpenAI: 128).
        errors: The errors a failed request returns, most frequent first.
    """

    explicit_cache: bool
    cache_writes_billed: bool
    cache_ttl_ms: int
    cache_granularity: int
    errors: tuple[ProviderError, ...]


MINUTE_MS: Final = 60_000
LONG_CACHE_TTL_MS: Final = 60 * MINUTE_MS
"""Anthropic's 1-hour cache (``cache_control: {"ttl": "1h"}``), used by routes with long pauses."""

PROVIDERS: Final[dict[str, ProviderRule]] = {
    # OpenAI: automatic caching of prompts >= 1024 tokens, in 128-token blocks, no write cost;
    # in-memory retention is 5 to 10 minutes of inactivity (the lower bound is used).
    "openai": ProviderRule(
        explicit_cache=False,
        cache_writes_billed=False,
        cache_ttl_ms=5 * MINUTE_MS,
        cache_granularity=128,
        errors=(
            ProviderError(429, "rate_limit_exceeded"),
            ProviderError(500, "server_error"),
            ProviderError(503, "service_unavailable"),
        ),
    ),
    # Anthropic: cache_control breakpoints, writes billed at 1.25x (5m) or 2x (1h), reads at 0.1x.
    "anthropic": ProviderRule(
        explicit_cache=True,
        cache_writes_billed=True,
        cache_ttl_ms=5 * MINUTE_MS,
        cache_granularity=1,
        errors=(
            ProviderError(529, "overloaded_error"),
            ProviderError(429, "rate_limit_error"),
            ProviderError(500, "api_error"),
        ),
    ),
    # Gemini 2.5: implicit caching, on by default, no storage cost for implicit hits.
    "google": ProviderRule(
        explicit_cache=False,
        cache_writes_billed=False,
        cache_ttl_ms=5 * MINUTE_MS,
        cache_granularity=1,
        errors=(
            ProviderError(429, "RESOURCE_EXHAUSTED"),
            ProviderError(503, "UNAVAILABLE"),
            ProviderError(500, "INTERNAL"),
        ),
    ),
    # DeepSeek: context caching on disk, automatic, in 64-token units.
    "deepseek": ProviderRule(
        explicit_cache=False,
        cache_writes_billed=False,
        cache_ttl_ms=5 * MINUTE_MS,
        cache_granularity=64,
        errors=(
            ProviderError(503, "server_overloaded"),
            ProviderError(429, "rate_limit_reached"),
            ProviderError(500, "server_error"),
        ),
    ),
}


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model of the mix, with the facts the simulator needs.

    Attributes:
        name: The model requested (the alias an application sends).
        response_model: The model the provider reports back (often a dated snapshot).
        provider: Canonical provider id (see :mod:`tokenomy.providers`).
        api: API surface used for it: chat | responses | messages | generate_content.
        context_window: Maximum input tokens, as in the genai-prices catalog.
        max_output: Largest ``max_output_tokens`` the model accepts.
        reasoning: Always produces hidden reasoning tokens (o-series, gpt-5); routes may turn
            thinking on for models where it is optional (Claude, Gemini Flash).
        min_cache_tokens: Shortest prefix the provider caches for this model.
        ttft_ms: Time to first token for a short prompt, in milliseconds.
        output_tps: Output tokens per second.
        prefill_tps: Prompt tokens processed per second (adds to time to first token).
    """

    name: str
    response_model: str
    provider: str
    api: str
    context_window: int
    max_output: int
    reasoning: bool
    min_cache_tokens: int
    ttft_ms: float
    output_tps: float
    prefill_tps: float


MODELS: Final[tuple[ModelSpec, ...]] = (
    ModelSpec("gpt-4.1-nano", "gpt-4.1-nano-2025-04-14", "openai", "chat",
              1_000_000, 32_768, False, 1024, 280.0, 190.0, 60_000.0),
    ModelSpec("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", "openai", "chat",
              1_000_000, 32_768, False, 1024, 380.0, 95.0, 45_000.0),
    ModelSpec("gpt-4.1", "gpt-4.1-2025-04-14", "openai", "chat",
              1_000_000, 32_768, False, 1024, 480.0, 70.0, 35_000.0),
    ModelSpec("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "openai", "chat",
              128_000, 16_384, False, 1024, 400.0, 80.0, 40_000.0),
    ModelSpec("gpt-5-mini", "gpt-5-mini-2025-08-07", "openai", "responses",
              400_000, 128_000, True, 1024, 550.0, 120.0, 40_000.0),
    ModelSpec("gpt-5", "gpt-5-2025-08-07", "openai", "responses",
              400_000, 128_000, True, 1024, 800.0, 80.0, 30_000.0),
    ModelSpec("o4-mini", "o4-mini-2025-04-16", "openai", "responses",
              200_000, 100_000, True, 1024, 600.0, 130.0, 40_000.0),
    ModelSpec("o3", "o3-2025-04-16", "openai", "responses",
              200_000, 100_000, True, 1024, 900.0, 150.0, 30_000.0),
    ModelSpec("claude-haiku-4-5", "claude-haiku-4-5-20251001", "anthropic", "messages",
              200_000, 64_000, False, 4096, 500.0, 105.0, 45_000.0),
    ModelSpec("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "anthropic", "messages",
              200_000, 64_000, False, 1024, 900.0, 60.0, 30_000.0),
    ModelSpec("claude-opus-4-1", "claude-opus-4-1-20250805", "anthropic", "messages",
              200_000, 32_000, False, 1024, 1400.0, 35.0, 20_000.0),
    ModelSpec("gemini-2.5-flash-lite", "gemini-2.5-flash-lite", "google", "generate_content",
              1_000_000, 65_536, False, 2048, 300.0, 300.0, 90_000.0),
    ModelSpec("gemini-2.5-flash", "gemini-2.5-flash", "google", "generate_content",
              1_048_576, 65_536, False, 2048, 450.0, 180.0, 70_000.0),
    ModelSpec("deepseek-chat", "deepseek-chat", "deepseek", "chat",
              64_000, 8_192, False, 64, 1200.0, 30.0, 15_000.0),
    ModelSpec("deepseek-reasoner", "deepseek-reasoner", "deepseek", "chat",
              64_000, 32_768, True, 64, 1500.0, 30.0, 15_000.0),
)  # fmt: skip

MODEL_INDEX: Final[dict[str, int]] = {m.name: i for i, m in enumerate(MODELS)}
TOP_MODEL: Final = "claude-opus-4-1"
"""The most expensive model of the mix ($15 / $75 per million tokens): the oversized choice."""


def model(name: str) -> ModelSpec:
    """The spec of a model of the mix by its requested name.

    Raises:
        KeyError: The model is not part of the simulated mix.
    """
    return MODELS[MODEL_INDEX[name]]


def provider_rule(provider: str) -> ProviderRule:
    """The caching and error rule of a provider of the mix."""
    return PROVIDERS[provider]
