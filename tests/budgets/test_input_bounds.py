"""What a request carries besides its messages' text is reserved too, and no max-tokens field escapes.

Before: an Anthropic ``tool_result``'s content, a ``tool_use``'s input, a Responses
``function_call_output``, legacy ``functions`` and a ``response_format`` schema were not counted, so
one request reserved a few tokens and was billed thousands (20,066 tokens served against a
5,000-token hard budget through the gateway); and with both ``max_completion_tokens`` and
``max_tokens`` given, only the first was reserved and rewritten.
"""

from __future__ import annotations

import base64
import hashlib
import random
from typing import Any

from tokenomy.budgets.admission import Held, Reservation
from tokenomy.budgets.policy import Unit
from tokenomy.budgets.sdk import API_FIELDS, changes, input_tokens, requested
from tokenomy.tokens import count

WORDS = " ".join(f"alpha{i} beta{i}" for i in range(500))
MODEL = "gpt-4o-mini"


def _words() -> int:
    return count(WORDS, MODEL).tokens


def test_an_anthropic_tool_result_and_tool_use_input_are_counted() -> None:
    messages: Any = [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"q": WORDS}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": WORDS}]},
    ]
    assert input_tokens({"messages": messages}, [], MODEL) >= 2 * _words()


def test_a_tool_result_made_of_blocks_is_counted_and_its_images_are_not_read_as_text() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 50_000}}
    blocks = [{"type": "text", "text": WORDS}, image]
    messages: Any = [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": blocks}]}
    ]
    counted = input_tokens({"messages": messages}, [], MODEL)
    assert _words() <= counted < _words() + 50


def test_responses_function_calls_and_their_outputs_are_counted() -> None:
    items: Any = [
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": WORDS},
        {"type": "function_call_output", "call_id": "c1", "output": WORDS},
    ]
    assert input_tokens({"input": items}, [], MODEL) >= 2 * _words()


def test_legacy_functions_and_a_response_schema_are_counted() -> None:
    function = {"name": "f", "description": WORDS, "parameters": {"type": "object", "properties": {}}}
    plain = input_tokens({"messages": [{"role": "user", "content": "hi"}]}, [], MODEL)
    with_functions = input_tokens(
        {"messages": [{"role": "user", "content": "hi"}], "functions": [function]}, [], MODEL
    )
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"description": WORDS}}}
    with_schema = input_tokens(
        {"messages": [{"role": "user", "content": "hi"}], "response_format": schema}, [], MODEL
    )
    assert with_functions - plain >= _words()
    assert with_schema - plain >= _words()


def test_plain_text_messages_count_as_before() -> None:
    messages: Any = [{"role": "user", "content": [{"type": "text", "text": WORDS}]}]
    assert input_tokens({"messages": messages}, [], MODEL) == input_tokens(
        {"messages": [{"role": "user", "content": WORDS}]}, [], MODEL
    )


def test_both_chat_output_fields_are_bounded_and_none_is_raised() -> None:
    fields = API_FIELDS["chat"]
    body = {"model": MODEL, "max_completion_tokens": 10, "max_tokens": 4_000}
    assert requested(body, fields) == (4_000, None)  # the larger bounds the reservation
    held = (Held("p:*:d", "p", Unit.TOKENS, 908),)
    granted = Reservation("r", MODEL, "openai", 900, 4_000, None, 8, held=held)
    assert changes(body, fields, granted) == {"max_completion_tokens": 10, "max_tokens": 900}
    one = {"model": MODEL, "max_tokens": 4_000}
    assert changes(one, fields, granted) == {"max_tokens": 900}
    none: dict[str, Any] = {"model": MODEL}
    assert changes(none, fields, granted) == {"max_tokens": 900}


def test_audio_and_opaque_reasoning_are_not_read_as_text() -> None:
    """Media are billed by size, and reasoning carried back (``encrypted_content``, a thinking block's
    ``signature``) is opaque: none of it is text the model reads. A 1 MB base64 audio clip counted as
    about 680,000 tokens of input, refusing a cheap request under a hard budget."""
    clip = "UklGR" + "A" * 1_000_000
    plain = input_tokens({"messages": [{"role": "user", "content": "transcribe"}]}, [], MODEL)
    audio: Any = [
        {"type": "text", "text": "transcribe"},
        {"type": "input_audio", "input_audio": {"data": clip, "format": "wav"}},
    ]
    assert input_tokens({"messages": [{"role": "user", "content": audio}]}, [], MODEL) < plain + 20
    reasoning: Any = [
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": clip[:20_000]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
    ]
    assert input_tokens({"input": reasoning}, [], MODEL) < 40
    thinking: Any = [{"type": "thinking", "thinking": "", "signature": "Eq" + "x" * 5_000}]
    assert input_tokens({"messages": [{"role": "assistant", "content": thinking}]}, [], MODEL) < 20
    encoded = base64.b64encode(random.Random(1).randbytes(300_000)).decode()  # a clip's bytes, encoded
    inline: Any = [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "blob", "b64": encoded}]}]
    assert input_tokens({"messages": [{"role": "user", "content": inline}]}, [], MODEL) < 40


def test_long_runs_of_text_that_only_look_like_base64_are_counted() -> None:
    """Hex digests, snake_case runs and sequences are text billed by the token: read as base64 and
    skipped, a tool result of 96 KB of digests reserved 29 tokens and was billed 40,639."""
    digests = "".join(hashlib.sha256(str(n).encode()).hexdigest() for n in range(3_000))
    snake = "_".join(["retry", "budget", "window", "ledger"] * 2_000)
    for text in (digests, snake, "ACGT" * 10_000):
        result: Any = [
            {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "blob", "b64": text}]}
        ]
        counted = input_tokens({"messages": [{"role": "user", "content": result}]}, [], MODEL)
        assert counted > len(text) // 8, text[:20]


def test_a_plain_text_document_and_a_responses_schema_are_counted() -> None:
    """An Anthropic document whose source is plain text is read by the model (its ``source`` was
    skipped as media: 9 tokens for 20,000 words); a Responses ``text.format`` JSON schema is read as
    chat's ``response_format`` is."""
    document: Any = [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": WORDS}}
    ]
    assert input_tokens({"messages": [{"role": "user", "content": document}]}, [], MODEL) >= _words()
    schema = {"type": "object", "properties": {"a": {"type": "string", "description": WORDS}}}
    fmt = {"type": "json_schema", "name": "x", "schema": schema}
    assert input_tokens({"input": "hi", "text": {"format": fmt}}, [], MODEL) >= _words()
    assert input_tokens({"input": "hi", "text": {"format": {"type": "text"}}}, [], MODEL) < 20


def test_a_limit_the_body_did_not_set_goes_in_the_field_the_model_accepts() -> None:
    """OpenAI's reasoning models refuse chat's ``max_tokens``: a limit the guard adds to a body that
    set none goes in ``max_completion_tokens`` for them, in ``max_tokens`` for the others (which
    every OpenAI-compatible server reads)."""
    fields = API_FIELDS["chat"]
    held = (Held("p:*:d", "p", Unit.TOKENS, 908),)
    for model, field in [
        ("o3-mini", "max_completion_tokens"),
        ("gpt-5-mini", "max_completion_tokens"),
        ("o4-mini", "max_completion_tokens"),
        ("gpt-4o", "max_tokens"),
        ("deepseek-chat", "max_tokens"),
    ]:
        granted = Reservation("r", model, "openai", 900, 4_000, None, 8, held=held)
        assert changes({"model": model}, fields, granted) == {field: 900}, model
