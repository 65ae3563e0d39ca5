"""How each provider's prompt cache behaves: who turns it on, how long an entry lives. One entry each.

Minimum cacheable lengths come from :mod:`tokenomy.analysis.cacheable` (one table for the whole
package). Prices never come from here: the write premium and the read discount are the catalog's
rates for the model (``cache_write_5m``, ``cache_write_1h``, ``cache_read``), so an override or a
price change flows through. The published rules the entries encode:

* OpenAI (and Azure OpenAI): automatic for prompts of 1,024 tokens or more, no write premium,
  entries evicted after 5 to 10 minutes of inactivity (up to an hour off-peak).
* Anthropic (and Claude on Bedrock): explicit ``cache_control`` breakpoints (or Bedrock
  ``cachePoint``); entries live 5 minutes from their last use, or 1 hour when written with the
  1-hour TTL; writes cost 1.25x (5 min) or 2x (1 h) the input rate, reads 0.1x.
* Google Gemini 2.5 and later: implicit caching, automatic with no guarantee; explicit context
  caches bill storage per hour (not modelled here).
* DeepSeek: automatic disk cache in 64-token units; entries are kept for hours.

A lifetime here is the one an audit can rely on: the shortest the provider promises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from tokenomy.analysis import cacheable

CacheMode = Literal["explicit", "automatic"]


@dataclass(frozen=True, slots=True)
class CacheRule:
    """One provider's cache: who turns it on, and how long an entry is sure to live."""

    provider: str
    mode: CacheMode
    ttl_seconds: int
    long_ttl_seconds: int | None = None
    """A longer lifetime the caller can ask for (Anthropic's 1-hour cache)."""
    models: str | None = None
    """A substring the model name must contain for the rule to apply (Claude models on Bedrock)."""
    how: str = ""
    """How to turn caching on, for the fix text."""

    def applies(self, model: str | None) -> bool:
        """True when the rule covers ``model``."""
        return self.models is None or self.models in (model or "").lower()


_ANTHROPIC_HOW: Final = (
    "mark the end of the stable prefix (system prompt and tool definitions) with a cache_control "
    "breakpoint, and a second one at the end of the conversation"
)
RULES: Final[dict[str, CacheRule]] = {
    "openai": CacheRule("openai", "automatic", 300, how="keep the stable prefix first and byte-identical"),
    "azure": CacheRule("azure", "automatic", 300, how="keep the stable prefix first and byte-identical"),
    "anthropic": CacheRule("anthropic", "explicit", 300, 3600, how=_ANTHROPIC_HOW),
    "aws": CacheRule(
        "aws", "explicit", 300, models="claude", how="add a cachePoint after the system prompt and tools"
    ),
    "google": CacheRule("google", "automatic", 300, how="keep the stable prefix first and byte-identical"),
    "deepseek": CacheRule("deepseek", "automatic", 3600, how="keep the stable prefix first and identical"),
}
"""Cache rules by canonical provider id (:mod:`tokenomy.providers`)."""


def rule_for(provider: str | None, model: str | None) -> CacheRule | None:
    """The cache rule for a call, or None when the provider has none (or it does not cover the model)."""
    rule = RULES.get(provider or "")
    return rule if rule is not None and rule.applies(model) else None


def minimum_for(provider: str | None, model: str | None) -> int | None:
    """The shortest prefix the provider caches for ``model`` (see :mod:`tokenomy.analysis.cacheable`)."""
    return cacheable.minimum_for(provider, model)


def ttl_sql(long: str = "long", provider: str = "provider") -> str:
    """A SQL expression: the cache lifetime (seconds) of each call's provider; ``long`` (a boolean
    column) picks the longer lifetime where the provider has one. NULL for providers without a rule."""
    branches = []
    for rule in RULES.values():
        longer = rule.long_ttl_seconds or rule.ttl_seconds
        lifetime = f"CASE WHEN {long} THEN {longer} ELSE {rule.ttl_seconds} END"
        branches.append(f"WHEN {provider} = '{rule.provider}' THEN ({lifetime})")
    return "CASE " + " ".join(branches) + " END"


def explicit_sql(provider: str = "provider", model: str = "model") -> str:
    """A SQL condition: the call's provider caches only where the caller asks (explicit rules)."""
    branches = []
    for rule in RULES.values():
        if rule.mode != "explicit":
            continue
        cond = f"{provider} = '{rule.provider}'"
        if rule.models:
            cond += f" AND lower({model}) LIKE '%{rule.models}%'"
        branches.append(f"({cond})")
    return "(" + " OR ".join(branches) + ")"
