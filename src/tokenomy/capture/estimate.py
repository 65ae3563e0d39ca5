"""Filling in what a stream did not report: counted locally and marked estimated.

A stream read to its end without a usage event (an OpenAI chat stream without
``stream_options.include_usage``), cut by an error, or abandoned by its caller has unknown
totals. The input is then the prompt counted locally (:mod:`tokenomy.importers.shape`) and the
output what arrived, counted with the model's tokenizer: its text, and each tool call it carried
(:func:`tool_call_tokens`); buckets the stream did report
(Anthropic reports the input and cache counts first) are kept. The cache and reasoning split
of what was counted stays unknown (None): pricing bills an unsplit total at the base rate. The
result is :attr:`Kind.ESTIMATED`.

A request whose model may reason unseen (:func:`tokenomy.providers.thinks_unseen`: OpenAI's
reasoning models, Claude with thinking on, Gemini 2.5...) may have been billed thousands of
reasoning tokens before its first visible one, which no text of the stream measures (the thinking
text a stream shows is a summary for most of them, when it is shown at all). Its counted output is
then its visible output alone, and its reasoning and output total stay unknown: priced, the call
bills what is known and says the reasoning is not priced, never a total that stands for all of it
(a cut o3 stream was stored as 1 output token where 405 were billed).

A legacy completion's prompt is plain text, not chat messages: it is counted as the tokens of its
text alone (:func:`text_prompt_tokens`), the way the API counts it, where a chat message adds a few
tokens of framing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any, Final

from tokenomy import tokens
from tokenomy.errors import TokenizerError
from tokenomy.schema import Kind, Usage

TOOL_CALL_FRAMING: Final = 7
"""Output tokens a tool call costs beyond its name and argument text.

Measured on recorded OpenAI streams: every GPT-4o-family answer made of one function call reports
exactly this many completion tokens over the tokens of the call's name plus those of its
arguments (the tokens that address the call to a function and end it). Other answers are an
estimate by the same rule: parallel GPT-4o calls carry more framing; Claude's recorded calls cost
up to about 2.5 times what the rule counts (it writes a call more verbosely than its JSON input),
Gemini's a third of it (docs/capture.md, "Tool calls counted locally")."""


def fill_missing(
    usage: Usage,
    *,
    prompt_tokens: int | None,
    text: str | None,
    model: str | None,
    tool_text: Iterable[tuple[str, Any]] | None = None,
    reasons: bool = False,
) -> Usage:
    """``usage`` with an unknown input or output total counted locally (see the module docstring).

    Args:
        usage: What the stream reported.
        prompt_tokens: The prompt counted locally (taken when the input side is unknown).
        text: The visible text the output carried.
        model: The model whose tokenizer counts ``text`` and ``tool_text``.
        tool_text: The tool calls the output carried, as (name, arguments) pairs
            (:attr:`tokenomy.usage.Extracted.tool_text`); each adds :func:`tool_call_tokens`.
        reasons: The model may have reasoned unseen: what was counted is the visible output, and
            the reasoning and the output total stay unknown.
    """
    missing_in = usage.input_total is None and all(
        getattr(usage, b) is None
        for b in ("input_uncached", "cache_read", "cache_write_5m", "cache_write_1h")
    )
    missing_out = usage.output_total is None and usage.output_visible is None
    if not missing_in and not missing_out:
        return usage
    input_total = prompt_tokens if missing_in else usage.input_total
    visible, total = usage.output_visible, usage.output_total
    if missing_out:
        counted = _count(text, model) + sum(tool_call_tokens(n, a, model) for n, a in tool_text or ())
        visible, total = (counted, total) if reasons else (visible, counted)
    return dataclasses.replace(
        usage, input_total=input_total, output_visible=visible, output_total=total, kind=Kind.ESTIMATED
    )


def tool_call_tokens(name: str, arguments: Any, model: str | None) -> int:
    """The output tokens of one tool call, counted locally: the tokens of its name, plus those of its
    argument text (as streamed; an argument object written as JSON with ``", "`` and ``": "``
    separators, the way Anthropic streams its ``input_json_delta`` fragments), plus
    :data:`TOOL_CALL_FRAMING`."""
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False, default=str)
    return _count(name, model) + _count(arguments, model) + TOOL_CALL_FRAMING


def _count(text: str | None, model: str | None) -> int:
    if not text:
        return 0
    try:
        return tokens.count(text, model).tokens
    except TokenizerError:
        return len(text.split())


def text_prompt_tokens(prompt: Any, model: str | None) -> int | None:
    """The tokens of a legacy completion's ``prompt``: a string's, counted with the model's tokenizer
    (exact for OpenAI models, an estimate for others); for a list of strings (a prompt each), their
    sum; for token ids (a list of integers, or a list of such lists), their number, exactly. None for
    anything else (an empty list, a mixed one)."""
    if isinstance(prompt, str):
        return _count(prompt, model)
    if not isinstance(prompt, list) or not prompt:
        return None
    if all(type(item) is int for item in prompt):
        return len(prompt)
    if all(isinstance(item, str) for item in prompt):
        return sum(_count(item, model) for item in prompt)
    if all(_token_ids(item) for item in prompt):
        return sum(len(item) for item in prompt)
    return None


def _token_ids(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str) and all(type(i) is int for i in value)
