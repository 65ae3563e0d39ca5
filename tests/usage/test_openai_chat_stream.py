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


def _fed_raws(datas: list[str]) -> ChatStream:
    stream = ChatStream(chat_extract)
    assert stream.feed_raws(datas) == len(datas)
    return stream


def _same(datas: list[str]) -> ChatStream:
    fast, whole, slow = _fed_raw(datas), _fed_raws(datas), _decoded(datas)
    assert fast.result() == slow.result()
    assert whole.result() == slow.result()
    assert (fast.events, fast.odd_events) == (slow.events, slow.odd_events)
    assert (whole.events, whole.odd_events) == (slow.events, slow.odd_events)
    return fast


def _decodes(datas: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """How many of ``datas`` :meth:`ChatStream.feed_raw` decoded whole (the others: by the template)."""
    from tokenomy.usage import openai_chat

    count = [0]
    original = openai_chat.ChatStream._decode

    def counted(self: ChatStream, data: str) -> None:
        count[0] += 1
        original(self, data)

    monkeypatch.setattr(openai_chat.ChatStream, "_decode", counted)
    _fed_raw(datas)
    monkeypatch.undo()
    return count[0]


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


def _obfuscated(text: str, noise: str, **top: Any) -> dict[str, Any]:
    """A text chunk as OpenAI sends it: ``usage`` null and a random ``obfuscation`` string last."""
    return {**_chunk({"content": text}, **top), "usage": None, "obfuscation": noise}


def test_obfuscated_chunks_are_read_by_their_text(monkeypatch: pytest.MonkeyPatch) -> None:
    # OpenAI adds a random "obfuscation" string (of random length) to every chunk: the template
    # takes any string there, so only the first text chunk and the last two are decoded whole
    noises = ["", "a", "Zq9", 'e\\"scaped', "ünï", "x" * 40]
    events = [
        {**_chunk({"role": "assistant", "content": ""}), "usage": None, "obfuscation": "r0"},
        *[_obfuscated(f"w{n} ", noises[n % len(noises)]) for n in range(40)],
        {**_chunk({}, finish="stop"), "usage": None, "obfuscation": "f"},
        {**_chunk(None, usage=USAGE), "obfuscation": "u"},
    ]
    datas = [*_raw(events), "[DONE]"]
    stream = _same(datas)
    result = stream.result()
    assert result is not None
    assert result.completion_text == "".join(f"w{n} " for n in range(40))
    assert result.usage.input_total == 9
    assert _decodes(datas, monkeypatch) == 5  # role, first text, finish, usage, [DONE]


def test_obfuscation_read_only_where_the_chunk_has_it_as_a_string() -> None:
    base = _obfuscated("a", "n1")
    text = _raw([base])[0]
    cut = text.index('"obfuscation":') + len('"obfuscation":')
    tricky = [
        text,
        text[:cut] + '"n\\"2"' + text[cut + 4 :],  # an escaped quote in the noise: still a string
        text[:cut] + "12" + text[cut + 4 :],  # not a string there: decoded whole
        text[:cut] + '"n3","x":1' + text[cut + 4 :],  # more than a string: decoded whole
        text[:cut] + '"n4' + text[cut + 4 :],  # broken JSON: skipped
        text[:cut]
        + '"n7","usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}'
        + text[cut + 4 :],
        _raw([{**base, "obfuscation": "n5", "extra": 1}])[0],
        _raw([{**_chunk({"content": "b"}), "obfuscation": 7}])[0],
        _raw([{**_chunk({"content": "c"}), "obfuscation": "q", "more": "z"}])[0],
        _raw([{**_chunk({"content": "d"}), "obfuscation": "q", "more": "z"}])[0],
        _raw([{**_chunk({"content": "e"}), "obfuscation": "q", "nested": {"obfuscation": "w"}}])[0],
        _raw([{**_chunk({"content": "f"}), "obfuscation": "q", "nested": {"obfuscation": "w"}}])[0],
        _raw([_obfuscated("g", "n6")])[0],
    ]
    stream = _same(tricky)
    result = stream.result()
    assert result is not None
    assert result.completion_text == "aaaaaabcdefg"  # the broken one skipped: json.loads fails on it
    assert result.usage.input_total == 5  # the usage written after the obfuscation string was read


def test_chunks_that_vary_beyond_their_text_stop_the_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    # a field that changes from chunk to chunk (other than the text and the obfuscation string): no
    # template can match, so after a few tries each chunk is decoded as a whole, with no template made
    from tokenomy.usage import openai_chat

    made = []
    original = openai_chat._text_template

    def counted(data: str, event: Any) -> Any:
        made.append(data)
        return original(data, event)

    monkeypatch.setattr(openai_chat, "_text_template", counted)
    events = [{**_chunk({"content": f"w{n} "}), "seq": n} for n in range(40)]
    stream = _same(_raw([*events, _chunk(None, usage=USAGE)]))
    result = stream.result()
    assert result is not None
    assert result.completion_text == "".join(f"w{n} " for n in range(40))
    # then no more attempts for the other 36 chunks (in each of the two raw readers _same runs)
    assert len(made) == 2 * openai_chat._GIVE_UP


def test_a_template_hit_after_another_chunk_sets_what_that_chunk_changed() -> None:
    # between two chunks the template reads, a chunk it does not read (a tool call, a refusal) may
    # carry another model, id or finish reason: feeding the next text chunk sets them back, as
    # decoding it would
    tool = {"tool_calls": [{"index": 0, "id": "t", "function": {"name": "f", "arguments": "{}"}}]}
    streams = [
        [_chunk({"content": "a"}), _chunk(tool, model="gpt-4o-other"), _chunk({"content": "b"})],
        [
            _chunk({"content": "a"}, "stop"),
            _chunk({"refusal": "x"}, "length"),
            _chunk({"content": "b"}, "stop"),
        ],
        [
            _chunk({"content": "a"}),
            _chunk({"refusal": "x"}, service_tier="flex", id="c2"),
            _chunk({"content": "b"}),
        ],
        [
            _chunk({"content": "a"}, service_tier="default"),
            _chunk(tool, service_tier="flex"),
            _chunk({"content": "b"}, service_tier="default"),
        ],
    ]
    for events in streams:
        stream = _same(_raw([*events, _chunk(None, usage=USAGE)]))
        result = stream.result()
        assert result is not None
        assert result.completion_text == "ab"
    first, second, third = (_same(_raw(events)).result() for events in streams[:3])
    assert first is not None
    assert second is not None
    assert third is not None
    assert (first.response_model, second.finish_reason) == ("gpt-4o", "stop")
    assert (third.response_id, third.service_tier) == ("chatcmpl-9", "flex")


def test_feed_raws_passes_over_what_skip_says_and_stops_at_an_object() -> None:
    datas: list[Any] = _raw(EVENTS[:6])
    marked = [*datas[:3], None, '{"error":{"message":"x"}}', *datas[3:], {"not": "text"}, datas[0]]
    stream = ChatStream(chat_extract)
    at = stream.feed_raws(marked, 0, lambda data: '"error"' in data)
    assert at == len(marked) - 2
    plain = _fed_raw(datas)
    assert stream.result() == plain.result()
    assert stream.events == plain.events == 6
    resumed = ChatStream(chat_extract)
    assert resumed.feed_raws(datas, 2) == len(datas)
    assert resumed.result() == _fed_raw(datas[2:]).result()


def test_recorded_streams_read_the_same_from_their_text(monkeypatch: pytest.MonkeyPatch) -> None:
    real_data_path("provider-responses")
    streams = [r.events for r in all_recordings() if r.streamed and r.events and "choices" in r.events[0]]
    assert len(streams) >= 3
    obfuscated = 0
    for events in streams:
        for separators in ((",", ":"), None):
            _same(_raw(list(events), separators))
        texts = [
            e for e in events if [set(c.get("delta", {})) for c in e.get("choices", [])] == [{"content"}]
        ]
        if len(texts) >= 3 and all("obfuscation" in e for e in texts):  # OpenAI's streams since 2025
            datas = _raw(list(events))
            assert _decodes(datas, monkeypatch) <= len(datas) - len(texts) + 1  # the template read them
            obfuscated += 1
    assert obfuscated >= 1


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


def test_the_stream_facts_are_added_to_the_same_extracted() -> None:
    import dataclasses

    stream = _fed_raw(_raw(EVENTS))
    found = chat_extract({**HEAD, "object": "chat.completion", "choices": [], "usage": USAGE})
    for complete in (True, False):
        facts = {"streamed": True, "complete": complete, "events": len(EVENTS), "odd_events": 0}
        assert stream.finish(found, complete=complete) == dataclasses.replace(
            found, extra={**found.extra, **facts}
        )
    finished = stream.finish(found, complete=False)
    assert finished.extra == {"streamed": True, "complete": False, "events": len(EVENTS), "odd_events": 0}


def test_an_obfuscation_string_before_the_text_must_stay_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    first = [{"obfuscation": "same", **_chunk({"content": f"t{n}"})} for n in range(6)]
    varied = [{"obfuscation": f"v{n}", **_chunk({"content": f"u{n}"})} for n in range(6)]
    datas = _raw([*first, *varied, _chunk(None, usage=USAGE)])
    result = _same(datas).result()
    assert result is not None
    assert result.completion_text == "t0t1t2t3t4t5u0u1u2u3u4u5"
    # the first run is read by one template; a varied one is never read by the previous chunk's
    assert _decodes(datas, monkeypatch) == 1 + 6 + 1


def _fed(events: list[dict[str, Any]]) -> ChatStream:
    stream = ChatStream(chat_extract)
    for event in events:
        stream.feed(event)
    return stream


def test_a_running_usage_on_every_chunk_is_not_the_final_count() -> None:
    # vLLM's continuous_usage_stats: every chunk carries the usage so far.
    running = [
        _chunk({"content": "Hel"}, usage={"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}),
        _chunk({"content": "lo"}, usage={"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}),
    ]
    cut = _fed(running).result()
    assert cut is not None
    assert (cut.usage.output_total, cut.extra["complete"]) == (2, False)
    last = _chunk({}, "stop", usage={"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11})
    whole = _fed([*running, last]).result()
    assert whole is not None
    assert (whole.usage.output_total, whole.extra["complete"]) == (2, True)


def test_include_usage_stream_is_complete_and_without_the_usage_chunk_is_not() -> None:
    events = [_chunk({"content": "Hi"}), _chunk({}, "stop"), _chunk(None, usage=USAGE)]
    whole = _fed(events).result()
    assert whole is not None
    assert (whole.usage.output_total, whole.extra["complete"]) == (7, True)
    no_usage = _fed(events[:2]).result()
    assert no_usage is not None
    assert (no_usage.usage.output_total, no_usage.usage.input_total, no_usage.extra["complete"]) == (
        None,
        None,
        False,
    )
