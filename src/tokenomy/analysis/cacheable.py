"""When a prompt is long enough for its provider to cache it: one rule per provider, as data.

Providers cache a prompt prefix only from a minimum length: OpenAI (and Azure OpenAI) from 1,024
tokens; Anthropic (and Claude on Bedrock) from 1,024 tokens for most models, 2,048 for the Claude 3
Haiku models and Sonnet 4.6, 4,096 for Haiku 4.5 and Opus 4.5/4.6; Gemini 2.5 implicit caching
from 1,024 tokens on Flash models and 2,048 on Pro; DeepSeek caches in 64-token units. A call whose
whole prompt (``input_total``) is below its model's minimum cannot read anything from a cache, so
the cache-hit ratio "over cacheable prefixes" only counts calls at or above it. Providers with no
rule here are left out of that ratio (and the metric's notes say so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tokenomy.analysis.dimensions import MODEL_SQL


@dataclass(frozen=True, slots=True)
class CacheRule:
    """A provider's minimum cacheable prompt, with exceptions for models whose name contains a key."""

    minimum: int
    models: tuple[tuple[str, int], ...] = ()


_CLAUDE: Final = CacheRule(
    1024,
    (
        ("claude-3-5-haiku", 2048),
        ("claude-3-haiku", 2048),
        ("claude-haiku-4-5", 4096),
        ("claude-opus-4-5", 4096),
        ("claude-opus-4-6", 4096),
        ("claude-sonnet-4-6", 2048),
    ),
)
RULES: Final[dict[str, CacheRule]] = {
    "openai": CacheRule(1024),
    "azure": CacheRule(1024),
    "anthropic": _CLAUDE,
    "aws": _CLAUDE,
    "google": CacheRule(1024, (("pro", 2048),)),
    "deepseek": CacheRule(64),
}
"""Minimum cacheable prompt per canonical provider id (see :mod:`tokenomy.providers`)."""


def minimum_for(provider: str | None, model: str | None) -> int | None:
    """The shortest prompt ``provider`` caches for ``model``, or None when there is no rule."""
    rule = RULES.get(provider or "")
    if rule is None:
        return None
    name = model or ""
    matches = [(len(key), size) for key, size in rule.models if key in name]
    return max(matches)[1] if matches else rule.minimum


def minimum_sql(table: str = "c") -> str:
    """A SQL expression for the minimum cacheable prompt of each call (NULL when no rule applies)."""
    model = MODEL_SQL.format(t=table)
    branches: list[str] = []
    for provider, rule in RULES.items():
        # longest keys first, so the most specific model name wins (as in minimum_for)
        for key, size in sorted(rule.models, key=lambda item: -len(item[0])):
            branches.append(f"WHEN {table}.provider = '{provider}' AND {model} LIKE '%{key}%' THEN {size}")
        branches.append(f"WHEN {table}.provider = '{provider}' THEN {rule.minimum}")
    return "CASE " + " ".join(branches) + " END"
