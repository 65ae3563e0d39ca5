"""``tokenomy import`` with a redaction hook: every kept text goes through it (a native file holding text
leaves the store's fast path for it), and a hook that fails keeps the call without its text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import real_data_path
from tests.importers.support import calls, run, write_lines
from tokenomy.capture.redaction import CheckedRedact
from tokenomy.errors import ConfigError
from tokenomy.pricing import Pricer
from tokenomy.schema import Content
from tokenomy.store import DuckDBStore, open_store

SECRET = "SECRET-c0de"


def scrub(text: str) -> str:
    """Keeps nothing of the text but its length; refuses a text that says RAISE."""
    if "RAISE" in text:
        raise ValueError("refused")
    return f"<{len(text)} chars>"


def _native(call_id: str, content: dict[str, Any] | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": call_id,
        "provider": "openai",
        "request_model": "gpt-4o-mini",
        "started_at": "2026-03-01T10:00:00Z",
        "usage": {"input_uncached": 100, "output_visible": 5},
    }
    if content is not None:
        record["content"] = content
    return record


def _native_file(tmp_path: Path) -> Path:
    return write_lines(
        tmp_path / "calls.jsonl",
        [
            _native("n-1", {"prompt": f"card {SECRET}", "completion": f"ok {SECRET}"}),
            _native("n-2", {"prompt": "RAISE", "completion": f"{SECRET} back"}),
            _native("n-3", {"prompt": None, "completion": f"just {SECRET}"}),
            _native("n-4", None),
        ],
    )


def _texts(store: DuckDBStore) -> dict[str, Content | None]:
    return {call_id: call.content for call_id, call in calls(store).items()}


def test_a_native_file_holding_text_goes_through_the_hook(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    summary = run(store, pricer, _native_file(tmp_path), capture_content=True, redact=CheckedRedact(scrub))
    assert (summary.calls, summary.rejected, summary.ok) == (4, 0, True)
    assert _texts(store) == {
        "n-1": Content(prompt="<16 chars>", completion="<14 chars>"),
        "n-2": None,  # the hook raised on the prompt: the call is kept, its text is not
        "n-3": Content(prompt=None, completion="<16 chars>"),
        "n-4": None,
    }
    assert SECRET not in str(store.query("SELECT * FROM calls").to_pylist())


def test_without_a_hook_the_native_file_keeps_its_text(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    run(store, pricer, _native_file(tmp_path), capture_content=True)
    texts = _texts(store)
    assert texts["n-1"] == Content(prompt=f"card {SECRET}", completion=f"ok {SECRET}")
    assert texts["n-2"] == Content(prompt="RAISE", completion=f"{SECRET} back")


def test_a_hook_without_content_capture_is_refused_before_anything_is_read(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    """The command line refuses the same pair: a hook with no text kept would silently do nothing."""

    def never(text: str) -> str:
        raise AssertionError("the hook ran with content capture off")

    with pytest.raises(ConfigError, match="capture_content is False"):
        run(store, pricer, _native_file(tmp_path), redact=CheckedRedact(never))
    assert calls(store) == {}


def test_a_hook_answering_no_string_keeps_the_call_without_text(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    def to_bytes(text: str) -> Any:
        return text.encode()

    run(store, pricer, _native_file(tmp_path), capture_content=True, redact=CheckedRedact(to_bytes))
    assert _texts(store) == dict.fromkeys(("n-1", "n-2", "n-3", "n-4"))


def test_a_real_litellm_log_is_stored_with_the_hooks_text_only(tmp_path: Path, pricer: Pricer) -> None:
    log = real_data_path("litellm-logging", "standard_logging_payload.json")
    with open_store(tmp_path / "plain.duckdb") as plain:
        run(plain, pricer, log, capture_content=True)
        originals = _texts(plain)
    with open_store(tmp_path / "redacted.duckdb") as redacted:
        summary = run(redacted, pricer, log, capture_content=True, redact=CheckedRedact(scrub))
        stored = _texts(redacted)
    assert [f.format for f in summary.files] == ["litellm"]
    [(call_id, original)] = originals.items()
    assert original is not None
    assert original.prompt
    assert original.completion
    assert stored == {call_id: Content(prompt=scrub(original.prompt), completion=scrub(original.completion))}


@pytest.mark.parametrize("compress", [False, True])
def test_a_native_file_without_text_keeps_the_fast_path(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path, compress: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_lines(
        tmp_path / "plain.jsonl", [_native("p-1", None), _native("p-2", None)], compress=compress
    )
    fast: list[Path] = []
    original = DuckDBStore.import_native_jsonl

    def spy(self: DuckDBStore, path: Path, **kwargs: Any) -> Any:
        fast.append(path)
        return original(self, path, **kwargs)

    monkeypatch.setattr(DuckDBStore, "import_native_jsonl", spy)
    summary = run(store, pricer, path, capture_content=True, redact=CheckedRedact(scrub))
    assert summary.calls == 2
    assert len(fast) == 1  # nothing for the hook to see: the store's fast path took the file
    fast.clear()
    run(store, pricer, _native_file(tmp_path), capture_content=True, redact=CheckedRedact(scrub))
    assert fast == []  # text to redact: read line by line


def test_a_bare_function_is_refused_with_what_to_pass(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"pass tokenomy\.capture\.redaction\.checked\(fn\)"):
        run(store, pricer, _native_file(tmp_path), capture_content=True, redact=scrub)
    assert calls(store) == {}


@pytest.mark.parametrize("hooked", [True, False])
def test_an_escaped_content_key_does_not_slip_past_on_the_fast_path(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path, hooked: bool
) -> None:
    """``"\\u0063ontent"`` is the key ``content`` to any JSON reader: with capture off its text must
    be dropped, and with a hook it must go through it, as for the plain spelling."""
    line = (
        '{"id": "esc-1", "provider": "openai", "request_model": "gpt-4o-mini", '
        '"started_at": "2026-03-01T10:00:00Z", "usage": {"input_uncached": 100, "output_visible": 5}, '
        f'"\\u0063ontent": {{"prompt": "card {SECRET}", "completion": "ok {SECRET}"}}}}\n'
    )
    path = tmp_path / "escaped.jsonl"
    path.write_text(line, encoding="utf-8")
    redact = CheckedRedact(scrub) if hooked else None
    summary = run(store, pricer, path, capture_content=hooked, redact=redact)
    assert (summary.calls, summary.rejected) == (1, 0)
    expected = Content(prompt="<16 chars>", completion="<14 chars>") if hooked else None
    assert _texts(store) == {"esc-1": expected}
    assert SECRET not in str(store.query("SELECT * FROM calls").to_pylist())
