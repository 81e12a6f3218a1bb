from __future__ import annotations

import click

from engage.cli._common import AppContext, pass_app
from engage.doctor import run_checks


@click.command("doctor")
@pass_app
def command(app: AppContext) -> None:
    """Check config, paths, database, model, credentials and accounts. Never prints a secret.

    Exits 1 when a check fails (warnings alone exit 0).
    """
    checks = run_checks(app.db_override)
    width = max(len(c.name) for c in checks)
    for c in checks:
        mark = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}[c.status]
        click.echo(f"{mark}  {c.name.ljust(width)}  {c.detail}")
    if any(c.status == "fail" for c in checks):
        raise click.exceptions.Exit(1)
