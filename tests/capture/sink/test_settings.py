"""Sink settings from the configuration, the target a URL names, and one spool per target."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenomy import config
from tokenomy.capture.sink.settings import (
    SinkSettings,
    default_spool_root,
    settings_from_config,
    spool_for,
    target_for,
)
from tokenomy.capture.sink.targets import DuckDBTarget, EventsTarget, OtlpTarget
from tokenomy.errors import ConfigError


@pytest.fixture(autouse=True)
def no_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run where no tokenomy.toml is, so only what a test gives is read."""
    monkeypatch.chdir(tmp_path)


ENV = {
    "TOKENOMY_SINK": "http://127.0.0.1:4318",
    "TOKENOMY_SPOOL_DIR": "spool-here",
    "TOKENOMY_SPOOL_MAX_BYTES": "2048",
    "TOKENOMY_QUEUE_SIZE": "7",
    "TOKENOMY_BATCH_SIZE": "3",
    "TOKENOMY_FLUSH_INTERVAL": "0.25",
    "TOKENOMY_SERVER_TOKEN": "tok",
}


def test_the_environment_sets_every_sink_setting(tmp_path: Path) -> None:
    resolved = config.load(None, env=ENV)
    assert (resolved.sink, resolved.server_token) == ("http://127.0.0.1:4318", "tok")
    settings = settings_from_config(resolved)
    assert settings == SinkSettings(
        queue_size=7, batch_size=3, flush_interval=0.25, spool_dir=Path("spool-here"), spool_max_bytes=2048
    )


def test_explicit_values_win_over_the_file_which_wins_over_the_environment(tmp_path: Path) -> None:
    toml = tmp_path / "tokenomy.toml"
    toml.write_text('[tokenomy]\nsink = "duckdb:from-file.duckdb"\nqueue_size = 99\n', encoding="utf-8")
    resolved = config.load(toml, env=ENV, queue_size=5)
    assert (resolved.sink, resolved.queue_size, resolved.batch_size) == ("duckdb:from-file.duckdb", 5, 3)


@pytest.mark.parametrize(
    ("name", "value"),
    [("TOKENOMY_QUEUE_SIZE", "0"), ("TOKENOMY_BATCH_SIZE", "many"), ("TOKENOMY_FLUSH_INTERVAL", "-1")],
)
def test_bad_numbers_are_refused_naming_the_setting(name: str, value: str) -> None:
    setting = name.removeprefix("TOKENOMY_").lower()
    with pytest.raises(ConfigError, match=f"setting '{setting}' must be a positive"):
        config.load(None, env={name: value})


def test_without_a_spool_folder_the_user_cache_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_spool_root() == tmp_path / "tokenomy" / "spool"
    assert settings_from_config(config.Config()).spool_dir == tmp_path / "tokenomy" / "spool"


def test_sink_urls_name_their_target(tmp_path: Path) -> None:
    cfg = config.Config(db=tmp_path / "default.duckdb", server_token="t")
    duck = target_for(f"duckdb:{tmp_path / 'x.duckdb'}", cfg)
    assert isinstance(duck, DuckDBTarget)
    assert duck.path == (tmp_path / "x.duckdb").resolve()
    default = target_for("duckdb:", cfg)
    assert isinstance(default, DuckDBTarget)
    assert default.path == (tmp_path / "default.duckdb").resolve()
    events = target_for("http://127.0.0.1:4318", cfg, timeout=2.5)
    assert isinstance(events, EventsTarget)
    assert (events.description, events.timeout) == ("http://127.0.0.1:4318/v1/events", 2.5)
    otlp = target_for("otlp+https://collector.example:4318/prefix", cfg)
    assert isinstance(otlp, OtlpTarget)
    assert otlp.description == "https://collector.example:4318/prefix/v1/traces"
    assert otlp.timeout == SinkSettings().send_timeout
    with pytest.raises(ConfigError, match="not a known target: use duckdb:PATH") as refused:
        target_for("kafka://broker", cfg)
    assert "a DuckDB file is named" not in str(refused.value)
    # a bare file name is refused (a target is always named by its scheme), with the spelling to use
    with pytest.raises(
        ConfigError, match=r"not a known target \(a DuckDB file is named duckdb:calls\.duckdb\)"
    ):
        target_for("calls.duckdb", cfg)
    with pytest.raises(ConfigError, match="must be at least 1"):
        SinkSettings(queue_size=0)


def test_a_duckdb_sink_in_a_missing_folder_or_on_a_folder_is_refused_at_once(tmp_path: Path) -> None:
    """Accepted, it kept every batch in the spool for good, saying so only in a log line a minute."""
    cfg = config.Config(db=tmp_path / "default.duckdb")
    missing = tmp_path / "no-such-folder" / "x.duckdb"
    with pytest.raises(ConfigError, match=f"the folder {missing.parent} does not exist"):
        target_for(f"duckdb:{missing}", cfg)
    with pytest.raises(ConfigError, match="is a folder; name a DuckDB file"):
        target_for(f"duckdb:{tmp_path}", cfg)
    assert not missing.parent.exists()


def test_each_target_has_its_own_spool_folder(tmp_path: Path) -> None:
    cfg = config.Config()
    settings = SinkSettings(spool_dir=tmp_path)
    one = spool_for(target_for("http://127.0.0.1:1", cfg), settings)
    two = spool_for(target_for("http://127.0.0.1:2", cfg), settings)
    again = spool_for(target_for("http://127.0.0.1:1", cfg), settings)
    assert one is not None
    assert two is not None
    assert again is not None
    assert one.directory.parent == tmp_path
    assert one.directory != two.directory
    assert one.directory == again.directory
    assert spool_for(target_for("http://127.0.0.1:1", cfg), SinkSettings()) is None
