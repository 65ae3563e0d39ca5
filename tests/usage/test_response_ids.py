"""A provider's response id is a call's id only when it can tell calls apart."""

from __future__ import annotations

import pytest

from tokenomy.usage.ids import distinct_id


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", True),  # OpenAI
        ("msg_01XFDUDYJgAACzvnptvVoYEL", True),  # Anthropic
        ("resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b", True),
        ("930c60df-bf64-41c9-a88e-3ec75f81e00e", True),  # a UUID, no prefix
        ("chatcmpl-123", False),  # Ollama's OpenAI layer: a number below 1,000
        ("chatcmpl-1", False),
        ("cmpl-abcdefghijk", False),  # 11 characters past the prefix
        ("cmpl-abcdefghijkl", True),
        ("8f0e2c1a9b3d4e5f-us", True),  # the random part before the separator
        ("a1-b2", False),
        ("", False),
        (None, False),
    ],
)
def test_only_a_response_id_that_can_tell_calls_apart_is_a_calls_id(given: str | None, kept: bool) -> None:
    assert distinct_id(given) == (given if kept else None)
