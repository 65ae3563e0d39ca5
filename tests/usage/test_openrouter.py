from __future__ import annotations

from decimal import Decimal
from typing import Any

from tokenomy.usage import accumulate, detect, extract

USAGE = {
    "prompt_tokens": 687,
    "completion_tokens": 240,
    "total_tokens": 927,
    "prompt_tokens_details": {"cached_tokens": 682, "cache_write_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 165, "image_tokens": 0},
    "cost": 0.000102,
    "is_byok": False,
    "cost_details": {"upstream_inference_cost": 0.0000984},
}


def chat(usage: dict[str, Any] = USAGE) -> dict[str, Any]:
    choices = [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]
    return {
        "id": "gen-1",
        "object": "chat.completion",
        "provider": "xAI",
        "model": "x-ai/grok-4",
        "choices": choices,
        "usage": usage,
    }


def test_chat_usage_and_reported_cost() -> None:
    e = extract(chat())
    assert (detect(chat()), e.provider, e.api) == ("openrouter.chat", "openrouter", "chat")
    assert (e.usage.input_uncached, e.usage.cache_read, e.usage.output_visible, e.usage.reasoning) == (
        5,
        682,
        75,
        165,
    )
    assert e.provider_reported_cost == Decimal("0.000102")
    assert e.extra == {"upstream_provider": "xAI", "upstream_cost": Decimal("0.0000984"), "is_byok": False}


def test_cache_writes_from_anthropic_upstreams_are_5m_writes() -> None:
    details = {"cached_tokens": 0, "cache_write_tokens": 1500}
    u = extract(
        chat({**USAGE, "prompt_tokens": 1600, "total_tokens": 1840, "prompt_tokens_details": details})
    ).usage
    assert (u.input_uncached, u.cache_write_5m, u.cache_write_1h) == (100, 1500, 0)


def test_gen_id_without_accounting_is_still_openrouter() -> None:
    plain = {k: v for k, v in USAGE.items() if k not in ("cost", "is_byok", "cost_details")}
    assert detect(chat(plain)) == "openrouter.chat"
    assert extract(chat(plain)).provider_reported_cost is None


def test_responses_surface() -> None:
    usage = {
        "input_tokens": 4020,
        "input_tokens_details": {"cached_tokens": 4012},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 4025,
        "cost": 0.002196,
        "is_byok": False,
    }
    body = {"object": "response", "model": "openai/gpt-5", "output": [], "usage": usage}
    e = extract(body)
    assert (e.adapter, e.api, e.provider_reported_cost) == (
        "openrouter.responses",
        "responses",
        Decimal("0.002196"),
    )
    assert (e.usage.input_uncached, e.usage.cache_read) == (8, 4012)


def test_a_streamed_openrouter_chat_keeps_the_cost() -> None:
    head = {"id": "gen-2", "object": "chat.completion.chunk", "provider": "OpenAI", "model": "openai/gpt-4o"}
    events: list[dict[str, Any]] = [
        {**head, "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]},
        {**head, "choices": [], "usage": USAGE},
    ]
    e = accumulate(events)
    assert (e.adapter, e.provider_reported_cost, e.extra["upstream_provider"]) == (
        "openrouter.chat",
        Decimal("0.000102"),
        "OpenAI",
    )
