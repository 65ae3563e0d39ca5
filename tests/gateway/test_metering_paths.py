"""Metering's short roads (a plain chat body read directly, plain messages taken as they are) give the
very Call the general reading gives, on the provider recordings and on hand-made edge cases."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import real_data_path
from tests.usage.recordings import Recording, all_recordings
from tokenomy.capture.build import utc_milliseconds
from tokenomy.capture.shapes import ShapeMemo
from tokenomy.errors import UsageError
from tokenomy.gateway import metering
from tokenomy.gateway.formats import SURFACES
from tokenomy.gateway.metering import Exchange, build_call
from tokenomy.gateway.metrics import GatewayMetrics
from tokenomy.importers import messages as messages_module
from tokenomy.importers.messages import request_messages
from tokenomy.pricing import Pricer
from tokenomy.schema import Attribution, Call
from tokenomy.usage import extract

CHAT = SURFACES["/v1/chat/completions"]
MESSAGES = SURFACES["/v1/messages"]
PLAIN = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello in one line."}]}
REQUESTS: list[dict[str, Any]] = [
    PLAIN,
    {
        "model": "gpt-4o",
        "max_tokens": 64,
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What is 2 + 2?"},
            {"role": "assistant", "content": "4."},
            {"role": "user", "content": "And 3 + 3? «ünïcode» ✓"},
        ],
    },
    {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Run it."}],
        "tools": [{"type": "function", "function": {"name": "run", "description": "Run a command."}}],
    },
    {"model": "claude-sonnet-4-5", "system": "Be terse.", "messages": [{"role": "user", "content": "Hi"}]},
    {"model": "claude-sonnet-4-5", "system": "", "messages": [{"role": "user", "content": "Hi"}]},
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi", "name": "ann"}]},
    {
        "model": "claude-sonnet-4-5",
        "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "Hi"}],
    },
    {
        "model": "claude-sonnet-4-5",
        "system": "Be terse.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
    },
    {"model": "gpt-4o-mini", "instructions": "Be terse.", "messages": [{"role": "user", "content": "Hi"}]},
    {
        "model": "gpt-4o-mini",
        "messages": [{"role": "model", "content": "Hi"}, {"role": "user", "content": "Go"}],
    },
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]},
]
"""Plain prompts and prompts the short road must leave to :func:`request_messages`."""


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-9",
        "object": "chat.completion",
        "created": 1_763_800_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello!", "refusal": None},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 3,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
        "service_tier": "default",
    }
    body.update(changes)
    return body


HAND_MADE: list[dict[str, Any]] = [
    _body(),
    _body(usage={"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}),
    _body(x_groq={"id": "req_1"}),
    _body(choices=[_body()["choices"][0], {**_body()["choices"][0], "index": 1}]),
    _body(object="text_completion"),
    _body(choices=[]),
    _body(
        choices=[
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "t1", "type": "function", "function": {"name": "run", "arguments": "{}"}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ]
    ),
    _body(usage={"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 99}),
]
"""Plain bodies, and bodies the short road must leave to the registry (markers, tool calls...)."""


def _recorded_bodies() -> list[dict[str, Any]]:
    real_data_path("provider-responses")
    return [dict(r.body) for r in all_recordings() if r.body is not None and r.status == 200]


def _general(monkeypatch: pytest.MonkeyPatch) -> None:
    """Metering by the general readers alone (the registry, :func:`request_messages`)."""
    monkeypatch.setattr(metering, "_direct_reading", lambda body, api, provider: None)
    monkeypatch.setattr(messages_module, "_plain_prompt", lambda request: None)


def _build(exchange: Exchange, pricer: Pricer) -> Call:
    random.seed(5)  # the same trace and span ids on both roads
    return build_call(exchange, pricer)


def _exchange(request: dict[str, Any], memo: ShapeMemo | None, **fields: Any) -> Exchange:
    surface = MESSAGES if "system" in request else CHAT
    provider = "anthropic" if surface is MESSAGES else "openai"
    exchange = Exchange(surface, provider, request, Attribution(team="t"), "s1", 1_763_800_000_123_456_789)
    exchange.status, exchange.latency_ns, exchange.shapes = 200, 2_345_678, memo
    for name, value in fields.items():
        setattr(exchange, name, value)
    return exchange


@pytest.mark.parametrize("body", HAND_MADE, ids=range(len(HAND_MADE)))
def test_a_plain_chat_body_reads_as_the_registry_reads_it(body: dict[str, Any]) -> None:
    quick = metering._direct_reading(body, "chat", "openai")
    try:
        general = metering.reading_of(extract(body, provider="openai", api="chat"))
    except UsageError:
        general = None
    assert quick is None or quick == general
    assert (quick is not None) == (body in HAND_MADE[:2])  # the first two are plain; the rest are not


@pytest.mark.realdata
@pytest.mark.parametrize(("api", "provider"), [("chat", "openai"), ("messages", "anthropic")])
def test_every_recorded_body_the_short_road_reads_is_the_registry_reading(api: str, provider: str) -> None:
    taken = 0
    for body in _recorded_bodies():
        quick = metering._direct_reading(body, api, provider)
        if quick is None:
            continue
        taken += 1
        assert quick == metering.reading_of(extract(body, provider=provider, api=api)), body.get("id")
    assert taken >= 10  # most recorded chat completions are plain; every Messages body is read directly


@pytest.mark.parametrize("request_", REQUESTS, ids=range(len(REQUESTS)))
def test_plain_messages_are_the_normalized_messages(
    request_: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = messages_module._plain_prompt(request_)
    monkeypatch.setattr(messages_module, "_plain_prompt", lambda request: None)
    assert plain is None or plain == request_messages(request_)
    assert (plain is not None) == (request_ in REQUESTS[:5])  # the others need normalizing


def _pairs(bodies: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Each body with a request: Messages bodies with an Anthropic one (read on the Messages path)."""
    anthropic = [r for r in REQUESTS if "system" in r]
    for i, body in enumerate(bodies):
        if body.get("type") == "message":
            yield anthropic[i % len(anthropic)], body
        else:
            yield REQUESTS[i % len(REQUESTS)], body


@pytest.mark.parametrize("body", HAND_MADE, ids=range(len(HAND_MADE)))
@pytest.mark.parametrize("request_", REQUESTS, ids=range(len(REQUESTS)))
def test_the_short_roads_build_the_general_call(
    request_: dict[str, Any], body: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    pricer, raw = Pricer(), json.dumps(body).encode()
    memo = ShapeMemo()
    quick = [_build(_exchange(request_, memo, body=raw, parsed=body), pricer) for _ in range(2)]
    _general(monkeypatch)
    general = _build(_exchange(request_, None, body=raw), pricer)
    assert quick == [general, general]  # the memo's miss, then its hit
    assert general.cost is not None


@pytest.mark.realdata
def test_the_short_roads_build_the_general_call_for_every_recording(monkeypatch: pytest.MonkeyPatch) -> None:
    pricer, memo = Pricer(), ShapeMemo()
    pairs = list(_pairs(_recorded_bodies()))
    quick = [_build(_exchange(r, memo, body=json.dumps(b).encode(), parsed=b), pricer) for r, b in pairs]
    _general(monkeypatch)
    general = [_build(_exchange(r, None, body=json.dumps(b).encode()), pricer) for r, b in pairs]
    assert quick == general
    assert sum(c.cost is not None and c.cost.total is not None for c in general) >= 10
    assert sum(c.api == "messages" and c.usage.input_total is not None for c in general) >= 10


def _sse(recording: Recording) -> bytes:
    return b"".join(b"data: " + json.dumps(event).encode() + b"\n\n" for event in recording.events)


@pytest.mark.realdata
def test_recorded_chat_streams_build_the_general_call(monkeypatch: pytest.MonkeyPatch) -> None:
    real_data_path("provider-responses")
    streams = [r for r in all_recordings() if r.body is None and r.events and "chatcmpl" in str(r.events[0])]
    assert streams
    pricer, memo = Pricer(), ShapeMemo()
    fields = [{"streamed": True, "chunks": [_sse(r)]} for r in streams]
    quick = [_build(_exchange(PLAIN, memo, **f), pricer) for f in fields]
    _general(monkeypatch)
    assert quick == [_build(_exchange(PLAIN, None, **f), pricer) for f in fields]


def test_the_metrics_count_each_bucket_of_a_built_call() -> None:
    metrics = GatewayMetrics()
    call = _build(_exchange(PLAIN, ShapeMemo(), parsed=_body()), Pricer())
    metrics.calls.add(call)
    metrics.calls.add(call)
    assert dict(metrics.tokens) == {"input_uncached": 24, "output_visible": 6}
    assert call.cost is not None
    assert call.cost.total is not None
    assert metrics.cost_usd == 2 * call.cost.total  # summed exactly
    assert f"tokenomy_gateway_cost_usd_total {float(2 * call.cost.total)!r}" in metrics.render(None).decode()


@pytest.mark.parametrize(
    "ns",
    [0, 999_999, 1_000_000, 1_763_800_000_123_456_789, 1_763_800_000_999_999_999, 4_102_444_799_999_000_000],
)
def test_utc_milliseconds_is_the_timestamp_read_to_the_millisecond(ns: int) -> None:
    expected = datetime.fromtimestamp(ns // 1_000_000 / 1000, UTC).replace(tzinfo=None)
    assert utc_milliseconds(ns) == expected


def test_utc_milliseconds_agrees_over_many_instants() -> None:
    rng = random.Random(11)
    for _ in range(20_000):
        ns = rng.randrange(0, 4_102_444_800 * 10**9)
        assert utc_milliseconds(ns) == datetime.fromtimestamp(ns // 1_000_000 / 1000, UTC).replace(
            tzinfo=None
        )


def test_the_metrics_count_every_bucket_and_the_unsplit_totals() -> None:
    from tokenomy.schema import BUCKETS, Usage

    metrics = GatewayMetrics()
    split = Usage.of(
        input_uncached=1, cache_read=2, cache_write_5m=3, cache_write_1h=4, output_visible=5, reasoning=6
    )
    unsplit = Usage(input_total=40, output_total=9)
    for usage in (split, unsplit, Usage()):
        metrics.calls.add(Call(id="c", usage=usage))
    expected = {bucket: n for n, bucket in enumerate(BUCKETS, start=1)}
    assert dict(metrics.tokens) == {**expected, "input_unsplit": 40, "output_unsplit": 9}
    assert metrics.cost_usd == 0  # no call was priced


def test_the_shape_fields_are_given_in_the_call_s_order() -> None:
    shape = ShapeMemo().shape(request_messages(REQUESTS[1]), None, "gpt-4o")
    names = [f.name for f in dataclasses.fields(Call)]
    start = names.index("n_messages")
    assert list(shape.fields()) == names[start : start + 6]
    assert shape.call_values() == tuple(getattr(shape, name) for name in names[start : start + 6])
    assert len(metering._NO_SHAPE) == 7  # the six fields and the prompt's input_tokens
    assert metering._NO_SHAPE[6] is None
