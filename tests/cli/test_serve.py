"""``tokenomy serve``: its options, and the refusals that come before anything listens."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenomy.cli.main import cli, main


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--db", "--token", "--spool", "--max-body"):
        assert option in result.output
    assert "4318" in result.output


def test_serve_is_listed() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "serve" in result.output
    assert "OTLP/HTTP and native events in" in result.output


def test_beyond_loopback_without_a_token_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOKENOMY_SERVER_TOKEN", raising=False)
    code = main(["serve", "--db", str(tmp_path / "x.duckdb"), "--host", "0.0.0.0"])
    assert code == 1
    err = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0 without a token" in err
    assert "--token" in err
    assert not (tmp_path / "x.duckdb").exists()  # nothing was opened


def test_a_short_token_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--db", str(tmp_path / "x.duckdb"), "--token", "abc"]) == 1
    assert "too short to be a secret" in capsys.readouterr().err
