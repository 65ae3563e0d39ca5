"""The redaction hook's answer is checked: a hook that returns no text loses the content, never the call."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from tokenomy import capture
from tokenomy.capture import redaction
from tokenomy.capture.instrumenting import MARK
from tokenomy.capture.log import RateLimitedLog
from tokenomy.capture.redaction import CheckedRedact, checked
from tokenomy.capture.runtime import RUNTIME, ContentSettings
from tokenomy.config import Config
from tokenomy.errors import ConfigError
from tokenomy.mockllm import MockThread
from tokenomy.store import open_store

CHAT: Any = [{"role": "user", "content": "my card is 4111"}]


@pytest.fixture(autouse=True)
def fresh_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees the first message of each kind (the log says each at most once a minute)."""
    monkeypatch.setattr(redaction, "_LOG", RateLimitedLog())


def _as_bytes(text: str) -> Any:
    return text.encode()


def _by_line(text: str) -> Any:
    return [re.sub(r"\d{4}", "[card]", line) for line in text.splitlines()]  # the lines never joined


def _broken(text: str) -> str:
    raise RuntimeError("the hook's own bug")


def test_a_string_or_none_passes_and_anything_else_raises_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert CheckedRedact(lambda text: text.replace("4111", "[card]"))("card 4111") == "card [card]"
    assert CheckedRedact(lambda text: None)("x") is None  # type: ignore[arg-type,return-value]
    with caplog.at_level(logging.WARNING, logger="tokenomy.capture"), pytest.raises(TypeError, match="bytes"):
        CheckedRedact(_as_bytes)("secret")
    assert "the redact hook _as_bytes returned bytes, not a string" in caplog.text
    assert "secret" not in caplog.text  # never the text itself


def test_a_hook_that_raises_is_logged_without_its_message(caplog: pytest.LogCaptureFixture) -> None:
    hook = CheckedRedact(_broken)
    with caplog.at_level(logging.WARNING, logger="tokenomy.capture"), pytest.raises(RuntimeError):
        hook("4111")
    assert "the redact hook _broken raised RuntimeError" in caplog.text
    assert "4111" not in caplog.text


def test_a_wrapped_hook_equals_its_hook_and_is_wrapped_once() -> None:
    wrapped = checked(_broken)
    assert isinstance(wrapped, CheckedRedact)
    assert wrapped == _broken
    assert (_broken != wrapped) is False  # what instrument() compares a second time
    assert checked(wrapped) is wrapped
    assert checked(None) is None
    assert wrapped != checked(_as_bytes)


def test_instrumenting_again_with_the_same_hook_is_the_same_setting(mock: MockThread) -> None:
    client = capture.instrument(OpenAI(base_url=mock.openai_base_url, api_key="k"), redact=_as_bytes)
    assert isinstance(vars(client)[MARK].redact, CheckedRedact)
    assert capture.instrument(client, redact=_as_bytes) is client


@pytest.mark.integration
def test_a_hook_returning_a_list_loses_the_content_not_the_batch_and_says_so(
    mock: MockThread, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, the hook's list went into the record: interpreted, the store refused the whole batch
    (every call in it counted as rejected, a plain client's call lost with it); compiled, the
    builder's type check dropped the content without a word. Now the call is stored, its content
    left out, and the log says why."""
    db = tmp_path / "redact.duckdb"
    RUNTIME.configure(f"duckdb:{db}", capture_content=True, redact=_by_line, config=Config())
    try:
        chatty = capture.instrument(OpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=0))
        quiet = capture.instrument(
            OpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=0), capture_content=False
        )
        with caplog.at_level(logging.WARNING, logger="tokenomy.capture"):
            first = chatty.chat.completions.create(model="gpt-4o", messages=CHAT)
            second = quiet.chat.completions.create(model="gpt-4o", messages=CHAT)
            assert capture.flush(30) is True
        stats = capture.sink_stats()
        assert (stats.rejected, stats.sent) == (0, 2)
    finally:
        RUNTIME.shutdown(10)
        RUNTIME.content = ContentSettings()
    assert "the redact hook _by_line returned list, not a string" in caplog.text
    assert "4111" not in caplog.text
    with open_store(db, read_only=True) as store:
        stored = {call.id: call for call in store.iter_calls()}
    assert set(stored) == {first.id, second.id}
    assert stored[first.id].content is None
    assert first.usage is not None
    assert stored[first.id].usage.output_total == first.usage.completion_tokens


def _scrubbing_module(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (folder / "scrubbing.py").write_text(
        "import re\n\ndef scrub(text):\n    return re.sub(r'\\d{4}', '[card]', text)\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(folder))


def _stored_prompt_of_one_call(mock: MockThread, db: Path, **instrument: Any) -> str:
    """Make one call through an instrumented client (the process's sink already chosen, or chosen
    by ``instrument``), stop the sink, and read the prompt the store kept for it."""
    try:
        client = capture.instrument(
            OpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=0), **instrument
        )
        answer = client.chat.completions.create(model="gpt-4o", messages=CHAT)
        assert capture.flush(30) is True
    finally:
        RUNTIME.shutdown(10)
        RUNTIME.content = ContentSettings()
    with open_store(db, read_only=True) as store:
        (stored,) = [call for call in store.iter_calls() if call.id == answer.id]
    assert stored.content is not None
    return str(stored.content.prompt)


def _shared_toml(folder: Path, db: Path) -> Path:
    toml = folder / "tokenomy.toml"
    toml.write_text(
        f'sink = "duckdb:{db}"\ncapture_content = true\nredact = "scrubbing:scrub"\n', encoding="utf-8"
    )
    return toml


def test_configure_takes_the_redact_setting_that_serve_and_import_take(
    mock: MockThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One ``redact`` setting in tokenomy.toml (or TOKENOMY_REDACT) holds for the SDK too: without it a
    shared file asking for redaction would have the SDK store the text as it came."""
    _scrubbing_module(tmp_path, monkeypatch)
    db = tmp_path / "shared.duckdb"
    capture.configure(config_file=_shared_toml(tmp_path, db))
    prompt = _stored_prompt_of_one_call(mock, db)
    assert "my card is [card]" in prompt
    assert "4111" not in prompt


def test_configure_refuses_a_redact_setting_it_cannot_load(tmp_path: Path) -> None:
    toml = tmp_path / "tokenomy.toml"
    toml.write_text('capture_content = true\nredact = "no_such_module_here:scrub"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="no_such_module_here"):
        capture.configure(f"duckdb:{tmp_path / 'x.duckdb'}", config_file=toml)


def test_the_sink_a_config_names_takes_its_redact_setting_too(
    mock: MockThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No configure() at all: instrument() installs the sink tokenomy.toml names, with its hook."""
    _scrubbing_module(tmp_path, monkeypatch)
    db = tmp_path / "auto.duckdb"
    _shared_toml(tmp_path, db)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(RUNTIME, "_config_read", False)
    monkeypatch.setattr(RUNTIME, "sink", None)
    prompt = _stored_prompt_of_one_call(mock, db)
    assert "my card is [card]" in prompt
    assert "4111" not in prompt


def test_a_client_that_keeps_text_itself_gets_the_configured_hook(
    mock: MockThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _scrubbing_module(tmp_path, monkeypatch)
    monkeypatch.setenv("TOKENOMY_REDACT", "scrubbing:scrub")
    db = tmp_path / "client.duckdb"
    monkeypatch.chdir(tmp_path)  # no tokenomy.toml here: the setting comes from the environment
    capture.configure(f"duckdb:{db}", capture_content=False)
    prompt = _stored_prompt_of_one_call(mock, db, capture_content=True)
    assert "my card is [card]" in prompt
    assert "4111" not in prompt
