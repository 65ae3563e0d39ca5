"""The quick path's vocabulary: each key a plain call may hold has its kinds; the names are the importer's."""

from __future__ import annotations

from tokenomy.importers import otel_calls
from tokenomy.server.otlp_columns import ARRAY, BOOL, DOUBLE, INT, STRING
from tokenomy.server.otlp_keys import (
    CALL_KEYS,
    CALL_KINDS,
    CALL_SIGNALS,
    CODES,
    INERT,
    KINDS,
    SDK_MARKERS,
    SIGNALS,
    TOOL_NAME,
    USAGE,
    VOCABULARY,
)
from tokenomy.server.otlp_tree import INHERITED
from tokenomy.usage import otel


def _allows(key: str, kind: int) -> bool:
    return bool((int(CALL_KINDS[CODES[key] + 1]) >> kind) & 1)


def test_every_call_key_has_its_kinds_and_a_code() -> None:
    assert set(KINDS) == CALL_KEYS
    assert set(VOCABULARY) == CALL_KEYS | set(CALL_SIGNALS) | set(SDK_MARKERS) | {TOOL_NAME}
    assert all(CALL_KINDS[CODES[k] + 1] for k in CALL_KEYS)
    assert not CALL_KINDS[0], "a key outside the vocabulary is never allowed on a plain call"
    assert sorted(k for k in VOCABULARY if SIGNALS[CODES[k] + 1]) == sorted({*CALL_SIGNALS, *SDK_MARKERS})
    assert not set(SDK_MARKERS) & CALL_KEYS, "the SDK's spans must never be plain calls"


def test_kinds_follow_how_the_mapping_reads_each_key() -> None:
    count = USAGE["input"]
    assert [_allows(count, kind) for kind in (0, STRING, BOOL, INT, DOUBLE)] == [
        True,
        False,
        False,
        True,
        False,
    ]
    reasons = "gen_ai.response.finish_reasons"
    assert [_allows(reasons, kind) for kind in (0, STRING, ARRAY)] == [True, False, True]
    ttft = "gen_ai.response.time_to_first_chunk"
    assert [_allows(ttft, kind) for kind in (BOOL, INT, DOUBLE)] == [False, True, True]
    assert all(_allows(k, kind) for k in INERT for kind in range(8))
    assert all(_allows(k, STRING) and not _allows(k, INT) for keys in INHERITED.values() for k in keys)


def test_usage_names_are_the_adapters_first_choices() -> None:
    assert USAGE["input"] == otel.INPUT[0]
    assert USAGE["output"] == otel.OUTPUT[0]
    assert USAGE["cache_read"] == otel.CACHE_READ[0]
    assert USAGE["cache_write"] == otel.CACHE_WRITE[0]
    assert USAGE["reasoning"] == otel.REASONING[0]
    assert set(otel_calls._MODEL_KEYS) <= set(CALL_SIGNALS)
