"""tokenomy.toml: a misspelt table or setting is refused, naming the closest known one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tokenomy.config import Config, load
from tokenomy.errors import ConfigError


def _load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "tokenomy.toml"
    path.write_text(text, encoding="utf-8")
    return load(path, env={})


def test_every_known_table_and_setting_is_read(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        '[tokenomy]\nsink = "none"\nqueue_size = 5\n[gateway]\nrequire_keys = true\n[budgets]\n'
        '[[budget]]\nname = "b"\n[[price]]\nmodel = "m"\n[[modifier]]\n[[overhead]]\n',
    )
    assert (config.sink, config.queue_size) == ("none", 5)


def test_settings_at_the_top_level_beside_tables_are_read(tmp_path: Path) -> None:
    config = _load(tmp_path, 'db = "here.duckdb"\nflush-interval = 2\n[gateway]\nrequire_keys = true\n')
    assert (config.db, config.flush_interval) == (Path("here.duckdb"), 2.0)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[tokenomy]\n[gatway]\nrequire_keys = true\n", "unknown table 'gatway' (did you mean 'gateway'?)"),
        ('[tokenomy]\nsnk = "none"\n', "[tokenomy]: unknown setting 'snk' (did you mean 'sink'?)"),
        ("[budget]\n[gatway]\n", "unknown key 'gatway' (did you mean 'gateway'?)"),  # no [tokenomy] table
        ('sinc = "none"\n', "unknown key 'sinc' (did you mean 'sink'?)"),
    ],
)
def test_a_misspelt_table_or_setting_is_refused(tmp_path: Path, text: str, said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    assert said in str(caught.value)
    assert str(tmp_path / "tokenomy.toml") in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("queue_size", 2.5),
        ("queue_size", "2.5"),
        ("batch_size", 0),
        ("queue_size", True),
        ("flush_interval", "nan"),
        ("flush_interval", "inf"),
    ],
)
def test_a_count_or_interval_that_is_not_one_is_refused_by_name(name: str, value: object) -> None:
    """A count must be a whole positive number (``int(2.5)`` would make it 2, silently), an interval a
    positive finite number of seconds."""
    explicit: dict[str, Any] = {name: value}
    with pytest.raises(ConfigError, match=f"setting '{name}' must be a positive"):
        load(None, env={}, **explicit)


def test_counts_and_intervals_given_as_text_are_read() -> None:
    """The environment gives text: ``"5"`` is five, ``"0.5"`` seconds half of one."""
    config = load(env={"TOKENOMY_QUEUE_SIZE": "5", "TOKENOMY_FLUSH_INTERVAL": "0.5"})
    assert (config.queue_size, config.flush_interval) == (5, 0.5)
