"""Provider ids: aliases (Vercel AI SDK ids included) and the provider inferred from a bare model name."""

from __future__ import annotations

import pytest

from tokenomy.pricing.catalog import _shared, provider_of_model
from tokenomy.providers import canonical, maker_of


@pytest.mark.parametrize(
    ("vercel", "expected"),
    [
        ("togetherai.chat", "together"),
        ("togetherai.embedding", "together"),
        ("azure-openai.chat", "azure"),  # @ai-sdk/azure before 2.0
        ("azure.responses", "azure"),
        ("vertex.anthropic.messages", "google"),  # Claude on Vertex AI
        ("google.vertex.chat", "google"),
        ("google.generative-ai", "google"),
        ("amazon-bedrock", "aws"),
        ("xai.chat", "x-ai"),
        ("mistral.chat", "mistral"),
        ("fireworks.chat", "fireworks"),
        ("openai.responses", "openai"),
        ("anthropic.messages", "anthropic"),
    ],
)
def test_vercel_ai_sdk_provider_ids_are_canonical(vercel: str, expected: str) -> None:
    # The OTLP mapping reads ai.model.provider up to its first dot.
    assert canonical(vercel.split(".", maxsplit=1)[0]) == expected


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-2024-08-06", "openai"),
        ("o3-mini", "openai"),
        ("o1", "openai"),
        ("ft:gpt-4o-mini:acme::abc123", "openai"),
        ("text-embedding-3-small", "openai"),
        ("claude-sonnet-4-20250514", "anthropic"),
        ("claude-sonnet-4@20250514", "google"),  # Vertex AI's id form
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "aws"),  # Bedrock
        ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "aws"),
        ("amazon.nova-pro-v1:0", "aws"),
        ("gemini-2.5-pro", "google"),
        ("mistral-large-latest", "mistral"),
        ("mixtral-8x7b-32768", "mistral"),  # also on Groq: the maker wins
        ("deepseek-chat", "deepseek"),
        ("grok-3", "x-ai"),
        ("command-r-plus", "cohere"),
        ("kimi-k2", "moonshotai"),
        ("llama-3.1-8b-instant", None),
        ("omni", None),
        ("", None),
        (None, None),
    ],
)
def test_maker_of(model: str | None, expected: str | None) -> None:
    assert maker_of(model) == expected


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-2024-08-06", "openai"),
        ("claude-sonnet-4-20250514", "anthropic"),
        ("anthropic/claude-3-opus", "anthropic"),  # a routed name names its provider
        ("litellm_proxy/gpt-4o", "openai"),  # a proxy route: the bare name's maker
        ("models/gemini-2.5-pro", "google"),
        ("voyage-3", "voyageai"),  # the catalog's own naming rule
        ("llama-3.1-8b-instant", "groq"),  # listed by one provider only
        ("meta-llama/Llama-3.3-70B-Instruct", None),  # an org/model id names no host
        ("qwen3.8-27b", None),  # listed by several hosts, none its maker
        ("qwen-max", None),  # listed by a router only
        ("no-such-model-xyz", None),
        ("  ", None),
    ],
)
def test_provider_of_model(model: str, expected: str | None) -> None:
    assert provider_of_model(model) == expected


def test_an_ambiguous_name_is_ambiguous_in_the_catalog() -> None:
    # The case above is a real one: two hosts list it and neither is its maker.
    assert _shared().serving("qwen3.8-27b") == ("ovhcloud", "quicksilverpro")
    assert set(_shared().serving("claude-sonnet-4-20250514")) == {"anthropic", "aws", "google"}
