"""``--redact MODULE:FUNCTION`` on ``tokenomy import`` and ``tokenomy serve``: where the hook comes from
(option, tokenomy.toml, ``TOKENOMY_REDACT``), and the clear usage errors for a hook that cannot be used."""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenomy.cli.main import cli, main
from tokenomy.config import load
from tokenomy.errors import ConfigError
from tokenomy.store import open_store

SECRET = "SECRET-b0b0"
_NAMES = itertools.count()
HOOKS = """
def scrub(text):
    return "scrub:" + str(len(text))

def env_hook(text):
    return "env:" + str(len(text))

def file_hook(text):
    return "file:" + str(len(text))

def raises(text):
    raise RuntimeError("refused")

class Holder:
    def method(self, text):
        return "method:" + str(len(text))

holder = Holder()
NOT_CALLABLE = 42
"""


@pytest.fixture
def hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The name of a fresh module holding the hooks above, importable for the test's duration."""
    name = f"redact_hooks_{next(_NAMES)}"
    folder = tmp_path / "hooks"
    folder.mkdir()
    (folder / f"{name}.py").write_text(HOOKS, encoding="utf-8")
    (folder / "broken_hook.py").write_text("raise RuntimeError('broken at import')\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delenv("TOKENOMY_REDACT", raising=False)
    monkeypatch.delenv("TOKENOMY_CAPTURE_CONTENT", raising=False)
    monkeypatch.chdir(tmp_path)  # no tokenomy.toml but the test's own
    yield name
    sys.modules.pop(name, None)
    sys.modules.pop("broken_hook", None)


def _native(tmp_path: Path) -> Path:
    record = {
        "id": "c-1",
        "provider": "openai",
        "request_model": "gpt-4o-mini",
        "usage": {"input_uncached": 100, "output_visible": 5},
        "content": {"prompt": f"hi {SECRET}", "completion": f"{SECRET}!"},
    }
    path = tmp_path / "calls.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path


def _stored(db: Path) -> tuple[str | None, str | None] | None:
    with open_store(db, read_only=True) as store:
        [call] = list(store.iter_calls())
    return None if call.content is None else (call.content.prompt, call.content.completion)


def _import(tmp_path: Path, *args: str) -> int:
    return main(["import", str(_native(tmp_path)), "--db", str(tmp_path / "t.duckdb"), "-q", *args])


def test_import_stores_the_hooks_text(tmp_path: Path, hooks: str) -> None:
    assert _import(tmp_path, "--capture-content", "--redact", f"{hooks}:scrub") == 0
    assert _stored(tmp_path / "t.duckdb") == ("scrub:14", "scrub:12")


def test_a_dotted_function_is_an_attribute_path(tmp_path: Path, hooks: str) -> None:
    assert _import(tmp_path, "--capture-content", "--redact", f"{hooks}:holder.method") == 0
    assert _stored(tmp_path / "t.duckdb") == ("method:14", "method:12")


def test_a_hook_that_raises_keeps_the_call_without_its_text(tmp_path: Path, hooks: str) -> None:
    assert _import(tmp_path, "--capture-content", "--redact", f"{hooks}:raises") == 0
    assert _stored(tmp_path / "t.duckdb") is None


def test_the_option_wins_over_the_file_which_wins_over_the_environment(
    tmp_path: Path, hooks: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENOMY_REDACT", f"{hooks}:env_hook")
    assert _import(tmp_path, "--capture-content", "--db", str(tmp_path / "env.duckdb")) == 0
    assert _stored(tmp_path / "env.duckdb") == ("env:14", "env:12")
    (tmp_path / "tokenomy.toml").write_text(f'[tokenomy]\nredact = "{hooks}:file_hook"\n', encoding="utf-8")
    assert _import(tmp_path, "--capture-content", "--db", str(tmp_path / "file.duckdb")) == 0
    assert _stored(tmp_path / "file.duckdb") == ("file:14", "file:12")
    args = ("--capture-content", "--redact", f"{hooks}:scrub", "--db", str(tmp_path / "option.duckdb"))
    assert _import(tmp_path, *args) == 0
    assert _stored(tmp_path / "option.duckdb") == ("scrub:14", "scrub:12")


def test_a_hook_from_the_file_with_capture_off_is_not_loaded(tmp_path: Path, hooks: str) -> None:
    (tmp_path / "tokenomy.toml").write_text('redact = "not_a_module_anywhere:f"\n', encoding="utf-8")
    assert _import(tmp_path) == 0  # no text is kept, so nothing loads the hook
    assert _stored(tmp_path / "t.duckdb") is None
    (tmp_path / "tokenomy.toml").write_text("capture_content = true\nredact = 'not_a_module_anywhere:f'\n")
    assert _import(tmp_path) == 2


def test_the_setting_must_be_a_string(tmp_path: Path) -> None:
    (tmp_path / "tokenomy.toml").write_text("redact = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="setting 'redact' must be a string"):
        load(tmp_path / "tokenomy.toml", env={})
    assert load(None, env={"TOKENOMY_REDACT": "m:f"}).redact == "m:f"


BAD_SPECS = [
    ("scrub", "is not MODULE:FUNCTION"),
    ("{hooks}:", "is not MODULE:FUNCTION"),
    ("my-hooks:scrub", "is not MODULE:FUNCTION"),
    ("{hooks}:scrub:more", "is not MODULE:FUNCTION"),
    ("not_a_module_anywhere:scrub", "no module named 'not_a_module_anywhere' here"),
    ("broken_hook:scrub", "importing broken_hook failed (RuntimeError: broken at import)"),
    ("{hooks}:missing", "does not exist (no attribute 'missing')"),
    ("{hooks}:holder.missing", "does not exist (no attribute 'missing')"),
    ("{hooks}:NOT_CALLABLE", "is a value of type int, not a function"),
]


@pytest.mark.parametrize("command", ["import", "serve"])
@pytest.mark.parametrize("case", BAD_SPECS, ids=[spec for spec, _message in BAD_SPECS])
def test_a_hook_that_cannot_be_used_is_a_usage_error(
    tmp_path: Path, hooks: str, capsys: pytest.CaptureFixture[str], command: str, case: tuple[str, str]
) -> None:
    spec, message = case[0].format(hooks=hooks), case[1]
    db = tmp_path / "t.duckdb"
    given = [str(_native(tmp_path))] if command == "import" else ["--port", "0"]
    assert main([command, *given, "--db", str(db), "--capture-content", "--redact", spec]) == 2
    err = capsys.readouterr().err
    assert f"redact hook {spec!r}" in err
    assert message in err
    assert "Traceback" not in err
    assert not db.exists()  # refused before the store was opened


@pytest.mark.parametrize("command", ["import", "serve"])
def test_redact_without_content_capture_says_to_add_it(
    tmp_path: Path, hooks: str, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    db = tmp_path / "t.duckdb"
    given = [str(_native(tmp_path))] if command == "import" else ["--port", "0"]
    assert main([command, *given, "--db", str(db), "--redact", f"{hooks}:scrub"]) == 2
    err = capsys.readouterr().err
    assert f"--redact {hooks}:scrub needs content capture" in err
    assert "add --capture-content" in err
    assert not db.exists()


@pytest.mark.parametrize("command", ["import", "serve"])
def test_help_documents_both_options(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "--redact MODULE:FUNCTION" in result.output
    assert "--capture-content" in result.output
    assert "Needs --capture-content" in result.output
    assert "$TOKENOMY_REDACT" in result.output


def test_no_capture_content_wins_over_the_settings(
    tmp_path: Path, hooks: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENOMY_CAPTURE_CONTENT", "1")
    assert _import(tmp_path, "--db", str(tmp_path / "env.duckdb")) == 0
    assert _stored(tmp_path / "env.duckdb") == (f"hi {SECRET}", f"{SECRET}!")  # the environment keeps it
    assert _import(tmp_path, "--no-capture-content", "--db", str(tmp_path / "off.duckdb")) == 0
    assert _stored(tmp_path / "off.duckdb") is None
    # the file turns capture on with a hook that cannot load: turned off, nothing loads it
    (tmp_path / "tokenomy.toml").write_text("capture_content = true\nredact = 'not_a_module_anywhere:f'\n")
    assert _import(tmp_path, "--db", str(tmp_path / "file.duckdb")) == 2
    assert _import(tmp_path, "--no-capture-content", "--db", str(tmp_path / "file.duckdb")) == 0
    assert _stored(tmp_path / "file.duckdb") is None


def test_serve_takes_no_capture_content_over_the_environment(
    tmp_path: Path, hooks: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOKENOMY_CAPTURE_CONTENT", "1")
    db = tmp_path / "t.duckdb"
    args = ["serve", "--port", "0", "--db", str(db), "--no-capture-content", "--redact", f"{hooks}:scrub"]
    assert main(args) == 2  # capture is off for this run, so the hook has no text to take
    assert f"--redact {hooks}:scrub needs content capture" in capsys.readouterr().err
    assert not db.exists()
