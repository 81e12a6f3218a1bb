from __future__ import annotations

import sys
from pathlib import Path

import click

from engage.cli._common import AppContext, pass_app
from engage.config import Config
from engage.errors import UsageError


def _is_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def require_terminal() -> None:
    if not _is_terminal():
        raise UsageError(
            "engage dashboard needs a terminal; for a text summary use 'engage today' or "
            "'engage report'"
        )


def launch(db_path: Path, config: Config, poll_interval: float = 1.0) -> None:
    """Open the dashboard on ``db_path`` (Textual is imported only here, at call time)."""
    require_terminal()
    from engage.dashboard import run_dashboard

    run_dashboard(db_path, config, poll_interval=poll_interval)


@click.command("dashboard")
@click.option(
    "--poll",
    type=click.FloatRange(0.2, 60),
    default=1.0,
    show_default=True,
    help="Seconds between checks of the database files for changes.",
)
@pass_app
def command(app: AppContext, poll: float) -> None:
    """Open the dashboard: today against the goal, the daily chart, the label mix, recent posts
    with their labels, and who is waiting for you.

    It reads the database in short read-only opens, so a cron 'engage report --fetch' can write
    while it is open, and it redraws when the database changes. Press ? for the keys, q to quit.

    \b
    engage dashboard
    engage --db ~/team.duckdb dashboard
    engage demo --dashboard
    """
    launch(app.db_path, app.config, poll)
