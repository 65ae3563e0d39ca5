from __future__ import annotations

from typing import Any

import pytest

from tokenomy.errors import UsageError
from tokenomy.usage import ADAPTERS, detect, extract, resolve

SHAPES: dict[str, dict[str, Any]] = {
    "openai.chat": {"object": "chat.completion", "choices": []},
    "openai.responses": {"object": "response", "output": []},
    "openai.embeddings": {"object": "list", "data": [{"object": "embedding"}]},
    "anthropic.messages": {"type": "message", "content": []},
    "gemini.generate_content": {"candidates": [{"content": {"parts": []}}]},
    "bedrock.converse": {"output": {"message": {"content": []}}, "stopReason": "end_turn"},
    "deepseek.chat": {"usage": {"prompt_tokens": 1, "completion_tokens": 1, "prompt_cache_hit_tokens": 0}},
    "openrouter.chat": {"usage": {"prompt_tokens": 1, "completion_tokens": 1, "cost": 0.1}},
    "openrouter.responses": {"usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2, "cost": 0}},
    "cohere.chat": {"message": {"content": []}, "usage": {"billed_units": {"input_tokens": 1}}},
    "ollama.chat": {"model": "llama3.2", "done": True, "eval_count": 1},
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_each_surface_is_detected_from_its_shape(name: str) -> None:
    assert detect(SHAPES[name]) == name
    assert extract(SHAPES[name]).adapter == name


def test_every_adapter_has_a_shape_test_and_a_description() -> None:
    assert set(ADAPTERS) == set(SHAPES)
    assert all(a.expects and a.name.startswith(a.name.split(".")[0]) for a in ADAPTERS.values())


def test_the_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        ADAPTERS["x"] = ADAPTERS["openai.chat"]  # type: ignore[index]  # proving the mapping is read-only


def test_reduced_usage_only_bodies_are_told_apart() -> None:
    assert detect({"usage": {"input_tokens": 5, "output_tokens": 3}}) == "anthropic.messages"
    assert detect({"usage": {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8}}) == "openai.responses"
    assert detect({"usage": {"inputTokens": 5, "outputTokens": 3}}) == "bedrock.converse"
    assert detect({"usageMetadata": {"promptTokenCount": 5}}) == "gemini.generate_content"
    assert detect({"usage": {"prompt_tokens": 5, "total_tokens": 5}}) == "openai.embeddings"
    assert detect({"usage": {"prompt_tokens": 5, "completion_tokens": 1}}) == "openai.chat"
    assert detect({"input_tokens": 1234}) is None


def test_hints_pick_the_surface_and_label_the_provider() -> None:
    ambiguous = {"usage": {"input_tokens": 5, "output_tokens": 3}}
    assert extract(ambiguous).adapter == "anthropic.messages"
    as_responses = extract(ambiguous, provider="openai", api="responses")
    assert (as_responses.adapter, as_responses.usage.input_total) == ("openai.responses", 5)
    groq = extract({"object": "chat.completion", "choices": []}, provider="groq")
    assert (groq.adapter, groq.provider) == ("openai.chat", "groq")
    azure = extract({"object": "response", "output": []}, provider="azure.ai.openai")
    assert (azure.adapter, azure.provider) == ("openai.responses", "azure")


def test_a_hint_that_contradicts_the_shape_yields_to_the_shape() -> None:
    e = extract(
        {"type": "message", "content": [], "usage": {"input_tokens": 1, "output_tokens": 1}},
        provider="openai",
    )
    assert (e.adapter, e.provider) == ("anthropic.messages", "openai")


def test_unrecognised_bodies_raise_saying_what_was_expected() -> None:
    with pytest.raises(UsageError, match=r"not a recognised LLM response \(top-level keys: foo\)") as info:
        extract({"foo": 1}, provider="openai")
    message = str(info.value)
    assert "provider='openai'" in message
    assert "an Anthropic message (type 'message'" in message
    with pytest.raises(UsageError, match="not a recognised LLM response"):
        extract({"foo": 1}, provider="anthropic", api="messages")
    with pytest.raises(UsageError, match="provider error response"):
        extract({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    with pytest.raises(UsageError, match="must be a JSON object, got list"):
        extract([1, 2])  # type: ignore[arg-type]  # a caller passing the wrong type gets a UsageError


def test_resolve_accepts_names_providers_and_families() -> None:
    assert resolve("anthropic.messages").name == "anthropic.messages"
    assert resolve("anthropic").name == "anthropic.messages"
    assert resolve("bedrock").name == "bedrock.converse"
    assert resolve("aws").name == "bedrock.converse"
    assert resolve("gemini").name == "gemini.generate_content"
    assert resolve("Google").name == "gemini.generate_content"
    assert resolve("deepseek").name == "deepseek.chat"
    with pytest.raises(
        UsageError, match=r"ambiguous: name one of openai\.embeddings, openai\.responses, openai\.chat"
    ):
        resolve("openai")
    assert resolve("cohere").name == "cohere.chat"
    assert resolve("ollama").name == "ollama.chat"
    with pytest.raises(UsageError, match="no usage adapter named 'mystery'"):
        resolve("mystery")
