"""Filling in what a stream did not report: counted locally and marked estimated.

A stream read to its end without a usage event (an OpenAI chat stream without
``stream_options.include_usage``), cut by an error, or abandoned by its caller has unknown
totals. The input is then the prompt counted locally (:mod:`tokenomy.importers.shape`) and the
output the text that arrived, counted with the model's tokenizer; buckets the stream did report
(Anthropic reports the input and cache counts first) are kept. The cache and reasoning split
of what was counted stays unknown (None): pricing bills an unsplit total at the base rate. The
result is :attr:`Kind.ESTIMATED`.
"""

from __future__ import annotations

import dataclasses

from tokenomy import tokens
from tokenomy.errors import TokenizerError
from tokenomy.schema import Kind, Usage


def fill_missing(usage: Usage, *, prompt_tokens: int | None, text: str | None, model: str | None) -> Usage:
    """``usage`` with an unknown input or output total counted locally (see the module docstring)."""
    missing_in = usage.input_total is None and all(
        getattr(usage, b) is None
        for b in ("input_uncached", "cache_read", "cache_write_5m", "cache_write_1h")
    )
    missing_out = usage.output_total is None and usage.output_visible is None
    if not missing_in and not missing_out:
        return usage
    input_total = prompt_tokens if missing_in else usage.input_total
    output_total = _count(text, model) if missing_out else usage.output_total
    return dataclasses.replace(usage, input_total=input_total, output_total=output_total, kind=Kind.ESTIMATED)


def _count(text: str | None, model: str | None) -> int:
    if not text:
        return 0
    try:
        return tokens.count(text, model).tokens
    except TokenizerError:
        return len(text.split())
