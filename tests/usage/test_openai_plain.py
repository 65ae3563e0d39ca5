"""The direct reading of a plain OpenAI chat completion is exactly the chat adapter's general reading."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.conftest import real_data_path
from tests.usage.recordings import all_recordings
from tokenomy.usage import extract
from tokenomy.usage.openai_chat import general_extract
from tokenomy.usage.openai_plain import plain_chat

BODY: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi there", "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 120,
        "completion_tokens": 30,
        "total_tokens": 150,
        "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 0, "cache_write_tokens": None},
        "completion_tokens_details": {"reasoning_tokens": 12, "audio_tokens": 0},
    },
    "service_tier": "default",
    "system_fingerprint": "fp_1",
}


def _variant(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(BODY)
    *parents, last = path.split(".")
    target: Any = body
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    target[last] = value
    return body


PLAIN = [
    BODY,
    _variant("choices.0.message.content", None),
    _variant("choices.0.message.content", ""),
    _variant("choices.0.message.refusal", "I can't help with that."),
    _variant("choices.0.finish_reason", None),
    _variant("created", None),
    _variant("service_tier", None),
    _variant("usage.prompt_tokens_details.cached_tokens", 0),
    _variant("usage.prompt_tokens_details", None),
    _variant("usage.completion_tokens_details", {}),
]
OTHERS = [
    _variant(
        "choices.0.message.tool_calls",
        [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    ),
    _variant("choices.0.message.content", [{"type": "text", "text": "part"}]),
    _variant("choices", [BODY["choices"][0], {**BODY["choices"][0], "index": 1}]),
    _variant("usage.prompt_tokens_details.cache_write_tokens", 10),
    _variant("usage.prompt_tokens_details.cached_tokens", 500),
    _variant("usage.completion_tokens_details.reasoning_tokens", -1),
    _variant("usage.prompt_tokens_details", "odd"),
    _variant("usage.total_tokens", 151),
    _variant("usage.prompt_tokens", 120.0),
    _variant("usage.prompt_tokens", -5),
    _variant("x_groq", {"id": "req_1"}),
    _variant("object", "text_completion"),
    # audio, image or video tokens are priced apart: the general reading keeps them
    _variant("usage.prompt_tokens_details.audio_tokens", 40),
    _variant("usage.prompt_tokens_details.image_tokens", 40),
    _variant("usage.prompt_tokens_details.video_tokens", 40),
    _variant("usage.completion_tokens_details.audio_tokens", 10),
    _variant("usage.completion_tokens_details.image_tokens", 10),
    _variant("usage.completion_tokens_details.video_tokens", 10),
]


@pytest.mark.parametrize("body", PLAIN)
def test_a_plain_body_reads_as_the_adapter_reads_it(body: dict[str, Any]) -> None:
    found = plain_chat(body)
    assert found is not None
    assert found == general_extract(body)


@pytest.mark.parametrize("body", OTHERS)
def test_any_other_body_is_left_to_the_adapters(body: dict[str, Any]) -> None:
    assert plain_chat(body) is None


def test_the_adapter_reads_plain_bodies_directly_and_labels_them_as_asked() -> None:
    assert extract(BODY, provider="openai", api="chat") == plain_chat(BODY)
    azure = extract(BODY, provider="azure", api="chat")
    assert azure.provider == "azure"
    assert azure.usage == general_extract(BODY).usage
    groq = {**BODY, "x_groq": {"id": "req_1"}}  # another provider's marker: the general reading
    assert plain_chat(groq) is None
    assert extract(groq, api="chat") == general_extract(groq)
    assert general_extract(groq).provider == "groq"


def test_recorded_chat_completions_read_the_same() -> None:
    real_data_path("provider-responses")
    bodies = [
        r.body for r in all_recordings() if r.body is not None and r.body.get("object") == "chat.completion"
    ]
    read = 0
    for body in bodies:
        found = plain_chat(body)
        if found is not None:
            read += 1
            assert found == general_extract(body)
    assert read >= 3


def test_real_usage_objects_read_the_same() -> None:
    dataset = json.loads(real_data_path("genai-prices-usages", "usages_dataset.json").read_text())
    usages = [row["body"]["usage"] for row in dataset if "prompt_tokens" in (row["body"].get("usage") or {})]
    read = 0
    for usage in usages:
        body = {**BODY, "usage": usage}
        found = plain_chat(body)
        if found is not None:
            read += 1
            assert found == general_extract(body)
    assert read >= 20
