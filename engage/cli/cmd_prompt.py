from __future__ import annotations

import click

from engage import prompt
from engage.cli._common import AppContext, pass_app


@click.command("prompt")
@click.option("--ascii", "ascii_only", is_flag=True, help="ASCII only: *1/3 !2.")
@click.option("--no-waiting", is_flag=True, help="Leave out how many people wait for an answer.")
@click.option(
    "--format",
    "template",
    metavar="TEMPLATE",
    help="Your own text with {count} {min} {target} {streak} {waiting} {mark}.",
)
@click.option("--ignore-quiet-hours", is_flag=True, help="Show the segment during quiet hours too.")
@pass_app
def command(
    app: AppContext,
    ascii_only: bool,
    no_waiting: bool,
    template: str | None,
    ignore_quiet_hours: bool,
) -> int:
    """A very short goal segment for a shell prompt, such as ✦1/3 ✉2 (1 of 3 genuine
    interactions today, 2 people waiting for an answer).

    Reads only the small cache engage rewrites whenever it writes the database, so it costs
    little more than starting Python. Prints nothing when there is no cache yet and during
    quiet hours. See the README for bash, zsh, fish and tmux.
    """
    argv = ["--db", str(app.db_path)]
    if ascii_only:
        argv.append("--ascii")
    if no_waiting:
        argv.append("--no-waiting")
    if template is not None:
        argv += ["--format", template]
    if ignore_quiet_hours:
        argv.append("--ignore-quiet-hours")
    return prompt.fast_main(argv) or 0
