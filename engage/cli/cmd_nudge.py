from __future__ import annotations

import click

from engage import goalcache, nudge
from engage.cli._common import AppContext, pass_app


@click.command("nudge")
@click.option("--quiet-if-met", is_flag=True, help="Print nothing once the goal minimum is met.")
@click.option(
    "--exit-status", is_flag=True, help="Exit 1 while the goal minimum is not met (for scripts)."
)
@click.option("--ignore-quiet-hours", is_flag=True, help="Speak even during [nudge] quiet hours.")
@click.option("--live", is_flag=True, help="Query the database even when the goal cache is fresh.")
@pass_app
def command(
    app: AppContext, quiet_if_met: bool, exit_status: bool, ignore_quiet_hours: bool, live: bool
) -> int:
    """One useful line about today's goal, e.g. "1 of 2 genuine interactions today. @ana asked
    you a question 3 h ago on Mastodon."

    Silent during the quiet hours of your config. Answers from the goal cache when it is fresh
    (fast on any database size), else from the database.
    """
    config = app.config
    with app.open_store(read_only=True) as store:
        view = nudge.live_view(store, config)
    goalcache.save_from_reader(app.db_path, view["snapshot"])  # the next nudge is fast again
    line, code = nudge.run(
        view,
        config,
        quiet_if_met=quiet_if_met,
        exit_status=exit_status,
        ignore_quiet_hours=ignore_quiet_hours,
    )
    if line:
        click.echo(line)
    return code
