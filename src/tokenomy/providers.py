"""Canonical provider ids, and the many names the same provider goes by.

tokenomy stores a provider as the id the price catalog (genai-prices) uses: ``openai``,
``anthropic``, ``google``, ``aws`` (Bedrock), ``azure``, ``deepseek``, ``openrouter``,
``x-ai``, ``mistral``, ``groq``... Telemetry and logs name them otherwise: OTel's
``gen_ai.provider.name`` says ``gcp.gemini`` or ``aws.bedrock``, LiteLLM says ``vertex_ai`` or
``bedrock``, the Vercel AI SDK's ``ai.model.provider`` says ``togetherai.chat`` or
``vertex.anthropic.messages`` (read up to the first dot). :func:`canonical` maps all of these to
one id; unknown names pass through lower-cased, so nothing is lost.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

_ALIASES: Final[dict[str, str]] = {
    # OpenTelemetry gen_ai.provider.name / gen_ai.system well-known values
    "openai": "openai",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "az.ai.openai": "azure",
    "az.ai.inference": "azure",
    "anthropic": "anthropic",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "gemini": "google",
    "vertex_ai": "google",
    "vertexai": "google",
    "vertex_ai_beta": "google",
    "google": "google",
    "google_genai": "google",
    "aws.bedrock": "aws",
    "bedrock": "aws",
    "aws_bedrock": "aws",
    "aws": "aws",
    "deepseek": "deepseek",
    "openrouter": "openrouter",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "x-ai": "x-ai",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "mistral": "mistral",
    "groq": "groq",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "together_ai": "together",
    "together": "together",
    "fireworks_ai": "fireworks",
    "fireworks": "fireworks",
    "azure": "azure",
    "azure_ai": "azure",
    "ibm.watsonx.ai": "ibm",
    "cerebras": "cerebras",
    # added with the usage adapters: names seen in OTel registries and real instrumentations
    "moonshot_ai": "moonshotai",
    "amazon-bedrock": "aws",
    "gcp.vertex.agent": "google",
    # the Vercel AI SDK's ai.model.provider, up to its first dot ("togetherai.chat", "azure.responses",
    # "vertex.anthropic.messages" for Claude on Vertex AI, "azure-openai.chat" before @ai-sdk/azure 2)
    "togetherai": "together",
    "azure-openai": "azure",
    "vertex": "google",
    "google-vertex": "google",
}


def canonical(name: str | None) -> str | None:
    """The canonical provider id for ``name`` (case-insensitive), or the name lower-cased.

    A dotted name none of the aliases is (the Vercel AI SDK's ``xai.chat``, ``openai.responses``,
    ``google.vertex.chat``, which it also sets as ``gen_ai.system``) is read up to its first dot
    when that part is a known name."""
    if name is None:
        return None
    key = name.strip().lower()
    if not key:
        return None
    found = _ALIASES.get(key)
    if found is None and "." in key:
        found = _ALIASES.get(key.split(".", 1)[0])
    return found or key


def renamed_aliases() -> frozenset[str]:
    """The lower-case names :func:`canonical` maps to another id (``azure_openai``...): with an upper-case
    letter, a space around it or a dot, a name is not its own canonical id either."""
    return frozenset(key for key, value in _ALIASES.items() if key != value)


def from_model_prefix(model: str | None) -> tuple[str | None, str | None]:
    """Split a routed model name such as ``anthropic/claude-sonnet-4`` into (provider, model).

    Returns ``(None, model)`` when the name carries no known provider prefix.
    """
    if not model or "/" not in model:
        return None, model
    prefix, rest = model.split("/", 1)
    provider = _ALIASES.get(prefix.lower())
    return (provider, rest) if provider else (None, model)


_BEDROCK_ID: Final = re.compile(
    r"^(?:(?:us|eu|apac|jp|au|ca|us-gov|global)\.)?"
    r"(?:anthropic|amazon|meta|mistral|cohere|ai21|deepseek|openai|qwen|writer|twelvelabs|stability)\.[a-z0-9]"
)
"""Bedrock's model ids: ``<maker>.<model>``, with an optional cross-region inference prefix."""

_MAKER_PREFIXES: Final[tuple[tuple[str, str], ...]] = (
    ("gpt-", "openai"),
    ("chatgpt-", "openai"),
    ("text-embedding-3-", "openai"),
    ("text-embedding-ada-", "openai"),
    ("davinci-", "openai"),
    ("babbage-", "openai"),
    ("whisper-", "openai"),
    ("tts-", "openai"),
    ("dall-e-", "openai"),
    ("omni-moderation-", "openai"),
    ("codex-", "openai"),
    ("computer-use-preview", "openai"),
    ("claude-", "anthropic"),
    ("gemini-", "google"),
    ("mistral-", "mistral"),
    ("mixtral-", "mistral"),
    ("codestral-", "mistral"),
    ("ministral-", "mistral"),
    ("pixtral-", "mistral"),
    ("magistral-", "mistral"),
    ("devstral-", "mistral"),
    ("voxtral-", "mistral"),
    ("open-mistral-", "mistral"),
    ("open-mixtral-", "mistral"),
    ("deepseek-", "deepseek"),
    ("grok-", "x-ai"),
    ("command-", "cohere"),
    ("kimi-", "moonshotai"),
    ("moonshot-", "moonshotai"),
)
"""Model-name prefixes of the makers that sell their own models through their own API."""

_OPENAI_REASONING: Final = re.compile(r"^o[134](?:-|$)")
"""OpenAI's reasoning models: ``o1``, ``o3-mini``, ``o4-mini-2025-04-16``..."""


def maker_of(model: str | None) -> str | None:
    """The provider a bare model name belongs to by its naming alone, or None.

    The rule for a name several providers serve (``claude-sonnet-4-20250514`` is sold by
    Anthropic, Bedrock and Vertex AI; ``gpt-4o`` by OpenAI and Azure; ``mixtral-8x7b-32768``
    by Mistral and Groq): **the model's maker wins**, that is the provider of its first-party API.
    A name without a route (``anthropic/...``) or a host is what the maker's own API returns and
    its SDK sends; clouds and routers name models their own way, and those forms are recognised
    first: Bedrock's ``<maker>.<model>`` ids (``anthropic.claude-...-v1:0``,
    ``us.anthropic.claude-...``, ``amazon.nova-pro-v1:0``) are ``aws``, and Vertex AI's
    ``claude-...@<date>`` ids are ``google``. The maker is also the provider the price catalog picks
    for a call that names none, so the provider a report shows and the price charged agree.

    Prefixes: ``gpt-``, ``chatgpt-``, ``o1``/``o3``/``o4``, ``text-embedding-3-``/``-ada-``,
    ``whisper-``, ``tts-``, ``dall-e-``... are ``openai``; ``claude-`` ``anthropic``; ``gemini-``
    ``google``; ``mistral-``, ``mixtral-``, ``codestral-``, ``ministral-``, ``pixtral-``,
    ``magistral-``, ``devstral-``, ``voxtral-`` ``mistral``; ``deepseek-`` ``deepseek``; ``grok-``
    ``x-ai``; ``command-`` ``cohere``; ``kimi-``, ``moonshot-`` ``moonshotai``. Open-weight
    families hosted by many providers and by none of their makers' own APIs (``llama-*``,
    ``qwen-*``) have no maker here: see :func:`tokenomy.pricing.catalog.provider_of_model`, which
    also asks the price catalog.
    """
    if not model:
        return None
    name = model.strip().lower().removeprefix("ft:")  # OpenAI fine-tunes: ft:gpt-4o-mini:org::id
    if _BEDROCK_ID.match(name):
        return "aws"
    if name.startswith("claude-") and "@" in name:
        return "google"
    if _OPENAI_REASONING.match(name):
        return "openai"
    for prefix, provider in _MAKER_PREFIXES:
        if name.startswith(prefix):
            return provider
    return None


OPENAI_REASONING: Final = ("o1", "o3", "o4", "gpt-5", "codex-")
"""OpenAI's reasoning models (the families' name starts): their chat API refuses ``max_tokens``."""

THINKS_BY_DEFAULT: Final = (
    *OPENAI_REASONING,
    "gemini-2.5",
    "gemini-3",
    "grok-3-mini",
    "grok-4",
    "deepseek-reasoner",
    "deepseek-r1",
    "qwq",
    "magistral",
)
"""Models that reason before answering with no field asking them to (the families' name starts)."""


def base_model(model: str) -> str:
    """A model's own name, lower case, without what routes it: a router's or a cloud's prefix
    (``openai/o3-mini``, ``models/gemini-2.5-pro``) and OpenAI's fine-tune wrapping
    (``ft:o4-mini-2025-04-16:org::id``)."""
    name = model.strip().lower().rpartition("/")[2]
    return name[3:] if name.startswith("ft:") else name


def thinks_unseen(body: Mapping[str, Any], model: str | None = None) -> bool:
    """True when a request's model may think before its first visible token, unseen in its stream:
    a model that reasons by default (OpenAI's reasoning models, Gemini 2.5, Grok's, DeepSeek's
    reasoner, ...; named through a router or as a fine-tune too), a reasoning effort asked for, or
    Anthropic's extended thinking on. ``model`` is another name the call went by (the served
    model). A stream of such a request cut before its usage says nothing of what it billed."""
    named = [m for m in (body.get("model"), model) if isinstance(m, str)]
    effort = body.get("reasoning")
    thinking = body.get("thinking")
    return (
        any(base_model(m).startswith(THINKS_BY_DEFAULT) for m in named)
        or body.get("reasoning_effort") is not None
        or (isinstance(effort, Mapping) and effort.get("effort") is not None)
        or (isinstance(thinking, Mapping) and thinking.get("type") not in (None, "disabled"))
    )
