"""Virtual keys in the store: only hashes are kept; list and revoke; the gateway reads them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenomy.cli.main import cli, main
from tokenomy.config import Config
from tokenomy.gateway.key_store import AmbiguousKeyError, create_key, list_keys, read_keys, revoke_key
from tokenomy.gateway.keys import KeyBook, hash_key
from tokenomy.schema import Attribution
from tokenomy.store import open_store


def test_create_list_revoke(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    store = open_store(db)
    issued = create_key(store, Attribution(team="search", user="alice", tags={"a": "b"}), name="alice-key")
    store.close()
    assert issued.key.startswith("tk-")
    assert issued.key not in db.read_bytes().decode("latin-1")
    [read] = read_keys(Config(db=db))
    assert read.key_hash == hash_key(issued.key)
    assert read.attribution.team == "search"
    assert read.valid()
    assert KeyBook(lambda: read_keys(Config(db=db))).lookup(issued.key) is not None
    store = open_store(db)
    assert revoke_key(store, "alice-key") == [read.key_id]
    [again] = list_keys(store)
    store.close()
    assert not again.valid()
    assert again.revoked_at is not None


def test_cli_create_shows_the_key_once_and_revoke_by_id(tmp_path: Path) -> None:
    db = str(tmp_path / "c.duckdb")
    runner = CliRunner()
    made = runner.invoke(
        cli, ["keys", "create", "--db", db, "--team", "search", "--user", "bob", "--expires", "30d"]
    )
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert key.startswith("tk-")
    listed = runner.invoke(cli, ["keys", "list", "--db", db, "--format", "json"])
    assert key not in listed.output
    assert hash_key(key)[:16] in listed.output
    assert '"team": "search"' in listed.output
    revoked = runner.invoke(cli, ["keys", "revoke", "--db", db, hash_key(key)[:10]])
    assert revoked.exit_code == 0
    assert hash_key(key)[:16] in revoked.output
    again = runner.invoke(cli, ["keys", "revoke", "--db", db, hash_key(key)[:10]])
    assert again.exit_code == 1
    assert "no valid key" in again.output


def test_a_refused_revoke_prints_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "c.duckdb")
    open_store(db).close()
    assert main(["keys", "revoke", "--db", db, "nosuchkey"]) == 1
    said = capsys.readouterr()
    assert said.out == ""
    assert said.err.splitlines() == [
        "error: no valid key has the id or name 'nosuchkey'; see `tokenomy keys list`"
    ]


def test_revoke_by_a_short_or_hyphenated_name_touches_only_that_key(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    store = open_store(db)
    ops = create_key(store, Attribution(team="ops"), name="ops-key")
    other = create_key(store, Attribution(team="search"))
    short = hash_key(other.key)[:3]  # three hex digits: a name, never a prefix of a hash
    named_like_its_hash = create_key(store, Attribution(team="x"), name=short)
    store.close()
    runner = CliRunner()
    revoked = runner.invoke(cli, ["keys", "revoke", "--db", str(db), "ops-key"])
    assert revoked.exit_code == 0, revoked.output
    assert revoked.output.strip() == f"revoked {hash_key(ops.key)[:16]}"
    by_short = runner.invoke(cli, ["keys", "revoke", "--db", str(db), short])
    assert by_short.output.strip() == f"revoked {hash_key(named_like_its_hash.key)[:16]}"
    valid = {k.key_hash for k in read_keys(Config(db=db)) if k.valid()}
    assert valid == {hash_key(other.key)}


def test_the_key_table_shows_when_a_valid_key_expires(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    store = open_store(db)
    lasting = create_key(store, Attribution(team="search"), name="lasting")
    expiring = create_key(
        store, Attribution(team="ads"), name="expiring", expires_at=datetime(2999, 1, 2, 3, 4, 5)
    )
    store.close()
    listed = CliRunner().invoke(cli, ["keys", "list", "--db", str(db)])
    assert listed.exit_code == 0, listed.output
    rows = [
        [c.strip() for c in line.strip("│").split("│")] for line in listed.stdout.splitlines() if "│" in line
    ]
    assert sorted(rows) == sorted(
        [
            [expiring.record.key_id, "expiring", "valid", "team=ads", "2999-01-02 03:04 UTC"],
            [lasting.record.key_id, "lasting", "valid", "team=search", "-"],
        ]
    )


def test_a_value_that_is_one_keys_name_and_another_keys_id_revokes_neither(tmp_path: Path) -> None:
    store = open_store(tmp_path / "k.duckdb")
    first = create_key(store, Attribution(team="a"))
    named = create_key(store, Attribution(team="b"), name=first.record.key_id)  # a name like an id
    with pytest.raises(AmbiguousKeyError) as refused:
        revoke_key(store, first.record.key_id)
    assert [k.key_id for k in refused.value.matches] == [first.record.key_id, named.record.key_id]
    assert [k.valid() for k in list_keys(store)] == [True, True]
    assert revoke_key(store, first.record.key_id, every=True) == [first.record.key_id, named.record.key_id]
    assert revoke_key(store, first.record.key_id) == []  # revoked keys match nothing
    store.close()
