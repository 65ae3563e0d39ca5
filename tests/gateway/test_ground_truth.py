"""Recorded buckets equal what the mock upstream says it served (cache reads, writes, reasoning)."""

from __future__ import annotations

from typing import Any

from anthropic import Anthropic
from openai import OpenAI

from tests.gateway.support import ListTarget, Running, calls_of
from tokenomy.capture.sink.core import Sink
from tokenomy.mockllm import MockThread

LONG = " ".join(["tokens are what agents spend"] * 300)  # well above the 1024-token cache minimum


def test_buckets_equal_the_mocks_ground_truth(
    gateway: Running, mock: MockThread, recorded: tuple[Sink, ListTarget]
) -> None:
    openai = OpenAI(base_url=gateway.openai_base_url, api_key="k", max_retries=0)
    messages: Any = [{"role": "system", "content": LONG}, {"role": "user", "content": "Summarise."}]
    for _ in range(2):  # the second call reads the prefix the first one cached
        openai.chat.completions.create(model="gpt-4o", messages=messages)
    list(openai.chat.completions.create(model="o3", messages=messages, stream=True))  # reasoning, streamed
    claude = Anthropic(base_url=gateway.base_url, api_key="k", max_retries=0)
    system: Any = [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}]
    for _ in range(2):  # a 5-minute cache write, then a read
        claude.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=64,
            system=system,
            messages=[{"role": "user", "content": "Hi"}],
        )
    calls = calls_of(*recorded, expect=5)
    truth = mock.stats(with_requests=False)["totals"]
    total = {
        "input_tokens": sum(c.usage.input_total or 0 for c in calls),
        "cached_tokens": sum(c.usage.cache_read or 0 for c in calls),
        "cache_write_5m": sum(c.usage.cache_write_5m or 0 for c in calls),
        "output_tokens": sum(c.usage.output_total or 0 for c in calls),
        "reasoning_tokens": sum(c.usage.reasoning or 0 for c in calls),
    }
    assert len(calls) == 5
    assert total == {name: truth[name] for name in total}
    assert truth["cached_tokens"] > 1000
    assert truth["cache_write_5m"] > 1000
    assert truth["reasoning_tokens"] == 64
