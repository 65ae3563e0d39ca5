"""``tokenomy keys``: lifetimes that make no key, and a key shown once and never again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenomy.cli.main import cli


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--expires", "0d", "'0d' is no lifetime: give more than 0"),
        ("--expires", "0h", "'0h' is no lifetime: give more than 0"),
        ("--expires", "99999999999d", "'99999999999d' ends after the year 9999"),
        ("--expires", "3000000000h", "'3000000000h' ends after the year 9999"),
        ("--tags", "bad", "'bad' is not k=v"),  # tags that would be dropped: the key's spend misattributed
        ("--tags", "a=b,c", "'c' is not k=v"),
        ("--tags", "=b", "'=b' is not k=v"),
        ("--tags", "a=1,a=2", "give each tag once"),
    ],
)
def test_a_key_that_is_not_what_was_meant_is_refused_before_the_store_is_made(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    db = tmp_path / "keys.duckdb"
    result = CliRunner().invoke(cli, ["keys", "create", "--db", str(db), option, value])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for {option}: {message}" in result.output
    assert not db.exists()


def test_the_key_is_printed_once_and_never_listed_or_stored(tmp_path: Path) -> None:
    db = tmp_path / "keys.duckdb"
    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "create", "--db", str(db), "--name", "ci", "--expires", "1d"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip()
    assert key.startswith("tk-")
    assert len(key) > 20
    for fmt in ("table", "json"):
        listed = runner.invoke(cli, ["keys", "list", "--db", str(db), "--format", fmt])
        assert listed.exit_code == 0
        assert "ci" in listed.output
        assert key not in listed.output
        assert key[3:] not in listed.output
    revoked = runner.invoke(cli, ["keys", "revoke", "--db", str(db), "ci"])
    assert revoked.exit_code == 0
    assert key not in revoked.output
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert key[3:].encode() not in stored


def test_a_key_keeps_every_tag_given(tmp_path: Path) -> None:
    db = tmp_path / "keys.duckdb"
    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "create", "--db", str(db), "--tags", " a=1, b = x=y ,"])
    assert created.exit_code == 0, created.output
    listed = runner.invoke(cli, ["keys", "list", "--db", str(db), "--format", "json"])
    assert json.loads(listed.stdout)[0]["attribution"] == {"tags": {"a": "1", "b": "x=y"}}


def test_the_table_shows_tags_as_given_not_as_a_dict(tmp_path: Path) -> None:
    db = tmp_path / "keys.duckdb"
    runner = CliRunner()
    created = runner.invoke(
        cli, ["keys", "create", "--db", str(db), "--team", "search", "--tags", "env=prod,tier=gold"]
    )
    assert created.exit_code == 0, created.output
    (line,) = runner.invoke(cli, ["keys", "list", "--db", str(db)]).stdout.splitlines()
    assert line.endswith("valid    team=search,tags=env=prod;tier=gold")
