"""``tokenomy demo``: simulate a month of agent traffic, store it, audit it and report on it.

It runs the same commands a user would (``simulate``, ``import``, ``report``, ``audit``), so what
the demo shows is exactly what those commands do; it also writes both HTML reports.
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
    """Simulate a month of agent traffic, import it, print the waste audit and the report.

    Importing is idempotent, so running the demo twice stores each call once; the HTML report and
    the HTML audit are written next to the simulated traffic.
    """
    from tokenomy.cli import audit, importing, report, simulate  # noqa: PLC0415  (load only what runs)

    db_path = resolve(db=db).db
    out_dir.mkdir(parents=True, exist_ok=True)
    traffic = out_dir / "traffic.jsonl"
    _step(f"1/4  simulating {calls:,} calls over {days} days -> {traffic}")
    args = ["--calls", str(calls), "--days", str(days), "--seed", str(seed), "--out", str(traffic)]
    simulate.command.main(args=args, standalone_mode=False)
    _step(f"2/4  importing into {db_path}")
    code = importing.command.main(args=[str(traffic), "--db", str(db_path)], standalone_mode=False)
    if code not in (None, 0):
        raise click.ClickException(f"the import reported problems (exit code {code}); see above")
    # the audit first: it saves its findings, which the report's token efficiency reads (run after
    # it, the report and its page show what `tokenomy report` shows from then on)
    _step("3/4  waste audit")
    audit.command.main(args=["--db", str(db_path), "--top", "8"], standalone_mode=False)
    audit_html = out_dir / "audit.html"
    audit.command.main(
        args=["--db", str(db_path), "--format", "html", "--no-save", "--out", str(audit_html)],
        standalone_mode=False,
    )
    _step("4/4  report")
    report.command.main(args=["--db", str(db_path), "--parts"], standalone_mode=False)
    report_html = out_dir / "report.html"
    report.command.main(
        args=["--db", str(db_path), "--format", "html", "--out", str(report_html)], standalone_mode=False
    )
    click.echo(
        f"\nOpen {report_html} and {audit_html} in a browser. Next: `tokenomy report --db {db_path} "
        f"--by team,feature`, `tokenomy sessions --db {db_path}`, `tokenomy audit --db {db_path} --sample 3`,"
        f" or import your own logs with `tokenomy import PATH --db {db_path}`."
    )


def _step(message: str) -> None:
    click.secho(f"\n==> {message}", bold=True)
