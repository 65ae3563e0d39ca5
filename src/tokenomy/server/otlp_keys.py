"""The attribute keys the collector's quick path knows, what it allows on a plain model call, and their codes.

A span is a *plain* model call when it names a model operation and every attribute it carries is
one of :data:`CALL_KEYS`, with a value of a kind listed in :data:`CALL_KINDS`; the other keys of
the vocabulary are those that decide whether a span that is not a call may still be plain. Keys are
coded by their position in :data:`VOCABULARY`, and the lookup tables below are indexed by
``code + 1`` (code -1 is a key outside the vocabulary).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
from numpy.typing import NDArray

from tokenomy.importers.otel_tokenomy import MARKERS
from tokenomy.server.otlp_columns import ARRAY, BOOL, DOUBLE, INT, STRING
from tokenomy.server.otlp_tree import INHERITED

USAGE: Final = {
    "input": "gen_ai.usage.input_tokens",
    "output": "gen_ai.usage.output_tokens",
    "cache_read": "gen_ai.usage.cache_read.input_tokens",
    "cache_write": "gen_ai.usage.cache_creation.input_tokens",
    "reasoning": "gen_ai.usage.reasoning.output_tokens",
}
OPERATION: Final = "gen_ai.operation.name"
PROVIDER: Final = "gen_ai.provider.name"
SYSTEM: Final = "gen_ai.system"
REQUEST_MODEL: Final = "gen_ai.request.model"
RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_ID: Final = "gen_ai.response.id"
ERROR_TYPE: Final = "error.type"
STREAM: Final = "gen_ai.request.stream"
MAX_TOKENS: Final = "gen_ai.request.max_tokens"
FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
TTFT: Final = "gen_ai.response.time_to_first_chunk"
EXACT_TEXT: Final = (OPERATION, PROVIDER, SYSTEM, REQUEST_MODEL, RESPONSE_MODEL, RESPONSE_ID)
"""Read raw by the usage adapter and cleaned by the importer: plain only when both agree."""
INHERITED_KEYS: Final = frozenset(k for keys in INHERITED.values() for k in keys)
TEXT: Final = frozenset({*EXACT_TEXT, ERROR_TYPE, *INHERITED_KEYS})
INERT: Final = frozenset(
    {
        "server.address",
        "server.port",
        "gen_ai.request.temperature",
        "gen_ai.request.top_p",
        "gen_ai.request.top_k",
        "gen_ai.request.frequency_penalty",
        "gen_ai.request.presence_penalty",
        "gen_ai.request.seed",
        "gen_ai.request.stop_sequences",
        "gen_ai.request.choice.count",
        "gen_ai.request.encoding_formats",
        "gen_ai.output.type",
        "gen_ai.agent.id",
    }
)
"""Attributes a model-call span may carry that change nothing in the mapping (never decoded)."""
READ: Final = (STREAM, MAX_TOKENS, FINISH_REASONS, TTFT)
CALL_KEYS: Final = frozenset({*TEXT, *INERT, *USAGE.values(), *READ})
"""Every attribute a plain model-call span may carry."""
CALL_SIGNALS: Final = (
    "langfuse.observation.type",
    "openinference.span.kind",
    "ai.operationId",
    "operation.name",
    "llm.request.type",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "langfuse.observation.model.name",
    "llm.request.model",
    "llm.response.model",
    "llm.model_name",
    "ai.model.id",
    "embedding.model_name",
    "model_name",
)
"""Attributes that may make a span without ``gen_ai.operation.name`` a model call."""
TOOL_NAME: Final = "gen_ai.tool.name"
SDK_MARKERS: Final = MARKERS
"""Keys of the capture SDK's calls, charges and outcomes: spans that carry one are never plain (the
importer's path reads them back exactly, see :mod:`tokenomy.importers.otel_tokenomy`)."""

VOCABULARY: Final = tuple(sorted(CALL_KEYS | set(CALL_SIGNALS) | set(SDK_MARKERS) | {TOOL_NAME}))
"""The keys the quick path codes."""
CODES: Final = {key: code for code, key in enumerate(VOCABULARY)}
VOCABULARY_ARRAY: Final = pa.array([key.encode() for key in VOCABULARY], type=pa.binary())

_ANY: Final = (1 << 8) - 1
"""Every kind: no value (0) and the seven ``AnyValue`` fields."""
_SCALAR: Final = 1 << 0 | 1 << STRING | 1 << BOOL | 1 << INT | 1 << DOUBLE
"""Kinds a value may have when the mapping reads it only if it has the right one (0: no value)."""
KINDS: Final[dict[str, int]] = {
    **dict.fromkeys(TEXT, 1 << 0 | 1 << STRING),
    **dict.fromkeys(INERT, _ANY),
    **dict.fromkeys(USAGE.values(), 1 << 0 | 1 << INT),
    STREAM: _SCALAR,
    MAX_TOKENS: _SCALAR,
    FINISH_REASONS: 1 << 0 | 1 << ARRAY,
    TTFT: 1 << 0 | 1 << INT | 1 << DOUBLE,
}


def _table(values: dict[str, int], default: int) -> NDArray[np.int64]:
    out = np.full(len(VOCABULARY) + 1, default, dtype=np.int64)
    for key, value in values.items():
        out[CODES[key] + 1] = value
    return out


CALL_KINDS: Final = _table(KINDS, 0)
"""By ``code + 1``: a bit mask of the value kinds a plain call may hold there (0: not allowed)."""
SIGNALS: Final = _table(dict.fromkeys((*CALL_SIGNALS, *SDK_MARKERS), 1), 0).astype(np.bool_)
"""By ``code + 1``: the keys that may make a span a model call, or one of the capture SDK's records."""
USAGE_KEYS: Final = _table(dict.fromkeys(USAGE.values(), 1), 0).astype(np.bool_)
