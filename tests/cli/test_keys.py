"""``tokenomy keys``: lifetimes that make no key, and a key shown once and never again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenomy.cli.main import cli
from tokenomy.gateway.keys import hash_key


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
    [row] = _rows(runner.invoke(cli, ["keys", "list", "--db", str(db)]).stdout)
    assert row[2:] == ["valid", "team=search,tags=env=prod;tier=gold", "-"]


def _rows(table: str) -> list[list[str]]:
    """The cells of a drawn table's body rows."""
    return [
        [c.strip() for c in line.strip("│").split("│")] for line in table.splitlines() if line.startswith("│")
    ]


def _create(runner: CliRunner, db: Path, *args: str) -> str:
    made = runner.invoke(cli, ["keys", "create", "--db", str(db), *args])
    assert made.exit_code == 0, made.output
    return hash_key(made.stdout.strip())[:16]


def test_the_key_table_has_a_header(tmp_path: Path) -> None:
    db = tmp_path / "keys.duckdb"
    runner = CliRunner()
    ident = _create(runner, db, "--team", "search", "--name", "ci")
    listed = runner.invoke(cli, ["keys", "list", "--db", str(db)]).stdout
    header = [c.strip() for c in listed.splitlines()[1].strip("┃").split("┃")]
    assert header == ["id", "name", "state", "attribution", "expires"]
    assert _rows(listed) == [[ident, "ci", "valid", "team=search", "-"]]


def test_a_name_two_teams_keys_have_is_refused_with_both_keys_and_revokes_nothing(tmp_path: Path) -> None:
    """``keys revoke k1`` revoked team a's key and team b's: names are labels, not unique."""
    db = tmp_path / "keys.duckdb"
    runner = CliRunner()
    first = _create(runner, db, "--team", "a", "--name", "k1")
    second = _create(runner, db, "--team", "b", "--name", "k1")
    refused = runner.invoke(cli, ["keys", "revoke", "--db", str(db), "k1"])
    assert refused.exit_code == 1
    assert refused.stderr.splitlines() == [
        "Error: 'k1' matches 2 keys; nothing was revoked:",
        f"  {first}  k1               valid    team=a",
        f"  {second}  k1               valid    team=b",
        f"revoke one by its id (`tokenomy keys revoke {first}`), "
        "or all 2 with `tokenomy keys revoke --all k1`",
    ]
    listed = runner.invoke(cli, ["keys", "list", "--db", str(db)]).stdout
    assert [row[2] for row in _rows(listed)] == ["valid", "valid"]
    one = runner.invoke(cli, ["keys", "revoke", "--db", str(db), second])
    assert (one.exit_code, one.stdout) == (0, f"revoked {second}\n")
    assert runner.invoke(cli, ["keys", "revoke", "--db", str(db), "k1"]).stdout == f"revoked {first}\n"


def test_all_revokes_every_key_of_the_name(tmp_path: Path) -> None:
    db = tmp_path / "keys.duckdb"
    runner = CliRunner()
    made = [_create(runner, db, "--team", team, "--name", "k1") for team in ("a", "b")]
    kept = _create(runner, db, "--team", "c", "--name", "k2")
    every = runner.invoke(cli, ["keys", "revoke", "--db", str(db), "--all", "k1"])
    assert (every.exit_code, every.stdout) == (0, f"revoked {made[0]}, {made[1]}\n")
    listed = runner.invoke(cli, ["keys", "list", "--db", str(db)]).stdout
    assert [(row[0], row[2]) for row in _rows(listed)] == [
        (made[0], "revoked"),
        (made[1], "revoked"),
        (kept, "valid"),
    ]
