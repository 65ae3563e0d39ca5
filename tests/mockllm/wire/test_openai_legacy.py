"""Completions, embeddings and model listings on the wire."""

from __future__ import annotations

import base64
import struct

import pytest

from tests.mockllm.support import app, post
from tokenomy.mockllm.config import Lengths


def test_completion_defaults_max_tokens_to_16_like_the_real_api() -> None:
    got = post(
        app(output_tokens=Lengths.fixed(40)),
        "/v1/completions",
        {"model": "gpt-3.5-turbo-instruct", "prompt": "Say"},
    ).json()
    assert got["object"] == "text_completion"
    assert got["choices"][0]["finish_reason"] == "length"
    assert got["usage"] == {"prompt_tokens": 1, "completion_tokens": 16, "total_tokens": 17}


def test_completion_stream_with_usage_and_token_prompts() -> None:
    mock = app(output_tokens=Lengths.fixed(3))
    request = {
        "model": "m",
        "prompt": [1, 2, 3, 4],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    events = post(mock, "/v1/completions", request).events()
    assert events[-1][1] == "[DONE]"
    assert "".join(d["choices"][0]["text"] for _, d in events[:-2]) == "The of and"
    assert events[-3][1]["choices"][0]["finish_reason"] == "stop"
    assert events[-2][1]["usage"] == {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}


def test_embeddings_floats_base64_dimensions_and_usage() -> None:
    mock = app()
    got = post(
        mock, "/v1/embeddings", {"model": "text-embedding-3-large", "input": ["alpha beta", "gamma"]}
    ).json()
    assert got["object"] == "list"
    assert [len(d["embedding"]) for d in got["data"]] == [3072, 3072]
    assert [d["index"] for d in got["data"]] == [0, 1]
    assert got["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    small = {
        "model": "text-embedding-3-small",
        "input": "alpha beta",
        "encoding_format": "base64",
        "dimensions": 8,
    }
    encoded = post(mock, "/v1/embeddings", small).json()["data"][0]["embedding"]
    assert isinstance(encoded, str)
    floats = struct.unpack("<8f", base64.b64decode(encoded))
    assert sum(f * f for f in floats) == pytest.approx(1.0, abs=1e-5)
    stream = post(mock, "/v1/embeddings", {**small, "stream": True})
    assert stream.json()["data"][0]["embedding"] == encoded
    totals = mock.stats()["totals"]
    assert (totals["input_tokens"], totals["output_tokens"]) == (3 + 2 + 2, 0)


@pytest.mark.parametrize(
    ("request_body", "param"),
    [
        ({"model": "m"}, "input"),
        ({"model": "m", "input": []}, "input"),
        ({"model": "m", "input": [{"x": 1}]}, "input"),
        ({"model": "m", "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"model": "m", "input": "x", "dimensions": 0}, "dimensions"),
    ],
)
def test_bad_embedding_requests_are_rejected(request_body: dict[str, object], param: str) -> None:
    got = post(app(), "/v1/embeddings", request_body)
    assert got.status == 400
    assert got.json()["error"]["param"] == param
