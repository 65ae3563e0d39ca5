"""A legacy completion's stream cut short: its prompt is counted as its text alone, as the capture
path counts it (capture/estimate.text_prompt_tokens), not as a chat message with its framing."""

from __future__ import annotations

import json
from collections.abc import Mapping

from tokenomy import tokens
from tokenomy.gateway.formats import SURFACES
from tokenomy.gateway.metering import Exchange, build_call
from tokenomy.importers.shape import shape_of
from tokenomy.schema import Attribution, Kind

MODEL = "gpt-3.5-turbo-instruct"
PROMPT = "Write a haiku about budgets that hold under concurrency."


def _cut_stream(path: str, request: Mapping[str, object], chunk: Mapping[str, object]) -> Exchange:
    exchange = Exchange(SURFACES[path], "openai", request, Attribution(), None, 1_795_405_243_123_456_789)
    exchange.streamed, exchange.status, exchange.latency_ns = True, 200, 2_000_000
    exchange.chunks = [f"data: {json.dumps(chunk)}\n\n".encode()]  # no usage, no [DONE]: cut short
    exchange.end = "cancelled"
    return exchange


def test_a_cut_legacy_completion_counts_its_prompt_text_alone() -> None:
    request = {"model": MODEL, "prompt": PROMPT, "stream": True}
    chunk = {
        "id": "cmpl-1",
        "object": "text_completion",
        "model": MODEL,
        "choices": [{"index": 0, "text": "Ledger"}],
    }
    call = build_call(_cut_stream("/v1/completions", request, chunk), None)
    alone = tokens.count(PROMPT, MODEL).tokens
    framed = shape_of([{"role": "user", "content": PROMPT}], None, MODEL).input_tokens
    assert framed is not None
    assert framed > alone  # the chat count would have billed framing tokens
    assert call.usage.kind is Kind.ESTIMATED
    assert call.usage.input_total == alone
    assert call.usage.output_total == tokens.count("Ledger", MODEL).tokens


def test_a_cut_chat_stream_still_counts_its_messages_with_their_framing() -> None:
    messages = [{"role": "user", "content": PROMPT}]
    request = {"model": "gpt-4o", "messages": messages, "stream": True}
    chunk = {
        "id": "c-1",
        "object": "chat.completion.chunk",
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": {"content": "Ledger"}}],
    }
    call = build_call(_cut_stream("/v1/chat/completions", request, chunk), None)
    assert call.usage.input_total == shape_of(messages, None, "gpt-4o").input_tokens
