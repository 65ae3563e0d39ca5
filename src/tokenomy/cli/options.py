"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from tokenomy import config

F = TypeVar("F", bound=Callable[..., Any])


def check_period(since: datetime | None, until: datetime | None) -> None:
    """Refuse an ``--until`` that is not after ``--since`` (it would select nothing, silently).

    Raises:
        click.BadParameter: ``until <= since``.
    """
    if since is not None and until is not None and until <= since:
        raise click.BadParameter(f"{until:%Y-%m-%d %H:%M:%S} is not after --since", param_hint="--until")


def db_option(func: F) -> F:
    """``--db PATH``: the store file (default ./tokenomy.duckdb, or $TOKENOMY_DB)."""
    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="DuckDB store file. [default: $TOKENOMY_DB or ./tokenomy.duckdb]",
    )(func)


def config_option(func: F) -> F:
    """``--config FILE``: a tokenomy.toml to read settings from."""
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Settings file. [default: ./tokenomy.toml when present]",
    )(func)


def resolve(config_file: Path | None = None, **explicit: Any) -> config.Config:
    """The resolved configuration for a command (explicit > file > env > default)."""
    return config.load(config_file, **explicit)
