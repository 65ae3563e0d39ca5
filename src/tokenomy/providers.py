"""Canonical provider ids, and the many names the same provider goes by.

tokenomy stores a provider as the id the price catalog (genai-prices) uses: ``openai``,
``anthropic``, ``google``, ``aws`` (Bedrock), ``azure``, ``deepseek``, ``openrouter``,
``x-ai``, ``mistral``, ``groq``... Telemetry and logs name them otherwise: OTel's
``gen_ai.provider.name`` says ``gcp.gemini`` or ``aws.bedrock``, LiteLLM says ``vertex_ai`` or
``bedrock``. :func:`canonical` maps all of these to one id; unknown names pass through
lower-cased, so nothing is lost.
"""

from __future__ import annotations

from typing import Final

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
}


def canonical(name: str | None) -> str | None:
    """The canonical provider id for ``name`` (case-insensitive), or the name lower-cased."""
    if name is None:
        return None
    key = name.strip().lower()
    if not key:
        return None
    return _ALIASES.get(key, key)


def from_model_prefix(model: str | None) -> tuple[str | None, str | None]:
    """Split a routed model name such as ``anthropic/claude-sonnet-4`` into (provider, model).

    Returns ``(None, model)`` when the name carries no known provider prefix.
    """
    if not model or "/" not in model:
        return None, model
    prefix, rest = model.split("/", 1)
    provider = _ALIASES.get(prefix.lower())
    return (provider, rest) if provider else (None, model)
