"""Chat messages in one shape: OpenAI-style ``{role, content, tool_calls}`` from any provider's request.

Importers meet prompts in several shapes: OpenAI chat messages, Anthropic messages with a
top-level ``system`` and content blocks, Gemini ``contents`` with ``parts``, the Responses API
``input`` and ``instructions``, and agent frameworks' own lists. Token counting
(:mod:`tokenomy.tokens`) and prompt hashing want one shape, so this module converts them into
OpenAI chat messages whose content is plain text, with tool calls as ``tool_calls``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from tokenomy.importers.ids import canonical_json
from tokenomy.schema import ToolUse
from tokenomy.usage.base import args_hash

Message = dict[str, Any]


def text_of(content: Any) -> str:
    """The text of a message content: a string, a list of parts, or a part.

    Text parts (``text``, ``content``, Gemini ``parts``) are joined with newlines; images and
    other non-text parts are left out.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        texts = (text_of(part) for part in content)
        return "\n".join(t for t in texts if t)
    if isinstance(content, Mapping):
        for key in ("text", "content", "parts"):
            value = content.get(key)
            if isinstance(value, str | list):
                return text_of(value)
    return ""


def tool_calls_of(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A message's tool calls as OpenAI ``tool_calls`` (function name and JSON arguments).

    Reads OpenAI ``tool_calls`` and legacy ``function_call``, Anthropic ``tool_use`` blocks and
    Gemini ``functionCall`` parts.
    """
    calls: list[dict[str, Any]] = []
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            calls.append(_function(function["name"], function.get("arguments"), call.get("id")))
    legacy = message.get("function_call")
    if isinstance(legacy, Mapping) and isinstance(legacy.get("name"), str):
        calls.append(_function(legacy["name"], legacy.get("arguments"), None))
    for block in _blocks(message):
        if block.get("type") in ("tool_use", "server_tool_use") and isinstance(block.get("name"), str):
            calls.append(_function(block["name"], block.get("input"), block.get("id")))
        call = block.get("functionCall")
        if isinstance(call, Mapping) and isinstance(call.get("name"), str):
            calls.append(_function(call["name"], call.get("args"), None))
    return calls


def tool_uses_of(message: Mapping[str, Any]) -> tuple[ToolUse, ...]:
    """The tools a message asked for, as name plus hash of the canonical arguments."""
    uses = []
    for call in tool_calls_of(message):
        function = call["function"]
        uses.append(ToolUse(name=function["name"], args_hash=args_hash(function["arguments"])))
    return tuple(uses)


def normalize(message: Mapping[str, Any]) -> Message:
    """One message as an OpenAI chat message with text content.

    Gemini's ``model`` role becomes ``assistant``; Anthropic ``tool_result`` blocks make a
    ``tool`` message.
    """
    role = message.get("role")
    role = "assistant" if role == "model" else role if isinstance(role, str) else "user"
    blocks = _blocks(message)
    if blocks and all(b.get("type") == "tool_result" for b in blocks):
        role = "tool"
    content = message.get("content")
    if content is None and isinstance(message.get("parts"), list):
        content = message["parts"]
    out: Message = {"role": role, "content": text_of(content)}
    for key in ("name", "tool_call_id"):
        if isinstance(message.get(key), str):
            out[key] = message[key]
    calls = tool_calls_of(message)
    if calls:
        out["tool_calls"] = calls
    return out


def request_messages(request: Mapping[str, Any]) -> list[Message]:
    """The prompt of a request as normalized chat messages, system first.

    Understands OpenAI chat (``messages``), Anthropic (``system`` plus ``messages``), the
    Responses API (``instructions`` plus ``input``), Gemini (``systemInstruction`` plus
    ``contents``) and legacy completions (``prompt``).
    A plain chat prompt (see :func:`_plain_prompt`) is copied as it is, the frequent case at a
    fraction of the cost.
    """
    plain = _plain_prompt(request)
    if plain is not None:
        return plain
    out: list[Message] = []
    for key in ("system", "instructions", "systemInstruction", "system_instruction"):
        text = text_of(request.get(key))
        if text:
            out.append({"role": "system", "content": text})
    for key in ("messages", "contents", "input"):
        value = request.get(key)
        if isinstance(value, str):
            out.append({"role": "user", "content": value})
        elif isinstance(value, list):
            out.extend(normalize(m) for m in value if isinstance(m, Mapping))
    prompt = request.get("prompt")
    if isinstance(prompt, str):
        out.append({"role": "user", "content": prompt})
    return out


_OTHER_PROMPT_FIELDS: Final = frozenset(
    ("instructions", "systemInstruction", "system_instruction", "contents", "input", "prompt")
)
"""Prompt fields :func:`request_messages` reads besides ``messages`` and Anthropic's ``system``."""


def _plain_prompt(request: Mapping[str, Any]) -> list[Message] | None:
    """What :func:`request_messages` returns for a plain chat prompt, without normalizing; else None.

    A plain prompt is ``messages`` (and for Anthropic a string ``system``, which leads as a system
    message), no other prompt field, and messages that each have exactly a string role (not
    Gemini's ``model``) and string content: normalizing such a message makes an equal copy of it,
    and so does ``dict``.
    """
    messages = request.get("messages")
    if type(messages) is not list or not _OTHER_PROMPT_FIELDS.isdisjoint(request):
        return None
    system = request.get("system")
    if (system is not None and type(system) is not str) or not _all_plain(messages):
        return None
    copied: list[Message] = [dict(m) for m in messages]
    return [{"role": "system", "content": system}, *copied] if system else copied


def _all_plain(messages: list[Any]) -> bool:
    for message in messages:
        if (
            type(message) is not dict
            or len(message) != 2
            or type(message.get("content")) is not str
            or type(role := message.get("role")) is not str
            or role == "model"
        ):
            return False
    return True


def render(messages: Sequence[Mapping[str, Any]]) -> str:
    """A prompt as text for content capture: one JSON message a line."""
    return "\n".join(canonical_json(m) for m in messages)


def _function(name: str, arguments: Any, call_id: Any) -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else canonical_json(arguments or {})
    out: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": args}}
    if isinstance(call_id, str):
        out["id"] = call_id
    return out


def _blocks(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    content = message.get("content")
    if not isinstance(content, list):
        content = message.get("parts")
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, Mapping)]
