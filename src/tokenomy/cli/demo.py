"""``tokenomy demo``: simulate a month of agent traffic, import it into the store, print the report.

It runs the same three commands a user would (``simulate``, ``import``, ``report``), so what the
demo shows is exactly what those commands do.
"""

from __future__ import annotations

from pathlib import Path

import click

from tokenomy.cli.options import db_option, resolve


@click.command(name="demo")
@db_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-data"),
    show_default=True,
    help="Folder for the simulated traffic and its ground truth.",
)
@click.option(
    "--calls", type=click.IntRange(min=1), default=60_000, show_default=True, help="Calls to simulate."
)
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True, help="Days of traffic.")
@click.option("--seed", type=int, default=7, show_default=True, help="Simulation seed.")
def command(db: Path | None, out_dir: Path, calls: int, days: int, seed: int) -> None:
    """Simulate a month of agent traffic, import it into the store and print the report.

    Importing is idempotent, so running the demo twice stores each call once.
    """
    from tokenomy.cli import importing, report, simulate  # noqa: PLC0415  (load only what runs)

    db_path = resolve(db=db).db
    out_dir.mkdir(parents=True, exist_ok=True)
    traffic = out_dir / "traffic.jsonl"
    _step(f"1/3  simulating {calls:,} calls over {days} days -> {traffic}")
    args = ["--calls", str(calls), "--days", str(days), "--seed", str(seed), "--out", str(traffic)]
    simulate.command.main(args=args, standalone_mode=False)
    _step(f"2/3  importing into {db_path}")
    code = importing.command.main(args=[str(traffic), "--db", str(db_path)], standalone_mode=False)
    if code not in (None, 0):
        raise click.ClickException(f"the import reported problems (exit code {code}); see above")
    _step("3/3  report")
    report.command.main(args=["--db", str(db_path)], standalone_mode=False)
    click.echo(
        f"\nNext: `tokenomy report --db {db_path} --format json`, `tokenomy export --db {db_path}`, "
        f"or import your own logs with `tokenomy import PATH --db {db_path}`."
    )


def _step(message: str) -> None:
    click.secho(f"\n==> {message}", bold=True)
