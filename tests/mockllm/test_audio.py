"""Audio tokens forced per request: ``X-Mock-Audio-Input-Tokens`` and ``X-Mock-Audio-Output-Tokens``.

They are shares of the counts the mock already reports (OpenAI's ``prompt_tokens_details.audio_tokens``
is part of ``prompt_tokens``, ``completion_tokens_details.audio_tokens`` part of ``completion_tokens``),
so they never exceed them.
"""

from __future__ import annotations

import pytest

from tests.mockllm.support import app, post
from tests.mockllm.test_plan import planner, prompt
from tokenomy.mockllm.config import Lengths
from tokenomy.mockllm.overrides import NONE, HeaderError, Overrides, read

CHAT = "/v1/chat/completions"
BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi there"}]}


def test_the_headers_are_read_and_default_to_no_audio() -> None:
    got = read({"x-mock-audio-input-tokens": "30", "x-mock-audio-output-tokens": "12"})
    assert (got.audio_input_tokens, got.audio_output_tokens) == (30, 12)
    assert (NONE.audio_input_tokens, NONE.audio_output_tokens) == (0, 0)
    with pytest.raises(HeaderError, match="x-mock-audio-input-tokens must be >= 0"):
        read({"x-mock-audio-input-tokens": "-1"})


def test_the_plan_holds_audio_within_the_input_and_the_visible_output() -> None:
    p = planner(output_tokens=Lengths.fixed(20), reasoning_tokens=Lengths.fixed(50))
    plan = p.plan(prompt("o3"), Overrides(audio_input_tokens=5, audio_output_tokens=8), "a", 1, 0)
    assert (plan.audio_input, plan.audio_output) == (5, 8)
    too_much = Overrides(audio_input_tokens=10_000, audio_output_tokens=10_000)
    plan = p.plan(prompt("o3"), too_much, "b", 2, 0)
    assert (plan.audio_input, plan.audio_output) == (plan.input_tokens, 20)  # reasoning is never audio
    assert p.plan(prompt("o3"), NONE, "c", 3, 0).audio_input == 0


def test_chat_usage_reports_the_audio_tokens_inside_its_totals() -> None:
    mock = app(output_tokens=Lengths.fixed(9))
    usage = post(mock, CHAT, BODY, x_mock_audio_input_tokens="4", x_mock_audio_output_tokens="6").json()[
        "usage"
    ]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 4}
    assert usage["completion_tokens_details"]["audio_tokens"] == 6
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (
        9,
        9,
    )  # 3 framing, 1 role, 2 text, 3 priming
    plain = post(mock, CHAT, BODY).json()["usage"]
    assert plain["prompt_tokens_details"]["audio_tokens"] == 0
    assert plain["completion_tokens_details"]["audio_tokens"] == 0
