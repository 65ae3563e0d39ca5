"""The chat accumulator's cheap ways in (raw JSON text, a plain chunk's fields) equal feeding the chunk."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import real_data_path
from tests.usage.recordings import all_recordings
from tokenomy.usage.openai_chat import ChatStream
from tokenomy.usage.openai_chat import extract as chat_extract

HEAD = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "gpt-4o"}


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **top: Any) -> dict[str, Any]:
    choices = (
        [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    )
    return {**HEAD, "system_fingerprint": "fp_9", **top, "choices": choices}


USAGE = {
    "prompt_tokens": 9,
    "completion_tokens": 7,
    "total_tokens": 16,
    "prompt_tokens_details": {"cached_tokens": 0},
}
TEXTS = ["Hel", "lo", ' "quoted" ', "back\\slash", "\u2028line", "ünï ✓", "", '"delta":{"content":"x"}', "\n"]
EVENTS: list[Any] = [
    _chunk({"role": "assistant", "content": ""}),
    *[_chunk({"content": t}) for t in TEXTS],
    _chunk({"content": "other id"}, id="chatcmpl-10"),
    _chunk({"content": "tail"}),
    _chunk({"tool_calls": [{"index": 0, "id": "t1", "function": {"name": "f", "arguments": '{"a":'}}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
    _chunk({"content": "after the tool"}),
    _chunk({"refusal": "no"}),
    _chunk({"content": "more"}),
    _chunk({}, finish="stop"),
    _chunk(None, usage=USAGE),
]


def _raw(events: list[Any], separators: tuple[str, str] | None = (",", ":")) -> list[str]:
    return [json.dumps(e, separators=separators, ensure_ascii=False) for e in events]


def _decoded(datas: list[str]) -> ChatStream:
    stream = ChatStream(chat_extract)
    for data in datas:
        if data and data != "[DONE]":
            try:
                event = json.loads(data)
            except ValueError:
                continue
            stream.feed(event)
    return stream


def _fed_raw(datas: list[str]) -> ChatStream:
    stream = ChatStream(chat_extract)
    for data in datas:
        stream.feed_raw(data)
    return stream


def _same(datas: list[str]) -> ChatStream:
    fast, slow = _fed_raw(datas), _decoded(datas)
    assert fast.result() == slow.result()
    assert (fast.events, fast.odd_events) == (slow.events, slow.odd_events)
    return fast


@pytest.mark.parametrize("separators", [(",", ":"), None])
def test_feed_raw_equals_decoding_every_event(separators: tuple[str, str] | None) -> None:
    datas = [*_raw(EVENTS, separators), "", "not json {", '{"id": 1', "[DONE]"]
    stream = _same(datas)
    result = stream.result()
    assert result is not None
    assert result.completion_text == "".join(["", *TEXTS, "other id", "tail", "after the tool", "more"])
    assert result.usage.input_total == 9
    assert result.extra["complete"] is True


def test_a_text_that_only_looks_like_the_template_is_decoded() -> None:
    base = _raw([_chunk({"content": "a"})])[0]
    prefix = base[: base.index('"a"')]
    suffix = base[base.index('"a"') + 3 :]
    tricky = [
        base,
        f'{prefix}"b" {suffix}',
        f'{prefix}"c","x":1{suffix}',
        f'{prefix}"d\\"{suffix}',
        f"{prefix}7{suffix}",
    ]
    stream = _same(tricky)
    assert stream.result() is not None


def test_chunks_that_vary_beyond_their_text_stop_the_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    # OpenAI adds a random "obfuscation" string to every chunk: no template can match, so after a
    # few tries each chunk is decoded as a whole, with no template made for it
    from tokenomy.usage import openai_chat

    made = []
    original = openai_chat._text_template

    def counted(data: str, event: Any) -> tuple[str, str] | None:
        made.append(data)
        return original(data, event)

    monkeypatch.setattr(openai_chat, "_text_template", counted)
    events = [
        {**_chunk({"content": f"w{n} "}), "obfuscation": f"{n:03d}"} for n in range(40)
    ]  # as OpenAI: last
    stream = _same(_raw([*events, _chunk(None, usage=USAGE)]))
    result = stream.result()
    assert result is not None
    assert result.completion_text == "".join(f"w{n} " for n in range(40))
    assert len(made) == openai_chat._GIVE_UP  # then no more attempts for the other 36 chunks


def test_recorded_streams_read_the_same_from_their_text() -> None:
    real_data_path("provider-responses")
    streams = [r.events for r in all_recordings() if r.streamed and r.events and "choices" in r.events[0]]
    assert len(streams) >= 3
    for events in streams:
        _same(_raw(list(events)))


def test_feed_delta_equals_feeding_the_plain_chunk() -> None:
    plain = [
        ((HEAD["id"], HEAD["model"], HEAD["created"], "default"), 0, "Hi", None),
        ((HEAD["id"], None, HEAD["created"], None), 0, None, None),
        (("chatcmpl-2", HEAD["model"], 5, "flex"), 1, " there", "length"),
    ]
    fast, slow = ChatStream(chat_extract), ChatStream(chat_extract)
    fast.feed(EVENTS[0])
    slow.feed(EVENTS[0])
    for (ident, model, created, tier), index, content, finish in plain:
        fast.feed_delta((ident, model, created, tier), index, content, finish)
        head = {"id": ident, "object": "chat.completion.chunk", "model": model, "created": created}
        choice = {"index": index, "delta": {"content": content}, "finish_reason": finish}
        slow.feed({**head, "service_tier": tier, "choices": [choice]})
    fast.feed(EVENTS[-1])
    slow.feed(EVENTS[-1])
    assert fast.result() == slow.result()
    assert fast.events == slow.events == 5
