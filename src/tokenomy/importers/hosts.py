"""The provider a logged request went to, by its URL's host: ``api.anthropic.com`` is Anthropic's.

Read by the provider importer (a logged request URL names the provider), the gateway (an upstream's
base URL) and the SDK capture (a client's base URL).
"""

from __future__ import annotations

from typing import Any, Final

HOSTS: Final[dict[str, str]] = {
    "api.openai.com": "openai",
    "api.anthropic.com": "anthropic",
    "generativelanguage.googleapis.com": "google",
    "aiplatform.googleapis.com": "google",
    "api.deepseek.com": "deepseek",
    "openrouter.ai": "openrouter",
    "api.groq.com": "groq",
    "api.mistral.ai": "mistral",
    "api.x.ai": "x-ai",
    "api.together.xyz": "together",
    "api.fireworks.ai": "fireworks",
    "api.cohere.com": "cohere",
    "api.cohere.ai": "cohere",  # its former host, which older SDKs and recordings name
    "api.perplexity.ai": "perplexity",
    "api.cerebras.ai": "cerebras",
    "bedrock-runtime": "aws",
    "openai.azure.com": "azure",
}
"""Provider of a logged request, by its URL's host (or a host suffix: regional endpoints)."""
HOST_SUFFIXES: Final[dict[str, str]] = {
    ".openai.azure.com": "openai.azure.com",
    "-aiplatform.googleapis.com": "aiplatform.googleapis.com",
    ".amazonaws.com": "bedrock-runtime",
}


def provider_of_url(url: str) -> str | None:
    """The provider a base or request URL's host belongs to (:data:`HOSTS`), or None for another host."""
    host = host_of(url)
    return None if host is None else HOSTS.get(host)


def provider_of_host(host: str) -> str | None:
    """The provider a host name belongs to (:data:`HOSTS`, regional hosts by their suffix), or None."""
    return HOSTS.get(_known_host(host.lower()))


def host_of(url: Any) -> str | None:
    """The host of a URL (a known regional host by the name :data:`HOSTS` knows), or None."""
    if not isinstance(url, str) or "://" not in url:
        return None
    return _known_host(url.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0].lower())


def _known_host(host: str) -> str:
    """``host``, or the name :data:`HOSTS` knows its region by (:data:`HOST_SUFFIXES`)."""
    for suffix, name in HOST_SUFFIXES.items():
        if host.endswith(suffix):
            return name
    return host
