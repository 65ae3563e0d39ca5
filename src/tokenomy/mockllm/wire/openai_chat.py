"""OpenAI Chat Completions: ``POST /v1/chat/completions``, plain and streamed.

Input is counted per message as OpenAI documents for its chat format: 3 tokens of framing, the
tokens of each of its fields counted on its own (role, content, name, tool_call_id; a tool call's
name and arguments go with the content), 1 more for a name, and 3 that prime the assistant's reply;
the tool definitions come first, as one segment. Usage follows OpenAI's convention: ``prompt_tokens`` includes
``prompt_tokens_details.cached_tokens`` and ``completion_tokens`` includes
``completion_tokens_details.reasoning_tokens``; the ``audio_tokens`` of each are 0 unless a request
forces them (``X-Mock-Audio-Input-Tokens``, ``X-Mock-Audio-Output-Tokens``). A stream sends
``data:`` chunks and ``data: [DONE]``; with ``stream_options.include_usage`` the last chunk has
``choices: []`` and the usage.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from tokenomy.mockllm import generate
from tokenomy.mockllm.plan import Plan
from tokenomy.mockllm.prompt import (
    InvalidRequestError,
    Prompt,
    Segment,
    Tool,
    optional_int,
    require_model,
    text_of,
)
from tokenomy.mockllm.wire.base import ErrorShape, Frame, dumps, tool_pieces
from tokenomy.mockllm.wire.errors import OPENAI

MESSAGE_TOKENS: Final = 3
NAME_TOKENS: Final = 1
REPLY_PRIMING: Final = 3
_FIELDS: Final = ("role", "name", "tool_call_id")
"""The fields of a message counted besides its content (each by itself)."""
DONE: Final = b"data: [DONE]\n\n"

# The common answer (text, no tool call) is rendered from these pre-serialised templates:
# json.dumps of the equivalent dict costs several times more, and tests pin them to it.
USAGE_JSON: Final = (
    '{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,'
    '"prompt_tokens_details":{"cached_tokens":%d,"audio_tokens":%d},'
    '"completion_tokens_details":{"reasoning_tokens":%d,"audio_tokens":%d,'
    '"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}'
)
_ROLE: Final = (
    b'[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},'
    b'"logprobs":null,"finish_reason":null}]}\n\n'
)
_ARGUMENTS: Final = (
    b'[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":%s}}]},'
    b'"logprobs":null,"finish_reason":null}]}\n\n'
)
_CONTENT: Final = b'[{"index":0,"delta":{"content":"%s"},"logprobs":null,"finish_reason":null}]}\n\n'
"""A content delta; generated text is plain ASCII words, so it needs no JSON escaping."""
_FINISH: Final = b'[{"index":0,"delta":{},"logprobs":null,"finish_reason":"%s"}]}\n\n'
_TEXT_BODY: Final = (
    '{"id":"%s","object":"chat.completion","created":%d,"model":%s,"choices":[{"index":0,'
    '"message":{"role":"assistant","content":%s,"refusal":null,"annotations":[]},'
    '"logprobs":null,"finish_reason":"%s"}],"usage":%s,"service_tier":"default","system_fingerprint":"fp_mock"}'
)


def usage_json(plan: Plan) -> str:
    """OpenAI chat usage, serialised: inclusive prompt and completion totals with their details."""
    out = plan.total_output
    return USAGE_JSON % (
        plan.input_tokens,
        out,
        plan.input_tokens + out,
        plan.cache_read,
        plan.audio_input,
        plan.reasoning_tokens,
        plan.audio_output,
    )


def usage(plan: Plan) -> dict[str, Any]:
    """OpenAI chat usage as a dict (see :func:`usage_json`)."""
    parsed: dict[str, Any] = json.loads(usage_json(plan))
    return parsed


def reasoning_flag(effort: Any) -> bool | None:
    """``reasoning_effort`` read as: asked for (True), turned off (``"none"``: False), unsaid (None)."""
    if effort is None:
        return None
    return bool(effort != "none")


def tools_segment(tools: Any) -> tuple[Segment, ...]:
    """The tool definitions as the first prompt segment (none when there are no tools)."""
    if not tools:
        return ()
    text = json.dumps(tools, sort_keys=True, separators=(",", ":"))
    return (Segment("tools\x00" + text, text),)


class ChatCompletions:
    """``/v1/chat/completions``."""

    name = "/v1/chat/completions"
    errors: ErrorShape = OPENAI
    id_header = "x-request-id"

    def parse(self, body: Mapping[str, Any]) -> Prompt:
        """Read a chat completion request."""
        model = require_model(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequestError("'messages' must be a non-empty array of messages", "messages")
        segments = [*tools_segment(body.get("tools")), *(_message(m, i) for i, m in enumerate(messages))]
        segments.append(Segment("reply\x00", "", REPLY_PRIMING))
        stream = body.get("stream") is True
        options = body.get("stream_options")
        return Prompt(
            model=model,
            segments=tuple(segments),
            max_output=optional_int(body, "max_completion_tokens", "max_tokens"),
            stream=stream,
            include_usage=stream and isinstance(options, Mapping) and options.get("include_usage") is True,
            tools=_tools(body.get("tools")),
            tool_choice=_choice(body.get("tool_choice")),
            reasoning=reasoning_flag(body.get("reasoning_effort")),
            body=body,
        )

    def body(self, plan: Plan, prompt: Prompt) -> bytes:
        """The ``chat.completion`` object."""
        if plan.tool_call is None:
            text = json.dumps(generate.text(plan.output_tokens))
            values = (_id(plan), plan.created, json.dumps(plan.model), text, _finish(plan), usage_json(plan))
            return (_TEXT_BODY % values).encode()
        call = plan.tool_call
        function = {"name": call.name, "arguments": call.arguments}
        message = {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "annotations": [],
            "tool_calls": [{"id": call.call_id, "type": "function", "function": function}],
        }
        return dumps(
            {
                "id": _id(plan),
                "object": "chat.completion",
                "created": plan.created,
                "model": plan.model,
                "choices": [
                    {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(plan)}
                ],
                "usage": usage(plan),
                "service_tier": "default",
                "system_fingerprint": "fp_mock",
            }
        )

    def frames(self, plan: Plan, prompt: Prompt) -> list[Frame]:
        """``chat.completion.chunk`` events, the optional usage chunk, then ``[DONE]``."""
        # Every chunk shares its head; only "choices" differs, so each frame is head + tail.
        head = b"data: " + dumps(_chunk_head(plan))[:-1] + b',"choices":'
        frames = [Frame(head + _ROLE)]
        call = plan.tool_call
        if call is not None:
            opening, pieces = tool_pieces(call.tokens, call.arguments)
            function = {"name": call.name, "arguments": ""}
            start = {
                "tool_calls": [{"index": 0, "id": call.call_id, "type": "function", "function": function}]
            }
            frames.append(Frame(head + dumps(_choices(start)) + b"}\n\n", output=opening))
            frames.extend(Frame(head + _ARGUMENTS % json.dumps(p).encode(), output=1) for p in pieces)
        else:
            for text, tokens in generate.chunks(plan.output_tokens, plan.chunk_tokens):
                frames.append(Frame(head + _CONTENT % text.encode(), output=tokens))
        frames.append(Frame(head + _FINISH % _finish(plan).encode()))
        add_reasoning(frames, plan.reasoning_tokens)
        if prompt.include_usage:
            frames.append(Frame(head + b'[],"usage":' + usage_json(plan).encode() + b"}\n\n"))
        frames.append(Frame(DONE))
        return frames

    def stream_error(self, plan: Plan) -> bytes:
        """An ``error`` object as a data event: the SDK raises APIError on it."""
        message = "The server had an error while processing your request. (mock upstream: stream_error)"
        return b"data: " + OPENAI.body(500, message, param=None, request_id=plan.request_id) + b"\n\n"


def add_reasoning(frames: list[Frame], reasoning: int) -> None:
    """Put hidden reasoning tokens on the first frame that carries output (or the last one)."""
    if not reasoning:
        return
    index = next((i for i, f in enumerate(frames) if f.output), len(frames) - 1)
    old = frames[index]
    frames[index] = Frame(old.data, old.output, old.reasoning + reasoning)


def _id(plan: Plan) -> str:
    return f"chatcmpl-mock{plan.seq:020x}"


def _finish(plan: Plan) -> str:
    if plan.tool_call is not None:
        return "tool_calls"
    return "length" if plan.capped else "stop"


def _chunk_head(plan: Plan) -> dict[str, Any]:
    return {
        "id": _id(plan),
        "object": "chat.completion.chunk",
        "created": plan.created,
        "model": plan.model,
        "service_tier": "default",
        "system_fingerprint": "fp_mock",
    }


def _choices(delta: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]


def _message(message: Any, index: int) -> Segment:
    if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
        raise InvalidRequestError(f"messages[{index}] must be an object with a 'role'", f"messages[{index}]")
    text = text_of(message.get("content"))
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping):
                text += f"\n{function.get('name', '')}{function.get('arguments', '')}"
    role, name = message["role"], message.get("name")
    fields = tuple(value for key in _FIELDS if isinstance(value := message.get(key), str))
    extra = MESSAGE_TOKENS + (NAME_TOKENS if isinstance(name, str) else 0)
    return Segment(f"{role}\x00{name or ''}\x00{text}", text, extra, fields)


def _tools(tools: Any) -> tuple[Tool, ...]:
    if not isinstance(tools, list):
        return ()
    found = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            params = function.get("parameters")
            found.append(Tool(function["name"], params if isinstance(params, Mapping) else {}))
    return tuple(found)


def _choice(choice: Any) -> str:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, Mapping):
        function = choice.get("function")
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            return str(function["name"])
    return "auto"
