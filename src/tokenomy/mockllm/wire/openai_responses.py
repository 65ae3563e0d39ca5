"""OpenAI Responses API: ``POST /v1/responses``, plain and streamed.

Input is ``instructions`` plus ``input`` (a string or a list of items), each item counted as its
text plus 3 framing tokens. Usage: ``input_tokens`` includes ``input_tokens_details.cached_tokens``
and ``output_tokens`` includes ``output_tokens_details.reasoning_tokens``. A stream sends named
events with a ``sequence_number``: ``response.created``, ``response.in_progress``, the output
items (a reasoning item for reasoning models, then a message with ``response.output_text.delta``
events or a function call with ``response.function_call_arguments.delta`` events) and
``response.completed`` (``response.incomplete`` when max_output_tokens cut the answer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
from tokenomy.mockllm.wire.base import DELTA, SEQ, DeltaTemplate, ErrorShape, Frame, dumps, sse, tool_pieces
from tokenomy.mockllm.wire.errors import OPENAI
from tokenomy.mockllm.wire.openai_chat import MESSAGE_TOKENS, reasoning_flag, tools_segment


class Responses:
    """``/v1/responses``."""

    name = "/v1/responses"
    errors: ErrorShape = OPENAI
    id_header = "x-request-id"

    def parse(self, body: Mapping[str, Any]) -> Prompt:
        """Read a Responses API request."""
        model = require_model(body)
        raw = body.get("input")
        if raw is None or raw in ("", []):
            raise InvalidRequestError(
                "'input' is required: a string or a non-empty array of input items", "input"
            )
        segments = list(tools_segment(body.get("tools")))
        instructions = body.get("instructions")
        if isinstance(instructions, str) and instructions:
            segments.append(Segment("instructions\x00" + instructions, instructions, MESSAGE_TOKENS))
        items = [{"role": "user", "content": raw}] if isinstance(raw, str) else raw
        if not isinstance(items, list):
            raise InvalidRequestError("'input' must be a string or an array of input items", "input")
        segments.extend(_item(item, i) for i, item in enumerate(items))
        reasoning = body.get("reasoning")
        return Prompt(
            model=model,
            segments=tuple(segments),
            max_output=optional_int(body, "max_output_tokens"),
            stream=body.get("stream") is True,
            tools=_tools(body.get("tools")),
            tool_choice=_choice(body.get("tool_choice")),
            reasoning=reasoning_flag(reasoning.get("effort")) if isinstance(reasoning, Mapping) else None,
            body=body,
        )

    def body(self, plan: Plan, prompt: Prompt) -> bytes:
        """The ``response`` object."""
        return dumps(_response(plan, prompt, _output(plan), done=True))

    def frames(self, plan: Plan, prompt: Prompt) -> list[Frame]:
        """The Responses stream events, numbered."""
        events = _Events()
        events.add("response.created", {"response": _response(plan, prompt, [], done=False)})
        events.add("response.in_progress", {"response": _response(plan, prompt, [], done=False)})
        index = 0
        if plan.reasoning_tokens:
            item = _reasoning_item(plan)
            events.add("response.output_item.added", {"output_index": 0, "item": item})
            events.add(
                "response.output_item.done",
                {"output_index": 0, "item": item},
                reasoning=plan.reasoning_tokens,
            )
            index = 1
        if plan.tool_call is not None:
            _function_events(events, plan, index)
        else:
            _message_events(events, plan, index)
        final = "response.incomplete" if plan.capped else "response.completed"
        events.add(final, {"response": _response(plan, prompt, _output(plan), done=True)})
        return events.frames

    def stream_error(self, plan: Plan) -> bytes:
        """An ``error`` event as the Responses API sends it."""
        message = "The server had an error while processing your request. (mock upstream: stream_error)"
        payload = {
            "type": "error",
            "code": "server_error",
            "message": message,
            "param": None,
            "sequence_number": 0,
        }
        return sse(payload, "error")


class _Events:
    """Numbered Responses stream events."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    @property
    def next_seq(self) -> int:
        return len(self.frames)

    def add(self, kind: str, fields: dict[str, Any], output: int = 0, reasoning: int = 0) -> None:
        payload = {"type": kind, "sequence_number": self.next_seq, **fields}
        self.frames.append(Frame(sse(payload, kind), output=output, reasoning=reasoning))

    def template(self, kind: str, fields: dict[str, Any]) -> DeltaTemplate:
        return DeltaTemplate({"type": kind, "sequence_number": SEQ, **fields}, kind)


def _message_events(events: _Events, plan: Plan, index: int) -> None:
    item_id = f"msg_mock{plan.seq:020x}"
    full = generate.text(plan.output_tokens)
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    where = {"item_id": item_id, "output_index": index, "content_index": 0}
    events.add("response.output_item.added", {"output_index": index, "item": _message(plan, item_id, None)})
    events.add("response.content_part.added", {**where, "part": part})
    template = events.template("response.output_text.delta", {**where, "delta": DELTA, "logprobs": []})
    for text, tokens in generate.chunks(plan.output_tokens, plan.chunk_tokens):
        events.frames.append(Frame(template.fill_words(text, events.next_seq), output=tokens))
    events.add("response.output_text.done", {**where, "text": full, "logprobs": []})
    events.add("response.content_part.done", {**where, "part": {**part, "text": full}})
    events.add("response.output_item.done", {"output_index": index, "item": _message(plan, item_id, full)})


def _function_events(events: _Events, plan: Plan, index: int) -> None:
    call = plan.tool_call
    assert call is not None
    item = _function_item(plan, status="in_progress", arguments="")
    opening, pieces = tool_pieces(call.tokens, call.arguments)
    events.add("response.output_item.added", {"output_index": index, "item": item}, output=opening)
    where = {"item_id": item["id"], "output_index": index}
    template = events.template("response.function_call_arguments.delta", {**where, "delta": DELTA})
    for piece in pieces:
        events.frames.append(Frame(template.fill(piece, events.next_seq), output=1))
    events.add("response.function_call_arguments.done", {**where, "arguments": call.arguments})
    events.add("response.output_item.done", {"output_index": index, "item": _function_item(plan)})


def _output(plan: Plan) -> list[dict[str, Any]]:
    items = [_reasoning_item(plan)] if plan.reasoning_tokens else []
    if plan.tool_call is not None:
        items.append(_function_item(plan))
    else:
        items.append(_message(plan, f"msg_mock{plan.seq:020x}", generate.text(plan.output_tokens)))
    return items


def _reasoning_item(plan: Plan) -> dict[str, Any]:
    return {"id": f"rs_mock{plan.seq:020x}", "type": "reasoning", "summary": []}


def _message(plan: Plan, item_id: str, text: str | None) -> dict[str, Any]:
    content = (
        [] if text is None else [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}]
    )
    status = "in_progress" if text is None else ("incomplete" if plan.capped else "completed")
    return {"id": item_id, "type": "message", "status": status, "content": content, "role": "assistant"}


def _function_item(plan: Plan, status: str = "completed", arguments: str | None = None) -> dict[str, Any]:
    call = plan.tool_call
    assert call is not None
    return {
        "id": f"fc_mock{plan.seq:020x}",
        "type": "function_call",
        "status": status,
        "arguments": call.arguments if arguments is None else arguments,
        "call_id": call.call_id,
        "name": call.name,
    }


def _response(plan: Plan, prompt: Prompt, output: list[dict[str, Any]], *, done: bool) -> dict[str, Any]:
    body = prompt.body
    asked = body.get("reasoning")
    reasoning: Mapping[str, Any] = asked if isinstance(asked, Mapping) else {}
    status = ("incomplete" if plan.capped else "completed") if done else "in_progress"
    return {
        "id": f"resp_mock{plan.seq:020x}",
        "object": "response",
        "created_at": plan.created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if done and plan.capped else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": prompt.max_output,
        "max_tool_calls": None,
        "model": plan.model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": None},
        "safety_identifier": None,
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_logprobs": 0,
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": _usage(plan) if done else None,
        "user": None,
        "metadata": body.get("metadata") or {},
    }


def _usage(plan: Plan) -> dict[str, Any]:
    return {
        "input_tokens": plan.input_tokens,
        "input_tokens_details": {"cached_tokens": plan.cache_read},
        "output_tokens": plan.total_output,
        "output_tokens_details": {"reasoning_tokens": plan.reasoning_tokens},
        "total_tokens": plan.input_tokens + plan.total_output,
    }


def _item(item: Any, index: int) -> Segment:
    if not isinstance(item, Mapping):
        raise InvalidRequestError(f"input[{index}] must be an object", f"input[{index}]")
    kind = item.get("type", "message")
    if kind == "function_call_output":
        text = str(item.get("output", ""))
    elif kind == "function_call":
        text = f"{item.get('name', '')}{item.get('arguments', '')}"
    else:
        text = text_of(item.get("content"))
    return Segment(f"{kind}\x00{item.get('role', '')}\x00{text}", text, MESSAGE_TOKENS)


def _tools(tools: Any) -> tuple[Tool, ...]:
    if not isinstance(tools, list):
        return ()
    found = []
    for tool in tools:
        if isinstance(tool, Mapping) and tool.get("type") == "function" and isinstance(tool.get("name"), str):
            params = tool.get("parameters")
            found.append(Tool(tool["name"], params if isinstance(params, Mapping) else {}))
    return tuple(found)


def _choice(choice: Any) -> str:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, Mapping) and isinstance(choice.get("name"), str):
        return str(choice["name"])
    return "auto"
