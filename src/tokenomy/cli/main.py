"""The ``tokenomy`` entry point: a click group whose commands load on first use.

Each command lives in its own module under ``tokenomy.cli`` and is imported only when it
runs, so ``tokenomy --help`` stays fast and a command never pays for another's imports.
Exit codes: 0 success, 1 the work failed (bad input, unpriced when --strict...), 2 usage error.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
from pathlib import Path
from typing import Final

import click

from tokenomy import __version__
from tokenomy.errors import TokenomyError

COMMANDS: Final[dict[str, tuple[str, str]]] = {
    "audit": ("tokenomy.cli.audit", "Find the waste: findings by dollars, a savings plan, cache advice."),
    "budgets": (
        "tokenomy.cli.budgets",
        "Token budgets: set, list, status (spent, reserved, runway), delete.",
    ),
    "demo": ("tokenomy.cli.demo", "Simulate a month of agent traffic, import it and print the report."),
    "gateway": (
        "tokenomy.cli.gateway",
        "Run the OpenAI/Anthropic-compatible proxy that meters every call and enforces budgets.",
    ),
    "export": ("tokenomy.cli.export", "Write stored calls in the native schema (jsonl, csv, parquet)."),
    "import": ("tokenomy.cli.importing", "Import logs, traces, exports and transcripts into the store."),
    "keys": ("tokenomy.cli.keys", "Virtual keys for the gateway: create, list, revoke (stored hashed)."),
    "mock-llm": (
        "tokenomy.cli.mockllm",
        "Run a mock OpenAI/Anthropic upstream for tests, benchmarks and demos.",
    ),
    "price": ("tokenomy.cli.price", "Price a usage for a model, with provenance."),
    "report": ("tokenomy.cli.report", "Spend by any dimension and time bucket, KPIs, cost drivers, HTML."),
    "serve": ("tokenomy.cli.serve", "Run the collector: OTLP/HTTP and native events in, a read API out."),
    "session": (
        "tokenomy.cli.session",
        "One session as a tree of steps with tokens, cost and running total.",
    ),
    "sessions": (
        "tokenomy.cli.sessions",
        "Sessions ranked by cost, with calls, tokens, duration and outcome.",
    ),
    "simulate": ("tokenomy.cli.simulate", "Write a realistic synthetic workload as native JSONL."),
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when the command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command = getattr(module, "command", None)
        if not isinstance(command, click.Command):
            raise RuntimeError(f"{entry[0]} does not define a click command named 'command'")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="tokenomy")
def cli() -> None:
    """Meter what AI agents spend in tokens and money, find the waste, stop runaway spend.

    The commands that read or write the store take --db (default ./tokenomy.duckdb, or
    $TOKENOMY_DB); the gateway writes its calls through a sink (--sink duckdb:PATH, or a
    collector's URL). Run `tokenomy COMMAND --help` for a command's options.
    """


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; tokenomy's own errors print one clear line instead of a traceback."""
    try:
        cli.main(args=argv, prog_name="tokenomy", standalone_mode=False)
    except click.exceptions.Abort as exc:
        # click turns a KeyboardInterrupt or a stray EOFError (a truncated gzip file...) into Abort
        if isinstance(exc.__cause__, KeyboardInterrupt):
            click.echo("interrupted", err=True)
            return 130
        if isinstance(exc.__cause__, EOFError) and str(exc.__cause__):
            click.secho(f"error: unexpected end of data: {exc.__cause__}", fg="red", err=True)
            return 1
        click.echo("aborted", err=True)
        return 1
    except click.UsageError as exc:  # a bad option or argument: click's usage line and its "Error: "
        exc.show()
        return exc.exit_code
    except click.ClickException as exc:  # a command's own refusal: one line, as tokenomy's errors print
        click.secho(f"error: {exc.format_message()}", fg="red", err=True)
        return exc.exit_code
    except TokenomyError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except SystemExit as exc:  # a command's own exit code (import: 1 when a file failed)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BrokenPipeError:
        return 1  # the reader of a pipe went away (`tokenomy export | head`)
    except OSError as exc:  # a file that cannot be written or read: one line, not a traceback
        click.secho(f"error: {os_error_text(exc)}", fg="red", err=True)
        return 1
    return 0


def os_error_text(exc: OSError) -> str:
    """A file error as a person reads it: the path, what went wrong, and a missing folder named
    (``[Errno 2] No such file or directory: 'out/x.csv'`` says neither which one nor why)."""
    if exc.filename is None or not exc.strerror:
        return str(exc)
    path = Path(os.fsdecode(exc.filename))
    text = f"{path}: {exc.strerror[0].lower()}{exc.strerror[1:]}"
    if exc.errno == errno.ENOENT and not path.parent.exists():
        text += f" (the folder {path.parent} does not exist)"
    return text


if __name__ == "__main__":
    sys.exit(main())
