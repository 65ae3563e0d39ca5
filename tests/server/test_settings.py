"""A server reachable from the network needs a token; the token may come from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenomy.errors import ConfigError
from tokenomy.server.settings import ServerSettings, is_loopback, with_env

TOKEN = "t" * 32


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("example.test", False)],
)  # fmt: skip
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_beyond_loopback_without_a_token_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"refusing to listen on 0\.0\.0\.0 without a token"):
        with_env(ServerSettings(db=Path("x.duckdb"), host="0.0.0.0"), env={})


def test_the_token_may_come_from_the_environment() -> None:
    settings = with_env(
        ServerSettings(db=Path("x.duckdb"), host="0.0.0.0"), env={"TOKENOMY_SERVER_TOKEN": TOKEN}
    )
    assert settings.token == TOKEN
    explicit = with_env(
        ServerSettings(db=Path("x.duckdb"), token="e" * 20), env={"TOKENOMY_SERVER_TOKEN": TOKEN}
    )
    assert explicit.token == "e" * 20


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"token": "short"}, "too short"), ({"port": 70000}, "not a port"), ({"max_body": 10}, "too small")],
)
def test_unworkable_settings_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        with_env(ServerSettings(db=Path("x.duckdb"), **changes), env={})  # type: ignore[arg-type]


def test_the_spool_sits_next_to_the_store_by_default(tmp_path: Path) -> None:
    assert ServerSettings(db=tmp_path / "a.duckdb").spool_dir == tmp_path / "a.duckdb.spool"
    assert ServerSettings(db=tmp_path / "a.duckdb", spool=tmp_path / "s").spool_dir == tmp_path / "s"


def test_the_store_needs_a_thread_and_a_checkpoint_size() -> None:
    with pytest.raises(ConfigError, match="store_threads is 0: the store needs at least 1 thread"):
        with_env(ServerSettings(db=Path("x.duckdb"), store_threads=0), env={})
    with pytest.raises(ConfigError, match="checkpoint_mb is 0: use at least 1"):
        with_env(ServerSettings(db=Path("x.duckdb"), checkpoint_mb=0), env={})
    defaults = ServerSettings(db=Path("x.duckdb"))
    assert (defaults.store_threads, defaults.checkpoint_mb) == (1, 128)
