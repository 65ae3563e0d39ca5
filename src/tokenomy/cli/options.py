"""Options shared by several commands."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar, cast

import click
from click.core import ParameterSource

from tokenomy import config
from tokenomy.errors import ConfigError

if TYPE_CHECKING:
    from tokenomy.capture.redaction import CheckedRedact

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
P = ParamSpec("P")


def option_value(parse: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``parse(*args, **kwargs)`` with its ConfigError made a usage error (exit 2, with the usage
    line), as click's own refusals of a bad option value are: ``--where foo=bar``, ``--by nope``."""
    try:
        return parse(*args, **kwargs)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


def check_period(since: datetime | None, until: datetime | None) -> None:
    """Refuse an ``--until`` that is not after ``--since`` (it would select nothing, silently).

    Raises:
        click.BadParameter: ``until <= since``.
    """
    if since is not None and until is not None and until <= since:
        raise click.BadParameter(f"{until:%Y-%m-%d %H:%M:%S} is not after --since", param_hint="--until")


def out_option(what: str) -> Callable[[F], F]:
    """``--out/-o FILE``: write ``what`` there instead of stdout (``-`` is stdout, as for ``export``):
    what the command writes, and in which formats when not every one."""
    return click.option(
        "--out",
        "-o",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        callback=lambda _ctx, _param, value: None if value is not None and str(value) == "-" else value,
        help=f"Write {what} to FILE (- or none: stdout).",
    )


def db_option(func: F) -> F:
    """``--db PATH``: the store file (default ./tokenomy.duckdb, or $TOKENOMY_DB)."""
    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="DuckDB store file. [default: $TOKENOMY_DB or ./tokenomy.duckdb]",
    )(func)


def period_options(what: str = "") -> Callable[[F], F]:
    """``--since`` and ``--until``: UTC days or times (ISO 8601) bounding the calls ``what`` reads
    (``" to audit"``, say), the first included and the second excluded; an ``--until`` not after
    ``--since`` is a usage error in every command that takes them (:func:`check_period`)."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def checked(*args: Any, **kwargs: Any) -> Any:
            check_period(kwargs.get("since"), kwargs.get("until"))
            return func(*args, **kwargs)

        until = click.option("--until", type=UTC_TIME, default=None, help="UTC day (or time) to stop before.")
        since = click.option("--since", type=UTC_TIME, default=None, help=f"First UTC day (or time){what}.")
        return since(until(cast(F, checked)))

    return decorate


def server_option(func: F) -> F:
    """``--server URL``: read through a running collector's API instead of the store file
    (or ``$TOKENOMY_SERVER``)."""
    return click.option(
        "--server",
        "server",
        envvar="TOKENOMY_SERVER",
        default=None,
        metavar="URL",
        help="Read through the collector's API at URL (`tokenomy serve` owns the store while it runs); "
        "token from $TOKENOMY_SERVER_TOKEN. [default: $TOKENOMY_SERVER]",
    )(func)


def collector_url(server: str | None, db: Path | None) -> str | None:
    """The collector to read through, or None to read the store file.

    An explicit ``--db`` wins over ``$TOKENOMY_SERVER`` (explicit beats the environment, as for
    every setting); ``--db`` and ``--server`` both on the command line name two sources at once.

    Raises:
        click.UsageError: ``--db`` and ``--server`` were both given.
    """
    if not server:
        return None
    if db is None:
        return server
    source = click.get_current_context().get_parameter_source("server")
    if source is ParameterSource.ENVIRONMENT:
        return None
    raise click.UsageError(
        "--db and --server name two sources; give one (--server reads the collector's store)"
    )


def config_option(func: F) -> F:
    """``--config FILE``: a tokenomy.toml to read settings from."""
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Settings file. [default: ./tokenomy.toml when present]",
    )(func)


def capture_content_option(what: str) -> Callable[[F], F]:
    """``--capture-content/--no-capture-content``: keep ``what`` (the prompt and completion text) or
    not, over ``capture_content`` in tokenomy.toml and ``$TOKENOMY_CAPTURE_CONTENT`` (None: those)."""

    def decorate(func: F) -> F:
        return click.option(
            "--capture-content/--no-capture-content",
            default=None,
            help=f"Keep {what} (off by default); --no-capture-content keeps none even when the settings "
            "turn it on. [default: capture_content in tokenomy.toml, or $TOKENOMY_CAPTURE_CONTENT]",
        )(func)

    return decorate


def redact_option(func: F) -> F:
    """``--redact MODULE:FUNCTION``: the hook every kept text goes through (see :func:`redact_hook`)."""
    return click.option(
        "--redact",
        default=None,
        metavar="MODULE:FUNCTION",
        help="Put every kept text through this function (str -> str; None keeps no text) before it is "
        "written anywhere, e.g. mycompany.privacy:scrub. Needs --capture-content. If it raises, the "
        "call is kept without its text. [default: redact in tokenomy.toml, or $TOKENOMY_REDACT]",
    )(func)


def redact_hook(cfg: config.Config, named: str | None) -> CheckedRedact | None:
    """The hook a command runs with (:func:`tokenomy.capture.redaction.configured_hook`), loaded once;
    a bad setting or ``--redact`` (``named``) without content capture is a usage error (exit 2)."""
    from tokenomy.capture.redaction import configured_hook  # noqa: PLC0415  (capture loads only here)

    return option_value(
        configured_hook, cfg.redact, capture_content=cfg.capture_content, named=named is not None
    )


def resolve(config_file: Path | None = None, **explicit: Any) -> config.Config:
    """The resolved configuration for a command (explicit > file > env > default)."""
    return config.load(config_file, **explicit)


class UtcTime(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.2 on; 8.1 is allowed
    """A UTC day or time for ``--since``, ``--until`` and ``--at``, returned as a naive UTC datetime.

    Takes what tokenomy itself prints, so a time copied from a JSON output can be pasted back:
    ``2026-10-12``, ``2026-10-12T08:30``, ``2026-10-12 08:30:00``, with fractions of a second, with
    ``Z`` or an offset (``+02:00``: converted to UTC). Times before 1900 or from the year 9999 on are
    refused (a window that resets after them, or a period before them, cannot be written).
    """

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" and text else text)
        except ValueError:
            self.fail(
                f"{value!r} is not a day or a time: use 2026-10-12, 2026-10-12T08:30:00 or an ISO 8601 time"
                " with Z or an offset (2026-10-12T08:30:00.500Z, 2026-10-12T10:30:00+02:00)",
                param,
                ctx,
            )
        if not 1900 <= parsed.year <= 9998:  # a window, a baseline or a time zone past it cannot be written
            self.fail(f"{value!r} is out of range: give a time from the year 1900 to 9998", param, ctx)
        return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo is not None else parsed


UTC_TIME: Final = UtcTime()
"""The type of every ``--since``, ``--until`` and ``--at`` option (:class:`UtcTime`)."""
