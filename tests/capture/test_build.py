"""Building a Call from captured facts: provider, key hash, errors, content, ids (no network)."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest
from openai import AzureOpenAI, OpenAI
from openai.types.chat import ChatCompletion

from tests.capture.support import MemoryTarget, sink_with
from tokenomy.capture.build import build_call
from tokenomy.capture.captured import FAILED, Captured
from tokenomy.capture.client import ClientState, state_for
from tokenomy.capture.runtime import RUNTIME, ContentSettings
from tokenomy.capture.sdk.base import ErrorInfo
from tokenomy.capture.sdk.openai import ADAPTER
from tokenomy.config import Config
from tokenomy.importers.ids import short_hash
from tokenomy.native import call_to_native
from tokenomy.schema import Kind, Status

KEY = "sk-live-0123456789abcdef"
REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello Ana"}]}
RESPONSE = ChatCompletion.model_validate(
    {
        "id": "chatcmpl-000000000001",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hi Ana"}}
        ],
        "usage": {
            "prompt_tokens": 120,
            "completion_tokens": 7,
            "total_tokens": 127,
            "prompt_tokens_details": {"cached_tokens": 100},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
    }
)


def _captured(state: ClientState, *, response: Any = RESPONSE, error: ErrorInfo | None = None) -> Captured:
    captured = Captured(state, ADAPTER.routes["/chat/completions"], dict(REQUEST))
    captured.trace_id, captured.span_id = "ab" * 16, "cd" * 8
    captured.started_ns, captured.latency_ns = time.time_ns(), 2_500_000
    captured.response = response
    if error is not None:
        captured.error, captured.end, captured.response = error, FAILED, None
    return captured


def _client(**options: Any) -> OpenAI:
    return OpenAI(api_key=KEY, **options)


def test_a_response_becomes_a_call_with_exclusive_buckets_and_the_key_hashed() -> None:
    call = build_call(_captured(state_for(_client(), ADAPTER)))
    assert call.id == "chatcmpl-000000000001"
    assert call.usage.buckets() == {
        "input_uncached": 20,
        "cache_read": 100,
        "cache_write_5m": 0,
        "cache_write_1h": 0,
        "output_visible": 5,
        "reasoning": 2,
    }
    assert (call.request_model, call.response_model, call.finish_reason) == (
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
        "stop",
    )
    assert call.latency_ms == 2.5
    assert call.streamed is False
    assert call.source == "sdk"
    assert call.attribution.api_key_id == short_hash(KEY)  # the importers' hash, so the two join
    assert KEY not in json.dumps(call_to_native(call))
    assert call.content is None
    assert call.n_messages == 1
    assert call.user_tokens == 2


@pytest.mark.parametrize(
    ("client", "provider"),
    [
        (
            lambda: AzureOpenAI(
                api_key=KEY, azure_endpoint="https://x.openai.azure.com", api_version="2024-10-21"
            ),
            "azure",
        ),
        (lambda: _client(base_url="https://api.groq.com/openai/v1"), "groq"),
        (lambda: _client(base_url="https://myres.openai.azure.com/openai/v1"), "azure"),
        (lambda: _client(base_url="http://127.0.0.1:9/v1"), "openai"),
    ],
)
def test_the_provider_comes_from_the_client_class_or_its_host(client: Any, provider: str) -> None:
    assert build_call(_captured(state_for(client(), ADAPTER))).provider == provider


def test_an_http_error_used_no_tokens_and_a_connection_error_unknown_ones() -> None:
    state = state_for(_client(), ADAPTER)
    refused = build_call(_captured(state, error=ErrorInfo(Status.ERROR, "RateLimitError", 429)))
    lost = build_call(_captured(state, error=ErrorInfo(Status.TIMEOUT, "APITimeoutError")))
    assert refused.usage.total == 0
    assert refused.usage.kind is Kind.REPORTED
    assert lost.usage.total is None
    assert (lost.status, lost.error_type) == (Status.TIMEOUT, "APITimeoutError")
    assert refused.id == f"{'ab' * 16}:{'cd' * 8}"  # no response id: trace and span make the id


def test_content_is_redacted_and_a_failing_hook_keeps_nothing() -> None:
    redacted = ClientState(ADAPTER, capture_content=True, redact=lambda text: text.replace("Ana", "<name>"))
    call = build_call(_captured(redacted))
    assert call.content is not None
    assert call.content.prompt is not None
    assert "<name>" in call.content.prompt
    assert "Ana" not in call.content.prompt
    assert call.content.completion == "Hi <name>"

    def broken(text: str) -> str:
        raise RuntimeError("hook failed")

    assert build_call(_captured(ClientState(ADAPTER, capture_content=True, redact=broken))).content is None


def test_a_call_is_built_with_the_process_content_settings_in_force_when_it_was_made() -> None:
    state = state_for(_client(), ADAPTER)  # no content settings of its own: the process's
    try:
        RUNTIME.configure(
            sink_with(MemoryTarget()),
            capture_content=True,
            redact=lambda text: text.replace("Ana", "<name>"),
            config=Config(),
        )
        masked = _captured(state)
        RUNTIME.configure(sink_with(MemoryTarget()), capture_content=False, config=Config())
        hidden = _captured(state)
        RUNTIME.configure(sink_with(MemoryTarget()), capture_content=True, config=Config())
        clear = _captured(state)
        calls = [build_call(masked), build_call(hidden), build_call(clear)]  # built after the last one
    finally:
        RUNTIME.shutdown(10)
        RUNTIME.content = ContentSettings()
    assert [c.content.completion if c.content else None for c in calls] == ["Hi <name>", None, "Hi Ana"]
    assert calls[0].content is not None
    assert calls[0].content.prompt is not None
    assert "Ana" not in calls[0].content.prompt


def test_a_call_outside_every_scope_is_attributed_to_its_key_alone() -> None:
    from tokenomy.schema import Attribution

    keyed = state_for(_client(), ADAPTER, None, False, None)
    unkeyed = dataclasses.replace(keyed, api_key_id=None)
    for state, key in ((keyed, short_hash(KEY)), (unkeyed, None)):
        first, second = _captured(state).keyed_attribution(), _captured(state).keyed_attribution()
        assert first == second == Attribution(api_key_id=key)
    scoped = _captured(keyed)
    scoped.attribution = Attribution(team="search")
    assert scoped.keyed_attribution() == Attribution(team="search", api_key_id=keyed.api_key_id)


def test_the_time_to_first_token_of_a_stream_kept_as_text() -> None:
    from tokenomy.capture.build import _ttft_ms

    state = state_for(_client(), ADAPTER, None, False, None)
    role = '{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}'
    text = '{"choices":[{"index":0,"delta":{"content":"Hi"}}]}'
    spaced = '{"choices": [{"index": 0, "delta": {"content": "Hi"}}]}'
    odd = '{"choices":[{"index":0,"delta":{}}],"message":{"content":"Hi"}}'  # content outside the delta
    cases = [
        ([role, text, text, "[DONE]"], 1_000_000),  # the first event carrying output: its arrival
        ([role, spaced, text, "[DONE]"], 1_000_000),  # however the JSON is written
        ([role, odd, text, "[DONE]"], 2_000_000),
        ([role, role, "[DONE]"], None),  # none carries output
        ([spaced, role], 0),
        ([], None),
    ]
    for items, expected in cases:
        captured = Captured(state, ADAPTER.routes["/chat/completions"], dict(REQUEST))
        captured.t0, captured.items = 5_000, list(items)
        captured.times = [5_000 + n * 1_000_000 for n in range(len(items))]
        assert _ttft_ms(captured) == (None if expected is None else expected / 1e6)
