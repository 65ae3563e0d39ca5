"""The same call read on the SDK path, by the gateway and by the importer records the same values.

The real SDK clients, instrumented, are answered a canned body (an ``httpx`` mock transport); the
gateway builds its Call from the same request and answer bytes (:func:`tokenomy.gateway.metering.build_call`,
with its prefix memo), the importer from the same exchange as a team logs it. What the SDK path
reads of the request (Anthropic tool definitions: ``tool_def_tokens``, ``prefix_hashes``) and of its
answer's objects (a Responses web search's ``action``: the tool use's ``args_hash``) must be what
the other two read of the JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import httpx2
import pytest
from anthropic import Anthropic
from openai import OpenAI

from tests.capture.raw_support import kept_calls
from tests.capture.support import MemoryTarget
from tokenomy import capture
from tokenomy.capture.build import build_call as sdk_build_call
from tokenomy.capture.shapes import ShapeMemo
from tokenomy.gateway.formats import SURFACES
from tokenomy.gateway.metering import Exchange, build_call
from tokenomy.importers.provider import record_to_call
from tokenomy.importers.results import ImportOptions
from tokenomy.schema import Attribution, Call
from tokenomy.tokens import count_tools
from tokenomy.usage import args_hash

_SCHEMA: Final = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "The city"}, "days": {"type": "integer"}},
    "required": ["city"],
}
ANTHROPIC_REQUEST: Final[dict[str, Any]] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 1000,
    "tools": [
        {
            "name": "weather",
            "description": "The forecast for a city, day by day, as the weather service gives it.",
            "input_schema": _SCHEMA,
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        },
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
    ],
    "system": [
        {
            "type": "text",
            "text": "You answer questions about the weather.",
            "cache_control": {"type": "ephemeral"},
        }
    ],
    "messages": [
        {"role": "user", "content": "What will the weather be in Paris?"},
        {"role": "assistant", "content": "For how many days?"},
        {"role": "user", "content": "Three days, please."},
    ],
}
ANTHROPIC_ANSWER: Final = {
    "id": "msg_01PathsAgreeXFDUDYJgAACzvn",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-6",
    "content": [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris", "days": 3}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 420,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 40,
    },
}
RESPONSES_REQUEST: Final[dict[str, Any]] = {
    "model": "o4-mini",
    "input": "hello",
    "tools": [{"type": "web_search"}],
}
_ACTIONS: Final = [
    {"type": "search", "query": "x"},
    {"type": "search", "query": "y"},
    {"type": "open_page", "url": "https://example.com/weather"},
]
RESPONSES_ANSWER: Final = {
    "id": "resp_0123456789abcdef0123456789abcdef",
    "object": "response",
    "created_at": 1_767_225_600,
    "status": "completed",
    "model": "o4-mini-2025-04-16",
    "output": [
        {"type": "reasoning", "id": "rs_1", "summary": []},
        *(
            {"type": "web_search_call", "id": f"ws_{i}", "status": "completed", "action": action}
            for i, action in enumerate(_ACTIONS)
        ),
        {
            "type": "message",
            "id": "m1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "hi", "annotations": []}],
        },
    ],
    "usage": {
        "input_tokens": 3000,
        "input_tokens_details": {"cached_tokens": 2048},
        "output_tokens": 700,
        "output_tokens_details": {"reasoning_tokens": 500},
        "total_tokens": 3700,
    },
    "incomplete_details": None,
    "error": None,
}


def _http(answer: bytes, kind: str = "application/json") -> httpx2.Client:
    def serve(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": kind}, content=answer)

    return httpx2.Client(transport=httpx2.MockTransport(serve))


def _sdk_call(recorded: MemoryTarget, send: Callable[[], object]) -> Call:
    send()
    assert capture.flush(30) is True
    (call,) = [r for r in recorded.records if isinstance(r, Call)]
    return call


def _gateway_call(path: str, provider: str, request: Mapping[str, Any], answer: Mapping[str, Any]) -> Call:
    exchange = Exchange(
        SURFACES[path],
        provider,
        request,
        Attribution(),
        None,
        time.time_ns(),
        status=200,
        body=json.dumps(answer).encode(),
        latency_ns=1_000_000,
        shapes=ShapeMemo(),
    )
    return build_call(exchange)


def _imported_call(url: str, request: Mapping[str, Any], answer: Mapping[str, Any]) -> Call:
    exchange = {
        "request": {"method": "POST", "url": url, "headers": {}, "body": request},
        "response": {"status_code": 200, "headers": {"content-type": "application/json"}, "body": answer},
    }
    return record_to_call(exchange, ImportOptions())


def _anthropic_sdk_call(recorded: MemoryTarget) -> Call:
    client = capture.instrument(
        Anthropic(
            base_url="http://paths.test",
            api_key="t",
            max_retries=0,
            http_client=_http(json.dumps(ANTHROPIC_ANSWER).encode()),
        )
    )
    return _sdk_call(recorded, lambda: client.messages.create(**ANTHROPIC_REQUEST))


def test_anthropic_tool_definitions_count_and_hash_as_the_gateway_and_the_importer_do(
    recorded: MemoryTarget,
) -> None:
    sdk = _anthropic_sdk_call(recorded)
    gateway = _gateway_call("/v1/messages", "anthropic", ANTHROPIC_REQUEST, ANTHROPIC_ANSWER)
    imported = _imported_call("https://api.anthropic.com/v1/messages", ANTHROPIC_REQUEST, ANTHROPIC_ANSWER)
    assert gateway.tool_def_tokens == imported.tool_def_tokens  # the two references agree first
    assert gateway.prefix_hashes == imported.prefix_hashes
    # the tools as sent, counted as they are (not rewritten into OpenAI's form)
    as_sent = count_tools(ANTHROPIC_REQUEST["tools"], ANTHROPIC_REQUEST["model"]).tokens
    assert sdk.tool_def_tokens == gateway.tool_def_tokens == as_sent
    assert len(sdk.prefix_hashes) == 3  # tools and system, then the first message, then the first two
    assert sdk.prefix_hashes == gateway.prefix_hashes == imported.prefix_hashes
    shape = ("n_messages", "system_tokens", "user_tokens", "history_tokens")
    assert [getattr(sdk, f) for f in shape] == [getattr(gateway, f) for f in shape]
    assert [getattr(sdk, f) for f in shape] == [getattr(imported, f) for f in shape]
    assert sdk.tool_uses == gateway.tool_uses == imported.tool_uses
    assert sdk.id == gateway.id == imported.id == "msg_01PathsAgreeXFDUDYJgAACzvn"


def _responses_client(answer: bytes, kind: str = "application/json") -> Any:
    client = OpenAI(
        base_url="http://paths.test/v1", api_key="t", max_retries=0, http_client=_http(answer, kind)
    )
    return capture.instrument(client)


def test_a_responses_web_search_hashes_its_action_as_the_gateway_and_the_importer_do(
    recorded: MemoryTarget,
) -> None:
    client = _responses_client(json.dumps(RESPONSES_ANSWER).encode())
    sdk = _sdk_call(recorded, lambda: client.responses.create(**RESPONSES_REQUEST))
    gateway = _gateway_call("/v1/responses", "openai", RESPONSES_REQUEST, RESPONSES_ANSWER)
    imported = _imported_call("https://api.openai.com/v1/responses", RESPONSES_REQUEST, RESPONSES_ANSWER)
    assert gateway.tool_uses == imported.tool_uses  # the two references agree first
    # the action as the answer wrote it, without the fields the SDK's model adds as None
    assert [u.args_hash for u in gateway.tool_uses] == [args_hash(a) for a in _ACTIONS]
    assert [u.args_hash for u in gateway.tool_uses][:2] == ["ef7a9ab044509b4f", "87a21a0cfb4ea06a"]
    assert sdk.tool_uses == gateway.tool_uses
    assert [(u.name, u.server) for u in sdk.tool_uses] == [("web_search", True)] * 3
    assert sdk.usage.server_tools == gateway.usage.server_tools == {"web_searches": 3}


def _sse(events: list[dict[str, Any]]) -> bytes:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def test_a_responses_stream_read_from_the_sdk_s_objects_hashes_as_its_json_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = {**RESPONSES_ANSWER, "status": "in_progress", "output": [], "usage": None}
    stream = _sse(
        [
            {"type": "response.created", "sequence_number": 0, "response": start},
            {"type": "response.completed", "sequence_number": 1, "response": RESPONSES_ANSWER},
        ]
    )

    def run() -> None:
        client = _responses_client(stream, "text/event-stream")
        for _ in client.responses.create(**RESPONSES_REQUEST, stream=True):
            pass

    expected = [args_hash(a) for a in _ACTIONS]
    for objects in (False, True):  # kept as the events' data text, and as the SDK's event objects
        (captured,) = kept_calls(run, monkeypatch, objects=objects)
        call = sdk_build_call(captured)
        assert [u.args_hash for u in call.tool_uses] == expected, objects
