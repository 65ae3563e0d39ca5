"""Anthropic Messages: ``POST /v1/messages``, plain and streamed, and ``GET /v1/models``.

The prompt is read in Anthropic's cache order: tools, then system, then messages, one segment
per content block (a message's first block also carries 3 framing tokens). ``cache_control``
on a block, or at the top level (which marks the last block), sets a breakpoint with TTL
``5m`` (default) or ``1h``; at most 4 are allowed. Usage follows Anthropic's convention:
``input_tokens`` excludes ``cache_read_input_tokens`` and ``cache_creation_input_tokens`` (split
by TTL in ``cache_creation``), and ``output_tokens`` includes thinking. ``thinking`` of type
``enabled`` (with ``budget_tokens``) or ``adaptive`` adds a thinking block. A stream sends
``message_start`` (input usage, cache fields), ``content_block_start``/``delta``/``stop`` per
block, a ``ping``, ``message_delta`` with cumulative usage and ``message_stop``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

from tokenomy.mockllm import generate
from tokenomy.mockllm.plan import Plan
from tokenomy.mockllm.prompt import (
    Breakpoint,
    InvalidRequestError,
    Prompt,
    Segment,
    Tool,
    part_text,
    require_model,
)
from tokenomy.mockllm.wire.base import DELTA, DeltaTemplate, ErrorShape, Frame, dumps, sse, tool_pieces
from tokenomy.mockllm.wire.errors import ANTHROPIC

MESSAGE_TOKENS: Final = 3
MAX_BREAKPOINTS: Final = 4
TTLS: Final = {"5m": 300.0, "1h": 3600.0}
MIN_THINKING_BUDGET: Final = 1024


class Messages:
    """``/v1/messages``."""

    name = "/v1/messages"
    errors: ErrorShape = ANTHROPIC
    id_header = "request-id"

    def parse(self, body: Mapping[str, Any]) -> Prompt:
        """Read a Messages request."""
        model = require_model(body)
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise InvalidRequestError("max_tokens: Field required (an integer >= 1)", "max_tokens")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequestError("messages: at least one message is required", "messages")
        segments: list[Segment] = []
        marks: list[Breakpoint] = []
        for segment, control in _blocks(body, messages):
            if isinstance(control, Mapping):
                marks.append(Breakpoint(len(segments), _ttl(control)))
            segments.append(segment)
        if isinstance(body.get("cache_control"), Mapping):
            marks.append(Breakpoint(len(segments) - 1, _ttl(body["cache_control"])))
        if len(marks) > MAX_BREAKPOINTS:
            raise InvalidRequestError(
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
                f"Found {len(marks)}."
            )
        thinking, budget = _thinking(body.get("thinking"), max_tokens)
        return Prompt(
            model=model,
            segments=tuple(segments),
            cache="breakpoints",
            breakpoints=tuple(marks),
            max_output=max_tokens,
            stream=body.get("stream") is True,
            tools=_tools(body.get("tools")),
            tool_choice=_choice(body.get("tool_choice")),
            reasoning=thinking,
            thinking_budget=budget,
            body=body,
        )

    def body(self, plan: Plan, prompt: Prompt) -> bytes:
        """The ``message`` object."""
        content: list[dict[str, Any]] = []
        if plan.reasoning_tokens:
            content.append(
                {
                    "type": "thinking",
                    "thinking": generate.text(plan.reasoning_tokens),
                    "signature": _sig(plan),
                }
            )
        call = plan.tool_call
        if call is not None:
            content.append(
                {
                    "type": "tool_use",
                    "id": call.call_id,
                    "name": call.name,
                    "input": json.loads(call.arguments),
                    "caller": {"type": "direct"},
                }
            )
        else:
            content.append({"type": "text", "text": generate.text(plan.output_tokens)})
        return dumps(
            {**_message(plan, content), "stop_reason": _stop(plan), "usage": _usage(plan, plan.total_output)}
        )

    def frames(self, plan: Plan, prompt: Prompt) -> list[Frame]:
        """The Messages event stream."""
        start = {**_message(plan, []), "stop_reason": None, "usage": _usage(plan, 1)}
        frames = [Frame(sse({"type": "message_start", "message": start}, "message_start"))]
        index = 0
        if plan.reasoning_tokens:
            frames.extend(_thinking_frames(plan, index))
            index += 1
        frames.extend(_tool_frames(plan, index) if plan.tool_call is not None else _text_frames(plan, index))
        if len(frames) > 1:
            frames.insert(2, Frame(_PING))
        usage = _usage(plan, plan.total_output)
        for only_at_start in ("cache_creation", "service_tier", "inference_geo"):
            usage.pop(only_at_start)
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": _stop(plan), "stop_sequence": None},
            "usage": usage,
        }
        frames.append(Frame(sse(delta, "message_delta")))
        frames.append(Frame(_MESSAGE_STOP))
        return frames

    def stream_error(self, plan: Plan) -> bytes:
        """An ``error`` event: the SDK raises the status error it names."""
        error = {"type": "overloaded_error", "message": "Overloaded (mock upstream: stream_error)"}
        return sse({"type": "error", "error": error, "request_id": plan.request_id}, "error")


def models_list(models: tuple[str, ...], created: str) -> bytes:
    """``GET /v1/models`` as Anthropic answers it (claude models only)."""
    data = [_model(m, created) for m in models if m.startswith("claude")]
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    return dumps({"data": data, "has_more": False, "first_id": first, "last_id": last})


def model_info(model: str, created: str) -> bytes:
    """``GET /v1/models/{id}`` as Anthropic answers it."""
    return dumps(_model(model, created))


def _model(model: str, created: str) -> dict[str, Any]:
    return {"type": "model", "id": model, "display_name": model, "created_at": created}


def _message(plan: Plan, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": f"msg_mock{plan.seq:020x}",
        "type": "message",
        "role": "assistant",
        "model": plan.model,
        "content": content,
        "stop_sequence": None,
    }


def _usage(plan: Plan, output: int) -> dict[str, Any]:
    return {
        "input_tokens": plan.uncached_input,
        "cache_creation_input_tokens": plan.cache_write_5m + plan.cache_write_1h,
        "cache_read_input_tokens": plan.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": plan.cache_write_5m,
            "ephemeral_1h_input_tokens": plan.cache_write_1h,
        },
        "output_tokens": output,
        "service_tier": "standard",
        "inference_geo": "not_available",
    }


def _stop(plan: Plan) -> str:
    if plan.tool_call is not None:
        return "tool_use"
    return "max_tokens" if plan.capped else "end_turn"


def _sig(plan: Plan) -> str:
    return f"mock-signature-{plan.seq:020x}"


# Events that do not depend on the request are serialised once (a pure, bounded memo).
_PING: Final = sse({"type": "ping"}, "ping")
_MESSAGE_STOP: Final = sse({"type": "message_stop"}, "message_stop")
_EMPTY_BLOCKS: Final[dict[str, dict[str, Any]]] = {
    "text": {"type": "text", "text": ""},
    "thinking": {"type": "thinking", "thinking": "", "signature": ""},
}


@functools.lru_cache(maxsize=64)
def _start_event(index: int, kind: str) -> bytes:
    start = {"type": "content_block_start", "index": index, "content_block": _EMPTY_BLOCKS[kind]}
    return sse(start, "content_block_start")


@functools.lru_cache(maxsize=64)
def _stop_event(index: int) -> bytes:
    return sse({"type": "content_block_stop", "index": index}, "content_block_stop")


@functools.lru_cache(maxsize=64)
def _delta(index: int, kind: str, field: str) -> DeltaTemplate:
    delta = {"type": "content_block_delta", "index": index, "delta": {"type": kind, field: DELTA}}
    return DeltaTemplate(delta, "content_block_delta")


def _thinking_frames(plan: Plan, index: int) -> list[Frame]:
    template = _delta(index, "thinking_delta", "thinking")
    chunks = generate.chunks(plan.reasoning_tokens, plan.chunk_tokens)
    frames = [Frame(_start_event(index, "thinking"))]
    frames.extend(Frame(template.fill_words(t), 0, n) for t, n in chunks)
    frames.append(Frame(_delta(index, "signature_delta", "signature").fill(_sig(plan))))
    frames.append(Frame(_stop_event(index)))
    return frames


def _text_frames(plan: Plan, index: int) -> list[Frame]:
    template = _delta(index, "text_delta", "text")
    chunks = generate.chunks(plan.output_tokens, plan.chunk_tokens)
    frames = [Frame(_start_event(index, "text"))]
    frames.extend(Frame(template.fill_words(t), n) for t, n in chunks)
    frames.append(Frame(_stop_event(index)))
    return frames


def _tool_frames(plan: Plan, index: int) -> list[Frame]:
    call = plan.tool_call
    assert call is not None
    opening, pieces = tool_pieces(call.tokens, call.arguments)
    template = _delta(index, "input_json_delta", "partial_json")
    block = {
        "type": "tool_use",
        "id": call.call_id,
        "name": call.name,
        "input": {},
        "caller": {"type": "direct"},
    }
    frames = [
        Frame(
            sse(
                {"type": "content_block_start", "index": index, "content_block": block}, "content_block_start"
            )
        )
    ]
    frames.append(Frame(template.fill(""), output=opening))
    frames.extend(Frame(template.fill(p), output=1) for p in pieces)
    frames.append(Frame(_stop_event(index)))
    return frames


def _blocks(body: Mapping[str, Any], messages: list[Any]) -> Iterator[tuple[Segment, Any]]:
    """Every cacheable block in prompt order, with its cache_control (or None)."""
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, Mapping):
            text = json.dumps({k: v for k, v in tool.items() if k != "cache_control"}, sort_keys=True)
            yield Segment("tool\x00" + text, text), tool.get("cache_control")
    system = body.get("system")
    if isinstance(system, str) and system:
        yield Segment("system\x00" + system, system), None
    elif isinstance(system, list):
        for block in system:
            text = part_text(block)
            yield (
                Segment("system\x00" + text, text),
                block.get("cache_control") if isinstance(block, Mapping) else None,
            )
    for i, message in enumerate(messages):
        yield from _message_blocks(message, i)


def _message_blocks(message: Any, index: int) -> Iterator[tuple[Segment, Any]]:
    if not isinstance(message, Mapping) or message.get("role") not in ("user", "assistant"):
        raise InvalidRequestError(
            f"messages.{index}.role: must be 'user' or 'assistant'", f"messages.{index}.role"
        )
    role = message["role"]
    content = message.get("content")
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    if not isinstance(blocks, list):
        raise InvalidRequestError(
            f"messages.{index}.content: must be a string or a list of blocks", f"messages.{index}"
        )
    for j, block in enumerate(blocks):
        text = part_text(block)
        kind = block.get("type", "") if isinstance(block, Mapping) else ""
        control = block.get("cache_control") if isinstance(block, Mapping) else None
        yield Segment(f"{role}\x00{kind}\x00{text}", text, MESSAGE_TOKENS if j == 0 else 0), control


def _ttl(control: Mapping[str, Any]) -> float:
    ttl = control.get("ttl", "5m")
    if ttl not in TTLS:
        raise InvalidRequestError(f"cache_control.ttl: must be '5m' or '1h', got {ttl!r}", "cache_control")
    return TTLS[ttl]


def _thinking(thinking: Any, max_tokens: int) -> tuple[bool, int | None]:
    if not isinstance(thinking, Mapping) or thinking.get("type") in (None, "disabled"):
        return False, None
    if thinking.get("type") == "adaptive":
        return True, None
    budget = thinking.get("budget_tokens")
    if thinking.get("type") != "enabled" or not isinstance(budget, int) or isinstance(budget, bool):
        raise InvalidRequestError(
            "thinking: type must be 'enabled' with an integer budget_tokens, or 'adaptive'", "thinking"
        )
    if budget < MIN_THINKING_BUDGET or budget >= max_tokens:
        raise InvalidRequestError(
            f"thinking.budget_tokens: must be >= {MIN_THINKING_BUDGET} "
            f"and less than max_tokens ({max_tokens})",
            "thinking.budget_tokens",
        )
    return True, budget


def _tools(tools: Any) -> tuple[Tool, ...]:
    if not isinstance(tools, list):
        return ()
    found = []
    for tool in tools:
        if isinstance(tool, Mapping) and isinstance(tool.get("name"), str) and "input_schema" in tool:
            schema = tool["input_schema"]
            found.append(Tool(tool["name"], schema if isinstance(schema, Mapping) else {}))
    return tuple(found)


def _choice(choice: Any) -> str:
    if not isinstance(choice, Mapping):
        return "auto"
    kind = choice.get("type")
    if kind == "tool" and isinstance(choice.get("name"), str):
        return str(choice["name"])
    return {"any": "required", "none": "none"}.get(str(kind), "auto")
