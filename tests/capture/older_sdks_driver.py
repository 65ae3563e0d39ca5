"""Drives the SDK releases built on ``httpx`` (openai 2.x, anthropic 0.x) through every kind of call
against the mock upstream, instrumented, and prints what was recorded: one JSON object a call.

Run by tests/capture/test_older_sdks.py in a process of its own, with those releases first on
``PYTHONPATH`` (one environment cannot hold two releases of an SDK). Arguments: the store's path.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai

import tokenomy
from tokenomy.store import DuckDBStore

MESSAGES: Any = [{"role": "user", "content": "hi"}]
CHAT: Any = {"model": "gpt-4o-mini", "messages": MESSAGES}
STREAMED: Any = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
CLAUDE: Any = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": MESSAGES}


def _sync(url: str) -> list[tuple[str, Callable[[], Any]]]:
    o = tokenomy.instrument(openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0))
    a = tokenomy.instrument(anthropic.Anthropic(base_url=url, api_key="k", max_retries=0))

    def relayed() -> None:
        with o.chat.completions.with_streaming_response.create(**STREAMED) as response:
            for _ in response.iter_lines():
                pass

    def helper() -> None:
        with a.messages.stream(**CLAUDE) as stream:
            stream.get_final_message()

    def abandoned() -> None:
        stream = o.chat.completions.create(**STREAMED)
        next(iter(stream))
        stream.close()

    return [
        ("chat", lambda: o.chat.completions.create(**CHAT)),
        ("chat stream", lambda: list(o.chat.completions.create(**STREAMED))),
        ("responses stream", lambda: list(o.responses.create(model="gpt-4o-mini", input="hi", stream=True))),
        ("embeddings", lambda: o.embeddings.create(model="text-embedding-3-small", input="hi")),
        ("relayed", relayed),
        ("raw", lambda: o.chat.completions.with_raw_response.create(**CHAT).parse()),
        ("messages", lambda: a.messages.create(**CLAUDE)),
        ("messages stream", lambda: list(a.messages.create(**CLAUDE, stream=True))),
        ("messages helper", helper),
        ("abandoned", abandoned),
    ]


async def _async(url: str) -> None:
    o = tokenomy.instrument(openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0))
    a = tokenomy.instrument(anthropic.AsyncAnthropic(base_url=url, api_key="k", max_retries=0))
    with tokenomy.context(feature="async chat"):
        await o.chat.completions.create(**CHAT)
    with tokenomy.context(feature="async chat stream"):
        async for _ in await o.chat.completions.create(**STREAMED):
            pass
    with tokenomy.context(feature="async responses stream"):
        async for _ in await o.responses.create(model="gpt-4o-mini", input="hi", stream=True):
            pass
    with tokenomy.context(feature="async messages stream"):
        async for _ in await a.messages.create(**CLAUDE, stream=True):
            pass
    with tokenomy.context(feature="async messages helper"):
        async with a.messages.stream(**CLAUDE) as stream:
            await stream.get_final_message()


def main(store: Path) -> None:
    mock = subprocess.Popen(
        [sys.executable, "-m", "tokenomy.cli.main", "mock-llm", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert mock.stdout is not None
        found = re.search(r"127\.0\.0\.1:\d+", mock.stdout.readline())
        assert found, "the mock upstream did not start"
        url = f"http://{found.group(0)}"
        tokenomy.configure(f"duckdb:{store}")
        for feature, make in _sync(url):
            with tokenomy.context(feature=feature):
                make()
        asyncio.run(_async(url))
        assert tokenomy.flush(60)
    finally:
        mock.terminate()
        mock.wait(10)
    versions = {"openai": openai.__version__, "anthropic": anthropic.__version__, "httpx": httpx.__version__}
    print(json.dumps({"versions": versions, "openai_at": openai.__file__}))
    for call in DuckDBStore(store).iter_calls():
        fields = {
            "feature": call.attribution.feature,
            "provider": call.provider,
            "api": call.api,
            "streamed": call.streamed,
            "status": str(call.status),
            "input": call.usage.input_total,
            "output": call.usage.output_total,
            "timed_first_token": call.ttft_ms is not None,
        }
        print(json.dumps(fields))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
