"""Audio tokens end to end: the real ``openai`` client, instrumented, against the mock upstream forcing
``audio_tokens`` in its usage, recorded by the DuckDB sink and read back from the store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from tokenomy import capture
from tokenomy.capture.runtime import RUNTIME
from tokenomy.mockllm import MockThread
from tokenomy.schema import Call
from tokenomy.store import open_store
from tokenomy.store.arrow import call_from_row

AUDIO = {"X-Mock-Audio-Input-Tokens": "6", "X-Mock-Audio-Output-Tokens": "4", "X-Mock-Output-Tokens": "10"}
MESSAGES: Any = [{"role": "user", "content": "Say hello in a voice."}]


@pytest.fixture
def db(mock: MockThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The process's sink writing to a DuckDB file of its own (no settings from the environment)."""
    monkeypatch.chdir(tmp_path)
    for name in ("TOKENOMY_SINK", "TOKENOMY_DB", "TOKENOMY_CAPTURE_CONTENT", "TOKENOMY_SPOOL_DIR"):
        monkeypatch.delenv(name, raising=False)
    mock.reset()
    path = tmp_path / "audio.duckdb"
    capture.configure(f"duckdb:{path}", spool=False)
    yield path
    RUNTIME.shutdown(10)


def _stored(db: Path) -> list[Call]:
    assert capture.flush(30) is True
    with open_store(db, read_only=True) as store:
        rows = store.query("SELECT * FROM calls ORDER BY started_at").to_pylist()
    return [call_from_row(row) for row in rows]


def test_audio_tokens_of_a_chat_completion_are_stored_in_their_buckets(mock: MockThread, db: Path) -> None:
    client = capture.instrument(OpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=0))
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers=AUDIO)
    assert reply.usage is not None
    assert reply.usage.prompt_tokens_details is not None
    assert reply.usage.prompt_tokens_details.audio_tokens == 6
    assert reply.usage.completion_tokens_details is not None
    assert reply.usage.completion_tokens_details.audio_tokens == 4
    (call,) = _stored(db)
    assert (call.usage.input_uncached, call.usage.output_visible) == (reply.usage.prompt_tokens, 10)
    assert call.usage.modalities == {"input_uncached.audio": 6, "output_visible.audio": 4}
    assert call.cost is not None


def test_audio_tokens_of_a_stream_are_stored_too(mock: MockThread, db: Path) -> None:
    client = capture.instrument(OpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=0))
    chunks = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=AUDIO,
    )
    assert [c.usage.completion_tokens for c in chunks if c.usage is not None] == [10]
    (call,) = _stored(db)
    assert call.streamed is True
    assert call.usage.modalities == {"input_uncached.audio": 6, "output_visible.audio": 4}


def test_a_call_without_audio_stores_no_modalities(mock: MockThread, db: Path) -> None:
    client = capture.instrument(OpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=0))
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert reply.usage is not None
    (call,) = _stored(db)
    assert call.usage.modalities == {}
    assert call.usage.input_uncached == call.usage.input_total == reply.usage.prompt_tokens > 0
