"""Real recorded Responses and Messages streams, served to the SDKs as recorded, build the same Call
kept as their events' data text as kept as the SDK's objects (read whole, or left half way).

The streams come from the real-data folder (the SDKs' own test recordings and pydantic-ai's
cassettes); without it the tests are skipped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
import yaml
from anthropic import Anthropic, AsyncAnthropic
from openai import AsyncOpenAI, OpenAI

from tests.capture.raw_support import both_ways, events, same_call
from tests.conftest import REAL_DATA
from tokenomy import capture
from tokenomy.schema import Status
from tokenomy.usage import accumulate, iter_json_events

pytestmark = pytest.mark.integration

ROOT = REAL_DATA / "provider-responses"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Recorded:
    """One recorded stream: its API (``responses`` or ``messages``), whether it was a beta call, and
    its body as sent (server-sent events)."""

    source: str
    api: str
    beta: bool
    body: str


def _api(url: str) -> str | None:
    if "/v1/responses" in url:
        return "responses"
    return "messages" if "/v1/messages" in url else None


def _cassettes() -> Iterator[Recorded]:
    for path in sorted((ROOT / "pydantic-ai-cassettes").glob("*.yaml")):
        cassette = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
        for i, exchange in enumerate(cassette["interactions"]):
            response, url = exchange["response"], exchange["request"]["uri"]
            kind = " ".join(response["headers"].get("content-type", []))
            body = (response.get("body") or {}).get("string")
            if _api(url) and "event-stream" in kind and isinstance(body, str):
                yield Recorded(f"{path.name}#{i}", str(_api(url)), "beta=true" in url, body)


def _anthropic_http() -> Iterator[Recorded]:
    for path in sorted((ROOT / "anthropic-sdk-python" / "recorded-http").glob("*.json")):
        for i, pair in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            response, url = pair["response"], pair["request"]["url"]
            if _api(url) and "event-stream" in response["headers"].get("content-type", ""):
                yield Recorded(f"{path.name}#{i}", str(_api(url)), "beta=true" in url, response["body"])


def _anthropic_fixtures() -> Iterator[Recorded]:
    """The SDK's stream fixtures (event name and data per line), written as the API writes them."""
    for path in sorted((ROOT / "anthropic-sdk-python" / "streams").glob("*.jsonl")):
        frames = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                frames.append(
                    f"event: {row['event']}\ndata: {json.dumps(row['data'], separators=(',', ':'))}\n\n"
                )
        yield Recorded(f"{path.name}#0", "messages", False, "".join(frames))


def _recorded() -> list[Recorded]:
    if not ROOT.exists():
        return []
    return [*_cassettes(), *_anthropic_http(), *_anthropic_fixtures()]


RECORDED = _recorded()


def _serve(body: str) -> httpx2.MockTransport:
    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())

    return httpx2.MockTransport(answer)


def _stream(recorded: Recorded) -> Any:
    """The recorded stream, as the SDK hands it to an instrumented client's caller."""
    http = httpx2.Client(transport=_serve(recorded.body))
    if recorded.api == "responses":
        client: Any = OpenAI(base_url="http://recorded.test/v1", api_key="t", max_retries=0, http_client=http)
        return capture.instrument(client).responses.create(model="gpt-5", input="Hi", stream=True)
    client = capture.instrument(
        Anthropic(base_url="http://recorded.test", api_key="t", max_retries=0, http_client=http)
    )
    messages = client.beta.messages if recorded.beta else client.messages
    return messages.create(
        model="claude-sonnet-4-6", max_tokens=1000, messages=[{"role": "user", "content": "Hi"}], stream=True
    )


def _yielded(recorded: Recorded) -> int:
    """How many events the SDK yields for the recorded stream (a bare client)."""
    http = httpx2.Client(transport=_serve(recorded.body))
    if recorded.api == "responses":
        client: Any = OpenAI(base_url="http://recorded.test/v1", api_key="t", max_retries=0, http_client=http)
        return len(list(client.responses.create(model="gpt-5", input="Hi", stream=True)))
    client = Anthropic(base_url="http://recorded.test", api_key="t", max_retries=0, http_client=http)
    return len(
        list(client.messages.create(model="claude-sonnet-4-6", max_tokens=9, messages=[], stream=True))
    )


@pytest.mark.parametrize("recorded", RECORDED, ids=lambda r: r.source)
def test_a_real_stream_read_whole_or_half_way_builds_the_same_call(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    half = _yielded(recorded) // 2
    assert half > 0

    def run() -> None:
        list(_stream(recorded))
        stream = _stream(recorded)
        list(events(stream, half))
        stream.close()

    (whole_pair, half_pair) = both_ways(run, monkeypatch)
    wire = list(iter_json_events(recorded.body))
    whole, left = same_call(*whole_pair, wire), same_call(*half_pair, wire)
    assert (whole.status, left.status) == (Status.OK, Status.CANCELLED)
    assert whole.id == whole_pair[1].build().id == left.id  # the response's own id, read both ways
    assert whole.response_model is not None
    sent = accumulate(wire, kind=whole_pair[0].route.usage_kind)  # the stream as the gateway reads it
    assert (whole.usage, whole.tool_uses, whole.finish_reason) == (
        sent.usage,
        sent.tool_uses,
        sent.finish_reason,
    )


@pytest.mark.parametrize("api", ["responses", "messages"])
def test_a_real_stream_read_by_an_async_client_builds_the_same_call(
    api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = next((r for r in RECORDED if r.api == api), None)
    if recorded is None:
        pytest.skip("no recorded stream of this API in the real-data folder")

    async def read() -> None:
        http = httpx2.AsyncClient(transport=_serve(recorded.body))
        if api == "responses":
            openai = capture.instrument(
                AsyncOpenAI(base_url="http://recorded.test/v1", api_key="t", max_retries=0, http_client=http)
            )
            stream: Any = await openai.responses.create(model="gpt-5", input="Hi", stream=True)
        else:
            anthropic = capture.instrument(
                AsyncAnthropic(base_url="http://recorded.test", api_key="t", max_retries=0, http_client=http)
            )
            stream = await anthropic.messages.create(
                model="claude-sonnet-4-6",
                max_tokens=1000,
                messages=[{"role": "user", "content": "Hi"}],
                stream=True,
            )
        [event async for event in stream]

    (pair,) = both_ways(lambda: asyncio.run(read()), monkeypatch)
    call = same_call(*pair, list(iter_json_events(recorded.body)))
    assert call.status is Status.OK
    assert call.usage.output_total is not None
